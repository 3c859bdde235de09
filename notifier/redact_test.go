package notifier_test

import (
	"net/url"
	"strings"
	"testing"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

func TestRedactor_Redact(t *testing.T) {
	const token = "XyZ0123456789abcdefTOKEN"
	hook := "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=AIzaSyPublicKey0123456&token=" + token
	r := notifier.NewRedactor(kpay.NewSecret(hook), kpay.NewSecret("123456:BotTokenBotTokenBotToken"))
	for _, tt := range []struct{ name, in string }{
		{"whole URL", `Post "` + hook + `": EOF`},
		{"path only", "no route for /v1/spaces/AAAA/messages"},
		{"query only", "bad query key=AIzaSyPublicKey0123456&token=" + token},
		{"token alone", "token " + token + " rejected"},
		{"upper case", strings.ToUpper("token " + token)},
		{"path-escaped", url.PathEscape(hook)},
		{"query-escaped", "u=" + url.QueryEscape(hook)},
		{"JSON-escaped slashes", strings.ReplaceAll(hook, "/", `\/`)},
		{"bot token", "bot123456:BotTokenBotTokenBotToken/sendMessage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Redact(tt.in)
			for _, leak := range []string{token, strings.ToLower(token), "BotTokenBotToken", "/v1/spaces/AAAA/messages"} {
				if strings.Contains(strings.ToLower(got), strings.ToLower(leak)) {
					t.Errorf("got %q, still holding %q", got, leak)
				}
			}
			if !strings.Contains(got, kpay.Masked) {
				t.Errorf("got %q, want %s in place of the secret", got, kpay.Masked)
			}
		})
	}
	// The host and short words stay: they say which service failed.
	if got := r.Redact("dial tcp chat.googleapis.com:443: i/o timeout (messages)"); got != "dial tcp chat.googleapis.com:443: i/o timeout (messages)" {
		t.Errorf("got %q, want it unchanged", got)
	}
}

func TestRedactor_Line(t *testing.T) {
	r := notifier.NewRedactor(kpay.NewSecret("tok3n-tok3n-tok3n-tok3n"))
	got := r.Line("line one\nline two\u202e tok3n-\u200btok3n-tok3n-tok3n " + strings.Repeat("x", 1000))
	if strings.Contains(got, "tok3n") || strings.Contains(got, "\n") || len(got) > notifier.MaxDetail {
		t.Errorf("got %q (%d bytes)", got, len(got))
	}
}
