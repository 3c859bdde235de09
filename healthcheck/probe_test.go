package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// fakeClock is Options.Now and the sleep hook: sleeping advances it at
// once and records the wait, so tests reach any time without sleeping.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

var (
	livePair = kpay.Pair{
		APIKey:    "kpay_live_" + strings.Repeat("ab12", 12),
		SecretKey: kpay.NewSecret(strings.Repeat("cd34", 16)),
	}
	liveApp = Expect{Environment: kpay.Live, ApplicationID: appID}
)

// newProber builds a Prober on a fake clock, with no jitter (every backoff
// is 0) unless the test sets p.jitter.
func newProber(t *testing.T, baseURL string, opts Options, clock *fakeClock) *Prober {
	t.Helper()
	opts.BaseURL = baseURL
	opts.Now = clock.Now
	if opts.RequestsPerMinute == 0 {
		// Tests that are not about the budget must not run into it.
		opts.RequestsPerMinute, opts.Burst = 6000, 1000
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p.sleep = clock.Sleep
	p.jitter = func(int64) int64 { return 0 }
	t.Cleanup(p.Close)
	return p
}

// kpayServer answers with handle and counts requests. handle gets the
// 1-based number of the request.
func kpayServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int64)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handle(w, r, hits.Add(1))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func answer(status int, body string) func(http.ResponseWriter, *http.Request, int64) {
	return func(w http.ResponseWriter, _ *http.Request, _ int64) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

var healthyLive = answer(200, meJSON("PRODUCTION", appID, "Shop"))

// hangingServer never answers until the client goes away or the test ends.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	done := make(chan struct{})
	srv, hits := kpayServer(t, func(_ http.ResponseWriter, r *http.Request, _ int64) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	t.Cleanup(func() { close(done) }) // runs before srv.Close
	return srv, hits
}

// resetConn makes the client see a TCP reset.
func resetConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST, not FIN
	}
	conn.Close()
}

// probe runs p.Probe and fails the test if it does not return: a probe
// must end by its own deadline, however KPay behaves. The bound here is
// a safety net far above any deadline used, not a timing assertion.
func probe(t *testing.T, ctx context.Context, p *Prober, pair kpay.Pair, want Expect) Result {
	t.Helper()
	done := make(chan Result, 1)
	go func() { done <- p.Probe(ctx, pair, want) }()
	select {
	case res := <-done:
		return res
	case <-time.After(time.Minute):
		t.Fatal("Probe did not return")
		return Result{}
	}
}

func TestProber_Probe_sendsTheDocumentedRequest(t *testing.T) {
	var got *http.Request
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		got = r.Clone(context.Background())
		healthyLive(w, r, n)
	})
	p := newProber(t, srv.URL+"/", Options{}, newFakeClock())
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Healthy {
		t.Fatalf("outcome: got %s, want healthy (%s)", res.Outcome, res.Detail)
	}
	if got.Method != http.MethodGet {
		t.Errorf("method: got %s, want GET", got.Method)
	}
	if got.URL.Path != "/api/v1/payments/me" || got.URL.RawQuery != "" {
		t.Errorf("target: got %s, want /api/v1/payments/me without a query", got.URL.RequestURI())
	}
	for name, want := range map[string]string{
		"X-API-Key":    livePair.APIKey,
		"X-Secret-Key": livePair.SecretKey.Reveal(),
		"Accept":       "application/json",
		"User-Agent":   "kpay-rotator",
	} {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("header %s: got %q, want [%q]", name, v, want)
		}
	}
	if got.ContentLength != 0 {
		t.Errorf("content length: got %d, want 0", got.ContentLength)
	}
	want := Result{
		Outcome: Healthy, Status: 200, Environment: "PRODUCTION", ApplicationID: appID,
		ApplicationName: "Shop", CompanyID: company, Detail: res.Detail, Attempts: 1,
		Latency: res.Latency, At: res.At,
	}
	if res != want {
		t.Errorf("got %+v, want %+v", res, want)
	}
}

