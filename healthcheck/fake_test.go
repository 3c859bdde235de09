package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// newProber builds a Prober on a fake clock, with every jitter draw 0 (so
// every backoff is 0) unless the test sets p.draw.
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
	p.draw = func() float64 { return 0 }
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
