package retry_test

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"kpay-rotator/internal/retry"
)

func TestBackoff_Ceiling(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    retry.Backoff
		n    int
		want time.Duration
	}{
		{"first failure is the base", retry.Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second}, 1, 500 * time.Millisecond},
		{"doubles per failure", retry.Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second}, 3, 2 * time.Second},
		{"capped", retry.Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second}, 7, 30 * time.Second},
		{"cap not a power of two of the base", retry.Backoff{Base: 5 * time.Second, Cap: 30 * time.Second}, 4, 30 * time.Second},
		{"just under the cap", retry.Backoff{Base: 5 * time.Second, Cap: 30 * time.Second}, 3, 20 * time.Second},
		{"no overflow at huge n", retry.Backoff{Base: 2 * time.Second, Cap: 2 * time.Minute}, math.MaxInt, 2 * time.Minute},
		{"zero counts as one", retry.Backoff{Base: 5 * time.Second, Cap: time.Minute}, 0, 5 * time.Second},
		{"negative counts as one", retry.Backoff{Base: 5 * time.Second, Cap: time.Minute}, -3, 5 * time.Second},
		{"base above the cap", retry.Backoff{Base: time.Minute, Cap: 30 * time.Second}, 1, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Ceiling(tt.n); got != tt.want {
				t.Errorf("Ceiling(%d) of %+v: got %s, want %s", tt.n, tt.b, got, tt.want)
			}
		})
	}
}

func TestBackoff_Wait(t *testing.T) {
	full := retry.Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second, Jitter: 1}
	fifth := retry.Backoff{Base: 5 * time.Second, Cap: 30 * time.Second, Jitter: 0.2}
	none := retry.Backoff{Base: 2 * time.Second, Cap: 2 * time.Minute}
	for _, tt := range []struct {
		name string
		b    retry.Backoff
		n    int
		u    float64
		want time.Duration
	}{
		{"full jitter, lowest draw waits nothing", full, 2, 0, 0},
		{"full jitter, middle draw", full, 2, 0.5, 500 * time.Millisecond},
		{"full jitter, top draw is the ceiling", full, 2, 1, time.Second},
		{"a fifth, lowest draw is 80 %", fifth, 1, 0, 4 * time.Second},
		{"a fifth, middle draw", fifth, 2, 0.5, 9 * time.Second},
		{"a fifth at the cap never passes it", fifth, 100, 1, 30 * time.Second},
		{"a fifth at the cap, lowest draw", fifth, 100, 0, 24 * time.Second},
		{"no jitter ignores the draw", none, 3, 0, 8 * time.Second},
		{"no jitter, capped", none, 8, 0.7, 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Wait(tt.n, tt.u); got != tt.want {
				t.Errorf("Wait(%d, %v) of %+v: got %s, want %s", tt.n, tt.u, tt.b, got, tt.want)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	const limit = time.Hour
	for _, tt := range []struct {
		name  string
		value string
		date  string
		want  time.Duration
	}{
		{"absent", "", "", 0},
		{"delta-seconds", "7", "", 7 * time.Second},
		{"delta-seconds with spaces", " 30 ", "", 30 * time.Second},
		{"fraction (Discord)", "1.5", "", 1500 * time.Millisecond},
		{"fraction rounded up to the nanosecond", "0.0000000001", "", time.Nanosecond},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
		{"plus sign", "+5", "", 0},
		{"exponent", "1e3", "", 0},
		{"hex", "0x10", "", 0},
		{"Inf", "Inf", "", 0},
		{"NaN", "NaN", "", 0},
		{"trailing dot", "5.", "", 0},
		{"leading dot", ".5", "", 0},
		{"garbage", "later", "", 0},
		{"huge is capped", "99999999999999", "", limit},
		{"past uint64 is capped", "18446744073709551616", "", limit},
		{"past float64 is capped", strings.Repeat("9", 400), "", limit},
		{"HTTP-date against now", "Tue, 01 Sep 2026 12:00:30 GMT", "", 30 * time.Second},
		{"HTTP-date against the answer's Date", "Tue, 01 Sep 2026 08:00:30 GMT", "Tue, 01 Sep 2026 08:00:00 GMT", 30 * time.Second},
		{"unparseable Date falls back to now", "Tue, 01 Sep 2026 12:01:00 GMT", "yesterday", time.Minute},
		{"RFC 850 date", "Tuesday, 01-Sep-26 12:00:10 GMT", "", 10 * time.Second},
		{"ANSI C date", "Tue Sep  1 12:00:20 2026", "", 20 * time.Second},
		{"past date", "Tue, 01 Sep 2026 11:00:00 GMT", "", 0},
		{"far date is capped", "Tue, 01 Sep 2037 11:00:00 GMT", "", limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			if tt.date != "" {
				h.Set("Date", tt.date)
			}
			if got := retry.After(h, now, limit); got != tt.want {
				t.Errorf("After(Retry-After %q, Date %q): got %s, want %s", tt.value, tt.date, got, tt.want)
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	const limit = 24 * time.Hour
	for _, tt := range []struct {
		name string
		f    float64
		want time.Duration
	}{
		{"whole", 3, 3 * time.Second},
		{"fraction", 0.25, 250 * time.Millisecond},
		{"zero", 0, 0},
		{"negative", -1, 0},
		{"NaN", math.NaN(), 0},
		{"huge is capped", 1e12, limit},
		{"+Inf is capped", math.Inf(1), limit},
		{"at the limit", limit.Seconds(), limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := retry.Seconds(tt.f, limit); got != tt.want {
				t.Errorf("Seconds(%v): got %s, want %s", tt.f, got, tt.want)
			}
		})
	}
}
