package healthcheck

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"kpay-rotator/internal/credurl"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds a whole probe, every attempt and wait
	// included. It matches the [kpay] timeout default of DESIGN §7.
	DefaultTimeout = 10 * time.Second
	// DefaultRequestsPerMinute is the daemon's share of KPay's ~100
	// requests a minute (DESIGN §3), leaving the rest to production
	// traffic on the same keys.
	DefaultRequestsPerMinute = 30
	// KPayRequestsPerMinute is KPay's own limit, about 100 a minute per
	// client, shared with the production traffic on the same keys.
	KPayRequestsPerMinute = 100
	DefaultConcurrency    = 4
	DefaultMaxAttempts    = 3
	DefaultUserAgent      = "kpay-rotator"
)

// backstopSlack is how much longer than Timeout http.Client.Timeout
// allows. The per-attempt context always fires first; the client timeout
// only catches a path that ignores it.
const backstopSlack = 2 * time.Second

// Options configure a Prober. Zero values take the defaults; negative
// values are errors.
type Options struct {
	// BaseURL is KPay's, e.g. https://admin.kpay.site, or an emulator's.
	// It must pass CheckBaseURL: the keys travel in headers.
	BaseURL string
	// Timeout bounds a probe: every attempt and every wait (concurrency
	// slot, budget, cooldown, backoff). Default DefaultTimeout.
	Timeout time.Duration
	// AttemptTimeout bounds one HTTP attempt, within Timeout. Default
	// Timeout/2: a connection that stalls (a dead keep-alive behind a NAT,
	// say) leaves time for one more try on a fresh one.
	AttemptTimeout time.Duration
	// RequestsPerMinute is the request budget shared by all probes.
	// Default DefaultRequestsPerMinute.
	RequestsPerMinute int
	// Burst is how many requests may go out back to back once the budget
	// has been idle. Default RequestsPerMinute/6 (ten seconds' worth), at
	// least 1: the whole minute's budget at once is the kind of burst
	// KPay blocks.
	Burst int
	// Concurrency is the most probes in flight. Default
	// DefaultConcurrency.
	Concurrency int
	// MaxAttempts is the most HTTP attempts per probe. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// Transport sends the requests. Nil means an *http.Transport tuned
	// for a few long-lived keep-alive connections to one host.
	Transport http.RoundTripper
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug lines per attempt and a warning when the
	// cooldown engages. Nil discards.
	Logger *slog.Logger
	// UserAgent is sent on every request. Default DefaultUserAgent.
	UserAgent string
}

// New validates opts and returns a Prober.
func New(opts Options) (*Prober, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("healthcheck: %w", err)
	}
	o := opts.withDefaults()
	if o.Timeout <= 2*minAttemptTime {
		return nil, fmt.Errorf("healthcheck: timeout %s is too short to probe anything", o.Timeout)
	}
	if o.AttemptTimeout > o.Timeout {
		return nil, fmt.Errorf("healthcheck: attempt timeout %s is longer than the probe timeout %s", o.AttemptTimeout, o.Timeout)
	}
	meURL, err := probeURL(o.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("healthcheck: %w", err)
	}
	rt := o.Transport
	if rt == nil {
		// The hand-over lane has as many probe slots again, and must never
		// wait for a connection routine probes hold.
		rt = newTransport(2 * o.Concurrency)
	}
	p := &Prober{
		url:            meURL,
		userAgent:      o.UserAgent,
		timeout:        o.Timeout,
		attemptTimeout: o.AttemptTimeout,
		maxAttempts:    o.MaxAttempts,
		now:            o.Now,
		log:            o.Logger,
		sem:            make(chan struct{}, o.Concurrency),
		budget:         newBudget(o.RequestsPerMinute, o.Burst),
		urgentSem:      make(chan struct{}, o.Concurrency),
		urgent:         newBudget(o.RequestsPerMinute, handoverBurst(o.RequestsPerMinute)),
		sleep:          sleepCtx,
		draw:           rand.Float64,
		client: &http.Client{
			Transport: rt,
			// Never follow redirects: Go forwards custom headers such as
			// X-Secret-Key to the redirect target, even on another host.
			// /me does not redirect; a 3xx is reported as Unexpected.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       o.Timeout + backstopSlack,
		},
	}
	return p, nil
}

// handoverBurst is how many hand-over requests may go out at once: what
// KPay's limit leaves beside the routine budget, and at least a minute of
// that budget. With the default 30 a minute, 70 hand-overs back to back
// never wait; past that they go at the budget's rate.
func handoverBurst(perMinute int) int {
	return max(perMinute, KPayRequestsPerMinute-perMinute)
}

func (o Options) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"timeout", int64(o.Timeout)},
		{"attempt timeout", int64(o.AttemptTimeout)},
		{"requests per minute", int64(o.RequestsPerMinute)},
		{"burst", int64(o.Burst)},
		{"concurrency", int64(o.Concurrency)},
		{"max attempts", int64(o.MaxAttempts)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", f.name))
		}
	}
	if !headerSafe(o.UserAgent, true) {
		errs = append(errs, errors.New("user agent must be printable ASCII"))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = o.Timeout / 2
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if o.Burst == 0 {
		o.Burst = max(1, o.RequestsPerMinute/6)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// CheckBaseURL checks KPay's base URL, to which every probe sends a pair's
// keys in its headers, with the rule of every credential's URL
// (credurl.CheckBase): https unless the host is loopback, and no user
// information, query or fragment, since the probe path is appended to it.
// It returns the URL without a trailing "/". what names the URL in errors,
// which never quote it: a pasted key may sit anywhere in it, the host
// included (config passes credurl.Show's quote).
func CheckBaseURL(raw, what string) (string, error) { return credurl.CheckBase(raw, what) }

// probeURL is the URL a probe asks.
func probeURL(base string) (string, error) {
	u, err := CheckBaseURL(base, "the base URL")
	if err != nil {
		return "", err
	}
	return u + mePath, nil
}

// newTransport is the default transport, tuned for at most conns probes at
// a time to one host. Every phase (dial, TLS, headers, body) is bounded by the
// attempt's context, so no per-phase timeouts are set.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		// Operators behind an egress proxy set HTTPS_PROXY; the default
		// client honours it and so do we.
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			// TCP keep-alive notices a peer that vanished while the
			// connection idled in the pool.
			KeepAlive: 30 * time.Second,
		}).DialContext,
		// A custom DialContext turns HTTP/2 off unless asked for; one
		// multiplexed connection is the gentlest way to talk to KPay.
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
		// One idle connection per probe slot: reconnecting (TCP + TLS)
		// for each probe would triple the packets KPay sees and inflate
		// the latency we report. The default of 2 per host would churn
		// at Concurrency 4.
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		// Never more sockets than probes in flight.
		MaxConnsPerHost: conns,
		// Long enough to carry connections across the bursts of a probe
		// schedule, short enough to drop them before typical NAT and load
		// balancer idle timeouts (350 s on AWS NAT) kill them silently.
		IdleConnTimeout: 90 * time.Second,
	}
}
