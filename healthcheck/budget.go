package healthcheck

import (
	"sync"
	"time"
)

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
