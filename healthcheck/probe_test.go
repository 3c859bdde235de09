package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

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
		Latency: res.Latency, At: res.At, Authenticated: true,
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
	p.draw = func() float64 { return 1 } // always the ceiling
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
	// One attempt per probe: the 404 page is not KPay's, so it would
	// otherwise be retried.
	p := newProber(t, srv.URL, Options{MaxAttempts: 1}, newFakeClock())
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
	if res.Outcome != Transient || res.Status != 302 || res.Authenticated || elsewhereHits.Load() != 0 {
		t.Errorf("got %s status %d, %d hits elsewhere; want transient 302, no proof of life, and the keys sent nowhere else", res.Outcome, res.Status, elsewhereHits.Load())
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
