// Package telegram delivers alerts through the Telegram Bot API's
// sendMessage, as HTML-formatted text to one chat.
//
// HTML rather than MarkdownV2: it needs only '&', '<' and '>' escaped,
// where MarkdownV2 reserves eighteen characters, and a truncation can be
// kept from cutting an entity or a tag.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"kpay-rotator/internal/credurl"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

// DefaultAPIBase is the Bot API's address.
const DefaultAPIBase = "https://api.telegram.org"

// Options configures a Receiver.
type Options struct {
	// Token is the bot token from @BotFather, read at every send; it
	// ends up in the URL path, which is why it is redacted everywhere.
	Token notifier.SecretRef
	// ChatID is the numeric chat id (-100… for supergroups and channels)
	// or @channelusername. Not a secret.
	ChatID string
	// APIBase replaces DefaultAPIBase (tests, a local Bot API server).
	APIBase string
	// HTTPClient or Transport replace the default transport; optional.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	// Timeout bounds one attempt; default notifier.DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates; default time.Now.
	Now func() time.Time
}

// Receiver sends alerts to one Telegram chat.
type Receiver struct {
	token  notifier.SecretRef
	chatID string
	base   *url.URL
	post   *notifier.Poster
}

var (
	// numericIDRE is a chat's numeric id: negative for groups and
	// channels.
	numericIDRE = regexp.MustCompile(`^-?[0-9]{1,20}$`)
	// channelRE is a public channel's "@username": Telegram makes
	// usernames 5 to 32 characters of letters, digits and '_', starting
	// with a letter.
	channelRE = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{4,31}$`)
	// tokenRE is the shape of every token BotFather issues. Checking it
	// also keeps anything that would need escaping out of the URL path.
	tokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,80}$`)
)

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	if o.Token == nil {
		return nil, errors.New("telegram: a bot token is required (token_file = a file holding the token from @BotFather)")
	}
	if err := CheckChatID(o.ChatID); err != nil {
		return nil, fmt.Errorf("telegram: chat_id %q is not a numeric chat id or @channelusername; %w", o.ChatID, err)
	}
	if err := notifier.CheckInline(o.Token, func(s kpay.Secret) error { return CheckToken(s, o.Token.Describe()) }); err != nil {
		return nil, errors.New("telegram: " + err.Error())
	}
	base := o.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("telegram: API base %q is not an http(s) URL", base)
	}
	// The bot token travels in the path.
	if err := credurl.CheckTransport(u, "the API base"); err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	return &Receiver{token: o.Token, chatID: o.ChatID, base: u, post: notifier.NewPoster(notifier.PosterOptions{
		HTTPClient: o.HTTPClient, Transport: o.Transport, Timeout: o.Timeout, Now: o.Now,
	})}, nil
}

// CheckChatID checks a chat id as the Bot API takes it: a chat's numeric
// id or a public channel's "@username". Its error says how to write one,
// with a suggestion when id is a channel name without its '@' or a t.me
// link; callers say first what they checked.
func CheckChatID(id string) error {
	if numericIDRE.MatchString(id) || channelRE.MatchString(id) {
		return nil
	}
	hint := ""
	name := "@" + strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(id, "https://"), "t.me/"), "@")
	if channelRE.MatchString(name) && name != id {
		hint = fmt.Sprintf("did you mean %q? ", name)
	}
	return fmt.Errorf("%suse the numeric id (e.g. chat_id = -1001234567890; groups and channels have negative ids) or a public channel's \"@name\" (a letter, then 4 to 31 letters, digits or '_')", hint)
}

// CheckTokenShape checks that s has the shape of every token @BotFather
// issues. Its error says how to write the token, with a hint for the usual
// mistakes (the Bot API URL, the "bot" prefix), and never quotes it;
// callers say first what they checked.
func CheckTokenShape(s kpay.Secret) error {
	v := s.Reveal()
	if tokenRE.MatchString(v) {
		return nil
	}
	hint := ""
	switch {
	case strings.Contains(v, "api.telegram.org"):
		hint = "write only the token, not the Bot API URL; "
	case strings.HasPrefix(v, "bot") && tokenRE.MatchString(v[3:]):
		hint = `write the token without the "bot" prefix, which the Bot API URL adds; `
	}
	return fmt.Errorf("%suse the token as @BotFather issues it: digits, ':', then 20 or more letters, digits, '_' or '-'", hint)
}

