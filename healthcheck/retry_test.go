package healthcheck

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffCeiling(t *testing.T) {
	for retry, want := range map[int]time.Duration{
		1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 7: 30 * time.Second, 100: backoffCap,
	} {
		if got := backoffCeiling(retry); got != want {
			t.Errorf("backoffCeiling(%d): got %s, want %s", retry, got, want)
		}
	}
}

func TestProber_retryWait(t *testing.T) {
	p := &Prober{}
	var asked int64
	p.jitter = func(n int64) int64 { asked = n; return n / 2 }
	if got := p.retryWait(Result{Status: 500}, 2); got != 500*time.Millisecond || asked != int64(time.Second)+1 {
		t.Errorf("500, retry 2: got %s (drawn from [0, %d)), want half of 1s", got, asked)
	}
	if got := p.retryWait(Result{Status: 429}, 1); got != rateLimitFloor {
		t.Errorf("429 without Retry-After: got %s, want %s", got, rateLimitFloor)
	}
	if got := p.retryWait(Result{Status: 503, RetryAfter: 40 * time.Second}, 1); got != 40*time.Second {
		t.Errorf("503 Retry-After 40s: got %s, want 40s", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		value string
		date  string
		want  time.Duration
	}{
		{"absent", "", "", 0},
		{"seconds", "5", "", 5 * time.Second},
		{"seconds with spaces", " 5 ", "", 5 * time.Second},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
		{"fraction", "1.5", "", 0},
		{"huge", "18446744073709551615", "", maxRetryAfter},
		{"date against now", "Tue, 01 Sep 2026 12:00:30 GMT", "", 30 * time.Second},
		{"date against Date", "Tue, 01 Sep 2026 08:00:30 GMT", "Tue, 01 Sep 2026 08:00:00 GMT", 30 * time.Second},
		{"RFC 850 date", "Tuesday, 01-Sep-26 12:00:10 GMT", "", 10 * time.Second},
		{"past date", "Tue, 01 Sep 2026 11:00:00 GMT", "", 0},
		{"far date", "Tue, 01 Sep 2037 11:00:00 GMT", "", maxRetryAfter},
		{"garbage", "later", "", 0},
	} {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		if tt.date != "" {
			h.Set("Date", tt.date)
		}
		if got := parseRetryAfter(h, now); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}
