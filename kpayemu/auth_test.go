package kpayemu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

const unauthorizedBody = `{"statusCode":401,"message":"Invalid API credentials","error":"Unauthorized"}`

// wantMe asserts a 200 from /me naming app in the reported environment.
func wantMe(t *testing.T, r response, app Application, env string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("got status %d (%s), want 200", r.status, r.body)
	}
	got := decodeJSON[meResponse](t, r)
	want := meResponse{
		Application: ref{ID: app.ID, Name: app.Name},
		Company:     ref{ID: app.CompanyID, Name: app.CompanyName},
		Environment: env,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func wantUnauthorized(t *testing.T, r response) {
	t.Helper()
	if r.status != 401 || string(r.body) != unauthorizedBody {
		t.Errorf("got %d %s, want 401 %s", r.status, r.body, unauthorizedBody)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
}

func TestServer_Me(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	a, b := s.CreateApplication("shop A"), s.CreateApplication("shop B")
	aTest, aLive := mustPair(t, s, a.ID, kpay.Test), mustPair(t, s, a.ID, kpay.Live)
	bTest := mustPair(t, s, b.ID, kpay.Test)

	tests := []struct {
		name    string
		header  map[string]string
		wantApp *Application // nil: want 401
		wantEnv string
	}{
		{"valid test pair", authHeaders(aTest), &a, "TEST"},
		{"valid live pair", authHeaders(aLive), &a, "PRODUCTION"},
		{"other application's own pair", authHeaders(bTest), &b, "TEST"},
		{"lower-case header names", map[string]string{"x-api-key": aTest.APIKey, "x-secret-key": aTest.SecretKey.Reveal()}, &a, "TEST"},
		{"upper-case header names", map[string]string{"X-API-KEY": aLive.APIKey, "X-SECRET-KEY": aLive.SecretKey.Reveal()}, &a, "PRODUCTION"},
		{"wrong secret", map[string]string{"X-API-Key": aTest.APIKey, "X-Secret-Key": "sk_test_" + strings.Repeat("0", 64)}, nil, ""},
		{"secret of another application", map[string]string{"X-API-Key": aTest.APIKey, "X-Secret-Key": bTest.SecretKey.Reveal()}, nil, ""},
		{"test key with the live secret", map[string]string{"X-API-Key": aTest.APIKey, "X-Secret-Key": aLive.SecretKey.Reveal()}, nil, ""},
		{"live key with the test secret", map[string]string{"X-API-Key": aLive.APIKey, "X-Secret-Key": aTest.SecretKey.Reveal()}, nil, ""},
		{"secret cut short", map[string]string{"X-API-Key": aTest.APIKey, "X-Secret-Key": aTest.SecretKey.Reveal()[:40]}, nil, ""},
		{"unknown public key", map[string]string{"X-API-Key": "kpay_test_" + strings.Repeat("f", 48), "X-Secret-Key": aTest.SecretKey.Reveal()}, nil, ""},
		{"missing X-API-Key", map[string]string{"X-Secret-Key": aTest.SecretKey.Reveal()}, nil, ""},
		{"missing X-Secret-Key", map[string]string{"X-API-Key": aTest.APIKey}, nil, ""},
		{"empty X-Secret-Key", map[string]string{"X-API-Key": aTest.APIKey, "X-Secret-Key": ""}, nil, ""},
		{"no headers", nil, nil, ""},
		{"pair in the wrong headers", map[string]string{"X-API-Key": aTest.SecretKey.Reveal(), "X-Secret-Key": aTest.APIKey}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, "GET", s.URL+mePath, tt.header, "")
			if tt.wantApp == nil {
				wantUnauthorized(t, r)
				return
			}
			wantMe(t, r, *tt.wantApp, tt.wantEnv)
		})
	}
}

