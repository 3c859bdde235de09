// Package ratelimit is a token bucket on an injected clock, shared by the
// KPay request budget and the per-destination chat rate limits.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Bucket refills one token every interval and holds at most burst.
//
// A reservation may drive the balance below zero: each waiter then sleeps
// until its own token has accrued. That queues concurrent callers in
// arrival order without a goroutine or timer inside the bucket, and the
// bucket reads time only from the clock it is given.
type Bucket struct {
	mu       sync.Mutex
	interval time.Duration // time to accrue one token
	burst    float64
	tokens   float64
	last     time.Time
}

// New returns a full bucket.
func New(interval time.Duration, burst int, now time.Time) *Bucket {
	if burst < 1 {
		burst = 1
	}
	return &Bucket{interval: interval, burst: float64(burst), tokens: float64(burst), last: now}
}

// PerMinute returns a full bucket refilled perMinute times a minute.
func PerMinute(perMinute, burst int, now time.Time) *Bucket {
	return New(time.Minute/time.Duration(perMinute), burst, now)
}

func (b *Bucket) refill(now time.Time) {
	// A clock that steps back must not mint tokens, nor take them away.
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.interval))
		b.last = now
	}
}

// Reserve takes a token and says how long to wait before using it. If the
// token would not accrue by deadline, nothing is taken, ok is false, and
// wait says when it would have.
func (b *Bucket) Reserve(now, deadline time.Time) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait = time.Duration(math.Ceil((1 - b.tokens) * float64(b.interval)))
	if now.Add(wait).After(deadline) {
		return wait, false
	}
	b.tokens--
	return wait, true
}

// Take takes a token now, whatever the balance: the bucket may go into
// debt, and later reservations wait until it is paid back. It is how a
// request that must not wait (a hand-over while payments are down) still
// counts against the budget.
func (b *Bucket) Take(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens--
}

// Unreserve returns a token whose wait was cut short, so a cancelled caller
// does not spend the others' budget.
func (b *Bucket) Unreserve(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens = min(b.burst, b.tokens+1)
}

// Interval is the time to accrue one token.
func (b *Bucket) Interval() time.Duration { return b.interval }

// Burst is the most tokens the bucket holds.
func (b *Bucket) Burst() int { return int(b.burst) }