func TestProber_Probe_userAgentAndBasePath(t *testing.T) {
	var ua, path string
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		ua, path = r.UserAgent(), r.URL.Path
		healthyLive(w, r, n)
	})
	p := newProber(t, srv.URL+"/kpay", Options{UserAgent: "kpay-rotator/1.2.3"}, newFakeClock())
	p.Probe(t.Context(), livePair, liveApp)
	if ua != "kpay-rotator/1.2.3" || path != "/kpay/api/v1/payments/me" {
		t.Errorf("got user agent %q and path %q, want kpay-rotator/1.2.3 and /kpay/api/v1/payments/me", ua, path)
	}
}

func TestProber_Probe_environmentFromPrefix(t *testing.T) {
	srv, _ := kpayServer(t, answer(200, meJSON("TEST", appID, "Shop")))
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	res := p.Probe(t.Context(), livePair, Expect{})
	if res.Outcome != WrongEnvironment {
		t.Errorf("live-prefixed pair answered for TEST: got %s, want wrong_environment", res.Outcome)
	}
}

func TestProber_Probe_retriesTransientThenSucceeds(t *testing.T) {
	srv, hits := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch n {
		case 1:
			answer(503, `{"message":"down"}`)(w, r, n)
		case 2:
			answer(500, "<html>oops</html>")(w, r, n)
		default:
			healthyLive(w, r, n)
		}
	})
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{}, clock)
	p.jitter = func(n int64) int64 { return n - 1 } // always the ceiling
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Healthy || res.Attempts != 3 || hits.Load() != 3 || p.Requests() != 3 {
		t.Fatalf("got %s after %d attempts, %d hits, %d requests; want healthy after 3", res.Outcome, res.Attempts, hits.Load(), p.Requests())
	}
	if got, want := clock.Slept(), []time.Duration{500 * time.Millisecond, time.Second}; !slices.Equal(got, want) {
		t.Errorf("backoff waits: got %v, want %v", got, want)
	}
}

func TestProber_Probe_givesUpAfterMaxAttempts(t *testing.T) {
	srv, hits := kpayServer(t, answer(502, "bad gateway"))
	p := newProber(t, srv.URL, Options{MaxAttempts: 2}, newFakeClock())
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Status != 502 || res.Attempts != 2 || hits.Load() != 2 {
		t.Errorf("got %s status %d after %d attempts (%d hits), want transient 502 after 2", res.Outcome, res.Status, res.Attempts, hits.Load())
	}
}

func TestProber_Probe_honoursRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header func(http.Header)
		status int
		want   time.Duration
	}{
		{"429 seconds", func(h http.Header) { h.Set("Retry-After", "7") }, 429, 7 * time.Second},
		{"503 HTTP-date", func(h http.Header) {
			h.Set("Date", "Tue, 01 Sep 2026 08:00:00 GMT")
			h.Set("Retry-After", "Tue, 01 Sep 2026 08:00:09 GMT")
		}, 503, 9 * time.Second},
		{"429 without Retry-After waits the documented second", func(http.Header) {}, 429, rateLimitFloor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
				if n == 1 {
					tt.header(w.Header())
					w.WriteHeader(tt.status)
					return
				}
				healthyLive(w, r, n)
			})
			clock := newFakeClock()
			p := newProber(t, srv.URL, Options{}, clock)
			res := p.Probe(t.Context(), livePair, liveApp)
			if res.Outcome != Healthy || hits.Load() != 2 {
				t.Fatalf("got %s after %d hits, want healthy after 2 (%s)", res.Outcome, hits.Load(), res.Detail)
			}
			if got := clock.Slept(); len(got) == 0 || got[0] != tt.want {
				t.Errorf("waits: got %v, want %s first", got, tt.want)
			}
		})
	}
}

