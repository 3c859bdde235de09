package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string // fragment; "" means no error
	}{
		{"30s", 30 * time.Second, ""},
		{"10m", 10 * time.Minute, ""},
		{"24h", 24 * time.Hour, ""},
		{"90d", 90 * day, ""},
		{"1d12h", day + 12*time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1d2h3m4s", day + 2*time.Hour + 3*time.Minute + 4*time.Second, ""},
		{"0s", 0, ""},
		{"0d", 0, ""},
		{"007m", 7 * time.Minute, ""},
		{"", 0, "empty duration"},
		{"-1s", 0, "is negative"},
		{"-90d", 0, "is negative"},
		{"+1s", 0, "not valid"},
		{"90", 0, "not valid"},
		{"d", 0, "not valid"},
		{"1.5h", 0, "not valid"},
		{"100ms", 0, "not valid"},
		{"1us", 0, "not valid"},
		{"2w", 0, "not valid"},
		{"1y", 0, "not valid"},
		{"90D", 0, "not valid"},
		{"1h 30m", 0, "not valid"},
		{" 1h", 0, "not valid"},
		{"30m1h", 0, "largest first"},
		{"1h1h", 0, "largest first"},
		{"999999999999d", 0, "too long"},
		{"99999999999999999999s", 0, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, nil; want error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), `"90d"`) && !strings.Contains(err.Error(), "too long") {
				t.Errorf("error %q does not show the accepted form", err)
			}
		})
	}
}

func TestFormatDuration_RoundTrips(t *testing.T) {
	for _, s := range []string{"0s", "30s", "10m", "1h30m", "14d", "1d12h", "90d", "1d2h3m4s"} {
		d, err := ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatDuration(d); got != s {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, s)
		}
	}
}
