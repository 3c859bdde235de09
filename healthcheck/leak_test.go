package healthcheck

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/internal/testutil"
	"kpay-rotator/kpay"
)

// The canaries: a pair no real system issued, whose values must never
// show in anything the package produces, however KPay (here, a hostile
// server echoing them back) behaves.
var (
	canaryAPIBody    = "c4a7a3c4a7a3c4a7a3c4a7a3c4a7a3c4a7a3c4a7a3c4a7a3"
	canarySecretBody = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2"
	canaryPair       = kpay.Pair{
		APIKey:    "kpay_live_" + canaryAPIBody,
		SecretKey: kpay.NewSecret("sk_live_" + canarySecretBody),
	}
	canaries = []string{canaryPair.APIKey, canaryPair.SecretKey.Reveal(), canaryAPIBody, canarySecretBody}
)

// assertNoCanary fails if any canary, in any letter case, is in text.
func assertNoCanary(t *testing.T, where, text string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, c := range canaries {
		if strings.Contains(lower, strings.ToLower(c)) {
			t.Errorf("%s leaks a key value: %s", where, text)
			return
		}
	}
}

func TestProber_noSecretLeaks(t *testing.T) {
	var mode sync.Map // "m" → scenario name
	setMode := func(m string) { mode.Store("m", m) }
	done := make(chan struct{})
	srv, _ := kpayServer(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		api, secret := r.Header.Get("X-API-Key"), r.Header.Get("X-Secret-Key")
		echo := api + " " + secret
		// Every way a server could hand the values back: verbatim, upper
		// case, without prefixes, split by an invisible character.
		mangled := []string{
			echo,
			strings.ToUpper(echo),
			strings.TrimPrefix(api, "kpay_live_") + " " + strings.TrimPrefix(secret, "sk_live_"),
			api[:20] + "\u200b" + api[20:] + " " + secret[:30] + "\u2060" + secret[30:],
		}
		msgArray := `["` + strings.Join(mangled, `","`) + `"]`
		m, _ := mode.Load("m")
		switch m {
		case "healthy":
			answer(200, meJSON("PRODUCTION", appID, mangled[0]))(w, r, 0)
		case "wrong environment":
			answer(200, meJSON(mangled[1], appID, mangled[2]))(w, r, 0)
		case "wrong application":
			answer(200, meJSON("PRODUCTION", api, secret))(w, r, 0)
		case "learning reports what KPay said":
			answer(200, fmt.Sprintf(`{"application":{"id":%q,"name":%q},"company":{"id":%q},"environment":"LIVE"}`, secret, api, secret))(w, r, 0)
		case "200 not JSON":
			answer(200, "<html>"+echo+"</html>")(w, r, 0)
		case "200 without application.id":
			answer(200, `{"environment":"`+secret+`"}`)(w, r, 0)
		case "401":
			answer(401, `{"statusCode":401,"message":`+msgArray+`,"error":"`+echo+`"}`)(w, r, 0)
		case "401 string":
			answer(401, `{"statusCode":401,"message":"`+mangled[3]+`"}`)(w, r, 0)
		case "403":
			answer(403, `{"statusCode":403,"message":"`+mangled[1]+`"}`)(w, r, 0)
		case "404 HTML":
			answer(404, "<h1>"+echo+"</h1>")(w, r, 0)
		case "429":
			w.Header().Set("Retry-After", "1")
			answer(429, `{"message":"`+mangled[2]+`"}`)(w, r, 0)
		case "500 text":
			w.Header().Set("X-Echo", api)
			answer(500, echo)(w, r, 0)
		case "redirect":
			http.Redirect(w, r, "/"+api+"?s="+secret, http.StatusFound)
		case "reset":
			resetConn(t, w)
		case "hang":
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}
	})
	t.Cleanup(func() { close(done) })

	var logs testutil.SyncBuffer
	clock := newFakeClock()
	p := newProber(t, srv.URL, Options{
		Timeout:     300 * time.Millisecond,
		MaxAttempts: 1,
		Logger:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, clock)

	seen := map[Outcome]bool{}
	check := func(name string, res Result) {
		t.Helper()
		seen[res.Outcome] = true
		assertNoCanary(t, name+": Detail", res.Detail)
		assertNoCanary(t, name+": %+v", fmt.Sprintf("%+v", res))
		assertNoCanary(t, name+": %#v", fmt.Sprintf("%#v", res))
	}
	for _, tc := range []struct {
		mode string
		want Expect
	}{
		{"healthy", liveApp},
		{"wrong environment", liveApp},
		{"wrong application", liveApp},
		{"learning reports what KPay said", Expect{}},
		{"200 not JSON", liveApp},
		{"200 without application.id", liveApp},
		{"401", liveApp},
		{"401 string", liveApp},
		{"403", liveApp},
		{"404 HTML", liveApp},
		{"429", liveApp},
		{"500 text", liveApp},
		{"redirect", liveApp},
	} {
		setMode(tc.mode)
		clock.Advance(cooldownCap) // past any Retry-After pause
		check(tc.mode, p.Probe(t.Context(), canaryPair, tc.want))
	}

	// No answer: a reset, a timeout, then the cooldown they cause.
	setMode("reset")
	check("reset", probe(t, t.Context(), p, canaryPair, liveApp))
	clock.Advance(cooldownCap)
	setMode("hang")
	check("timeout", probe(t, t.Context(), p, canaryPair, liveApp))
	check("cooldown", p.Probe(t.Context(), canaryPair, liveApp))

	// A budget too small for two probes.
	setMode("healthy")
	small := newProber(t, srv.URL, Options{RequestsPerMinute: 1, Burst: 1, Logger: p.log}, clock)
	check("budget", small.Probe(t.Context(), canaryPair, liveApp))
	check("budget exhausted", small.Probe(t.Context(), canaryPair, liveApp))

	// Pairs that are never sent.
	check("unsendable", p.Probe(t.Context(), kpay.Pair{APIKey: canaryPair.APIKey + "\n", SecretKey: canaryPair.SecretKey}, liveApp))
	check("unknown environment", p.Probe(t.Context(), canaryPair, Expect{Environment: "staging"}))

	for _, o := range []Outcome{Healthy, Rejected, WrongEnvironment, WrongApplication, Unexpected, Transient} {
		if !seen[o] {
			t.Errorf("outcome %s never happened; the test does not cover it", o)
		}
	}
	if !strings.Contains(logs.String(), "kpay did not answer") {
		t.Error("the warning for a silent KPay was not logged; the test does not cover it")
	}
	assertNoCanary(t, "log output", logs.String())

	// A base URL carrying a value must not be quoted back.
	_, err := New(Options{BaseURL: "https://u:" + canaryPair.SecretKey.Reveal() + "@admin.kpay.site"})
	if err == nil {
		t.Fatal("New accepted a base URL with user information")
	}
	assertNoCanary(t, "New error", err.Error())
	_, err = New(Options{BaseURL: "http://" + canaryPair.APIKey + ".example"})
	if err == nil {
		t.Fatal("New accepted plain http to a remote host")
	}
	assertNoCanary(t, "New error", err.Error())
}
