package healthcheck

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestNew_validates(t *testing.T) {
	for name, opts := range map[string]Options{
		"empty base URL":            {},
		"relative":                  {BaseURL: "admin.kpay.site"},
		"no host":                   {BaseURL: "https://"},
		"ftp":                       {BaseURL: "ftp://admin.kpay.site"},
		"plain http to the world":   {BaseURL: "http://admin.kpay.site"},
		"user info":                 {BaseURL: "https://u:p@admin.kpay.site"},
		"query":                     {BaseURL: "https://admin.kpay.site?x=1"},
		"fragment":                  {BaseURL: "https://admin.kpay.site#x"},
		"bad escape":                {BaseURL: "https://admin.kpay.site/%zz"},
		"negative timeout":          {BaseURL: "https://admin.kpay.site", Timeout: -1},
		"tiny timeout":              {BaseURL: "https://admin.kpay.site", Timeout: time.Millisecond},
		"attempt longer than all":   {BaseURL: "https://admin.kpay.site", Timeout: time.Second, AttemptTimeout: 2 * time.Second},
		"negative budget":           {BaseURL: "https://admin.kpay.site", RequestsPerMinute: -1},
		"negative burst":            {BaseURL: "https://admin.kpay.site", Burst: -1},
		"negative concurrency":      {BaseURL: "https://admin.kpay.site", Concurrency: -1},
		"negative attempts":         {BaseURL: "https://admin.kpay.site", MaxAttempts: -1},
		"user agent with newline":   {BaseURL: "https://admin.kpay.site", UserAgent: "a\nb"},
		"user agent with non-ascii": {BaseURL: "https://admin.kpay.site", UserAgent: "é"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(opts)
			if err == nil {
				p.Close()
				t.Fatal("got no error")
			}
			if !strings.HasPrefix(err.Error(), "healthcheck: ") {
				t.Errorf("error %q lacks the subsystem prefix", err)
			}
		})
	}
	for _, base := range []string{"https://admin.kpay.site", "https://admin.kpay.site/", "http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:1"} {
		p, err := New(Options{BaseURL: base})
		if err != nil {
			t.Errorf("New(%q): %v", base, err)
			continue
		}
		if !strings.HasSuffix(p.url, "/api/v1/payments/me") || strings.Contains(p.url, "//api") {
			t.Errorf("New(%q): probe URL %q", base, p.url)
		}
		p.Close()
	}
}

func TestNew_defaults(t *testing.T) {
	p, err := New(Options{BaseURL: "https://admin.kpay.site"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.timeout != DefaultTimeout || p.attemptTimeout != DefaultTimeout/2 || p.maxAttempts != DefaultMaxAttempts ||
		cap(p.sem) != DefaultConcurrency || cap(p.urgentSem) != DefaultConcurrency || p.urgent.Burst() != KPayRequestsPerMinute-DefaultRequestsPerMinute || p.userAgent != DefaultUserAgent || p.budget.Burst() != 5 || p.budget.Limit() != rate.Every(2*time.Second) {
		t.Errorf("defaults not applied: %+v", p)
	}
	tr, ok := p.client.Transport.(*http.Transport)
	// Routine and hand-over probe slots each get their connections.
	if !ok || tr.MaxConnsPerHost != 2*DefaultConcurrency || tr.MaxIdleConnsPerHost != 2*DefaultConcurrency || tr.DisableKeepAlives {
		t.Errorf("default transport: got %T %+v", p.client.Transport, tr)
	}
}
