package kpayemu

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// faultFixture is a started server with one application and a client.
type faultFixture struct {
	s    *Server
	c    *http.Client
	app  Application
	pair kpay.Pair
}

func newFaultFixture(t *testing.T) faultFixture {
	t.Helper()
	s := startServer(t, Options{})
	app := s.CreateApplication("shop")
	return faultFixture{s: s, c: newClient(t, 5*time.Second), app: app, pair: mustPair(t, s, app.ID, kpay.Test)}
}

func (f faultFixture) me(t *testing.T) response {
	t.Helper()
	return do(t, f.c, "GET", f.s.URL+mePath, authHeaders(f.pair), "")
}

func wantEnvelope(t *testing.T, r response, status int, message string) {
	t.Helper()
	want, _ := json.Marshal(errorBody{StatusCode: status, Message: message, Error: http.StatusText(status)})
	if r.status != status || string(r.body) != string(want) {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, want)
	}
}

func TestFault_Latency(t *testing.T) {
	f := newFaultFixture(t)
	const latency = 150 * time.Millisecond
	f.s.Inject(Fault{Kind: FaultLatency, Latency: latency, Count: 1})
	start := time.Now()
	r := f.me(t)
	if elapsed := time.Since(start); elapsed < latency {
		t.Errorf("got answer after %v, want at least %v", elapsed, latency)
	}
	wantMe(t, r, f.app, "TEST") // latency delays the real answer, nothing more
	if got := f.s.Faults(); len(got) != 0 {
		t.Errorf("got %d faults left after Count 1 was used, want 0", len(got))
	}
}

func TestFault_Status(t *testing.T) {
	tests := []struct {
		status      int
		wantStatus  int
		wantMessage string
	}{
		{0, 500, "Internal server error"},
		{500, 500, "Internal server error"},
		{502, 502, "Bad Gateway"},
		{503, 503, "Service Unavailable"},
		{422, 422, "Unprocessable Entity"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.wantStatus), func(t *testing.T) {
			f := newFaultFixture(t)
			f.s.Inject(Fault{Kind: FaultStatus, Status: tt.status})
			r := f.me(t)
			wantEnvelope(t, r, tt.wantStatus, tt.wantMessage)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("got Content-Type %q, want JSON", ct)
			}
		})
	}
}

