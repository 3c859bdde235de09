package kpayemu

import (
	"strings"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// adminFixture drives a server only through HTTP, as a black-box test or
// the kpay-sandbox binary's user would.
type adminFixture struct {
	t   *testing.T
	s   *Server
	url string
	c   func(method, path string, header map[string]string, body string) response
}

func newAdminFixture(t *testing.T) adminFixture {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	return adminFixture{t: t, s: s, url: s.URL, c: func(method, path string, header map[string]string, body string) response {
		t.Helper()
		return do(t, c, method, s.URL+path, header, body)
	}}
}

func (f adminFixture) admin(method, path, body string, want int) response {
	f.t.Helper()
	r := f.c(method, adminRoot+path, nil, body)
	if r.status != want {
		f.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

func (f adminFixture) create(name string) ApplicationKeys {
	f.t.Helper()
	return decodeJSON[ApplicationKeys](f.t, f.admin("POST", "/applications", `{"name":"`+name+`"}`, 201))
}

func (f adminFixture) meStatus(p KeyPair) int {
	f.t.Helper()
	return f.c("GET", mePath, authHeaders(p.Pair()), "").status
}

func TestAdmin_Applications(t *testing.T) {
	f := newAdminFixture(t)
	shop := f.create("shop")
	if shop.Test == nil || shop.Live == nil || !keyRE[kpay.Test].MatchString(shop.Test.APIKey) || !keyRE[kpay.Live].MatchString(shop.Live.APIKey) {
		t.Fatalf("created application lacks well-formed pairs: %+v", shop.Application)
	}
	if shop.Test.Environment != kpay.Test || shop.ReportedEnvironment[kpay.Live] != "PRODUCTION" {
		t.Errorf("got environment %q and reported %v", shop.Test.Environment, shop.ReportedEnvironment)
	}
	wantMe(t, f.c("GET", mePath, authHeaders(shop.Test.Pair()), ""), shop.Application, "TEST")

	sibling := decodeJSON[ApplicationKeys](t, f.admin("POST", "/applications", `{"name":"sibling","companyId":"`+shop.CompanyID+`"}`, 201))
	if sibling.CompanyID != shop.CompanyID {
		t.Errorf("got company %s, want %s", sibling.CompanyID, shop.CompanyID)
	}
	unnamed := decodeJSON[ApplicationKeys](t, f.admin("POST", "/applications", "", 201))
	if unnamed.Name == "" {
		t.Error("application created without a body has no name")
	}
	list := decodeJSON[[]ApplicationKeys](t, f.admin("GET", "/applications", "", 200))
	if len(list) != 3 || list[0].ID != shop.ID || list[0].Live.SecretKey != shop.Live.SecretKey {
		t.Errorf("GET /applications: got %d applications, want 3 starting with shop", len(list))
	}
	one := decodeJSON[ApplicationKeys](t, f.admin("GET", "/applications/"+shop.ID, "", 200))
	if one.ID != shop.ID || *one.Test != *shop.Test {
		t.Errorf("GET /applications/{id}: got %+v", one.Application)
	}
	f.admin("GET", "/applications/nope", "", 404)
	f.admin("POST", "/applications", `{"nom":"typo"}`, 400)
	f.admin("POST", "/applications", `{"name":`, 400)
}

func TestAdmin_RegenerateRevoke(t *testing.T) {
	f := newAdminFixture(t)
	app := f.create("shop")
	id := app.ID

	fresh := decodeJSON[KeyPair](t, f.admin("POST", "/applications/"+id+"/regenerate?environment=live", "", 200))
	if fresh.Environment != kpay.Live || fresh.APIKey == app.Live.APIKey {
		t.Errorf("regenerate: got %s %s, want a new live pair", fresh.Environment, kpay.MaskAPIKey(fresh.APIKey))
	}
	if got := f.meStatus(*app.Live); got != 401 {
		t.Errorf("old live pair: got %d, want 401", got)
	}
	if got := f.meStatus(fresh); got != 200 {
		t.Errorf("new live pair: got %d, want 200", got)
	}

	secret := decodeJSON[KeyPair](t, f.admin("POST", "/applications/"+id+"/regenerate-secret?environment=live", "", 200))
	if secret.APIKey != fresh.APIKey || f.meStatus(fresh) != 401 || f.meStatus(secret) != 200 {
		t.Error("regenerate-secret: want the same public key, the old secret rejected and the new one accepted")
	}

	f.admin("POST", "/applications/"+id+"/revoke?environment=test", "", 204)
	if got := f.meStatus(*app.Test); got != 401 {
		t.Errorf("revoked test pair: got %d, want 401", got)
	}
	if got := decodeJSON[ApplicationKeys](t, f.admin("GET", "/applications/"+id, "", 200)); got.Test != nil {
		t.Error("GET after revoke still shows a test pair")
	}
	f.admin("POST", "/applications/"+id+"/regenerate-secret?environment=test", "", 409)

	f.admin("POST", "/applications/"+id+"/regenerate", "", 400)
	f.admin("POST", "/applications/"+id+"/regenerate?environment=staging", "", 400)
	f.admin("POST", "/applications/nope/regenerate?environment=test", "", 404)
	f.admin("POST", "/applications/nope/revoke?environment=test", "", 404)
}

func TestAdmin_ReassignAndReported(t *testing.T) {
	f := newAdminFixture(t)
	a, b := f.create("a"), f.create("b")

	f.admin("PUT", "/applications/"+a.ID+"/reported-environment?environment=live", `{"reported":"LIVE"}`, 204)
	wantMe(t, f.c("GET", mePath, authHeaders(a.Live.Pair()), ""), a.Application, "LIVE")
	f.admin("PUT", "/applications/nope/reported-environment?environment=live", `{"reported":"LIVE"}`, 404)
	f.admin("PUT", "/applications/"+a.ID+"/reported-environment?environment=live", `{"environment":"LIVE"}`, 400)

	f.admin("POST", "/applications/"+a.ID+"/reassign?environment=test&to="+b.ID, "", 204)
	wantMe(t, f.c("GET", mePath, authHeaders(a.Test.Pair()), ""), b.Application, "TEST")
	f.admin("POST", "/applications/"+a.ID+"/reassign?environment=test&to=nope", "", 404)
}

func TestAdmin_Faults(t *testing.T) {
	f := newAdminFixture(t)
	app := f.create("shop")

	created := decodeJSON[faultJSON](t, f.admin("POST", "/faults",
		`{"kind":"rate_limit","count":1,"latency":"10ms","retryAfter":"3s","apiKey":"`+app.Test.APIKey+`"}`, 201))
	want := faultJSON{Kind: "rate_limit", Count: 1, Latency: "10ms", RetryAfter: "3s", APIKey: app.Test.APIKey}
	if created != want {
		t.Errorf("POST /faults: got %+v, want %+v", created, want)
	}
	if got := decodeJSON[[]faultJSON](t, f.admin("GET", "/faults", "", 200)); len(got) != 1 || got[0] != want {
		t.Errorf("GET /faults: got %+v, want [%+v]", got, want)
	}
	r := f.c("GET", mePath, authHeaders(app.Test.Pair()), "")
	if r.status != 429 || r.header.Get("Retry-After") != "3" {
		t.Errorf("faulted request: got %d Retry-After %q, want 429 3", r.status, r.header.Get("Retry-After"))
	}

	// A hang on every KPay request leaves the admin API usable.
	f.admin("POST", "/faults", `{"kind":"hang"}`, 201)
	f.admin("GET", "/counters", "", 200)
	f.admin("DELETE", "/faults", "", 204)
	if got := decodeJSON[[]faultJSON](t, f.admin("GET", "/faults", "", 200)); len(got) != 0 {
		t.Errorf("after DELETE /faults got %+v, want none", got)
	}
	if got := f.meStatus(*app.Test); got != 200 {
		t.Errorf("after DELETE /faults: got %d, want 200", got)
	}

	for _, body := range []string{
		`{}`, // kind is required
		`{"kind":"slow"}`,
		`{"kind":"latency","latency":"soon"}`,
		`{"kind":"rate_limit","retryAfter":"3"}`,
		`{"kind":"status","status":200}`,
		`{"kind":"status","count":-1}`,
		`{"kind":"status","Status":503,"extra":true}`,
	} {
		f.admin("POST", "/faults", body, 400)
	}
}

func TestAdmin_CountersAndMaintenance(t *testing.T) {
	f := newAdminFixture(t)
	app := f.create("shop")
	f.meStatus(*app.Test)
	f.meStatus(*app.Test)
	f.c("GET", mePath, nil, "")

	type reply struct {
		Counters
		RequestsForKey *int64 `json:"requestsForKey"`
	}
	got := decodeJSON[reply](t, f.admin("GET", "/counters", "", 200))
	if got.Total != 3 || got.ByStatus[200] != 2 || got.Unauthorized != 1 || got.ByPath[mePath] != 3 || got.RequestsForKey != nil {
		t.Errorf("GET /counters: got %+v", got)
	}
	r := f.admin("GET", "/counters?apiKey="+app.Test.APIKey, "", 200)
	if got := decodeJSON[reply](t, r); got.RequestsForKey == nil || *got.RequestsForKey != 2 {
		t.Errorf("GET /counters?apiKey=: got %s, want requestsForKey 2", r.body)
	}
	f.admin("DELETE", "/counters", "", 204)
	if c := decodeJSON[Counters](t, f.admin("GET", "/counters", "", 200)); c.Total != 0 {
		t.Errorf("after DELETE /counters got total %d, want 0", c.Total)
	}

	f.admin("PUT", "/maintenance", `{"maintenance":true}`, 204)
	if info := decodeJSON[platformInfo](t, f.c("GET", platformPath, nil, "")); !info.Maintenance {
		t.Error("platform-info: got maintenance false after PUT true")
	}
	f.admin("PUT", "/maintenance", `{}`, 400)
}

func TestAdmin_Routing(t *testing.T) {
	f := newAdminFixture(t)
	r := f.admin("PATCH", "/faults", "", 405)
	if got := r.header.Get("Allow"); got != "DELETE, GET, POST" {
		t.Errorf("got Allow %q, want DELETE, GET, POST", got)
	}
	if !strings.Contains(string(r.body), `"statusCode":405`) {
		t.Errorf("got body %s, want the JSON envelope", r.body)
	}
	f.admin("GET", "/applications/x/regenerate", "", 405)
	wantEnvelope(t, f.admin("GET", "/nothing", "", 404), 404, "Cannot GET /_emulator/nothing")
	f.admin("GET", "", "", 404)
}
