package healthcheck

import (
	"context"
	"net/http"
	"time"

	"kpay-rotator/internal/retry"
)

// Waits between the attempts of one probe. Only Transient answers are
// retried: a 401 or a wrong environment will not change by asking again,
// and asking again is what gets clients blocked.
const (
	// rateLimitFloor is the least wait after a 429 without Retry-After:
	// KPay's own sample code waits one second then (kpay-api.md §4).
	rateLimitFloor = time.Second
	// maxRetryAfter bounds what a Retry-After header can make us wait or
	// report: a broken value must not park probes for days.
	maxRetryAfter = time.Hour
)

// attemptBackoff is the wait before retry number n (1 for the wait after
// the first attempt): a ceiling of 500 ms doubling to 30 s, the wait drawn
// uniformly below it ("full jitter"), so probes that failed together do
// not come back together.
var attemptBackoff = retry.Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second, Jitter: 1}

// retryWait is how long to wait after last, the Transient result of the
// retry-th attempt, before the next one.
func (p *Prober) retryWait(last Result, n int) time.Duration {
	wait := attemptBackoff.Wait(n, p.draw())
	if last.Status == http.StatusTooManyRequests && last.RetryAfter == 0 {
		wait = max(wait, rateLimitFloor)
	}
	return max(wait, last.RetryAfter)
}

// parseRetryAfter reads Retry-After (retry.After): KPay documents
// seconds; a proxy in front of it may send a date.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	return retry.After(h, now, maxRetryAfter)
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
