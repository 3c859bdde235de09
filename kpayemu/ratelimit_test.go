package kpayemu

import (
	"sync"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// fakeClock is read by handler goroutines while the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestServer_RateLimit(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	s := startServer(t, Options{RequestsPerMinute: 2, Now: clock.Now})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	limited, other := mustPair(t, s, app.ID, kpay.Test), mustPair(t, s, app.ID, kpay.Live)

	steps := []struct {
		at         time.Duration
		pair       kpay.Pair
		want       int
		retryAfter string
	}{
		{0, limited, 200, ""},
		{10 * time.Second, limited, 200, ""},
		{20 * time.Second, limited, 429, "40"}, // the t0 request leaves the window at t0+60s
		{20 * time.Second, other, 200, ""},     // the limit is per key
		{59*time.Second + 500*time.Millisecond, limited, 429, "1"},
		{60 * time.Second, limited, 200, ""},  // t0 slid out; refused requests never counted
		{61 * time.Second, limited, 429, "9"}, // t0+10s and t0+60s fill the window
	}
	for i, st := range steps {
		clock.Set(t0.Add(st.at))
		r := do(t, c, "GET", s.URL+mePath, authHeaders(st.pair), "")
		if r.status != st.want || r.header.Get("Retry-After") != st.retryAfter {
			t.Errorf("step %d (t0+%v): got %d Retry-After %q, want %d %q", i, st.at, r.status, r.header.Get("Retry-After"), st.want, st.retryAfter)
		}
	}
	// Requests without a key (the public endpoint) are not limited.
	for range 5 {
		if r := do(t, c, "GET", s.URL+platformPath, nil, ""); r.status != 200 {
			t.Fatalf("platform-info: got %d, want 200", r.status)
		}
	}
	if got := s.Counters().ByStatus[429]; got != 3 {
		t.Errorf("got %d responses 429, want 3", got)
	}
}
