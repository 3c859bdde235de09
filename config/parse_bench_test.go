package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkParse_1000Slots parses the shipped config.toml with 1,000
// slots: every command (stage on the hand-over path too) pays for it.
//
//	go test -run '^$' -bench Parse -benchmem ./config
func BenchmarkParse_1000Slots(b *testing.B) {
	shipped, err := os.ReadFile("../config.toml")
	if err != nil {
		b.Fatal(err)
	}
	var src strings.Builder
	head, _, _ := strings.Cut(string(shipped), "\n[[slot]]")
	src.WriteString(head)
	for i := range 1000 {
		fmt.Fprintf(&src, "\n[[slot]]\nname = \"slot-%04d\"\nenvironment = \"live\"\nsecret_id = \"prod/slot-%04d\"\n", i, i)
	}
	src.WriteString("\n[[notifier]]\nname = \"ops\"\ntype = \"slack\"\nurl_credential = \"slack-ops\"\n")
	data := []byte(src.String())
	for b.Loop() {
		if _, err := Parse(data, "config.toml"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidName_HostnameAndSecretName(t *testing.T) {
	tests := []struct {
		check func(string) bool
		in    string
		want  bool
	}{
		{validName, "payments-live", true},
		{validName, "a", true},
		{validName, "shop.live_v2__x", true},
		{validName, strings.Repeat("a", 63), true},
		{validName, strings.Repeat("a", 64), false},
		{validName, "", false},
		{validName, "-lead", false},
		{validName, "Upper", false},
		{validName, "sp ace", false},
		{validName, "sl/ash", false},
		{validHostname, "localhost", true},
		{validHostname, "a-b.example.com", true},
		{validHostname, strings.Repeat("a", 63) + ".x", true},
		{validHostname, strings.Repeat("a", 64), false},
		{validHostname, "-a.example", false},
		{validHostname, "a-.example", false},
		{validHostname, "a..b", false},
		{validHostname, "a_b", false},
		{validSecretName, "prod/payments/kpay", true},
		{validSecretName, "a+b=c.d@e-f_g", true},
		{validSecretName, strings.Repeat("x", 512), true},
		{validSecretName, strings.Repeat("x", 513), false},
		{validSecretName, "", false},
		{validSecretName, "has space", false},
		{validSecretName, "qu\"ote", false},
	}
	for _, tt := range tests {
		if got := tt.check(tt.in); got != tt.want {
			t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
		}
	}
}