func TestServer_Regenerate(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	old, live := mustPair(t, s, app.ID, kpay.Test), mustPair(t, s, app.ID, kpay.Live)

	fresh, err := s.Regenerate(app.ID, kpay.Test)
	if err != nil {
		t.Fatalf("Regenerate: %v", err)
	}
	if fresh.APIKey == old.APIKey || fresh.SecretKey.Equal(old.SecretKey) {
		t.Error("Regenerate kept a key; want both keys new")
	}
	if got := mustPair(t, s, app.ID, kpay.Test); !got.Equal(fresh) {
		t.Errorf("Pair after Regenerate: got %v, want %v", got, fresh)
	}
	// No grace period: the old pair is rejected at once, and so is the old
	// public key with the new secret.
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, authHeaders(old), ""))
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, map[string]string{"X-API-Key": old.APIKey, "X-Secret-Key": fresh.SecretKey.Reveal()}, ""))
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(fresh), ""), app, "TEST")
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(live), ""), app, "PRODUCTION")

	if _, err := s.Regenerate("no-such-app", kpay.Test); !errors.Is(err, ErrUnknownApplication) {
		t.Errorf("Regenerate unknown app: got %v, want ErrUnknownApplication", err)
	}
	if _, err := s.Regenerate(app.ID, "staging"); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("Regenerate bad environment: got %v, want ErrUnknownEnvironment", err)
	}
}

func TestServer_RegenerateSecret(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	old := mustPair(t, s, app.ID, kpay.Live)

	fresh, err := s.RegenerateSecret(app.ID, kpay.Live)
	if err != nil {
		t.Fatalf("RegenerateSecret: %v", err)
	}
	if fresh.APIKey != old.APIKey || fresh.SecretKey.Equal(old.SecretKey) {
		t.Errorf("got public key kept %v and secret kept %v, want kept and replaced", fresh.APIKey == old.APIKey, fresh.SecretKey.Equal(old.SecretKey))
	}
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, authHeaders(old), ""))
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(fresh), ""), app, "PRODUCTION")
}

func TestServer_Revoke(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	revoked, live := mustPair(t, s, app.ID, kpay.Test), mustPair(t, s, app.ID, kpay.Live)

	if err := s.Revoke(app.ID, kpay.Test); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, authHeaders(revoked), ""))
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(live), ""), app, "PRODUCTION")
	if _, ok := s.Pair(app.ID, kpay.Test); ok {
		t.Error("Pair after Revoke: got a pair, want none")
	}
	if err := s.Revoke(app.ID, kpay.Test); err != nil {
		t.Errorf("second Revoke: got %v, want nil", err)
	}
	if _, err := s.RegenerateSecret(app.ID, kpay.Test); !errors.Is(err, ErrNoPair) {
		t.Errorf("RegenerateSecret after Revoke: got %v, want ErrNoPair", err)
	}
	if err := s.Revoke("no-such-app", kpay.Test); !errors.Is(err, ErrUnknownApplication) {
		t.Errorf("Revoke unknown app: got %v, want ErrUnknownApplication", err)
	}

	fresh, err := s.Regenerate(app.ID, kpay.Test)
	if err != nil {
		t.Fatalf("Regenerate after Revoke: %v", err)
	}
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(fresh), ""), app, "TEST")
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, authHeaders(revoked), ""))
}

func TestServer_SetReportedEnvironment(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	live := mustPair(t, s, app.ID, kpay.Live)
	test := mustPair(t, s, app.ID, kpay.Test)

	tests := []struct {
		name, reported, want string
	}{
		{"LIVE alias", "LIVE", "LIVE"},
		{"live key says TEST", "TEST", "TEST"},
		{"unknown value", "SANDBOX", "SANDBOX"},
		{"empty restores PRODUCTION", "", "PRODUCTION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetReportedEnvironment(app.ID, kpay.Live, tt.reported)
			wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(live), ""), app, tt.want)
			// The other environment keeps its own value.
			wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(test), ""), app, "TEST")
		})
	}
}

