package receivers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/receivers"
)

func inline(v string) notifier.SecretRef { return notifier.InlineSecret{Value: kpay.NewSecret(v)} }

// TestBuild_sendsThroughEveryType builds each type against a real HTTP
// receiver and sends one alert: the wiring from Spec to request.
func TestBuild_sendsThroughEveryType(t *testing.T) {
	for _, tt := range []struct {
		typ        string
		every      time.Duration
		burst      int
		reply      string
		wantPrefix string
	}{
		{"slack", time.Second, 1, "ok", notifiertest.HookPath},
		{"discord", 2 * time.Second, 5, `{"id":"1"}`, notifiertest.HookPath},
		{"teams", time.Second, 1, "", notifiertest.HookPath},
		{"googlechat", time.Second, 1, `{"name":"spaces/a/messages/b"}`, notifiertest.HookPath},
		{"mattermost", time.Second, 1, "ok", notifiertest.HookPath},
		{"telegram", 3 * time.Second, 1, `{"ok":true,"result":{"message_id":1}}`, "/bot" + notifiertest.BotToken},
		{"webhook", 100 * time.Millisecond, 10, "", notifiertest.HookPath},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200, Body: tt.reply})
			d := srv.Destination()
			s := receivers.Spec{Name: "ops", Type: tt.typ, URL: d.URL}
			switch tt.typ {
			case "telegram":
				s = receivers.Spec{Name: "ops", Type: tt.typ, Token: d.Token, ChatID: "-100123", APIBase: d.APIBase}
			case "webhook":
				s.SigningSecret = d.SigningSecret
			}
			r, err := receivers.Build(s)
			if err != nil {
				t.Fatal(err)
			}
			if every, burst := r.Rate(); every != tt.every || burst != tt.burst {
				t.Errorf("got rate %v/%d, want %v/%d", every, burst, tt.every, tt.burst)
			}
			if res := r.Send(context.Background(), notifiertest.Failing()); !res.Delivered {
				t.Fatalf("got %+v", res)
			}
			if got := srv.Last(t).Path; !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("got path %q, want it to start with %q", got, tt.wantPrefix)
			}
		})
	}
}

func TestBuild_errors(t *testing.T) {
	url, tok := inline("https://example.com/hook"), inline(notifiertest.BotToken)
	for _, tt := range []struct {
		name string
		s    receivers.Spec
		want string
	}{
		{"unknown type", receivers.Spec{Name: "ops", Type: "irc"}, `notifier[ops]: type "irc" is not one of: slack, discord`},
		{"slack without URL", receivers.Spec{Name: "ops", Type: "slack"}, "notifier[ops]: a slack receiver needs a webhook URL (url_file)"},
		{"teams without URL", receivers.Spec{Name: "ops", Type: "teams"}, "a teams receiver needs a webhook URL"},
		{"googlechat without URL", receivers.Spec{Name: "ops", Type: "googlechat"}, "a googlechat receiver needs a webhook URL"},
		{"discord with a token", receivers.Spec{Name: "ops", Type: "discord", URL: url, Token: tok}, "a discord receiver does not use token"},
		{"telegram without anything", receivers.Spec{Name: "tg", Type: "telegram"}, "notifier[tg]: a telegram receiver needs a bot token (token_file) and chat_id"},
		{"telegram with a URL", receivers.Spec{Name: "tg", Type: "telegram", Token: tok, ChatID: "-1", URL: url}, "does not use url"},
		{"webhook without secret", receivers.Spec{Name: "wh", Type: "webhook", URL: url}, "a webhook receiver needs a signing secret"},
		{"webhook with a bad secret", receivers.Spec{Name: "wh", Type: "webhook", URL: url, SigningSecret: inline("nope-s3cret")}, "notifier[wh]: webhook: the signing secret in inline value in the configuration does not start with whsec_"},
		{"malformed inline URL", receivers.Spec{Name: "ops", Type: "mattermost", URL: inline("https://h/hooks/s3cret\x7f")}, "notifier[ops]: mattermost: the URL in inline value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := receivers.Build(tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error holds the credential: %v", err)
			}
		})
	}
}

