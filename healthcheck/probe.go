package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"kpay-rotator/internal/textsafe"
	"kpay-rotator/kpay"
)

// mePath is the probe endpoint (kpay-api.md §2.1).
const mePath = "/api/v1/payments/me"

// Bounds on bodies. /me answers a few hundred bytes; 64 KiB leaves room for
// an HTML error page. What is left after that is drained up to drainLimit
// so the connection can be reused; past it, closing the connection is
// cheaper than reading on.
const (
	maxBody    = 64 << 10
	drainLimit = 256 << 10
)

// minAttemptTime is the least time left before the probe deadline for an
// attempt to be worth starting.
const minAttemptTime = 50 * time.Millisecond

// Causes of the deadlines a probe sets, so a timeout can say which one
// fired.
var (
	errProbeDeadline   = errors.New("healthcheck: probe deadline passed")
	errAttemptDeadline = errors.New("healthcheck: attempt deadline passed")
)

// Prober probes pairs against one KPay base URL. It is safe for concurrent
// use; its budget, concurrency cap and cooldown are shared by every call.
type Prober struct {
	url            string
	userAgent      string
	client         *http.Client
	timeout        time.Duration
	attemptTimeout time.Duration
	maxAttempts    int
	now            func() time.Time
	log            *slog.Logger

	sem    chan struct{}
	budget *rate.Limiter
	// The hand-over lane: its own probe slots, so it never waits behind
	// routine probes holding theirs, and its own bucket, which caps how
	// far it may overdraw the shared budget (see ProbeUrgent).
	urgentSem chan struct{}
	urgent    *rate.Limiter
	cool      cooldown
	requests  atomic.Int64
	waiting   atomic.Int64 // probes waiting for a concurrency slot

	// Test hooks: how to wait, and the uniform draw from [0, 1) that
	// jitters a backoff (retry.Backoff.Wait).
	sleep func(ctx context.Context, d time.Duration) error
	draw  func() float64
}

// Requests is the number of HTTP attempts made so far by every probe.
func (p *Prober) Requests() int64 { return p.requests.Load() }

// Cooldown is how long every probe must still wait because KPay stopped
// answering or asked for a pause; 0 when none.
func (p *Prober) Cooldown() time.Duration {
	d, _ := p.cool.remaining(p.now())
	return d
}

// Close closes idle connections. The Prober stays usable.
func (p *Prober) Close() { p.client.CloseIdleConnections() }

// Probe asks KPay about pair once, retrying Transient answers within
// Options.Timeout, and returns what it found. It never returns an error:
// every failure is a Result, and only Rejected, WrongEnvironment and
// WrongApplication count against the pair.
//
// Probe is the routine lane: it waits its turn for a probe slot, for the
// request budget and for any cooldown.
func (p *Prober) Probe(ctx context.Context, pair kpay.Pair, want Expect) Result {
	return p.probe(ctx, pair, want, false)
}

// ProbeUrgent is Probe through the hand-over lane, for requests made while
// payments may be down: verifying a staged pair, confirming a first
// rejection. It never queues behind routine probes: it has probe slots of
// its own and takes its budget token at once. The token still comes out of
// the shared budget, which may go into debt that routine probes then pay
// back by waiting, so the daemon's long-run rate stays requests_per_minute.
// The lane's own bucket (the budget's rate, a burst of what KPay's limit
// leaves beside the budget) bounds the overdraft, so a script staging
// hundreds of pairs cannot burst at KPay. It does not wait out a cooldown caused by KPay going silent (one
// request cannot make a block worse, and waiting would lengthen an outage)
// but does honour a Retry-After KPay asked for.
func (p *Prober) ProbeUrgent(ctx context.Context, pair kpay.Pair, want Expect) Result {
	return p.probe(ctx, pair, want, true)
}

