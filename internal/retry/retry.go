// Package retry is the daemon's one backoff formula and its one
// Retry-After reader, shared by KPay probes (healthcheck) and chat
// delivery (notifier, notifier/outbox), so every caller waits by the same
// rule and reads a server's "wait" the same way.
//
// Hand-written rather than a dependency: the libraries (cenkalti/backoff
// and the like) own the retry loop and read the wall clock, while here
// the loops stay with their callers and every time comes from an injected
// clock; what is left is two pure functions.
package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff is exponential backoff with a cap and optional jitter: the
// ceiling of the wait after n failures in a row is Base doubled n−1
// times, at most Cap, and Jitter of it is drawn at random.
type Backoff struct {
	// Base is the ceiling after the first failure.
	Base time.Duration
	// Cap bounds every wait.
	Cap time.Duration
	// Jitter is the fraction of the ceiling drawn at random, so that
	// callers that failed together do not come back together: 0 waits
	// the ceiling, 0.2 from 80 % of it, 1 from nothing ("full jitter").
	Jitter float64
}

// Ceiling is the longest wait after n failures in a row (n < 1 counts as
// 1): Base·2^(n−1), at most Cap. Doubling stops at Cap, so no n
// overflows.
func (b Backoff) Ceiling(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Cap; i++ {
		d *= 2
	}
	return min(d, b.Cap)
}

// Wait is the wait after n failures in a row for u, a uniform draw from
// [0, 1) such as rand.Float64: Ceiling(n)·(1−Jitter) for u = 0, growing
// with u towards Ceiling(n), which u = 1 gives. It never passes Cap.
func (b Backoff) Wait(n int, u float64) time.Duration {
	c := b.Ceiling(n)
	return c - time.Duration(float64(c)*b.Jitter*(1-u))
}

// After reads h's Retry-After (RFC 9110 §10.2.3) as how long to wait from
// now, at most limit. The value is delay-seconds, with a fraction allowed
// (Discord sends "1.5"), or an HTTP-date, measured against h's own Date
// when it has one: both times then come from the server's clock, and skew
// between the hosts cancels out. An absent, unparseable, negative or past
// value gives 0.
func After(h http.Header, now time.Time, limit time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if decimal(v) {
		// Only a range error is possible: a value past float64 is +Inf,
		// which Seconds caps like any huge one.
		f, _ := strconv.ParseFloat(v, 64)
		return Seconds(f, limit)
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return min(max(at.Sub(now), 0), limit)
}

// Seconds is a wait of f seconds (a JSON retry_after, or Retry-After's
// delay-seconds) under After's bounds: 0 for NaN or f ≤ 0, at most limit,
// and a fraction of a nanosecond rounded up, so a caller never comes back
// early.
func Seconds(f float64, limit time.Duration) time.Duration {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f >= limit.Seconds() {
		return limit
	}
	return time.Duration(math.Ceil(f * float64(time.Second)))
}

// decimal reports whether v is digits with an optional fraction ("30",
// "1.5"): delay-seconds as servers send them. Signs, exponents, hex,
// "Inf" and "NaN", which strconv.ParseFloat would take, are not.
func decimal(v string) bool {
	whole, frac, dot := strings.Cut(v, ".")
	return digits(whole) && (!dot || digits(frac))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
