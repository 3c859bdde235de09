package healthcheck

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCooldown(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var c cooldown
	for i, want := range []time.Duration{2, 4, 8, 16, 32, 64, 120, 120} {
		strikes, pause := c.strike(t0)
		if strikes != i+1 || pause != want*time.Second {
			t.Fatalf("strike %d: got %d, %s; want %d, %s", i+1, strikes, pause, i+1, want*time.Second)
		}
	}
	if wait, _ := c.remaining(t0.Add(100 * time.Second)); wait != 20*time.Second {
		t.Fatalf("remaining: got %s, want 20s", wait)
	}
	// Strikes outlive the pause: silence across probes keeps counting.
	if _, pause := c.strike(t0.Add(time.Hour)); pause != cooldownCap {
		t.Fatalf("strike after the pause ended: got %s, want %s", pause, cooldownCap)
	}
	c.answered(t0, 0)
	if wait, strikes := c.remaining(t0); wait != 0 || strikes != 0 {
		t.Fatalf("after an answer: got %s, %d strikes; want none", wait, strikes)
	}
	c.answered(t0, 10*time.Minute)
	if wait, _ := c.remaining(t0); wait != cooldownCap {
		t.Fatalf("Retry-After 10m: got %s, want the %s cap", wait, cooldownCap)
	}
	c.answered(t0, time.Second) // a shorter ask does not shorten the hold
	if wait, _ := c.remaining(t0); wait != cooldownCap {
		t.Fatalf("after a shorter Retry-After: got %s, want %s", wait, cooldownCap)
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

// TestProber_Probe_budgetRefillsToBurstNotBeyond: however long the budget
// idles, only Burst requests go out back to back; the next waits one
// interval.
func TestProber_Probe_budgetRefillsToBurstNotBeyond(t *testing.T) {
	srv, _ := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 6, Burst: 3, Timeout: time.Minute}, clock)
	for range 3 {
		p.Probe(t.Context(), livePair, liveApp)
	}
	clock.Advance(24 * time.Hour)
	before := len(clock.Slept())
	for i := range 4 {
		if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
			t.Fatalf("probe %d after idling: got %s (%s), want healthy", i+1, res.Outcome, res.Detail)
		}
	}
	if got, want := clock.Slept()[before:], []time.Duration{10 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("budget waits after idling with burst 3: got %v, want %v (only the fourth waits)", got, want)
	}
}

// TestProber_Probe_cancelledBudgetWaitGivesItsTokenBack: a probe cancelled
// while it waits for the budget does not spend the others' share.
func TestProber_Probe_cancelledBudgetWaitGivesItsTokenBack(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 6, Burst: 1, Timeout: time.Minute}, clock)
	p.Probe(t.Context(), livePair, liveApp) // the burst token
	ctx, cancel := context.WithCancel(t.Context())
	p.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	res := p.Probe(ctx, livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || !strings.Contains(res.Detail, "request budget") {
		t.Fatalf("cancelled probe: got %s after %d attempts (%s), want transient while waiting for the budget", res.Outcome, res.Attempts, res.Detail)
	}
	p.sleep = clock.Sleep
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Fatalf("next probe: got %s (%s), want healthy", res.Outcome, res.Detail)
	}
	if got, want := clock.Slept(), []time.Duration{10 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("next probe waited %v, want %v (one interval, not two)", got, want)
	}
	if hits.Load() != 2 {
		t.Errorf("KPay saw %d requests, want 2", hits.Load())
	}
}