func TestProber_Probe_retryAfterPastDeadlineStops(t *testing.T) {
	srv, hits := kpayServer(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
	})
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{Timeout: 10 * time.Second}, clock)
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Status != 429 || res.Attempts != 1 || hits.Load() != 1 {
		t.Fatalf("got %s status %d after %d attempts (%d hits), want transient 429 after 1", res.Outcome, res.Status, res.Attempts, hits.Load())
	}
	if res.RetryAfter != 30*time.Second {
		t.Errorf("retry after: got %s, want 30s", res.RetryAfter)
	}
	if !strings.Contains(res.Detail, "would pass the probe deadline") {
		t.Errorf("detail %q does not say why it stopped", res.Detail)
	}
	if len(clock.Slept()) != 0 {
		t.Errorf("slept %v, want no wait that cannot finish in time", clock.Slept())
	}
}

func TestProber_Probe_retryAfterPausesEveryProbe(t *testing.T) {
	srv, hits := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
			return
		}
		healthyLive(w, r, n)
	})
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{MaxAttempts: 1}, clock)
	p.Probe(t.Context(), livePair, liveApp)
	if got := p.Cooldown(); got != 30*time.Second {
		t.Fatalf("cooldown after 429 Retry-After 30: got %s, want 30s", got)
	}
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || hits.Load() != 1 || !strings.Contains(res.Detail, "asked to retry later") {
		t.Errorf("second probe during the pause: got %s after %d attempts (%d hits): %s; want transient without a request", res.Outcome, res.Attempts, hits.Load(), res.Detail)
	}
	clock.Advance(30 * time.Second)
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Errorf("after the pause: got %s, want healthy", res.Outcome)
	}
}

func TestProber_Probe_neverRetriesAVerdict(t *testing.T) {
	tests := []struct {
		name    string
		handle  func(http.ResponseWriter, *http.Request, int64)
		outcome Outcome
	}{
		{"401", answer(401, `{"statusCode":401,"message":"Invalid API credentials","error":"Unauthorized"}`), Rejected},
		{"403", answer(403, `{"statusCode":403,"message":"Forbidden"}`), Unexpected},
		{"404", answer(404, `{"statusCode":404,"message":"Not Found"}`), Unexpected},
		{"wrong environment", answer(200, meJSON("TEST", appID, "Shop")), WrongEnvironment},
		{"wrong application", answer(200, meJSON("PRODUCTION", otherApp, "Other")), WrongApplication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := kpayServer(t, tt.handle)
			clock := newFakeClock()
			p := newProber(t, srv.URL, Options{}, clock)
			res := p.Probe(t.Context(), livePair, liveApp)
			if res.Outcome != tt.outcome || res.Attempts != 1 || hits.Load() != 1 {
				t.Errorf("got %s after %d attempts (%d hits), want %s after 1", res.Outcome, res.Attempts, hits.Load(), tt.outcome)
			}
			if p.Cooldown() != 0 {
				t.Errorf("cooldown after an answer: got %s, want 0", p.Cooldown())
			}
		})
	}
}

func TestProber_Probe_hangingServerEndsAtTheDeadline(t *testing.T) {
	srv, hits := hangingServer(t)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{Timeout: 300 * time.Millisecond}, clock)
	res := probe(t, t.Context(), p, livePair, liveApp)
	if res.Outcome != Transient || res.Status != 0 {
		t.Fatalf("got %s status %d, want transient without status", res.Outcome, res.Status)
	}
	if !strings.Contains(res.Detail, "did not answer") {
		t.Errorf("detail %q does not say KPay did not answer", res.Detail)
	}
	if res.Attempts < 1 || int64(res.Attempts) != p.Requests() || hits.Load() > p.Requests() {
		t.Errorf("attempts %d, requests %d, hits %d: want them to agree", res.Attempts, p.Requests(), hits.Load())
	}
	if res.At != clock.Now() {
		t.Errorf("At: got %s, want the injected clock's %s", res.At, clock.Now())
	}
}

func TestProber_Probe_callerDeadlineIsRespected(t *testing.T) {
	srv, _ := hangingServer(t)
	p := newProber(t, srv.URL, Options{Timeout: time.Minute}, newFakeClock())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if res := probe(t, ctx, p, livePair, liveApp); res.Outcome != Transient {
		t.Errorf("got %s, want transient", res.Outcome)
	}
}

