package healthcheck

import (
	"math"
	"sync"
	"time"
)

// bucket is the request budget shared by every probe of a Prober: a token
// bucket refilled at RequestsPerMinute and holding at most Burst tokens.
// Each HTTP attempt takes one token. KPay allows about 100 requests a
// minute, shared with the production traffic that uses the same keys
// (kpay-api.md §4), so the daemon's own share must be capped, not merely
// spread.
//
// A reservation may drive the balance below zero: each waiter then sleeps
// until its own token has accrued. That queues concurrent probes in
// arrival order without a goroutine or timer inside the bucket, and the
// bucket reads time only from the clock it is given.
type bucket struct {
	mu       sync.Mutex
	interval time.Duration // time to accrue one token
	burst    float64
	tokens   float64
	last     time.Time
}

func newBucket(perMinute, burst int, now time.Time) *bucket {
	return &bucket{
		interval: time.Minute / time.Duration(perMinute),
		burst:    float64(burst),
		tokens:   float64(burst),
		last:     now,
	}
}

func (b *bucket) refill(now time.Time) {
	// A clock that steps back must not mint tokens, nor take them away.
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.interval))
		b.last = now
	}
}

// reserve takes a token and says how long to wait before using it. If the
// token would not accrue by deadline, nothing is taken, ok is false, and
// wait says when it would have.
func (b *bucket) reserve(now, deadline time.Time) (wait time.Duration, ok bool) {
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

// unreserve returns a token whose wait was cut short, so a cancelled probe
// does not spend the others' budget.
func (b *bucket) unreserve(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens = min(b.burst, b.tokens+1)
}

// Pauses of the cooldown. A field report has KPay's IP block lifting
// "after a few minutes" (kpay-api.md §4); the cap keeps probing possible at
// a trickle, one attempt per cap, while it lasts.
const (
	cooldownBase = 2 * time.Second
	cooldownCap  = 2 * time.Minute
)

// cooldown pauses every probe when KPay goes quiet. KPay has blocked bursty
// clients at the IP level, and the block shows as timeouts, not 429, so a
// timeout or connection error (a strike) must slow the daemon down: each
// strike in a row doubles a global pause from cooldownBase up to
// cooldownCap. Strikes accumulate across probes and survive the pause
// expiring; only an answer from KPay, any HTTP status, clears them.
//
// A Retry-After on a 429 or 503 also pauses everyone (capped likewise):
// KPay's limit is shared by all probes, whatever its scope (per key or per
// IP is not documented).
type cooldown struct {
	mu          sync.Mutex
	strikes     int
	silentUntil time.Time // set by strikes
	holdUntil   time.Time // set by Retry-After
}

// strike records that KPay did not answer and returns the strikes in a row
// and the pause they impose.
func (c *cooldown) strike(now time.Time) (strikes int, pause time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.strikes++
	pause = cooldownBase
	for i := 1; i < c.strikes && pause < cooldownCap; i++ {
		pause *= 2
	}
	pause = min(pause, cooldownCap)
	if until := now.Add(pause); until.After(c.silentUntil) {
		c.silentUntil = until
	}
	return c.strikes, pause
}

// answered records that KPay answered, with the Retry-After it asked for.
func (c *cooldown) answered(now time.Time, retryAfter time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.strikes = 0
	c.silentUntil = time.Time{}
	if retryAfter > 0 {
		if until := now.Add(min(retryAfter, cooldownCap)); until.After(c.holdUntil) {
			c.holdUntil = until
		}
	}
}

// remaining is the pause left at now and the strikes behind it.
func (c *cooldown) remaining(now time.Time) (wait time.Duration, strikes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until := c.silentUntil
	if c.holdUntil.After(until) {
		until = c.holdUntil
	}
	if !until.After(now) {
		return 0, c.strikes
	}
	return until.Sub(now), c.strikes
}