func (p *Prober) probe(ctx context.Context, pair kpay.Pair, want Expect, urgent bool) Result {
	start := p.now()
	mask := pair.Mask()
	red := newRedactor(pair)
	if want.Environment == "" {
		want.Environment, _ = kpay.EnvironmentOfAPIKey(pair.APIKey)
	}
	if why := unsendable(pair, want); why != "" {
		return p.finish(ctx, mask, Result{Outcome: Unexpected, Detail: why}, 0)
	}

	// The deadline exists twice: as a context, which ends I/O, and as a
	// time on the injected clock, against which waits are planned. A wait
	// that would end past it is not started.
	deadline := start.Add(p.timeout)
	if d, ok := ctx.Deadline(); ok {
		if caller := start.Add(time.Until(d)); caller.Before(deadline) {
			deadline = caller
		}
	}
	pctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errProbeDeadline)
	defer cancel()
	// An attempt started in the last moments before the deadline would
	// only time out, and a timeout counts as KPay not answering.
	lastStart := deadline.Add(-minAttemptTime)

	sem := p.sem
	if urgent {
		sem = p.urgentSem
	}
	if !p.acquire(pctx, sem) {
		return p.finish(ctx, mask, Result{Outcome: Transient, Detail: capitalize(waitEnded(pctx, "a free probe slot (too many probes in flight)"))}, 0)
	}
	defer func() { <-sem }()

	var (
		res      Result
		attempts int
		lastRA   time.Duration
		queued   time.Duration
	)
	for {
		if reason, wait, ok := p.admit(pctx, lastStart, urgent); !ok {
			res = stopped(res, reason, wait)
			break
		}
		if attempts == 0 {
			queued = p.now().Sub(start)
		}
		attempts++
		res = p.attempt(pctx, ctx, pair, want, red, deadline, mask, attempts)
		res.Queued = queued
		if res.RetryAfter > 0 {
			lastRA = res.RetryAfter
		}
		if res.Outcome != Transient || attempts >= p.maxAttempts || pctx.Err() != nil {
			break
		}
		wait := p.retryWait(res, attempts)
		if p.now().Add(wait).After(lastStart) {
			res = stopped(res, fmt.Sprintf("the next try, in %s, would pass the probe deadline", wait.Round(time.Millisecond)), wait)
			break
		}
		if err := p.sleep(pctx, wait); err != nil {
			res = stopped(res, waitEnded(pctx, "the next try"), 0)
			break
		}
	}
	if res.RetryAfter == 0 {
		res.RetryAfter = lastRA
	}
	return p.finish(ctx, mask, res, attempts)
}

// finish stamps and logs the result of a probe.
func (p *Prober) finish(ctx context.Context, mask string, res Result, attempts int) Result {
	res.Attempts = attempts
	res.At = p.now()
	if p.log.Enabled(ctx, slog.LevelDebug) {
		p.log.LogAttrs(ctx, slog.LevelDebug, "kpay probe finished",
			slog.String("pair", mask),
			slog.String("outcome", string(res.Outcome)),
			slog.Int("status", res.Status),
			slog.Int("attempts", res.Attempts),
			slog.String("detail", res.Detail))
	}
	return res
}

// unsendable says why a pair cannot be sent, or "". Such a pair is a
// configuration problem, not KPay's verdict, so it is Unexpected.
func unsendable(pair kpay.Pair, want Expect) string {
	switch {
	case pair.APIKey == "" || pair.SecretKey.IsZero():
		return "The pair is incomplete, so it was not sent to KPay"
	case !headerSafe(pair.APIKey, false) || !headerSafe(pair.SecretKey.Reveal(), false):
		// Go would refuse to send a control character anyway, as a
		// transport error, which would count as KPay not answering.
		return "The pair contains spaces, control or non-ASCII characters, which KPay keys never have, so it was not sent to KPay"
	case want.Environment != kpay.Test && want.Environment != kpay.Live:
		return "The pair's environment is unknown (no Expect.Environment and no kpay_test_/kpay_live_ prefix), so KPay's answer could not be checked and the pair was not sent"
	}
	return ""
}

// headerSafe reports whether s is printable ASCII; spaces only if allowed.
func headerSafe(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || (c == ' ' && !spaces) {
			return false
		}
	}
	return true
}