func TestProber_Probe_callerCancellationIsNotAStrike(t *testing.T) {
	arrived := make(chan struct{})
	srv, _ := kpayServer(t, func(_ http.ResponseWriter, r *http.Request, _ int64) {
		close(arrived)
		<-r.Context().Done()
	})
	p := newProber(t, srv.URL, Options{Timeout: time.Minute}, newFakeClock())
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	res := probe(t, ctx, p, livePair, liveApp)
	if res.Outcome != Transient || !strings.Contains(res.Detail, "cancelled") {
		t.Errorf("got %s: %s; want transient, cancelled", res.Outcome, res.Detail)
	}
	if p.Cooldown() != 0 {
		t.Errorf("cooldown after the caller cancelled: got %s, want 0", p.Cooldown())
	}
}

func TestProber_Probe_alreadyCancelledSendsNothing(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := p.Probe(ctx, livePair, liveApp)
	if res.Outcome != Transient || hits.Load() != 0 {
		t.Errorf("got %s with %d hits, want transient without a request", res.Outcome, hits.Load())
	}
}

func TestProber_Probe_connectionResetIsTransient(t *testing.T) {
	srv, _ := kpayServer(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { resetConn(t, w) })
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{}, clock)
	res := probe(t, t.Context(), p, livePair, liveApp)
	if res.Outcome != Transient || res.Status != 0 {
		t.Fatalf("got %s status %d, want transient without status", res.Outcome, res.Status)
	}
	if res.Attempts != 3 {
		t.Errorf("attempts: got %d, want 3 (resets are retried)", res.Attempts)
	}
	// Each reset is a strike: the retries waited for a growing cooldown.
	if got, want := clock.Slept(), []time.Duration{0, 2 * time.Second, 0, 4 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits: got %v, want %v", got, want)
	}
	if got := p.Cooldown(); got != 8*time.Second {
		t.Errorf("cooldown after 3 resets: got %s, want 8s", got)
	}
}

func TestProber_Probe_timeoutBurstGrowsTheCooldown(t *testing.T) {
	const (
		hang = iota
		resetTogether
		healthy
	)
	const burst = 3
	var mode atomic.Int64
	var gathered sync.WaitGroup
	gathered.Add(burst)
	done := make(chan struct{})
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch mode.Load() {
		case hang:
			select {
			case <-r.Context().Done():
			case <-done:
			}
		case resetTogether:
			// Every probe of the burst is in flight before any fails.
			gathered.Done()
			gathered.Wait()
			resetConn(t, w)
		default:
			healthyLive(w, r, n)
		}
	})
	t.Cleanup(func() { close(done) })
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{Timeout: 300 * time.Millisecond, MaxAttempts: 1}, clock)

	probe(t, t.Context(), p, livePair, liveApp)
	if got := p.Cooldown(); got != 2*time.Second {
		t.Fatalf("cooldown after one timeout: got %s, want 2s", got)
	}

	// While it lasts, probes do not reach KPay at all.
	res := probe(t, t.Context(), p, livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || p.Requests() != 1 || res.RetryAfter != 2*time.Second {
		t.Fatalf("probe during the cooldown: got %s after %d attempts (%d requests in all), retry after %s; want transient, no request, 2s",
			res.Outcome, res.Attempts, p.Requests(), res.RetryAfter)
	}
	if !strings.Contains(res.Detail, "stopped answering") {
		t.Errorf("detail %q does not say why", res.Detail)
	}

	// The next timeout in a row doubles it.
	clock.Advance(2 * time.Second)
	probe(t, t.Context(), p, livePair, liveApp)
	if got := p.Cooldown(); got != 4*time.Second {
		t.Fatalf("cooldown after two timeouts in a row: got %s, want 4s", got)
	}

	// A burst of concurrent failures counts every one of them: strikes
	// 3, 4 and 5 in a row.
	mode.Store(resetTogether)
	clock.Advance(4 * time.Second)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() { p.Probe(t.Context(), livePair, liveApp) })
	}
	wg.Wait()
	if got := p.Cooldown(); got != 32*time.Second {
		t.Fatalf("cooldown after a burst of %d more: got %s, want 32s", burst, got)
	}

	// It never exceeds the cap.
	for range 10 {
		p.cool.strike(clock.Now())
	}
	if got := p.Cooldown(); got != cooldownCap {
		t.Fatalf("cooldown after many strikes: got %s, want the %s cap", got, cooldownCap)
	}

	// Any answer from KPay ends it.
	mode.Store(healthy)
	clock.Advance(cooldownCap)
	if res := probe(t, t.Context(), p, livePair, liveApp); res.Outcome != Healthy {
		t.Fatalf("got %s, want healthy", res.Outcome)
	}
	if got := p.Cooldown(); got != 0 {
		t.Errorf("cooldown after an answer: got %s, want 0", got)
	}
	if _, strikes := p.cool.remaining(clock.Now()); strikes != 0 {
		t.Errorf("strikes after an answer: got %d, want 0", strikes)
	}
}

