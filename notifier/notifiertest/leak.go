package notifiertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/internal/testutil"
	"kpay-rotator/notifier"
)

// The canaries: credentials no platform issued, planted where the real
// ones go. They are long and distinct so a partial echo is still found.
const (
	CanaryPath  = "CanaryPathToken7f3a9c1e5b2d4a6f8e0c"
	CanaryQuery = "CanaryQueryToken1b3d5f7a9c2e4d6f8a0b"
	CanaryBot   = "987654321:CanaryBotToken-4c6e8a0b2d4f6a8c0e"
	CanaryKey   = "CanarySigningKey-0123456789abcdef" // the raw HMAC key
)

// CanarySigning is the whsec_ form of CanaryKey.
var CanarySigning = "whsec_" + base64.StdEncoding.EncodeToString([]byte(CanaryKey))

// canaries are what must never show: each token, and the signing secret
// in both forms.
var canaries = []string{CanaryPath, CanaryQuery, CanaryBot, CanaryKey, strings.TrimPrefix(CanarySigning, "whsec_")}

// canaryPath is the URL path and query a leak scenario sends to: the
// canaries in the places platforms put credentials.
const canaryPath = "/hooks/" + CanaryPath + "?key=public&token=" + CanaryQuery

// echo is every way a server could repeat the credentials back: verbatim,
// percent-escaped, JSON-escaped, upper-cased.
func echo(r Request) string {
	s := r.RequestURI
	parts := []string{
		s, url.PathEscape(s), url.QueryEscape(s), strings.ReplaceAll(s, "/", `\/`), strings.ToUpper(s),
		r.Path, r.Query.Encode(),
	}
	return strings.Join(parts, " | ")
}

// jsonEcho wraps the echo in the error fields the platforms use, so the
// receivers' body parsing (Discord message, Telegram description, Google
// error.message, a created message's id) meets it too.
func jsonEcho(r Request, status int) string {
	e := echo(r)
	b, _ := json.Marshal(map[string]any{
		"ok": status < 300, "error_code": status, "description": e, "message": e, "id": e,
		"error":       map[string]any{"code": status, "message": e, "status": e},
		"result":      map[string]any{"message_id": e},
		"retry_after": 1.5, "parameters": map[string]any{"retry_after": 2, "migrate_to_chat_id": -100123},
	})
	return string(b)
}

type leakScenario struct {
	name    string
	reply   func(Request) Reply
	refused bool
	hang    bool
	// dest rewrites the destination for scenarios about the credential
	// itself (malformed, unreadable).
	dest func(t *testing.T, d Destination) Destination
}

var leakScenarios = []leakScenario{
	{name: "2xx plain echo", reply: func(r Request) Reply { return Reply{Status: 200, Body: echo(r)} }},
	{name: "2xx JSON echo", reply: func(r Request) Reply { return Reply{Status: 200, Body: jsonEcho(r, 200)} }},
	{name: "400 JSON echo", reply: func(r Request) Reply { return Reply{Status: 400, Body: jsonEcho(r, 400)} }},
	{name: "401 plain echo", reply: func(r Request) Reply { return Reply{Status: 401, Body: echo(r)} }},
	{name: "404 JSON echo", reply: func(r Request) Reply { return Reply{Status: 404, Body: jsonEcho(r, 404)} }},
	{name: "429 JSON echo", reply: func(r Request) Reply {
		return Reply{Status: 429, Header: map[string]string{"Retry-After": "3"}, Body: jsonEcho(r, 429)}
	}},
	{name: "500 plain echo", reply: func(r Request) Reply { return Reply{Status: 500, Body: echo(r)} }},
	{name: "503 HTML echo", reply: func(r Request) Reply {
		return Reply{Status: 503, Header: map[string]string{"Content-Type": "text/html"}, Body: "<html><body><h1>503</h1><p>" + echo(r) + "</p></body></html>"}
	}},
	{name: "redirect to itself", reply: func(r Request) Reply {
		return Reply{Status: 302, Header: map[string]string{"Location": "http://elsewhere.example" + r.RequestURI}}
	}},
	{name: "connection refused", refused: true},
	{name: "timeout", hang: true},
	{name: "malformed credentials inline", dest: func(t *testing.T, d Destination) Destination {
		// A control character makes url.Parse fail, and its error
		// quotes the whole URL. Inline values are checked by New.
		d.URL = inline(malformed(revealOf(t, d.URL)))
		d.Token = inline(CanaryBot + "\x7f/bad token")
		d.SigningSecret = inline("whsec-" + CanarySigning)
		return d
	}},
	{name: "malformed credentials from files", dest: func(t *testing.T, d Destination) Destination {
		// The same, read at send time.
		d.URL = secretFile(t, malformed(revealOf(t, d.URL)))
		d.Token = secretFile(t, CanaryBot+"\x7f/bad token")
		d.SigningSecret = secretFile(t, "whsec_!"+strings.TrimPrefix(CanarySigning, "whsec_"))
		return d
	}},
	{name: "unreadable credentials", dest: func(t *testing.T, d Destination) Destination {
		missing := notifier.FileSecret{Path: filepath.Join(t.TempDir(), "missing")}
		d.URL, d.Token, d.SigningSecret = missing, missing, missing
		return d
	}},
}

