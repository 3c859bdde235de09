// Package mattermost delivers alerts to a Mattermost incoming webhook as
// one Slack-style attachment: coloured by severity, Markdown text, a
// plain fallback for notifications.
//
// Mattermost's Markdown is not Slack's (bold is **, backslash escapes
// work), and it notifies on @channel, @here, @all and @user in plain text
// and expands Slack's <!channel>: untrusted text is escaped for both.
package mattermost

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"kpay-rotator/notifier"
)

// Options configures a Receiver: its webhook URL, read at every send,
// and optional transport settings.
type Options = notifier.URLOptions

// Receiver sends alerts to one Mattermost webhook.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	ep, err := notifier.NewEndpoint("mattermost", "a webhook URL", "url_file = a file holding https://<server>/hooks/<key>", o, nil)
	if err != nil {
		return nil, err
	}
	return &Receiver{url: ep.URL, post: ep.Post}, nil
}

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "mattermost receiver, URL from " + r.url.Describe() }

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate: Mattermost's limit is a server setting, off by default; one post
// a second is polite to a self-hosted server and to the channel.
func (r *Receiver) Rate() (every time.Duration, burst int) { return time.Second, 1 }

// Send posts a.
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
	if rep != nil && !res.Delivered {
		// Mattermost errors are {"id","message","status_code"}.
		var answer struct{ Message string }
		if json.Unmarshal(rep.Body, &answer) == nil && answer.Message != "" {
			res.Detail = red.Line(notifier.StatusLine(rep.Status, answer.Message))
		}
	}
	return res
}
