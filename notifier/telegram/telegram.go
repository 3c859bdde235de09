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
	chatIDRE = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)
	// tokenRE is the shape of every token BotFather issues. Checking it
	// also keeps anything that would need escaping out of the URL path.
	tokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,80}$`)
)

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	if o.Token == nil {
		return nil, errors.New("telegram: a bot token is required (token_file = a file holding the token from @BotFather)")
	}
	if !chatIDRE.MatchString(o.ChatID) {
		return nil, fmt.Errorf("telegram: chat_id %q is not a numeric chat id (e.g. -1001234567890) or @channelusername", o.ChatID)
	}
	if err := notifier.CheckInline(o.Token, func(s kpay.Secret) error { return checkToken(s, o.Token.Describe()) }); err != nil {
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
	if err := notifier.CheckTransport(u, "telegram: the API base"); err != nil {
		return nil, err // the bot token would travel in its path
	}
	return &Receiver{token: o.Token, chatID: o.ChatID, base: u, post: notifier.NewPoster(notifier.PosterOptions{
		HTTPClient: o.HTTPClient, Transport: o.Transport, Timeout: o.Timeout, Now: o.Now,
	})}, nil
}

// CheckToken checks a bot token as read from from.
func CheckToken(s kpay.Secret, from string) error { return checkToken(s, from) }

func checkToken(s kpay.Secret, from string) error {
	if !tokenRE.MatchString(s.Reveal()) {
		return fmt.Errorf("the bot token in %s is not of the form 123456789:AA… that @BotFather issues", from)
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
	if err := checkToken(tok, r.token.Describe()); err != nil {
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
