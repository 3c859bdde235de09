package healthcheck

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

const (
	appID    = "0b8f3c0e-5a7d-4d7e-9a51-6f2f3b1c9e11"
	otherApp = "7d1c2e44-0c0f-4f59-8b8e-2a6b0c3d4e55"
	company  = "c0ffee00-1111-4222-8333-444455556666"
)

func meJSON(env, id, name string) string {
	return fmt.Sprintf(`{"application":{"id":%q,"name":%q},"company":{"id":%q,"name":"ACME"},"environment":%q}`, id, name, company, env)
}

func TestClassify(t *testing.T) {
	live := Expect{Environment: kpay.Live, ApplicationID: appID}
	test := Expect{Environment: kpay.Test, ApplicationID: appID}
	learn := Expect{Environment: kpay.Live}
	date := "Tue, 01 Sep 2026 12:00:00 GMT"
	later := "Tue, 01 Sep 2026 12:00:09 GMT"

	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    Expect
		outcome Outcome
		retry   time.Duration
		env     string // reported environment, checked when set
		app     string // reported application id, checked when set
		detail  []string
		absent  []string
	}{
		// 2xx: judged by the body.
		{name: "healthy production", status: 200, body: meJSON("PRODUCTION", appID, "Shop"), want: live, outcome: Healthy, env: "PRODUCTION", app: appID, detail: []string{appID, `"Shop"`}},
		{name: "healthy test", status: 200, body: meJSON("TEST", appID, "Shop"), want: test, outcome: Healthy, env: "TEST"},
		{name: "LIVE is an alias of PRODUCTION", status: 200, body: meJSON("LIVE", appID, "Shop"), want: live, outcome: Healthy, env: "LIVE"},
		{name: "lowercase production", status: 200, body: meJSON("production", appID, "Shop"), want: live, outcome: Healthy},
		{name: "lowercase test", status: 200, body: meJSON(" test ", appID, "Shop"), want: test, outcome: Healthy},
		{name: "application id in upper case is the same uuid", status: 200, body: meJSON("PRODUCTION", strings.ToUpper(appID), "Shop"), want: live, outcome: Healthy},
		{name: "learning accepts any application and reports it", status: 200, body: meJSON("PRODUCTION", otherApp, "Other"), want: learn, outcome: Healthy, app: otherApp},
		{name: "other 2xx judged by body", status: 201, body: meJSON("PRODUCTION", appID, "Shop"), want: live, outcome: Healthy},
		{name: "content-type lies and a BOM leads", status: 200, header: http.Header{"Content-Type": {"text/html"}}, body: "\xef\xbb\xbf" + meJSON("PRODUCTION", appID, "Shop"), want: live, outcome: Healthy},
		{name: "unknown fields ignored", status: 200, body: `{"application":{"id":"` + appID + `","name":"Shop","mode":"GATEWAY"},"environment":"PRODUCTION","extra":[1,2]}`, want: live, outcome: Healthy},
		{name: "test keys answered for production", status: 200, body: meJSON("PRODUCTION", appID, "Shop"), want: test, outcome: WrongEnvironment, env: "PRODUCTION", detail: []string{"PRODUCTION", "test"}},
		{name: "live keys answered for test", status: 200, body: meJSON("TEST", appID, "Shop"), want: live, outcome: WrongEnvironment, env: "TEST", app: appID},
		{name: "unknown environment value", status: 200, body: meJSON("SANDBOX", appID, "Shop"), want: live, outcome: WrongEnvironment, env: "SANDBOX", detail: []string{"unknown environment", "SANDBOX"}},
		{name: "other application", status: 200, body: meJSON("PRODUCTION", otherApp, "Other"), want: live, outcome: WrongApplication, app: otherApp, detail: []string{otherApp, appID}},
		{name: "wrong environment wins over wrong application", status: 200, body: meJSON("TEST", otherApp, "Other"), want: live, outcome: WrongEnvironment, app: otherApp},
		{name: "empty 200", status: 200, body: "", want: live, outcome: Transient, detail: []string{"empty body"}},
		{name: "whitespace 200", status: 200, body: " \n", want: live, outcome: Transient},
		{name: "non-JSON 200", status: 200, body: "<html><body>maintenance</body></html>", want: live, outcome: Transient, detail: []string{"not the JSON"}, absent: []string{"maintenance"}},
		{name: "JSON null 200", status: 200, body: "null", want: live, outcome: Transient, detail: []string{"application.id"}},
		{name: "JSON array 200", status: 200, body: "[]", want: live, outcome: Transient},
		{name: "missing application.id", status: 200, body: `{"application":{"name":"Shop"},"environment":"PRODUCTION"}`, want: live, outcome: Transient, detail: []string{"without application.id"}},
		{name: "missing application.id is never a rejection even in the wrong environment", status: 200, body: `{"environment":"TEST"}`, want: live, outcome: Transient},
		{name: "missing environment", status: 200, body: `{"application":{"id":"` + appID + `"}}`, want: live, outcome: Transient, app: appID, detail: []string{"without environment"}},
		{name: "application.id of the wrong type", status: 200, body: `{"application":{"id":42},"environment":"PRODUCTION"}`, want: live, outcome: Transient},
		{name: "truncated JSON 200", status: 200, body: meJSON("PRODUCTION", appID, "Shop")[:30], want: live, outcome: Transient},

		// 401: rejected, whatever the message says.
		{name: "401 message string", status: 401, body: `{"statusCode":401,"message":"Invalid API credentials","error":"Unauthorized"}`, want: live, outcome: Rejected, detail: []string{"401", `"Invalid API credentials"`}},
		{name: "401 message array joined", status: 401, body: `{"statusCode":401,"message":["Clé invalide","environnement incorrect"],"error":"Unauthorized"}`, want: live, outcome: Rejected, detail: []string{`"Clé invalide; environnement incorrect"`}},
		{name: "401 message array with non-strings", status: 401, body: `{"message":["a",1,null,"b"]}`, want: live, outcome: Rejected, detail: []string{`"a; b"`}},
		{name: "401 without message uses error", status: 401, body: `{"statusCode":401,"error":"Unauthorized"}`, want: live, outcome: Rejected, detail: []string{`"Unauthorized"`}},
		{name: "401 with a message claiming success", status: 401, body: `{"message":"OK"}`, want: live, outcome: Rejected},
		{name: "401 statusCode only", status: 401, body: `{"statusCode":401}`, want: live, outcome: Rejected},

		// Not KPay's envelope, whatever the status: no verdict at all.
		{name: "401 empty body", status: 401, body: "", want: live, outcome: Transient, detail: []string{"without KPay's JSON error body", "an empty body"}},
		{name: "401 HTML body", status: 401, body: "<h1>401</h1>", want: live, outcome: Transient, detail: []string{"not JSON"}},
		{name: "401 JSON of another shape", status: 401, body: `{"error":"blocked by policy"}`, want: live, outcome: Transient, detail: []string{"another shape"}},
		{name: "401 with another status code inside", status: 401, body: `{"statusCode":403}`, want: live, outcome: Transient},
		{name: "403 HTML from a WAF", status: 403, body: "<html><title>Access denied</title></html>", want: live, outcome: Transient, absent: []string{"Access denied"}},
		{name: "403 empty", status: 403, body: "", want: live, outcome: Transient},
		{name: "404 HTML", status: 404, body: "<html>nope</html>", want: live, outcome: Transient, absent: []string{"nope"}},
		{name: "409 empty", status: 409, want: live, outcome: Transient},
		{name: "302 redirect", status: 302, header: http.Header{"Location": {"https://elsewhere.example/"}}, want: live, outcome: Transient, detail: []string{"redirect"}},

		// Other 4xx in KPay's envelope: the keys authenticated; unexpected,
		// never a rejection.
		{name: "403", status: 403, body: `{"statusCode":403,"message":"Forbidden resource","error":"Forbidden"}`, want: live, outcome: Unexpected, detail: []string{"403", "Forbidden resource"}},
		{name: "404", status: 404, body: `{"statusCode":404,"message":"Cannot GET /api/v1/payments/me","error":"Not Found"}`, want: live, outcome: Unexpected, detail: []string{"404 Not Found"}},
		{name: "400", status: 400, body: `{"message":["property x should not exist"]}`, want: live, outcome: Unexpected},

		// Transient: says nothing about the keys.
		{name: "408", status: 408, want: live, outcome: Transient},
		{name: "429 without Retry-After", status: 429, body: `{"statusCode":429,"message":"ThrottlerException: Too Many Requests"}`, want: live, outcome: Transient, detail: []string{"429"}},
		{name: "429 Retry-After seconds", status: 429, header: http.Header{"Retry-After": {"7"}}, want: live, outcome: Transient, retry: 7 * time.Second},
		{name: "429 Retry-After date against the Date header", status: 429, header: http.Header{"Retry-After": {later}, "Date": {date}}, want: live, outcome: Transient, retry: 9 * time.Second},
		{name: "429 Retry-After in the past", status: 429, header: http.Header{"Retry-After": {date}, "Date": {later}}, want: live, outcome: Transient, retry: 0},
		{name: "429 Retry-After garbage", status: 429, header: http.Header{"Retry-After": {"soon"}}, want: live, outcome: Transient, retry: 0},
		{name: "429 Retry-After huge is capped", status: 429, header: http.Header{"Retry-After": {"99999999999"}}, want: live, outcome: Transient, retry: maxRetryAfter},
		{name: "500 JSON", status: 500, body: `{"statusCode":500,"message":"Opérateur indisponible"}`, want: live, outcome: Transient, detail: []string{"500", "Opérateur indisponible"}},
		{name: "502 HTML", status: 502, body: "<html>bad gateway</html>", want: live, outcome: Transient},
		{name: "504 non-JSON HTML", status: 504, header: http.Header{"Content-Type": {"application/json"}}, body: "<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>", want: live, outcome: Transient, detail: []string{"504 Gateway Timeout", "not KPay's JSON"}, absent: []string{"nginx"}},
		{name: "503 Retry-After", status: 503, header: http.Header{"Retry-After": {"120"}}, want: live, outcome: Transient, retry: 2 * time.Minute},
		{name: "500 Retry-After ignored", status: 500, header: http.Header{"Retry-After": {"120"}}, want: live, outcome: Transient, retry: 0},
		{name: "no answer", status: 0, want: live, outcome: Transient},
		{name: "undefined status", status: 799, want: live, outcome: Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.status, tt.header, []byte(tt.body), tt.want)
			if got.Outcome != tt.outcome {
				t.Fatalf("outcome: got %s, want %s (detail %q)", got.Outcome, tt.outcome, got.Detail)
			}
			if got.Status != tt.status {
				t.Errorf("status: got %d, want %d", got.Status, tt.status)
			}
			if got.RetryAfter != tt.retry {
				t.Errorf("retry after: got %s, want %s", got.RetryAfter, tt.retry)
			}
			if tt.env != "" && got.Environment != tt.env {
				t.Errorf("environment: got %q, want %q", got.Environment, tt.env)
			}
			if tt.app != "" && got.ApplicationID != tt.app {
				t.Errorf("application id: got %q, want %q", got.ApplicationID, tt.app)
			}
			if got.Detail == "" {
				t.Error("detail is empty")
			}
			for _, s := range tt.detail {
				if !strings.Contains(got.Detail, s) {
					t.Errorf("detail %q does not contain %q", got.Detail, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(got.Detail, s) {
					t.Errorf("detail %q contains %q", got.Detail, s)
				}
			}
		})
	}
}

