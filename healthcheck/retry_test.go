package healthcheck

import (
	"testing"
	"time"
)

func TestProber_retryWait(t *testing.T) {
	for _, tt := range []struct {
		name  string
		last  Result
		retry int
		draw  float64
		want  time.Duration
	}{
		{"500, retry 2, middle draw: half the 1s ceiling", Result{Status: 500}, 2, 0.5, 500 * time.Millisecond},
		{"500, retry 1, top draw: the 500ms base", Result{Status: 500}, 1, 1, 500 * time.Millisecond},
		{"500, late retry, top draw: the 30s cap", Result{Status: 500}, 20, 1, 30 * time.Second},
		{"429 without Retry-After waits the floor", Result{Status: 429}, 1, 0, rateLimitFloor},
		{"429 with Retry-After waits it, not the floor", Result{Status: 429, RetryAfter: 300 * time.Millisecond}, 1, 0, 300 * time.Millisecond},
		{"503 Retry-After longer than the backoff", Result{Status: 503, RetryAfter: 40 * time.Second}, 1, 1, 40 * time.Second},
		{"backoff longer than Retry-After", Result{Status: 503, RetryAfter: time.Second}, 3, 1, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Prober{draw: func() float64 { return tt.draw }}
			if got := p.retryWait(tt.last, tt.retry); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