func TestFault_RateLimit(t *testing.T) {
	tests := []struct {
		name string
		f    Fault
		want string // Retry-After; "" = absent
	}{
		{"default", Fault{Kind: FaultRateLimit}, "1"},
		{"rounded up", Fault{Kind: FaultRateLimit, RetryAfter: 1500 * time.Millisecond}, "2"},
		{"whole seconds", Fault{Kind: FaultRateLimit, RetryAfter: 30 * time.Second}, "30"},
		{"omitted", Fault{Kind: FaultRateLimit, OmitRetryAfter: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFaultFixture(t)
			f.s.Inject(tt.f)
			r := f.me(t)
			wantEnvelope(t, r, 429, "ThrottlerException: Too Many Requests")
			if got, ok := r.header["Retry-After"]; tt.want == "" && ok || tt.want != "" && r.header.Get("Retry-After") != tt.want {
				t.Errorf("got Retry-After %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFault_Forbidden(t *testing.T) {
	f := newFaultFixture(t)
	f.s.Inject(Fault{Kind: FaultForbidden})
	wantEnvelope(t, f.me(t), 403, "Forbidden resource")
}

func TestFault_NonJSON(t *testing.T) {
	for _, tt := range []struct{ status, want int }{{0, 504}, {502, 502}, {200, 200}} {
		f := newFaultFixture(t)
		f.s.Inject(Fault{Kind: FaultNonJSON, Status: tt.status})
		r := f.me(t)
		if r.status != tt.want {
			t.Errorf("got status %d, want %d", r.status, tt.want)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("got Content-Type %q, want text/html", ct)
		}
		if json.Valid(r.body) || !strings.Contains(string(r.body), "<html>") {
			t.Errorf("got body %q, want an HTML page", r.body)
		}
	}
}

func TestFault_Hang(t *testing.T) {
	f := newFaultFixture(t)
	f.s.Inject(Fault{Kind: FaultHang})
	c := newClient(t, 200*time.Millisecond)
	_, err := c.Do(newRequest(t, "GET", f.s.URL+mePath, authHeaders(f.pair), ""))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a client timeout", err)
	}
	if got := f.s.Counters().ByStatus[0]; got != 1 {
		t.Errorf("got %d unanswered requests, want 1", got)
	}
}

func TestFault_HangReleasedByClose(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	hanging := make(chan struct{})
	s.hangStarted = func() { close(hanging) }
	s.Inject(Fault{Kind: FaultHang, Count: 1})

	errc := make(chan error, 1)
	c := newClient(t, 0) // no timeout: only the server closing can end the request
	go func() {
		resp, err := c.Get(s.URL + platformPath)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-hanging
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Error("hanging request: got a response, want an error once the server closed")
	}
}

func TestFault_Reset(t *testing.T) {
	f := newFaultFixture(t)
	f.s.Inject(Fault{Kind: FaultReset, Count: 1})
	// A fresh client: Go's Transport would silently retry a GET that failed
	// on a reused connection, and the retry would succeed.
	_, err := newClient(t, 5*time.Second).Do(newRequest(t, "GET", f.s.URL+mePath, authHeaders(f.pair), ""))
	if err == nil {
		t.Fatal("got a response, want a transport error")
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got %v, want connection reset by peer", err)
	}
	if got := f.s.Counters().ByStatus[0]; got != 1 {
		t.Errorf("got %d unanswered requests, want 1", got)
	}
	wantMe(t, f.me(t), f.app, "TEST") // Count 1 used up
}

func TestFault_CountAndOrder(t *testing.T) {
	f := newFaultFixture(t)
	const latency = 20 * time.Millisecond
	f.s.Inject(Fault{Kind: FaultLatency, Latency: latency})
	f.s.Inject(Fault{Kind: FaultStatus, Status: 503, Count: 2})
	f.s.Inject(Fault{Kind: FaultForbidden, Count: 1})

	// The first deciding fault wins; the one behind it waits its turn, and
	// the latency applies to every request.
	for i, want := range []int{503, 503, 403, 200} {
		start := time.Now()
		r := f.me(t)
		if r.status != want {
			t.Errorf("request %d: got %d, want %d", i, r.status, want)
		}
		if elapsed := time.Since(start); elapsed < latency {
			t.Errorf("request %d: answered after %v, want at least %v", i, elapsed, latency)
		}
	}
	if got := f.s.Faults(); len(got) != 1 || got[0].Kind != FaultLatency {
		t.Errorf("got faults %+v, want only the latency left", got)
	}
	f.s.ClearFaults()
	if got := f.s.Faults(); len(got) != 0 {
		t.Errorf("after ClearFaults got %d faults, want 0", len(got))
	}
	if got := f.s.Counters().Faults; got != 4 {
		t.Errorf("got Faults counter %d, want 4", got)
	}
}

func TestFault_FaultsReportsUsesLeft(t *testing.T) {
	f := newFaultFixture(t)
	f.s.Inject(Fault{Kind: FaultStatus, Count: 3})
	f.me(t)
	if got := f.s.Faults(); len(got) != 1 || got[0].Count != 2 {
		t.Errorf("got %+v, want one fault with 2 uses left", got)
	}
}

func TestFault_APIKeyScope(t *testing.T) {
	f := newFaultFixture(t)
	other := mustPair(t, f.s, f.app.ID, kpay.Live)
	f.s.Inject(Fault{Kind: FaultStatus, Status: 503, APIKey: f.pair.APIKey})
	wantMe(t, do(t, f.c, "GET", f.s.URL+mePath, authHeaders(other), ""), f.app, "PRODUCTION")
	if r := do(t, f.c, "GET", f.s.URL+platformPath, nil, ""); r.status != 200 {
		t.Errorf("request without a key: got %d, want 200", r.status)
	}
	if r := f.me(t); r.status != 503 {
		t.Errorf("request with the faulted key: got %d, want 503", r.status)
	}
}

func TestFault_Validate(t *testing.T) {
	tests := []struct {
		name string
		f    Fault
		ok   bool
	}{
		{"zero value", Fault{}, true},
		{"status 404", Fault{Kind: FaultStatus, Status: 404}, true},
		{"unknown kind", Fault{Kind: FaultKind(99)}, false},
		{"negative count", Fault{Kind: FaultStatus, Count: -1}, false},
		{"negative latency", Fault{Kind: FaultLatency, Latency: -time.Second}, false},
		{"negative retry after", Fault{Kind: FaultRateLimit, RetryAfter: -time.Second}, false},
		{"success status", Fault{Kind: FaultStatus, Status: 200}, false},
		{"status out of range", Fault{Kind: FaultNonJSON, Status: 700}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("Inject of an invalid fault: got no panic")
		}
	}()
	New(Options{}).Inject(Fault{Kind: FaultStatus, Status: 200})
}

func TestFaultKind_Text(t *testing.T) {
	for k := FaultLatency; k <= FaultForbidden; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", int(k), err)
		}
		var got FaultKind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("round trip of %s: got %v, %v", b, got, err)
		}
	}
	if _, err := ParseFaultKind("slow"); err == nil {
		t.Error(`ParseFaultKind("slow"): got nil error`)
	}
	if _, err := FaultKind(42).MarshalText(); err == nil {
		t.Error("MarshalText(42): got nil error")
	}
}

func TestFault_ProbabilityActsOnSomeRequests(t *testing.T) {
	f := newFaultFixture(t)
	f.s.Inject(Fault{Kind: FaultStatus, Status: 503, Probability: 0.3, Count: 1000})
	const n = 400
	failed := 0
	for range n {
		switch r := f.me(t); r.status {
		case 503:
			failed++
		case 200:
		default:
			t.Fatalf("got %d, want 200 or 503", r.status)
		}
	}
	// 30 % of 400 is 120; 60..180 is more than ±5 standard deviations.
	if failed < 60 || failed > 180 {
		t.Errorf("%d of %d requests failed, want about 30 %%", failed, n)
	}
	if left := f.s.Faults()[0].Count; left != 1000-failed {
		t.Errorf("count left %d, want %d: spared requests must not use it up", left, 1000-failed)
	}
	if err := (Fault{Kind: FaultStatus, Probability: 1.5}).Validate(); err == nil {
		t.Error("a probability above 1 is accepted")
	}
}