func TestClassify_reportsEverythingKPaySaid(t *testing.T) {
	got := Classify(200, nil, []byte(meJSON("PRODUCTION", appID, "Boutique Éclair")), Expect{Environment: kpay.Live})
	want := Result{
		Outcome:         Healthy,
		Status:          200,
		Environment:     "PRODUCTION",
		ApplicationID:   appID,
		ApplicationName: "Boutique Éclair",
		CompanyID:       company,
		Detail:          got.Detail,
		Authenticated:   true,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestClassify_detailIsOneCleanLine(t *testing.T) {
	msg := "line one\nline\ttwo\r\n\x00\x1b[31mred\u202e" + strings.Repeat("x", 500)
	got := Classify(401, nil, []byte(`{"message":`+quoteJSON(msg)+`}`), Expect{Environment: kpay.Live})
	for _, c := range got.Detail {
		if c < 0x20 || c == 0x7f || c == '\u202e' {
			t.Fatalf("detail %q contains control character %U", got.Detail, c)
		}
	}
	if !strings.Contains(got.Detail, "line one line two [31mred") {
		t.Errorf("detail %q: control characters not turned into single spaces", got.Detail)
	}
	if len(got.Detail) > 400 {
		t.Errorf("detail is %d bytes, want the message cut near %d", len(got.Detail), maxMessage)
	}
	if !strings.Contains(got.Detail, "…") {
		t.Errorf("detail %q does not mark the cut", got.Detail)
	}
}

func TestClassify_boundsReportedFields(t *testing.T) {
	long := strings.Repeat("n", 5000)
	got := Classify(200, nil, []byte(meJSON("PRODUCTION", appID, long)), Expect{Environment: kpay.Live})
	if len(got.ApplicationName) > maxField {
		t.Errorf("application name is %d bytes, want at most %d", len(got.ApplicationName), maxField)
	}
}

func TestOutcome_IsRejection(t *testing.T) {
	for o, want := range map[Outcome]bool{
		Healthy: false, Rejected: true, WrongEnvironment: true, WrongApplication: true, Unexpected: false, Transient: false,
	} {
		if got := o.IsRejection(); got != want {
			t.Errorf("%s.IsRejection(): got %v, want %v", o, got, want)
		}
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Only KPay's own answers prove the keys authenticated: what a retired
// pair's "still works" and a current pair's last acceptance rest on.
func TestClassify_authenticatedOnlyByKPay(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   bool
	}{
		{200, meJSON("PRODUCTION", appID, "Shop"), true},
		{200, meJSON("TEST", appID, "Shop"), true},       // wrong environment, but KPay answered
		{200, meJSON("PRODUCTION", otherApp, "X"), true}, // another application
		{200, "<html>ok</html>", false},
		{403, `{"statusCode":403,"message":"Forbidden resource"}`, true},
		{403, "<html>denied</html>", false},
		{403, "", false},
		{401, `{"statusCode":401,"message":"Invalid API credentials"}`, false},
		{429, `{"statusCode":429,"message":"Too Many Requests"}`, false},
		{302, "", false},
		{500, `{"statusCode":500,"message":"x"}`, false},
	}
	for _, tt := range tests {
		if got := Classify(tt.status, nil, []byte(tt.body), liveApp).Authenticated; got != tt.want {
			t.Errorf("%d %q: authenticated %v, want %v", tt.status, tt.body, got, tt.want)
		}
	}
}