// acquire takes a concurrency slot of sem, waiting until ctx ends.
func (p *Prober) acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// admit waits out the cooldown, then takes a budget token, so that the
// attempt can start by deadline. When it cannot, it says why and how long
// a retry should wait. An urgent attempt skips the silence part of the
// cooldown and takes its token through the hand-over lane.
func (p *Prober) admit(ctx context.Context, deadline time.Time, urgent bool) (reason string, retryAfter time.Duration, ok bool) {
	for {
		now := p.now()
		if now.After(deadline) {
			return "too little time was left before the probe deadline to try again", 0, false
		}
		wait, strikes := p.cool.remaining(now)
		if urgent {
			wait, strikes = p.cool.held(now), 0
		}
		if wait <= 0 {
			break
		}
		if now.Add(wait).After(deadline) {
			if strikes > 0 {
				return fmt.Sprintf("all probes are paused for another %s because KPay stopped answering (%d timeouts or connection errors in a row)", wait.Round(time.Millisecond), strikes), wait, false
			}
			return fmt.Sprintf("all probes are paused for another %s because KPay asked to retry later", wait.Round(time.Millisecond)), wait, false
		}
		// The pause may be extended while we sleep; look again after.
		if p.sleep(ctx, wait) != nil {
			return waitEnded(ctx, "the cooldown to end"), 0, false
		}
	}
	now := p.now()
	bucket := p.budget
	if urgent {
		bucket = p.urgent
	}
	r, wait := reserve(bucket, now, deadline)
	if r == nil {
		if urgent {
			return fmt.Sprintf("the hand-over lane has used its share of the request budget: the next request is allowed in %s, after the probe deadline", wait.Round(time.Millisecond)), wait, false
		}
		return fmt.Sprintf("request budget exhausted: the next request is allowed in %s, after the probe deadline", wait.Round(time.Millisecond)), wait, false
	}
	if wait > 0 && p.sleep(ctx, wait) != nil {
		// Give the token back, so a cancelled probe does not spend the
		// others' budget.
		r.CancelAt(p.now())
		return waitEnded(ctx, "the request budget"), 0, false
	}
	if urgent {
		// Counted against the shared budget too, at once and whatever its
		// balance: the debt is what later routine probes wait to pay back.
		p.budget.ReserveN(p.now(), 1)
	}
	return "", 0, true
}

// waitEnded describes a wait for what that ctx cut short.
func waitEnded(ctx context.Context, what string) string {
	if errors.Is(context.Cause(ctx), errProbeDeadline) {
		return "the probe deadline passed while waiting for " + what
	}
	return "the probe was cancelled while waiting for " + what
}