func TestProber_Probe_budgetExhausted(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 2, Burst: 2, Timeout: 10 * time.Second}, clock)
	for i := range 2 {
		if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
			t.Fatalf("probe %d: got %s, want healthy", i+1, res.Outcome)
		}
	}
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || hits.Load() != 2 {
		t.Fatalf("third probe: got %s after %d attempts (%d hits), want transient without a request", res.Outcome, res.Attempts, hits.Load())
	}
	if !strings.Contains(strings.ToLower(res.Detail), "request budget exhausted") || res.RetryAfter != 30*time.Second {
		t.Errorf("got %q, retry after %s; want budget exhausted, 30s", res.Detail, res.RetryAfter)
	}
	clock.Advance(30 * time.Second)
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Errorf("after a token accrued: got %s, want healthy", res.Outcome)
	}
}

func TestProber_Probe_budgetWaitsWithinDeadline(t *testing.T) {
	srv, _ := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 6, Burst: 1, Timeout: time.Minute}, clock)
	for i := range 3 {
		if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
			t.Fatalf("probe %d: got %s, want healthy (%s)", i+1, res.Outcome, res.Detail)
		}
	}
	if got, want := clock.Slept(), []time.Duration{10 * time.Second, 10 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("budget waits: got %v, want %v", got, want)
	}
}

func TestProber_Probe_budgetCountsRetries(t *testing.T) {
	srv, hits := kpayServer(t, answer(500, "{}"))
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 2, Burst: 2, Timeout: 10 * time.Second}, clock)
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Attempts != 2 || hits.Load() != 2 || !strings.Contains(strings.ToLower(res.Detail), "request budget exhausted") {
		t.Errorf("got %d attempts (%d hits): %s; want 2 then budget exhausted", res.Attempts, hits.Load(), res.Detail)
	}
}

func TestProber_Probe_concurrencyCap(t *testing.T) {
	const limit, probes = 2, 5
	var inFlight, peak atomic.Int64
	arrived := make(chan struct{}, probes)
	release := make(chan struct{})
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := peak.Load()
			if now <= old || peak.CompareAndSwap(old, now) {
				break
			}
		}
		arrived <- struct{}{}
		<-release
		healthyLive(w, r, n)
	})
	p := newProber(t, srv.URL, Options{Concurrency: limit, Timeout: time.Minute}, newFakeClock())

	results := make(chan Result, probes)
	for range probes {
		go func() { results <- p.Probe(t.Context(), livePair, liveApp) }()
	}
	for range limit {
		<-arrived
	}
	waitFor(t, "the other probes to queue", func() bool { return p.waiting.Load() == probes-limit })
	if got := inFlight.Load(); got != limit {
		t.Errorf("in flight with %d queued: got %d, want %d", probes-limit, got, limit)
	}
	close(release)
	for range probes {
		if res := <-results; res.Outcome != Healthy {
			t.Errorf("got %s, want healthy (%s)", res.Outcome, res.Detail)
		}
	}
	if got := peak.Load(); got != limit {
		t.Errorf("peak in flight: got %d, want %d", got, limit)
	}
}

