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
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

// Options configures a Receiver.
type Options struct {
	// URL is the webhook URL, https://<server>/hooks/<key>; it is the
	// credential, read at every send.
	URL notifier.SecretRef
	// HTTPClient or Transport replace the default transport; optional.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	// Timeout bounds one attempt; default notifier.DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates; default time.Now.
	Now func() time.Time
}

// Receiver sends alerts to one Mattermost webhook.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	if o.URL == nil {
		return nil, errors.New("mattermost: a webhook URL is required (url_file = a file holding https://<server>/hooks/<key>)")
	}
	if err := notifier.CheckInline(o.URL, func(s kpay.Secret) error {
		_, err := notifier.ParseURL(s, o.URL.Describe())
		return err
	}); err != nil {
		return nil, errors.New("mattermost: " + err.Error())
	}
	return &Receiver{url: o.URL, post: notifier.NewPoster(notifier.PosterOptions{
		HTTPClient: o.HTTPClient, Transport: o.Transport, Timeout: o.Timeout, Now: o.Now,
	})}, nil
}

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "mattermost receiver, URL from " + r.url.Describe() }

// Format prints String for every verb: fmt would print a credential
// reached through an unexported field raw, past kpay.Secret's mask.
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
