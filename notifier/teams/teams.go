// Package teams delivers alerts to Microsoft Teams through a Power
// Automate Workflows webhook ("When a Teams webhook request is received"
// → "Post card in a chat or channel"), as an Adaptive Card 1.4 in a
// message envelope.
//
// Office 365 connector URLs are refused: Microsoft retired connectors,
// and Workflows is the supported path. A Workflows trigger answers 202
// and runs the flow later, so "delivered" here means "accepted by the
// flow", not "posted"; a card that never shows up appears only in the
// flow's run history.
package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

// Options configures a Receiver: its webhook URL, read at every send,
// and optional transport settings.
type Options = notifier.URLOptions

// Receiver sends alerts to one Teams workflow.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	ep, err := notifier.NewEndpoint("teams", "a Workflows webhook URL", "url_file = a file holding the URL of the workflow's \"When a Teams webhook request is received\" trigger", o, parse)
	if err != nil {
		return nil, err
	}
	return &Receiver{url: ep.URL, post: ep.Post}, nil
}

// CheckURL checks a Workflows webhook URL as notifier.CheckURL does, and
// refuses a retired Office 365 connector's. what names the URL in errors.
func CheckURL(s kpay.Secret, what string) (*url.URL, error) {
	u, err := notifier.CheckURL(s, what)
	if err != nil {
		return nil, err
	}
	h := strings.ToLower(u.Hostname())
	if strings.HasSuffix(h, ".webhook.office.com") || h == "outlook.office.com" {
		return nil, fmt.Errorf("%s is an Office 365 connector webhook, which Microsoft retired; create a Workflows webhook (Teams → Workflows → \"Post to a channel when a webhook request is received\") and use its URL", what)
	}
	return u, nil
}

// parse is CheckURL for a URL read from from.
func parse(s kpay.Secret, from string) (*url.URL, error) { return CheckURL(s, "the URL in "+from) }

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "teams receiver, URL from " + r.url.Describe() }

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate: Microsoft documents no limit for Workflows triggers; throttling
// has been reported above about 4 requests a second, and a card a second
// keeps well clear of it and of the channel's readers.
func (r *Receiver) Rate() (every time.Duration, burst int) { return time.Second, 1 }

// Send posts a to the workflow.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	s, err := r.url.Load()
	red := notifier.NewRedactor(s)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	u, err := parse(s, r.url.Describe())
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	body, err := notifier.MarshalJSON(Render(a))
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	res, rep := r.post.Post(ctx, notifier.Request{URL: u, Body: body, Redactor: red})
	switch {
	case rep == nil:
	case res.Delivered:
		res.Detail = red.Line(notifier.StatusLine(rep.Status, "accepted by the workflow, which posts the card asynchronously; if it never appears, check the flow's run history"))
	default:
		// Power Automate errors are {"error":{"code","message"}}.
		var answer struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(rep.Body, &answer) == nil && answer.Error.Code+answer.Error.Message != "" {
			res.Detail = red.Line(notifier.StatusLine(rep.Status, strings.Trim(answer.Error.Code+": "+answer.Error.Message, ": ")))
		}
	}
	return res
}