// CheckToken checks a bot token read from from, as every send does.
func CheckToken(s kpay.Secret, from string) error {
	if err := CheckTokenShape(s); err != nil {
		return fmt.Errorf("the bot token in %s is not of the form 123456789:AA…; %w", from, err)
	}
	return nil
}

// String names the receiver by its chat and where its token comes from.
func (r Receiver) String() string {
	return "telegram receiver for chat " + r.chatID + ", token from " + r.token.Describe()
}

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate: Telegram asks bots to stay near one message a second per chat and
// at most 20 a minute in a group or channel. Alerts mostly go to groups,
// and the receiver cannot tell which kind of chat it has, so it takes the
// group pace: one every 3 s.
func (r *Receiver) Rate() (every time.Duration, burst int) { return 3 * time.Second, 1 }

// Send posts a to the chat.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	tok, err := r.token.Load()
	red := notifier.NewRedactor(tok)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	if err := CheckToken(tok, r.token.Describe()); err != nil {
		return notifier.Unsendable(red, err)
	}
	u := *r.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/bot" + tok.Reveal() + "/sendMessage"
	u.RawPath = ""
	red.Add(kpay.NewSecret(u.String()))
	body, err := notifier.MarshalJSON(Message{
		ChatID: r.chatID, Text: Render(a), ParseMode: "HTML",
		// A link in a provider's error text must not unfurl into a
		// preview card.
		LinkPreviewOptions: LinkPreviewOptions{IsDisabled: true},
	})
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	res, rep := r.post.Post(ctx, notifier.Request{URL: &u, Body: body, Redactor: red})
	if rep == nil {
		return res
	}
	var answer struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		Result      struct {
			MessageID int64 `json:"message_id"`
		} `json:"result"`
		Parameters struct {
			RetryAfter      float64 `json:"retry_after"`
			MigrateToChatID int64   `json:"migrate_to_chat_id"`
		} `json:"parameters"`
	}
	if json.Unmarshal(rep.Body, &answer) != nil {
		return res // not the Bot API talking (a proxy page); the status stands
	}
	switch {
	case res.Delivered && answer.OK:
		res.Detail = red.Line(notifier.StatusLine(rep.Status, "message id "+strconv.FormatInt(answer.Result.MessageID, 10)))
	case res.Delivered:
		// A 2xx saying ok:false is not something the Bot API does; do
		// not count it delivered, nor retry into the same answer.
		res = notifier.Result{Status: rep.Status, Detail: red.Line(notifier.StatusLine(rep.Status, "ok:false: "+answer.Description))}
	case answer.Parameters.MigrateToChatID != 0:
		res.Retry, res.RetryAfter = false, 0
		res.Detail = red.Line(notifier.StatusLine(rep.Status, fmt.Sprintf(
			"the group became a supergroup; set chat_id = \"%d\" for this notifier (%s)", answer.Parameters.MigrateToChatID, answer.Description)))
	default:
		if res.Retry && answer.Parameters.RetryAfter > 0 {
			res.RetryAfter = notifier.Seconds(answer.Parameters.RetryAfter)
		}
		if answer.Description != "" {
			res.Detail = red.Line(notifier.StatusLine(rep.Status, answer.Description))
		}
	}
	return res
}

// Message is the sendMessage body.
type Message struct {
	ChatID             string             `json:"chat_id"`
	Text               string             `json:"text"`
	ParseMode          string             `json:"parse_mode"`
	LinkPreviewOptions LinkPreviewOptions `json:"link_preview_options"`
}

// LinkPreviewOptions controls link previews.
type LinkPreviewOptions struct {
	IsDisabled bool `json:"is_disabled"`
}