// Check reads the credentials where it can and judges them as a send
// would: a missing file or a plain-http URL from any source is an error
// naming the source; a systemd credential outside the service or an
// unset environment variable only a warning.
func TestCheck_readsSourcesNow(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) notifier.SecretRef {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return notifier.FileSecret{Path: p}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	t.Setenv("KPAY_TEST_HOOK_URL", "http://hooks.example.net/x")
	tests := []struct {
		name      string
		spec      receivers.Spec
		errs      []string
		warnings  []string
		noneOfAll []string
	}{
		{"good file", receivers.Spec{Name: "ops", Type: "slack", URL: write("good", "https://hooks.slack.com/services/T/B/x")}, nil, nil, nil},
		{"missing file", receivers.Spec{Name: "ops", Type: "slack", URL: notifier.FileSecret{Path: dir + "/nope"}}, []string{dir + "/nope", "no such file"}, nil, nil},
		{"plain http in a file", receivers.Spec{Name: "ops", Type: "discord", URL: write("plain", "http://discord.example.net/api/webhooks/1/secret-token")}, []string{"plain http", "discord.example.net"}, nil, []string{"secret-token"}},
		{"plain http to loopback is fine", receivers.Spec{Name: "ops", Type: "mattermost", URL: write("local", "http://127.0.0.1:8065/hooks/x")}, nil, nil, nil},
		{"plain http in the environment", receivers.Spec{Name: "ops", Type: "slack", URL: notifier.EnvSecret{Name: "KPAY_TEST_HOOK_URL"}}, []string{"plain http"}, nil, nil},
		{"unset environment variable", receivers.Spec{Name: "ops", Type: "slack", URL: notifier.EnvSecret{Name: "KPAY_TEST_UNSET"}}, nil, []string{"KPAY_TEST_UNSET"}, nil},
		{"credential outside the service", receivers.Spec{Name: "ops", Type: "slack", URL: notifier.CredentialSecret{Name: "slack-ops"}}, nil, []string{"CREDENTIALS_DIRECTORY"}, nil},
		{"bad token", receivers.Spec{Name: "tg", Type: "telegram", Token: write("token", "not-a-token"), ChatID: "-1001"}, []string{"@BotFather"}, nil, []string{"not-a-token"}},
		{"bad signing secret", receivers.Spec{Name: "hook", Type: "webhook", URL: write("hurl", "https://example.net/hook"), SigningSecret: write("sec", "plain")}, []string{"whsec_"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, errs := receivers.Check(tt.spec)
			all := fmt.Sprint(warnings, errs)
			if len(errs) != 0 != (len(tt.errs) > 0) || len(warnings) != 0 != (len(tt.warnings) > 0) {
				t.Fatalf("got warnings %q errors %v, want %d errors, %d warnings", warnings, errs, len(tt.errs), len(tt.warnings))
			}
			for _, want := range append(tt.errs, tt.warnings...) {
				if !strings.Contains(all, want) {
					t.Errorf("%s lacks %q", all, want)
				}
			}
			for _, not := range tt.noneOfAll {
				if strings.Contains(all, not) {
					t.Errorf("%s quotes the credential %q", all, not)
				}
			}
		})
	}
}

// systemd 252 gives ExecReload= (where check-config runs) a credentials
// directory it cannot read when the unit has a mount namespace: that is
// a warning, or every reload would fail.
func TestCheck_CredentialUnreadableUnderTheUnitIsAWarning(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", filepath.Join(t.TempDir(), "unreadable"))
	warnings, errs := receivers.Check(receivers.Spec{Name: "ops", Type: "slack", URL: notifier.CredentialSecret{Name: "slack-ops"}})
	if len(errs) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "slack-ops") {
		t.Fatalf("warnings %q errors %v, want one warning naming the credential", warnings, errs)
	}
}

// Every registered platform is whole: a URL type's example passes its own
// URL rule, and the types that take a URL check it as their receiver
// does (teams refuses the retired connectors).
func TestPlatforms_registration(t *testing.T) {
	for _, typ := range receivers.Types {
		c, ok := receivers.CredsOf(typ)
		if !ok || c == (receivers.Creds{}) {
			t.Errorf("%s: CredsOf = %+v, %v; want the credentials it takes", typ, c, ok)
		}
		if c.URL {
			if err := receivers.CheckURL(typ, kpay.NewSecret(receivers.ExampleURL(typ)), "the example"); err != nil {
				t.Errorf("%s: its example URL fails its own check: %v", typ, err)
			}
		}
	}
	connector := kpay.NewSecret("https://contoso.webhook.office.com/webhookb2/x")
	if err := receivers.CheckURL("teams", connector, "the URL"); err == nil || !strings.Contains(err.Error(), "connector") {
		t.Errorf("teams: got %v, want the connector refused", err)
	}
	if err := receivers.CheckURL("slack", connector, "the URL"); err != nil {
		t.Errorf("slack: got %v, want only teams to refuse connectors", err)
	}
	if _, ok := receivers.CredsOf("irc"); ok {
		t.Error("CredsOf(irc) knows an unregistered type")
	}
}
