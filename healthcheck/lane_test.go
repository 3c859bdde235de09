package healthcheck

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The hand-over lane (ProbeUrgent) never waits behind routine probes, yet
// every request it makes is counted against the shared budget.

func TestProber_ProbeUrgent_doesNotQueueBehindRoutineProbes(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 { // the routine probe holds the only routine slot
			arrived <- struct{}{}
			<-release
		}
		healthyLive(w, r, n)
	})
	t.Cleanup(func() { close(release) })
	p := newProber(t, srv.URL, Options{Concurrency: 1, Timeout: time.Minute}, newFakeClock())
	go p.Probe(t.Context(), livePair, liveApp)
	<-arrived
	if res := p.ProbeUrgent(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Fatalf("urgent probe while every routine slot is taken: got %s (%s), want healthy", res.Outcome, res.Detail)
	}
}

func TestProber_ProbeUrgent_takesItsTokenAtOnceAndRoutineProbesPayItBack(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 6, Burst: 1, Timeout: 15 * time.Second}, clock)
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Fatalf("routine probe: got %s", res.Outcome)
	}
	// The routine budget is empty; the urgent probe still goes at once.
	res := p.ProbeUrgent(t.Context(), livePair, liveApp)
	if res.Outcome != Healthy || len(clock.Slept()) != 0 {
		t.Fatalf("urgent probe on an empty budget: got %s after sleeping %v, want healthy without a wait", res.Outcome, clock.Slept())
	}
	// Its token was taken from the shared budget: the next routine probe
	// waits two intervals (its own and the one the urgent probe borrowed),
	// which is past its deadline here.
	res = p.Probe(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || res.RetryAfter != 20*time.Second {
		t.Fatalf("routine probe after the overdraft: got %s after %d attempts, retry after %s; want transient, no request, 20s", res.Outcome, res.Attempts, res.RetryAfter)
	}
	if hits.Load() != 2 {
		t.Errorf("KPay saw %d requests, want 2", hits.Load())
	}
}

func TestProber_ProbeUrgent_overdraftIsBounded(t *testing.T) {
	srv, hits := kpayServer(t, healthyLive)
	clock := newFakeClock()
	const perMinute = 60 // KPay's limit leaves 40 at once beside it; a minute's worth is more
	p := newProber(t, srv.URL, Options{RequestsPerMinute: perMinute, Timeout: 500 * time.Millisecond}, clock)
	for i := range perMinute {
		if res := p.ProbeUrgent(t.Context(), livePair, liveApp); res.Outcome != Healthy {
			t.Fatalf("urgent probe %d: got %s (%s), want healthy", i+1, res.Outcome, res.Detail)
		}
	}
	// A minute's worth went out at once; the next must wait for the lane's
	// own refill (1 s), past its deadline.
	res := p.ProbeUrgent(t.Context(), livePair, liveApp)
	if res.Outcome != Transient || res.Attempts != 0 || !strings.Contains(res.Detail, "hand-over lane") {
		t.Fatalf("urgent probe past the lane's burst: got %s after %d attempts (%s); want transient without a request", res.Outcome, res.Attempts, res.Detail)
	}
	if hits.Load() != perMinute {
		t.Errorf("KPay saw %d requests, want %d", hits.Load(), perMinute)
	}
}

func TestProber_ProbeUrgent_skipsTheSilencePauseButHonoursRetryAfter(t *testing.T) {
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 2 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
			return
		}
		healthyLive(w, r, n)
	})
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{MaxAttempts: 1, Timeout: 10 * time.Second}, clock)
	p.cool.strike(clock.Now()) // KPay went silent: routine probes pause 2s
	if res := p.ProbeUrgent(t.Context(), livePair, liveApp); res.Outcome != Healthy || len(clock.Slept()) != 0 {
		t.Fatalf("urgent probe during the silence pause: got %s (%s) after sleeping %v, want healthy at once", res.Outcome, res.Detail, clock.Slept())
	}
	p.ProbeUrgent(t.Context(), livePair, liveApp) // 429, Retry-After 3
	before := len(clock.Slept())
	if res := p.ProbeUrgent(t.Context(), livePair, liveApp); res.Outcome != Healthy {
		t.Fatalf("urgent probe after a Retry-After: got %s (%s), want healthy", res.Outcome, res.Detail)
	}
	if slept := clock.Slept()[before:]; len(slept) != 1 || slept[0] != 3*time.Second {
		t.Errorf("urgent probe waited %v, want the 3s KPay asked for", slept)
	}
}

func TestProber_Probe_reportsHowLongItQueued(t *testing.T) {
	srv, _ := kpayServer(t, healthyLive)
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{RequestsPerMinute: 6, Burst: 1, Timeout: time.Minute}, clock)
	if res := p.Probe(t.Context(), livePair, liveApp); res.Queued != 0 {
		t.Errorf("first probe queued %s, want 0", res.Queued)
	}
	// The budget holds the next one back 10 s: its answer is that late.
	if res := p.Probe(t.Context(), livePair, liveApp); res.Outcome != Healthy || res.Queued != 10*time.Second {
		t.Errorf("second probe: %s, queued %s; want healthy, queued 10s", res.Outcome, res.Queued)
	}
}
