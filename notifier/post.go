package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kpay-rotator/internal/credurl"
	"kpay-rotator/internal/retry"
	"kpay-rotator/kpay"
)

// DefaultTimeout bounds one send attempt. Chat APIs answer in well under
// a second; Standard Webhooks asks senders to give up after 15–30 s. An
// attempt that takes longer is better abandoned and retried by the outbox
// than left holding the queue.
const DefaultTimeout = 15 * time.Second

// backstop is added to the per-attempt timeout for http.Client.Timeout:
// the context deadline is what normally ends an attempt, and the client
// timeout only catches a path that ignores the context (a custom
// RoundTripper, a body read outside it).
const backstop = 5 * time.Second

// MaxReply bounds how much of an answer is read. Every answer a receiver
// interprets is a short JSON object or a word; an HTML error page beyond
// this is not worth the memory.
const MaxReply = 64 << 10

// MaxRetryAfter caps a requested wait. Telegram flood waits can run to
// hours, but a value beyond a day is a broken header, and capping keeps
// the arithmetic far from time.Duration's overflow.
const MaxRetryAfter = 24 * time.Hour

// UserAgent identifies the daemon to receivers and their operators.
const UserAgent = "kpay-rotator"

// PosterOptions configures a Poster. Zero values are defaults.
type PosterOptions struct {
	// HTTPClient is copied, never modified; redirects are disabled on the
	// copy. Its Timeout is kept when set.
	HTTPClient *http.Client
	// Transport is used when HTTPClient is nil; default
	// http.DefaultTransport (which honours HTTPS_PROXY, so an egress proxy
	// works without code).
	Transport http.RoundTripper
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates when the answer has no Date
	// header; default time.Now.
	Now func() time.Time
}

// Poster sends one JSON POST per attempt and classifies the answer the
// same way for every receiver: 2xx delivered; 429, 5xx and network errors
// retry; redirects and other 4xx are final.
type Poster struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// NewPoster returns a Poster.
func NewPoster(o PosterOptions) *Poster {
	p := &Poster{timeout: o.Timeout, now: o.Now}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.now == nil {
		p.now = time.Now
	}
	var c http.Client
	switch {
	case o.HTTPClient != nil:
		c = *o.HTTPClient
	case o.Transport != nil:
		c.Transport = o.Transport
	}
	if c.Timeout == 0 {
		c.Timeout = p.timeout + backstop
	}
	// A redirect from a webhook endpoint means the URL is stale or
	// something sits in between; following it would send the message (and
	// on some clients the credentials) somewhere nobody configured.
	// Standard Webhooks says the same: 3xx is a failure.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.client = &c
	return p
}

// Now is the Poster's clock.
func (p *Poster) Now() time.Time { return p.now() }

// Request is one POST.
type Request struct {
	URL *url.URL
	// Header is sent as given; Content-Type defaults to application/json.
	Header http.Header
	Body   []byte
	// Redactor cleans every string that ends up in the Result.
	Redactor *Redactor
}

// Reply is the answer to a Request, when one came.
type Reply struct {
	Status int
	Header http.Header
	// Body is at most MaxReply bytes. It is the platform's raw answer: run
	// anything taken from it through the Redactor.
	Body []byte
}

// errAttemptTimeout is the cause attached to the per-attempt deadline, so
// that a timeout reads as one instead of "context deadline exceeded".
var errAttemptTimeout = errors.New("no answer before the per-attempt timeout")

// Post sends req and classifies the outcome. The Reply is nil when no
// answer came (a network error, a timeout).
func (p *Poster) Post(ctx context.Context, req Request) (Result, *Reply) {
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, fmt.Errorf("%w (%s)", errAttemptTimeout, p.timeout))
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL.String(), bytes.NewReader(req.Body))
	if err != nil {
		// The URL was parsed already, so this is unexpected; its text
		// may quote the URL, so none of it is shown.
		return Result{Detail: "cannot build the request for " + SafeURL(req.URL)}, nil
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	if hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("User-Agent", UserAgent)
	resp, err := p.client.Do(hr)
	if err != nil {
		return Result{Retry: true, Detail: req.Redactor.Line(p.transportDetail(ctx, req.URL, err))}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReply))
	if err != nil && len(body) == 0 {
		// The status arrived; the body broke off. Classify on the
		// status, and say the body was lost.
		body = []byte("(answer body unreadable: " + p.transportDetail(ctx, req.URL, err) + ")")
	}
	// Drain a little so the connection can be reused, not more: a server
	// streaming forever must not hold the attempt.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	rep := &Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	return p.Classify(rep, req.Redactor), rep
}

