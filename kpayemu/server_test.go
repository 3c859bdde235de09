package kpayemu

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"kpay-rotator/internal/testutil"
	"kpay-rotator/kpay"
)

const (
	mePath       = "/api/v1/payments/me"
	balancePath  = "/api/v1/payments/balance"
	platformPath = "/api/public/platform-info"
)

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newClient gives each test its own Transport, so connection reuse in one
// test never depends on another.
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// newRequest sets headers exactly as given (no canonicalization), so a test
// can send lower-case names on the wire.
func newRequest(t *testing.T, method, url string, header map[string]string, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	return req
}

func do(t *testing.T, c *http.Client, method, url string, header map[string]string, body string) response {
	t.Helper()
	resp, err := c.Do(newRequest(t, method, url, header, body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func authHeaders(p kpay.Pair) map[string]string {
	return map[string]string{"X-API-Key": p.APIKey, "X-Secret-Key": p.SecretKey.Reveal()}
}

func mustPair(t *testing.T, s *Server, appID string, env kpay.Environment) kpay.Pair {
	t.Helper()
	p, ok := s.Pair(appID, env)
	if !ok {
		t.Fatalf("Pair(%s, %s): no pair", appID, env)
	}
	return p
}

func decodeJSON[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

func TestServer_KeepAlive(t *testing.T) {
	s := startServer(t, Options{})
	app := s.CreateApplication("shop")
	good := authHeaders(mustPair(t, s, app.ID, kpay.Test))
	c := newClient(t, 5*time.Second)

	// Success, rejection and unknown routes must all leave the connection
	// reusable: a daemon probing every few minutes keeps one open.
	steps := []struct {
		path   string
		header map[string]string
		want   int
	}{
		{mePath, good, 200},
		{mePath, nil, 401},
		{"/nope", nil, 404},
		{mePath, good, 200},
	}
	for i, st := range steps {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req := newRequest(t, "GET", s.URL+st.path, st.header, "")
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != st.want {
			t.Errorf("step %d: got status %d, want %d", i, resp.StatusCode, st.want)
		}
		if resp.Close || resp.Header.Get("Connection") == "close" {
			t.Errorf("step %d: server asked to close the connection", i)
		}
		if want := i > 0; reused != want {
			t.Errorf("step %d: got reused %v, want %v", i, reused, want)
		}
	}
}

func TestServer_HandlerWithHTTPTest(t *testing.T) {
	s := New(Options{})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = s.Close() })
	if s.URL != "" {
		t.Errorf("got URL %q for an unstarted server, want empty", s.URL)
	}
	app := s.CreateApplication("shop")
	r := do(t, newClient(t, 5*time.Second), "GET", ts.URL+mePath, authHeaders(mustPair(t, s, app.ID, kpay.Live)), "")
	if r.status != 200 {
		t.Fatalf("got status %d, want 200", r.status)
	}
}

func TestStartOn(t *testing.T) {
	s := startServer(t, Options{})
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("got URL %q, want http://127.0.0.1:PORT", s.URL)
	}
	if _, err := StartOn(strings.TrimPrefix(s.URL, "http://"), Options{}); err == nil {
		t.Error("StartOn a taken address: got nil error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestServer_Shutdown(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := newClient(t, time.Second).Get(s.URL + platformPath); err == nil {
		t.Error("request after Shutdown: got nil error")
	}
}

func TestServer_LogsNoKeys(t *testing.T) {
	var logs testutil.SyncBuffer
	s := startServer(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := newClient(t, 5*time.Second)

	var seen []kpay.Pair
	a, b := s.CreateApplication("a"), s.CreateApplication("b")
	for _, app := range []Application{a, b} {
		for _, env := range environments {
			seen = append(seen, mustPair(t, s, app.ID, env))
		}
	}
	old := seen[0]
	fresh, err := s.Regenerate(a.ID, kpay.Test)
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, fresh)
	for _, h := range []map[string]string{
		authHeaders(old), authHeaders(fresh),
		{"X-API-Key": fresh.APIKey, "X-Secret-Key": seen[2].SecretKey.Reveal()},
		{"X-API-Key": "kpay_test_" + strings.Repeat("ab", 24), "X-Secret-Key": "sk_test_x"},
	} {
		do(t, c, "GET", s.URL+mePath, h, "")
	}
	s.Inject(Fault{Kind: FaultStatus, Count: 1, APIKey: fresh.APIKey})
	do(t, c, "GET", s.URL+mePath, authHeaders(fresh), "")
	if err := s.Revoke(b.ID, kpay.Live); err != nil {
		t.Fatal(err)
	}
	do(t, c, "POST", s.URL+adminRoot+"/applications", nil, `{"name":"c"}`)

	out := logs.String()
	if !strings.Contains(out, "credentials rejected") {
		t.Fatalf("the logs show no rejection; is the logger wired? logs:\n%s", out)
	}
	for _, p := range seen {
		for _, v := range []string{p.APIKey, p.SecretKey.Reveal(), p.SecretKey.Reveal()[len(p.SecretKey.Reveal())-16:]} {
			if strings.Contains(out, v) {
				t.Errorf("logs contain key material %s…", v[:8])
			}
		}
	}
}
