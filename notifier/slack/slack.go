// Package slack delivers alerts to a Slack incoming webhook as Block Kit
// messages (header, mrkdwn sections, context) with a plain text fallback
// for notifications.
//
// Slack answers 200 with the body "ok", or a 4xx with an error word
// (no_service, channel_is_archived, invalid_token…) that is final: the
// webhook was removed or the app uninstalled, and retrying cannot help.
package slack

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"kpay-rotator/notifier"
)

// Options configures a Receiver: its webhook URL, read at every send,
// and optional transport settings.
type Options = notifier.URLOptions

// Receiver sends alerts to one Slack webhook.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	ep, err := notifier.NewEndpoint("slack", "a webhook URL", "url_file = a file holding https://hooks.slack.com/services/…", o, nil)
	if err != nil {
		return nil, err
	}
	return &Receiver{url: ep.URL, post: ep.Post}, nil
}

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "slack receiver, URL from " + r.url.Describe() }

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate is Slack's documented pace for incoming webhooks: one message a
// second. Short bursts are "allowed but not guaranteed", so none are
// planned for; grouping keeps bursts rare anyway.
func (r *Receiver) Rate() (every time.Duration, burst int) { return time.Second, 1 }

// Send posts a. Slack has no idempotency key, so a retry after a timeout
// may post twice; the outbox accepts that over losing an alert.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	u, red, err := notifier.LoadURL(r.url)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	body, err := notifier.MarshalJSON(Render(a))
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	res, rep := r.post.Post(ctx, notifier.Request{URL: u, Body: body, Redactor: red})
	if res.Delivered && strings.TrimSpace(string(rep.Body)) != okBody {
		// Counted delivered all the same: a retry would post twice if
		// it did arrive, and a 2xx from Slack means it did.
		res.Detail = red.Line(notifier.StatusLine(rep.Status, `delivered, but the answer was not "ok": `+string(rep.Body)))
	}
	return res
}
