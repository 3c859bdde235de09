// Package webhook delivers alerts as JSON to any HTTP endpoint, signed as
// Standard Webhooks 1.0 specifies: webhook-id (the alert id, stable across
// retries, so the receiver can deduplicate), webhook-timestamp (this
// attempt) and webhook-signature (v1, HMAC-SHA256 over "id.timestamp.body"
// keyed with a whsec_ secret). Any Standard Webhooks library verifies it.
// A burst too large for one body arrives as several alerts, each with its
// own id, so the endpoint gets every event.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

// Options configures a Receiver.
type Options struct {
	// URL is the endpoint; it may hold a token, so it is treated as a
	// credential and read at every send.
	URL notifier.SecretRef
	// SigningSecret is "whsec_" followed by the base64 of at least 24
	// random bytes, shared with the endpoint; read at every send.
	SigningSecret notifier.SecretRef
	// Every and Burst set Rate; default 100ms and 10. An endpoint of our
	// own can take far more than a chat channel, but nothing gains from a
	// flood either.
	Every time.Duration
	Burst int
	// MaxBody bounds the body; default DefaultMaxBody. A burst larger
	// than one body goes as several (Split), never clipped.
	MaxBody int
	// HTTPClient or Transport replace the default transport; optional.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	// Timeout bounds one attempt; default notifier.DefaultTimeout.
	Timeout time.Duration
	// Now gives each attempt's webhook-timestamp and reads Retry-After
	// dates; default time.Now.
	Now func() time.Time
}

// DefaultMaxBody is well above the spec's advice of thin payloads under
// 20 KB, so a group of a hundred or so events goes in one request, and
// well below the 1 MB that common proxies refuse. A larger burst goes in
// several requests.
const DefaultMaxBody = 64 << 10

// Receiver sends alerts to one endpoint.
type Receiver struct {
	url, secret notifier.SecretRef
	every       time.Duration
	burst       int
	maxBody     int
	post        *notifier.Poster
}

// New returns a Receiver.
func New(o Options) (*Receiver, error) {
	switch {
	case o.URL == nil:
		return nil, errors.New("webhook: a URL is required (url_file = a file holding https://…)")
	case o.SigningSecret == nil:
		return nil, errors.New("webhook: a signing secret is required (secret_file or secret_credential: whsec_ and base64 of 32 random bytes, e.g. from: " + GenerateSecret + ")")
	}
	if err := notifier.CheckInline(o.URL, func(s kpay.Secret) error {
		_, err := notifier.ParseURL(s, o.URL.Describe())
		return err
	}); err != nil {
		return nil, errors.New("webhook: " + err.Error())
	}
	if err := notifier.CheckInline(o.SigningSecret, func(s kpay.Secret) error {
		_, err := SigningKey(s, "the signing secret in "+o.SigningSecret.Describe())
		return err
	}); err != nil {
		return nil, errors.New("webhook: " + err.Error())
	}
	r := &Receiver{url: o.URL, secret: o.SigningSecret, every: o.Every, burst: o.Burst, maxBody: o.MaxBody,
		post: notifier.NewPoster(notifier.PosterOptions{HTTPClient: o.HTTPClient, Transport: o.Transport, Timeout: o.Timeout, Now: o.Now})}
	if r.every <= 0 {
		r.every = 100 * time.Millisecond
	}
	if r.burst <= 0 {
		r.burst = 10
	}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBody
	}
	return r, nil
}

// GenerateSecret is the command that makes a signing secret.
const GenerateSecret = "echo whsec_$(head -c 32 /dev/urandom | base64)"

// minSigningKey is the least key length Standard Webhooks allows.
const minSigningKey = 24

// SigningKey decodes a whsec_ secret into its HMAC key. what names the
// secret in errors ("the signing secret in file …"), which never quote it
// and say how to make a good one.
func SigningKey(s kpay.Secret, what string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s.Reveal(), "whsec_")
	if !ok {
		return nil, fmt.Errorf("%s does not start with whsec_ (Standard Webhooks secrets are whsec_ followed by base64); make one with: %s", what, GenerateSecret)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// Unpadded base64 is common enough to accept.
		if key, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, fmt.Errorf("%s is not base64 after whsec_ (letters, digits, '+', '/' and '=' padding); make one with: %s", what, GenerateSecret)
		}
	}
	if len(key) < minSigningKey {
		return nil, fmt.Errorf("%s holds %d bytes after whsec_; Standard Webhooks asks for at least %d random bytes; make one with: %s", what, len(key), minSigningKey, GenerateSecret)
	}
	return key, nil
}

// String names the receiver by where its credentials come from.
func (r Receiver) String() string {
	return "webhook receiver, URL from " + r.url.Describe() + ", signing secret from " + r.secret.Describe()
}

// Format prints String for every verb, so %v of a receiver says where
// its credential comes from instead of dumping its fields.
func (r Receiver) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

var _ notifier.Splitter = (*Receiver)(nil)

// Split cuts a burst into alerts that each fit MaxBody (the package's
// Split), so the endpoint gets every event: it is a notifier.Splitter.
func (r *Receiver) Split(a notifier.Alert) [][]event.Event { return Split(a, r.maxBody) }

// Rate is the configured pace (Options.Every, Options.Burst).
func (r *Receiver) Rate() (every time.Duration, burst int) { return r.every, r.burst }

// Send posts a, signed. The body is the same bytes on every attempt; only
// webhook-timestamp and the signature change.
func (r *Receiver) Send(ctx context.Context, a notifier.Alert) notifier.Result {
	u, red, err := notifier.LoadURL(r.url)
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	sec, err := r.secret.Load()
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	red.Add(sec, kpay.NewSecret(strings.TrimPrefix(sec.Reveal(), "whsec_")))
	key, err := SigningKey(sec, "the signing secret in "+r.secret.Describe())
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	body, err := Body(a, r.maxBody)
	if errors.Is(err, ErrTooLarge) {
		// Final: the same alert will never fit. The outbox splits a
		// burst (Split) before it gets here, so only an event too large
		// on its own can be refused, and it goes to the fallback.
		return notifier.Result{Detail: red.Line("webhook: " + err.Error())}
	}
	if err != nil {
		return notifier.Unsendable(red, err)
	}
	id := MessageID(a)
	ts := strconv.FormatInt(r.post.Now().Unix(), 10)
	res, rep := r.post.Post(ctx, notifier.Request{URL: u, Body: body, Redactor: red, Header: http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		"Webhook-Signature": {Sign(key, id, ts, body)},
	}})
	if rep != nil && rep.Status == http.StatusGone {
		res.Detail = red.Line(notifier.StatusLine(rep.Status, "the endpoint asks to be disabled; remove this notifier or fix its URL"))
	}
	return res
}

// Sign is the v1 signature: base64 of HMAC-SHA256 over "id.ts.body".
func Sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// MessageID is the webhook-id for a: Alert.ID, which the outbox keeps
// across retries and restarts. The spec forbids '.' in it (the signed
// content is dot-separated); an id with one, or none at all, is replaced
// by a digest of itself and its events', which is just as stable.
func MessageID(a notifier.Alert) string {
	if a.ID != "" && !strings.ContainsFunc(a.ID, func(r rune) bool { return r == '.' || r <= ' ' || r > '~' }) {
		return a.ID
	}
	h := sha256.New()
	h.Write([]byte(a.ID))
	for _, e := range a.Events {
		h.Write([]byte{0})
		h.Write([]byte(e.ID))
	}
	return "msg_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:24]
}
