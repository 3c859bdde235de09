package kpayemu

import (
	"sync"
	"time"
)

// window is the span KPay's documented limit ("100 requests/minute") counts.
const window = time.Minute

// limiter is a per-key sliding-window limit. KPay does not document whether
// its limit is per key, per application or per IP; per X-API-Key is the
// scope a probing daemon can reason about, so that is what it emulates.
// Refused requests are not counted, so a client that waits Retry-After
// always gets through.
//
// Hand-written rather than golang.org/x/time/rate: KPay documents a count
// per minute, which a sliding window models and a token bucket does not
// (a bucket refills steadily, so its Retry-After would not be KPay's).
type limiter struct {
	limit int
	now   func() time.Time

	mu   sync.Mutex
	seen map[string][]time.Time // admitted requests of the last window, oldest first
}

func newLimiter(limit int, now func() time.Time) *limiter {
	return &limiter{limit: limit, now: now, seen: map[string][]time.Time{}}
}

// allow admits a request with key, or says how long until it would be.
func (l *limiter) allow(key string) (retryAfter time.Duration, ok bool) {
	if l.limit <= 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.seen[key]
	expired := 0
	for expired < len(ts) && !ts[expired].After(now.Add(-window)) {
		expired++
	}
	ts = ts[expired:]
	if len(ts) >= l.limit {
		l.seen[key] = ts
		return ts[0].Add(window).Sub(now), false
	}
	l.seen[key] = append(ts, now)
	return 0, true
}
