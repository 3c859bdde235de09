// Package discord delivers alerts to a Discord channel webhook as one
// embed, coloured by severity, with mentions disabled.
//
// Every POST carries ?wait=true so that Discord answers with the created
// message (or a real error) instead of a bare 204 that is returned even
// when nothing was saved.
package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"kpay-rotator/notifier"
)

// Options configures a Receiver: its webhook URL, read at every send,
// and optional transport settings.
type Options = notifier.URLOptions

// Receiver sends alerts to one Discord webhook.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	ep, err := notifier.NewEndpoint("discord", "a webhook URL", "url_file = a file holding https://discord.com/api/webhooks/…", o, nil)
	if err != nil {
		return nil, err
	}
	return &Receiver{url: ep.URL, post: ep.Post}, nil
}

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "discord receiver, URL from " + r.url.Describe() }

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate is a safe default; Discord does not publish webhook limits and
// asks clients to follow the X-RateLimit headers, which Send turns into
// RetryAfter. What is observed is about 5 requests per 2 s per webhook and
// 30 messages a minute per channel: one every 2 s keeps under the second,
// a burst of 5 within the first.
func (r *Receiver) Rate() (every time.Duration, burst int) { return 2 * time.Second, 5 }

// Send posts a and reads back the created message's id.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	u, red, err := notifier.LoadURL(r.url)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	q := u.Query()
	q.Set("wait", "true")
	u.RawQuery = q.Encode()
	body, err := notifier.MarshalJSON(Render(a))
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	res, rep := r.post.Post(ctx, notifier.Request{URL: u, Body: body, Redactor: red})
	if rep == nil {
		return res
	}
	var answer struct {
		ID         string   `json:"id"`
		Message    string   `json:"message"`
		Code       int      `json:"code"`
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
	}
	if json.Unmarshal(rep.Body, &answer) != nil {
		// Cloudflare answers rate limits with HTML; the header-based
		// classification already stands.
		return res
	}
	switch {
	case res.Delivered:
		if answer.ID != "" {
			res.Detail = red.Line(notifier.StatusLine(rep.Status, "message id "+answer.ID))
		}
		// The bucket is empty: Discord says when it refills. Passing
		// it on lets the caller's limiter wait instead of earning a 429.
		if rep.Header.Get("X-RateLimit-Remaining") == "0" {
			if f, err := strconv.ParseFloat(rep.Header.Get("X-RateLimit-Reset-After"), 64); err == nil {
				res.RetryAfter = notifier.Seconds(f)
			}
		}
	case rep.Status == http.StatusTooManyRequests:
		if answer.RetryAfter != nil && *answer.RetryAfter > 0 {
			// The body's value is fractional and per bucket; prefer it
			// to the header's whole seconds.
			res.RetryAfter = notifier.Seconds(*answer.RetryAfter)
		}
		text := answer.Message
		if answer.Global {
			text += " (global limit)"
		}
		res.Detail = red.Line(notifier.StatusLine(rep.Status, text))
	case answer.Message != "":
		text := answer.Message
		if answer.Code != 0 {
			text += " (code " + strconv.Itoa(answer.Code) + ")"
		}
		res.Detail = red.Line(notifier.StatusLine(rep.Status, text))
	}
	return res
}