// stopped ends a probe that could not go on, keeping what the last attempt
// (if any) said.
func stopped(last Result, reason string, retryAfter time.Duration) Result {
	last.Outcome = Transient
	if last.Detail == "" {
		last.Detail = capitalize(reason)
	} else {
		last.Detail += "; " + reason
	}
	last.RetryAfter = max(last.RetryAfter, retryAfter)
	return last
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// attempt sends one request and classifies the answer.
func (p *Prober) attempt(pctx, callerCtx context.Context, pair kpay.Pair, want Expect, red *textsafe.Redactor, deadline time.Time, mask string, n int) Result {
	timeout := min(p.attemptTimeout, deadline.Sub(p.now()))
	ctx, cancel := context.WithTimeoutCause(pctx, timeout, errAttemptDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		// The URL was validated in New; this cannot happen.
		return Result{Outcome: Transient, Detail: "Building the request failed: " + red.Clean(err.Error(), maxMessage)}
	}
	// The map is built directly, so names must be in canonical form
	// (X-API-Key is X-Api-Key; names are case-insensitive on the wire).
	// Values go out byte for byte.
	req.Header = http.Header{
		"X-Api-Key":    {pair.APIKey},
		"X-Secret-Key": {pair.SecretKey.Reveal()},
		"Accept":       {"application/json"},
		"User-Agent":   {p.userAgent},
	}

	p.requests.Add(1)
	start := p.now()
	resp, err := p.client.Do(req)
	if err != nil {
		res := Result{Outcome: Transient, Latency: p.now().Sub(start)}
		res.Detail = capitalize(describeTransportError(err, context.Cause(ctx), timeout, red))
		if errors.Is(callerCtx.Err(), context.Canceled) {
			// The caller gave up; KPay's silence is not in evidence. A
			// caller's deadline, on the other hand, is KPay not answering
			// in the time it was given, and counts.
			res.Detail = "The probe was cancelled before KPay answered"
		} else {
			strikes, pause := p.cool.strike(p.now())
			p.log.LogAttrs(callerCtx, slog.LevelWarn, "kpay did not answer; pausing all probes",
				slog.String("pair", mask),
				slog.Int("attempt", n),
				slog.Int("strikes", strikes),
				slog.Duration("pause", pause),
				slog.String("addr_family", addrFamily(err)),
				slog.String("err", res.Detail))
		}
		return res
	}
	body, truncated, readErr := readBody(resp.Body)
	latency := p.now().Sub(start)
	res := classify(resp.StatusCode, resp.Header, body, want, p.now(), red)
	res.Latency = latency
	p.cool.answered(p.now(), res.RetryAfter)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && (readErr != nil || truncated) {
		// A partial success body proves nothing either way.
		res = Result{Outcome: Transient, Status: resp.StatusCode, Latency: latency}
		if truncated {
			res.Detail = fmt.Sprintf("KPay answered %d with a body over %d KiB, which /payments/me never sends", resp.StatusCode, maxBody>>10)
		} else {
			res.Detail = fmt.Sprintf("KPay answered %d but reading the body failed: %s", resp.StatusCode, describeTransportError(readErr, context.Cause(ctx), timeout, red))
		}
	}
	if p.log.Enabled(callerCtx, slog.LevelDebug) {
		p.log.LogAttrs(callerCtx, slog.LevelDebug, "kpay probe attempt",
			slog.String("pair", mask),
			slog.Int("attempt", n),
			slog.Int("status", res.Status),
			slog.String("outcome", string(res.Outcome)),
			slog.Duration("latency", res.Latency),
			slog.Duration("retry_after", res.RetryAfter))
	}
	return res
}

// readBody reads at most maxBody bytes, then drains a bounded remainder so
// the connection can return to the pool, and closes the body.
func readBody(rc io.ReadCloser) (body []byte, truncated bool, err error) {
	defer rc.Close()
	body, err = io.ReadAll(io.LimitReader(rc, maxBody+1))
	if len(body) > maxBody {
		body, truncated = body[:maxBody], true
	}
	if err == nil {
		_, _ = io.CopyN(io.Discard, rc, drainLimit)
	}
	return body, truncated, err
}

// describeTransportError says, cleaned, why no answer came. cause is the
// attempt context's cause, which tells our deadlines apart.
func describeTransportError(err, cause error, timeout time.Duration, red *textsafe.Redactor) string {
	switch {
	case errors.Is(cause, errAttemptDeadline):
		return fmt.Sprintf("KPay did not answer within %s", timeout.Round(time.Millisecond))
	case errors.Is(cause, errProbeDeadline):
		return "KPay did not answer before the probe deadline"
	}
	// *url.Error quotes the URL. It holds no key here, but the whole text
	// is redacted anyway: a transport or proxy may add what it likes.
	msg := red.Clean(err.Error(), maxMessage)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "KPay did not answer in time: " + msg
	}
	return "the request to KPay failed: " + msg
}

// addrFamily names the address family of a failed dial, when the error
// says: broken IPv6 paths have shown up as connect timeouts for other
// KPay clients (kpay-api.md §4).
func addrFamily(err error) string {
	var op *net.OpError
	if !errors.As(err, &op) || op.Addr == nil {
		return "unknown"
	}
	host, _, splitErr := net.SplitHostPort(op.Addr.String())
	if splitErr != nil {
		host = op.Addr.String()
	}
	switch ip := net.ParseIP(host); {
	case ip == nil:
		return "unknown"
	case ip.To4() != nil:
		return "ipv4"
	default:
		return "ipv6"
	}
}