func malformed(u string) string { return strings.Replace(u, CanaryPath, CanaryPath+"\x7f bad", 1) }

// secretFile writes v to a private file and refers to it.
func secretFile(t *testing.T, v string) notifier.SecretRef {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return notifier.FileSecret{Path: path}
}

func revealOf(t *testing.T, r notifier.SecretRef) string {
	s, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

// NoLeak plants canary credentials, drives the receiver through every
// outcome (success, final, retryable, rate limited, redirect, refused,
// timeout, malformed and unreadable credentials) against a server that
// echoes the credentials back in every form, and fails if a canary shows
// in a Result, an error from the factory, the receiver printed with any
// verb, anything logged through slog or log at debug level, or the
// request's body and headers. It also fails if the canaries never reached
// the server, which would mean the check proved nothing.
//
// It replaces slog's default logger while it runs, so callers must not
// use t.Parallel alongside it.
func NoLeak(t *testing.T, f Factory) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	reached := false
	for _, sc := range leakScenarios {
		t.Run(sc.name, func(t *testing.T) {
			srv := NewServerFunc(t, func(r Request) Reply {
				if sc.hang {
					return Reply{Hang: true}
				}
				if sc.reply == nil {
					return Reply{}
				}
				return sc.reply(r)
			})
			d := srv.DestinationAt(canaryPath)
			d.Token = inline(CanaryBot)
			d.SigningSecret = inline(CanarySigning)
			if sc.hang {
				d.Timeout = HangTimeout
			}
			if sc.refused {
				ref := refusedDestination(t)
				d.URL = inline(ref.APIBase + canaryPath)
				d.APIBase = ref.APIBase
			}
			if sc.dest != nil {
				d = sc.dest(t, d)
			}
			s, err := f(d)
			if err != nil {
				assertNoCanary(t, "factory error", err.Error())
				return
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				assertNoCanary(t, "receiver printed with "+verb, fmt.Sprintf(verb, s))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := s.Send(ctx, Failing())
			assertNoCanary(t, "Result", fmt.Sprintf("%+v", res))
			if !res.Delivered && res.Detail == "" {
				t.Error("a failure with an empty Detail")
			}
			for _, r := range srv.Requests() {
				if containsCanary(r.RequestURI) {
					reached = true
				}
				assertNoCanary(t, "request body", string(r.Body))
				for k, vs := range r.Header {
					assertNoCanary(t, "request header "+k, strings.Join(vs, " "))
				}
			}
		})
	}
	assertNoCanary(t, "logs", logs.String())
	if !reached {
		t.Error("no request carried a canary credential: the factory does not use the Destination, so this check proved nothing")
	}
}

func containsCanary(s string) bool {
	lower := strings.ToLower(s)
	for _, c := range canaries {
		if strings.Contains(lower, strings.ToLower(c)) {
			return true
		}
	}
	return false
}

// assertNoCanary fails if any canary, in any letter case, is in text.
func assertNoCanary(t *testing.T, where, text string) {
	t.Helper()
	if containsCanary(text) {
		t.Errorf("%s leaks a credential: %s", where, text)
	}
}