func TestProber_Probe_queuedProbeGivesUpAtDeadline(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		arrived <- struct{}{}
		<-release
		healthyLive(w, r, n)
	})
	t.Cleanup(func() { close(release) })
	p := newProber(t, srv.URL, Options{Concurrency: 1, Timeout: time.Minute}, newFakeClock())
	go p.Probe(t.Context(), livePair, liveApp)
	<-arrived
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	res := probe(t, ctx, p, livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || !strings.Contains(res.Detail, "probe slot") {
		t.Errorf("got %s after %d attempts: %s; want transient waiting for a slot", res.Outcome, res.Attempts, res.Detail)
	}
}

func TestProber_Probe_reusesConnections(t *testing.T) {
	srv, _ := kpayServer(t, healthyLive)
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	var mu sync.Mutex
	var reused []bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			reused = append(reused, info.Reused)
		},
	})
	for range 3 {
		if res := p.Probe(ctx, livePair, liveApp); res.Outcome != Healthy {
			t.Fatalf("got %s, want healthy", res.Outcome)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{false, true, true}; !slices.Equal(reused, want) {
		t.Errorf("connections reused: got %v, want %v", reused, want)
	}
}

func TestProber_Probe_reusesConnectionsAfterErrors(t *testing.T) {
	// Error bodies, large ones included, are drained so the connection
	// survives them.
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			answer(404, strings.Repeat("x", 100<<10))(w, r, n)
			return
		}
		healthyLive(w, r, n)
	})
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	var reused []bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
	})
	p.Probe(ctx, livePair, liveApp)
	p.Probe(ctx, livePair, liveApp)
	if want := []bool{false, true}; !slices.Equal(reused, want) {
		t.Errorf("connections reused: got %v, want %v", reused, want)
	}
}

func TestProber_Probe_doesNotFollowRedirects(t *testing.T) {
	elsewhere, elsewhereHits := kpayServer(t, healthyLive)
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		http.Redirect(w, r, elsewhere.URL+"/api/v1/payments/me", http.StatusFound)
	})
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	res := p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Unexpected || res.Status != 302 || elsewhereHits.Load() != 0 {
		t.Errorf("got %s status %d, %d hits elsewhere; want unexpected 302 and the keys sent nowhere else", res.Outcome, res.Status, elsewhereHits.Load())
	}
}

func TestProber_Probe_oversizedSuccessIsTransient(t *testing.T) {
	srv, _ := kpayServer(t, answer(200, meJSON("PRODUCTION", appID, strings.Repeat("n", maxBody))))
	p := newProber(t, srv.URL, Options{MaxAttempts: 1}, newFakeClock())
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Transient || !strings.Contains(res.Detail, "KiB") {
		t.Errorf("got %s: %s; want transient, body too large", res.Outcome, res.Detail)
	}
}

