// Package googlechat delivers alerts to a Google Chat space's incoming
// webhook as a cardsV2 card with a short text line, keeping each slot's
// alerts in one thread.
//
// Threading: the body names a threadKey per slot and the URL asks for
// REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD; without that option Chat ignores
// the key and starts a new thread every time.
package googlechat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"kpay-rotator/notifier"
)

// Options configures a Receiver: its webhook URL, read at every send,
// and optional transport settings.
type Options = notifier.URLOptions

// Receiver sends alerts to one Google Chat space.
type Receiver struct {
	url  notifier.SecretRef
	post *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	ep, err := notifier.NewEndpoint("googlechat", "a webhook URL", "url_file = a file holding https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…", o, nil)
	if err != nil {
		return nil, err
	}
	return &Receiver{url: ep.URL, post: ep.Post}, nil
}

// String names the receiver by where its URL comes from.
func (r Receiver) String() string { return "googlechat receiver, URL from " + r.url.Describe() }

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// Rate: Chat's write quota is per space and shared by every app and
// webhook in it (60 a minute in the older table); one message a second is
// the budget Google's limits page leads to.
func (r *Receiver) Rate() (every time.Duration, burst int) { return time.Second, 1 }

// Send posts a into its slot's thread.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	u, red, err := notifier.LoadURL(r.url)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	q := u.Query()
	q.Set("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
	u.RawQuery = q.Encode()
	body, err := notifier.MarshalJSON(Render(a))
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	res, rep := r.post.Post(ctx, notifier.Request{
		URL: u, Body: body, Redactor: red,
		Header: http.Header{"Content-Type": {"application/json; charset=UTF-8"}},
	})
	if rep == nil {
		return res
	}
	var answer struct {
		Name  string `json:"name"`
		Error struct {
			Message, Status string
		} `json:"error"`
	}
	if json.Unmarshal(rep.Body, &answer) == nil {
		switch {
		case res.Delivered && answer.Name != "":
			res.Detail = red.Line(notifier.StatusLine(rep.Status, "message "+answer.Name))
		case !res.Delivered && answer.Error.Message != "":
			res.Detail = red.Line(notifier.StatusLine(rep.Status, strings.Trim(answer.Error.Status+": "+answer.Error.Message, ": ")))
		}
	}
	return res
}
