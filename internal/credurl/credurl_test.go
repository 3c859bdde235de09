package credurl_test

import (
	"strings"
	"testing"

	"kpay-rotator/internal/credurl"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.53": true, "::1": true, "localhost": true, "LocalHost": true,
		"localhost.": true, // the fully qualified form: the drift between config and healthcheck
		"10.0.0.1":   false, "localhost.example.com": false, "example.com": false, "": false,
	} {
		if got := credurl.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// Check and CheckBase refuse with the words config's messages have always
// used, and never quote the URL.
func TestCheck_refusesWithoutQuoting(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"https://h/s3cret\x7f", "X is not a valid URL"},
		{"https:s3cret", "X is not a valid URL"},
		{"ftp://h/s3cret", "X must start with https://"},
		{"hooks.example.net/s3cret", "X must start with https://"},
		{"https:///s3cret", "X has no host"},
		{"https://:443/s3cret", "X has no host"},
		{"http://hooks.example.net/s3cret", "X uses plain http to hooks.example.net; use https"},
		{" ", "X is empty"},
	} {
		_, err := credurl.Check(tt.raw, "X")
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Check(%q): got %v, want %q without the path", tt.raw, err, tt.want)
		}
	}
	for _, ok := range []string{"https://h.example/x?token=t", "http://127.0.0.1:1/x", "http://[::1]:1", "http://localhost.:8080/x"} {
		if _, err := credurl.Check(ok, "X"); err != nil {
			t.Errorf("Check(%q): %v", ok, err)
		}
	}
}

func TestCheckBase(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"http://s3cret.example", "X uses plain http; use https"},
		{"https://u:s3cret@h.example", "X must not contain a user name or password"},
		{"https://h.example/?s3cret", "X must not have a query"},
		{"https://h.example/#s3cret", "or fragment"},
		{"https://h.example/?", "must not have a query"},
	} {
		_, err := credurl.CheckBase(tt.raw, "X")
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckBase(%q): got %v, want %q without the value", tt.raw, err, tt.want)
		}
	}
	for raw, want := range map[string]string{
		"https://admin.kpay.site/":        "https://admin.kpay.site",
		"HTTP://LocalHost:1":              "http://LocalHost:1",
		"http://127.0.0.1:8080/sandbox//": "http://127.0.0.1:8080/sandbox",
	} {
		if got, err := credurl.CheckBase(raw, "X"); err != nil || got != want {
			t.Errorf("CheckBase(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestShow(t *testing.T) {
	got := credurl.Show("https://u:s3cret@h.example/p?s3cret#s3cret")
	if strings.Contains(got, "s3cret") || !strings.HasPrefix(got, `"https://`) || !strings.Contains(got, "@h.example/p?") {
		t.Errorf("Show = %s, want the scheme, host and path quoted and nothing else", got)
	}
	if got := credurl.Show("https://h/\x7f"); got != "the URL" {
		t.Errorf("Show of an unparseable URL = %s, want it unquoted", got)
	}
}