func TestProber_Probe_unsendablePairs(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	p := newProber(t, srv.URL, Options{}, newFakeClock())
	for name, tc := range map[string]struct {
		pair kpay.Pair
		want Expect
	}{
		"empty":               {kpay.Pair{}, liveApp},
		"no secret":           {kpay.Pair{APIKey: livePair.APIKey}, liveApp},
		"newline in secret":   {kpay.Pair{APIKey: livePair.APIKey, SecretKey: kpay.NewSecret("abc\r\nX-Evil: 1")}, liveApp},
		"trailing space":      {kpay.Pair{APIKey: livePair.APIKey + " ", SecretKey: livePair.SecretKey}, liveApp},
		"unknown environment": {kpay.Pair{APIKey: "key_" + strings.Repeat("a", 40), SecretKey: livePair.SecretKey}, Expect{}},
		"invalid environment": {livePair, Expect{Environment: "staging"}},
	} {
		t.Run(name, func(t *testing.T) {
			res := p.Probe(t.Context(), tc.pair, tc.want)
			if res.Outcome != Unexpected || res.Attempts != 0 || res.At.IsZero() {
				t.Errorf("got %+v, want unexpected without a request", res)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("hits: got %d, want 0", hits.Load())
	}
}

func TestNew_validates(t *testing.T) {
	for name, opts := range map[string]Options{
		"empty base URL":            {},
		"relative":                  {BaseURL: "admin.kpay.site"},
		"no host":                   {BaseURL: "https://"},
		"ftp":                       {BaseURL: "ftp://admin.kpay.site"},
		"plain http to the world":   {BaseURL: "http://admin.kpay.site"},
		"user info":                 {BaseURL: "https://u:p@admin.kpay.site"},
		"query":                     {BaseURL: "https://admin.kpay.site?x=1"},
		"fragment":                  {BaseURL: "https://admin.kpay.site#x"},
		"bad escape":                {BaseURL: "https://admin.kpay.site/%zz"},
		"negative timeout":          {BaseURL: "https://admin.kpay.site", Timeout: -1},
		"tiny timeout":              {BaseURL: "https://admin.kpay.site", Timeout: time.Millisecond},
		"attempt longer than all":   {BaseURL: "https://admin.kpay.site", Timeout: time.Second, AttemptTimeout: 2 * time.Second},
		"negative budget":           {BaseURL: "https://admin.kpay.site", RequestsPerMinute: -1},
		"negative burst":            {BaseURL: "https://admin.kpay.site", Burst: -1},
		"negative concurrency":      {BaseURL: "https://admin.kpay.site", Concurrency: -1},
		"negative attempts":         {BaseURL: "https://admin.kpay.site", MaxAttempts: -1},
		"user agent with newline":   {BaseURL: "https://admin.kpay.site", UserAgent: "a\nb"},
		"user agent with non-ascii": {BaseURL: "https://admin.kpay.site", UserAgent: "é"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(opts)
			if err == nil {
				p.Close()
				t.Fatal("got no error")
			}
			if !strings.HasPrefix(err.Error(), "healthcheck: ") {
				t.Errorf("error %q lacks the subsystem prefix", err)
			}
		})
	}
	for _, base := range []string{"https://admin.kpay.site", "https://admin.kpay.site/", "http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:1"} {
		p, err := New(Options{BaseURL: base})
		if err != nil {
			t.Errorf("New(%q): %v", base, err)
			continue
		}
		if !strings.HasSuffix(p.url, "/api/v1/payments/me") || strings.Contains(p.url, "//api") {
			t.Errorf("New(%q): probe URL %q", base, p.url)
		}
		p.Close()
	}
}

func TestNew_defaults(t *testing.T) {
	p, err := New(Options{BaseURL: "https://admin.kpay.site"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.timeout != DefaultTimeout || p.attemptTimeout != DefaultTimeout/2 || p.maxAttempts != DefaultMaxAttempts ||
		cap(p.sem) != DefaultConcurrency || p.userAgent != DefaultUserAgent || p.budget.burst != 5 || p.budget.interval != 2*time.Second {
		t.Errorf("defaults not applied: %+v", p)
	}
	tr, ok := p.client.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != DefaultConcurrency || tr.DisableKeepAlives {
		t.Errorf("default transport: got %T %+v", p.client.Transport, tr)
	}
}

// waitFor spins until cond holds: for states only another goroutine can
// reach, with no time to wait for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func BenchmarkProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, meJSON("PRODUCTION", appID, "Shop"))
	}))
	defer srv.Close()
	p, err := New(Options{BaseURL: srv.URL, RequestsPerMinute: 1 << 30, Burst: 1 << 20, Concurrency: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := p.Probe(ctx, livePair, liveApp); res.Outcome != Healthy {
				b.Fatalf("got %s: %s", res.Outcome, res.Detail)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := p.Probe(ctx, livePair, liveApp); res.Outcome != Healthy {
					b.Errorf("got %s: %s", res.Outcome, res.Detail)
					return
				}
			}
		})
	})
}

func BenchmarkClassify(b *testing.B) {
	body := []byte(meJSON("PRODUCTION", appID, "Shop"))
	b.ReportAllocs()
	for b.Loop() {
		Classify(200, nil, body, liveApp)
	}
}
