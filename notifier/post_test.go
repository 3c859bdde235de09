package notifier_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

func TestSeconds(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want time.Duration
	}{
		{2.5, 2500 * time.Millisecond},
		{0, 0},
		{-1, 0},
		{math.NaN(), 0},
		{1e9, notifier.MaxRetryAfter},
	} {
		if got := notifier.Seconds(tt.in); got != tt.want {
			t.Errorf("Seconds(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/x": "https://hooks.slack.com/…",
		"https://example.com":                    "https://example.com",
		"https://example.com/":                   "https://example.com",
		"https://example.com?token=x":            "https://example.com/…",
		"https://user:pw@example.com:8443/p":     "https://example.com:8443/…",
	} {
		u, _ := url.Parse(in)
		if got := notifier.SafeURL(u); got != want {
			t.Errorf("SafeURL(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURL_neverQuotesTheURL(t *testing.T) {
	for _, bad := range []string{"https://h/s3cret\x7f", "ftp://h/s3cret", "https:///s3cret", " https://h/s3cret"} {
		_, err := notifier.ParseURL(kpay.NewSecret(bad), "file /x")
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "file /x") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestPoster_keepsCallersClientAndNeverFollowsRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/next", http.StatusFound)
	}))
	defer srv.Close()
	hc := &http.Client{Timeout: time.Minute}
	p := notifier.NewPoster(notifier.PosterOptions{HTTPClient: hc})
	u, _ := url.Parse(srv.URL + "/hook/s3cretS3cretS3cretS3cret")
	res, rep := p.Post(context.Background(), notifier.Request{URL: u, Redactor: notifier.NewRedactor(kpay.NewSecret(u.String()))})
	if res.Delivered || res.Retry || res.Status != 302 || rep == nil || hits.Load() != 1 {
		t.Errorf("got %+v after %d requests, want one final 302", res, hits.Load())
	}
	if strings.Contains(res.Detail, "s3cret") || !strings.Contains(res.Detail, "redirect not followed") {
		t.Errorf("got detail %q", res.Detail)
	}
	if hc.CheckRedirect != nil || hc.Timeout != time.Minute {
		t.Error("the caller's client was modified")
	}
}

func TestPoster_timeoutSaysSo(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p := notifier.NewPoster(notifier.PosterOptions{Timeout: 50 * time.Millisecond})
	u, _ := url.Parse(srv.URL + "/hook/s3cretS3cretS3cretS3cret")
	res, rep := p.Post(context.Background(), notifier.Request{URL: u, Redactor: notifier.NewRedactor(kpay.NewSecret(u.String()))})
	if !res.Retry || rep != nil || !strings.Contains(res.Detail, "per-attempt timeout (50ms)") || strings.Contains(res.Detail, "s3cret") {
		t.Errorf("got %+v", res)
	}
	if !strings.HasPrefix(res.Detail, "POST "+srv.URL+"/…: ") {
		t.Errorf("got %q, want it to name the host and hide the path", res.Detail)
	}
}