func TestServer_Reassign(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	a, b := s.CreateApplication("a"), s.CreateApplication("b")
	moved, bOld := mustPair(t, s, a.ID, kpay.Live), mustPair(t, s, b.ID, kpay.Live)

	if err := s.Reassign(a.ID, kpay.Live, b.ID); err != nil {
		t.Fatalf("Reassign: %v", err)
	}
	wantMe(t, do(t, c, "GET", s.URL+mePath, authHeaders(moved), ""), b, "PRODUCTION")
	wantUnauthorized(t, do(t, c, "GET", s.URL+mePath, authHeaders(bOld), ""))
	if _, ok := s.Pair(a.ID, kpay.Live); ok {
		t.Error("Pair of the source after Reassign: got a pair, want none")
	}
	if got := mustPair(t, s, b.ID, kpay.Live); !got.Equal(moved) {
		t.Errorf("Pair of the target: got %v, want %v", got, moved)
	}
	if err := s.Reassign(a.ID, kpay.Live, b.ID); !errors.Is(err, ErrNoPair) {
		t.Errorf("Reassign without a pair: got %v, want ErrNoPair", err)
	}
}

func TestServer_CreateApplicationIn(t *testing.T) {
	s := startServer(t, Options{})
	a := s.CreateApplication("a")
	b := s.CreateApplicationIn(a.CompanyID, "b")
	other := s.CreateApplication("c")
	if b.CompanyID != a.CompanyID || b.CompanyName != a.CompanyName {
		t.Errorf("got company %s %q, want %s %q", b.CompanyID, b.CompanyName, a.CompanyID, a.CompanyName)
	}
	if other.CompanyID == a.CompanyID {
		t.Error("CreateApplication reused a company; want a company of its own")
	}
	named := s.CreateApplicationIn("acme", "d")
	if named.CompanyID != "acme" || named.CompanyName == "" {
		t.Errorf("got company %q %q, want id acme and a name", named.CompanyID, named.CompanyName)
	}
	apps := s.Applications()
	if len(apps) != 4 || apps[0] != a || apps[3] != named {
		t.Errorf("Applications: got %v, want a, b, c, d in order", apps)
	}
}

func TestServer_Balance(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	for _, tt := range []struct {
		env     kpay.Environment
		wallets int
	}{{kpay.Test, 1}, {kpay.Live, 0}} {
		r := do(t, c, "GET", s.URL+balancePath, authHeaders(mustPair(t, s, app.ID, tt.env)), "")
		if r.status != 200 {
			t.Fatalf("%s: got status %d, want 200", tt.env, r.status)
		}
		if got := decodeJSON[[]wallet](t, r); len(got) != tt.wallets {
			t.Errorf("%s: got %d wallets (%s), want %d", tt.env, len(got), r.body, tt.wallets)
		}
	}
	wantUnauthorized(t, do(t, c, "GET", s.URL+balancePath, nil, ""))
}

func TestServer_PlatformInfo(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	for _, want := range []bool{false, true, false} {
		s.SetMaintenance(want)
		r := do(t, c, "GET", s.URL+platformPath, nil, "")
		if r.status != 200 {
			t.Fatalf("got status %d, want 200 without keys", r.status)
		}
		if got := decodeJSON[platformInfo](t, r); got.Maintenance != want {
			t.Errorf("got maintenance %v, want %v", got.Maintenance, want)
		}
	}
}

func TestServer_NotFound(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/x", `{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}`},
		{"POST", mePath, `{"statusCode":404,"message":"Cannot POST /api/v1/payments/me","error":"Not Found"}`},
		{"DELETE", mePath, `{"statusCode":404,"message":"Cannot DELETE /api/v1/payments/me","error":"Not Found"}`},
		{"GET", "/api/v2/payments/me", `{"statusCode":404,"message":"Cannot GET /api/v2/payments/me","error":"Not Found"}`},
	}
	for _, tt := range tests {
		// Valid keys change nothing: routing comes before authentication.
		r := do(t, c, tt.method, s.URL+tt.path, authHeaders(mustPair(t, s, app.ID, kpay.Test)), "")
		if r.status != 404 || string(r.body) != tt.want {
			t.Errorf("%s %s: got %d %s, want 404 %s", tt.method, tt.path, r.status, r.body, tt.want)
		}
	}
}
