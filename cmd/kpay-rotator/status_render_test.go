package main

import (
	"strings"
	"testing"
	"time"

	"kpay-rotator/rotator"
)

// Each previous pair's line says where it stands: watched, revoked, or
// given up (and so perhaps still alive).
func TestRenderStatus_PreviousPairs(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tt := range []struct {
		name string
		r    rotator.RetiredStatus
		want string
	}{
		{"watched", rotator.RetiredStatus{Pair: "kpay_live_…aaaa", Role: "retired", RetiredAt: ago(time.Hour)}, "retired 1h0m ago, still accepted; watching"},
		{"revoked", rotator.RetiredStatus{Pair: "kpay_live_…bbbb", Role: "revoked", RetiredAt: ago(2 * time.Hour), RevokedAt: ago(time.Hour)}, "revoked 1h0m ago"},
		{"given up", rotator.RetiredStatus{Pair: "kpay_live_…cccc", Role: "unwatched", RetiredAt: ago(8 * 24 * time.Hour), UnwatchedAt: ago(24 * time.Hour)},
			"given up 24h0m ago, not probed since; may still work"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderStatus(&b, rotator.Status{Source: "database", Slots: []rotator.SlotStatus{{Name: "a", Health: "healthy", Retired: []rotator.RetiredStatus{tt.r}}}}, now)
			var line string
			for _, l := range strings.Split(b.String(), "\n") {
				if strings.Contains(l, tt.r.Pair) {
					line = l
				}
			}
			if !strings.Contains(line, tt.r.Role) || !strings.Contains(line, tt.want) {
				t.Errorf("line of %s: %q, want %s and %q", tt.r.Pair, line, tt.r.Role, tt.want)
			}
		})
	}
}
