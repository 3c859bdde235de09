package healthcheck

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"kpay-rotator/internal/retry"
)

// Pauses of the cooldown. A field report has KPay's IP block lifting
// "after a few minutes" (kpay-api.md §4); the cap keeps probing possible at
// a trickle, one attempt per cap, while it lasts.
const (
	cooldownBase = 2 * time.Second
	cooldownCap  = 2 * time.Minute
)

// silenceBackoff is the pause after strikes in a row. It has no jitter:
// the pause is one for every probe, so there is nobody to spread out.
var silenceBackoff = retry.Backoff{Base: cooldownBase, Cap: cooldownCap}

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
	pause = silenceBackoff.Ceiling(c.strikes)
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

// held is what is left at now of a pause KPay asked for (Retry-After),
// ignoring the silence pause.
func (c *cooldown) held(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holdUntil.After(now) {
		return 0
	}
	return c.holdUntil.Sub(now)
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

// newBudget is a token bucket of perMinute requests a minute holding at
// most burst, full at start.
func newBudget(perMinute, burst int) *rate.Limiter {
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), max(1, burst))
}

// reserve takes a token of lim at now and says how long to wait before
// using it; if the token would not accrue by deadline, nothing is taken, r
// is nil and wait says when it would have. A reservation may drive the
// bucket below zero: each waiter then sleeps until its own token has
// accrued, which queues concurrent probes in arrival order without a
// goroutine or timer in the bucket.
//
// Only rate's methods that take a time are called (ReserveN, DelayFrom,
// CancelAt): the others read time.Now, and the budget runs on the
// injected clock.
func reserve(lim *rate.Limiter, now, deadline time.Time) (r *rate.Reservation, wait time.Duration) {
	r = lim.ReserveN(now, 1)
	wait = r.DelayFrom(now) // rate.InfDuration when it can never be granted
	if wait > deadline.Sub(now) {
		r.CancelAt(now)
		return nil, wait
	}
	return r, wait
}
