package healthcheck

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Waits between the attempts of one probe. Only Transient answers are
// retried: a 401 or a wrong environment will not change by asking again,
// and asking again is what gets clients blocked.
const (
	// backoffBase is the ceiling of the first retry's wait; it doubles
	// per retry up to backoffCap. The wait itself is drawn uniformly from
	// [0, ceiling] ("full jitter"), so probes that failed together do not
	// come back together.
	backoffBase = 500 * time.Millisecond
	backoffCap  = 30 * time.Second
	// rateLimitFloor is the least wait after a 429 without Retry-After:
	// KPay's own sample code waits one second then (kpay-api.md §4).
	rateLimitFloor = time.Second
	// maxRetryAfter bounds what a Retry-After header can make us wait or
	// report: a broken value must not park probes for days.
	maxRetryAfter = time.Hour
)

// backoffCeiling is the largest backoff before retry number retry (1 for
// the wait after the first attempt).
func backoffCeiling(retry int) time.Duration {
	d := backoffBase
	for i := 1; i < retry && d < backoffCap; i++ {
		d *= 2
	}
	return min(d, backoffCap)
}

// retryWait is how long to wait after last, the Transient result of the
// retry-th attempt, before the next one.
func (p *Prober) retryWait(last Result, retry int) time.Duration {
	wait := time.Duration(p.jitter(int64(backoffCeiling(retry)) + 1))
	if last.Status == http.StatusTooManyRequests && last.RetryAfter == 0 {
		wait = max(wait, rateLimitFloor)
	}
	return max(wait, last.RetryAfter)
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). KPay documents seconds; a proxy in front of it may
// send a date. Absent, invalid or past values give 0.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	// Measure against the answer's own Date when there is one: both times
	// then come from KPay's clock, and skew between the hosts cancels out.
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return min(max(at.Sub(now), 0), maxRetryAfter)
}

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