// Classify applies the common rules to an answer. Receivers call Post,
// which calls this, and then refine the Result with what their platform's
// body says (Discord and Telegram retry_after, Telegram's ok:false).
func (p *Poster) Classify(rep *Reply, red *Redactor) Result {
	res := Result{Status: rep.Status}
	text := strings.TrimSpace(string(rep.Body))
	switch s := rep.Status; {
	case s >= 200 && s < 300:
		res.Delivered = true
	case s == http.StatusTooManyRequests || s >= 500:
		res.Retry = true
		res.RetryAfter = retry.After(rep.Header, p.now(), MaxRetryAfter)
	case s >= 300 && s < 400:
		// Only the host of the target is named: its path could be the
		// same credential.
		text = "redirect not followed"
		if loc, err := url.Parse(rep.Header.Get("Location")); err == nil && loc.Host != "" {
			text += " (to " + SafeURL(loc) + ")"
		}
		text += "; a webhook URL that redirects is stale or proxied, update it"
	}
	res.Detail = red.Line(StatusLine(rep.Status, text))
	return res
}

// StatusLine renders "HTTP 404 Not Found: text".
func StatusLine(status int, text string) string {
	s := "HTTP " + strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		s += " " + t
	}
	if text != "" {
		s += ": " + text
	}
	return s
}

// transportDetail describes a failed exchange without the URL: Go's
// *url.Error quotes it whole, and for chat webhooks the URL is the
// credential. Only scheme and host remain.
func (p *Poster) transportDetail(ctx context.Context, u *url.URL, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		// Prefer the cause: "no answer before the per-attempt timeout
		// (15s)" or the caller's own reason (shutting down).
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
	}
	return "POST " + SafeURL(u) + ": " + err.Error()
}

// SafeURL renders u as scheme://host/… : enough to tell which service
// failed, nothing of the path or query that carry tokens.
func SafeURL(u *url.URL) string {
	if u == nil {
		return "(no URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Opaque != "" {
		s += "/…"
	}
	return s
}

// CheckURL checks a loaded webhook URL, itself a credential (its path or
// query holds the token), with the rule of every URL a credential travels
// to (credurl.Check): http(s) with a host, https unless the host is
// loopback, or the token and the alert would cross the network in clear.
// Inline URLs, files, environment variables and credentials all meet it,
// at start and at every send. what names the URL in errors ("the URL",
// "the URL in file …"), which never quote it, not even in part.
func CheckURL(s kpay.Secret, what string) (*url.URL, error) { return credurl.Check(s.Reveal(), what) }

// ParseURL is CheckURL for a URL read from from (SecretRef.Describe).
func ParseURL(s kpay.Secret, from string) (*url.URL, error) { return CheckURL(s, "the URL in "+from) }

// Seconds converts a retry_after number of seconds to a Duration with
// the bounds of a Retry-After header (retry.Seconds, capped at
// MaxRetryAfter).
func Seconds(f float64) time.Duration { return retry.Seconds(f, MaxRetryAfter) }

// LoadURL reads a webhook URL from ref and parses it, returning a
// Redactor for it either way. Its errors name the source, never the value.
func LoadURL(ref SecretRef) (*url.URL, *Redactor, error) {
	s, err := ref.Load()
	if err != nil {
		return nil, NewRedactor(), err
	}
	red := NewRedactor(s)
	u, err := ParseURL(s, ref.Describe())
	if err != nil {
		return nil, red, err
	}
	return u, red, nil
}

// Unsendable is the Result of an attempt that never left the process
// because the receiver's own credential is missing, unreadable or
// malformed (a file being replaced, a plain-http URL). It is retried: a
// file is fixed in place, and an alert the outbox accepted is never
// dropped for a local failure; max_delivery_age and the fallback decide
// its end, and notifier_failing tells people meanwhile.
func Unsendable(red *Redactor, err error) Result {
	return Result{Retry: true, Detail: red.Line(err.Error())}
}
