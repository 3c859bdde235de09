package mattermost_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/mattermost"
	"kpay-rotator/notifier/notifiertest"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return mattermost.New(mattermost.Options{URL: d.URL, Timeout: d.Timeout, Now: d.Now})
}

func send(t *testing.T, a notifier.Alert) (notifiertest.Request, mattermost.Attachment) {
	t.Helper()
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200, Body: "ok"})
	s, err := factory(srv.Destination())
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(context.Background(), a); !res.Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	req := srv.Last(t)
	var p mattermost.Payload
	req.DecodeJSON(t, &p)
	if len(p.Attachments) != 1 {
		t.Fatalf("got %d attachments, want 1", len(p.Attachments))
	}
	return req, p.Attachments[0]
}

func TestReceiver_Send_payload(t *testing.T) {
	req, at := send(t, notifiertest.Failing())
	if req.Method != "POST" || req.Path != notifiertest.HookPath || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %s %s %q", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	if at.Fallback != "KPay key failing: payments-live" || at.Color != "#D92D20" {
		t.Errorf("got fallback %q colour %q", at.Fallback, at.Color)
	}
	if at.Title != `KPay key failing: payments\-live` {
		t.Errorf("got title %q", at.Title)
	}
	if want := "**Next step**\n```\ngenerate a new pair in the KPay dashboard, then run: kpay-rotator stage payments-live\n```"; !strings.Contains(at.Text, want) {
		t.Errorf("text lacks the next step as a code block:\n%s", at.Text)
	}
	fields := map[string]string{}
	for _, f := range at.Fields {
		fields[f.Title] = f.Value
	}
	for k, want := range map[string]string{"Slot": "`payments-live`", "Pair": "`kpay_live_…9f2c`", "Age": "91d", "Cutover gap": "3m", "Severity": "critical"} {
		if fields[k] != want {
			t.Errorf("got field %s = %q, want %q", k, fields[k], want)
		}
	}
}

func TestReceiver_Send_limits(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"huge event":      notifiertest.Huge(),
		"40-slot group":   notifiertest.HugeGroup(),
		"5000-slot group": notifiertest.Group(5000, event.KeyOverdue),
	} {
		t.Run(name, func(t *testing.T) {
			req, at := send(t, a)
			notifiertest.CheckBody(t, req.Body, 16383)
			n := utf8.RuneCountInString(at.Title) + utf8.RuneCountInString(at.Text)
			for _, f := range at.Fields {
				n += utf8.RuneCountInString(f.Title) + utf8.RuneCountInString(f.Value)
			}
			if n > 16383 {
				t.Errorf("attachment holds %d characters, over 16383", n)
			}
		})
	}
}

func TestReceiver_Send_group(t *testing.T) {
	_, at := send(t, notifiertest.Group(40, event.KeyFailing))
	if at.Title != "40 KPay keys failing" {
		t.Errorf("got title %q", at.Title)
	}
	if n := strings.Count(at.Text, "\n- slot") + strings.Count(at.Text[:2], "- "); n != 40 {
		t.Errorf("got %d list lines, want 40:\n%.500s", n, at.Text)
	}
	if !strings.Contains(at.Text, "kpay-rotator stage ‹slot›") {
		t.Errorf("group next step lacks the slot placeholder:\n%.300s", at.Text[len(at.Text)-300:])
	}
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	req, at := send(t, notifiertest.HostileAlert())
	texts := notifiertest.Texts(t, req.Body)
	// Mentions are neutralised everywhere, code included: the server
	// expands <!channel> before it parses any Markdown.
	notifiertest.AssertAbsent(t, texts, notifiertest.Mentions...)
	notifiertest.AssertAbsent(t, texts, "<script>", "<a href", "\n- list", "\n# head")
	// Markdown is neutralised where it renders: outside code, and not in
	// the plain fallback.
	rendered := []string{outsideCode(at.Title), outsideCode(at.Text)}
	for _, f := range at.Fields {
		rendered = append(rendered, outsideCode(f.Value))
	}
	notifiertest.AssertAbsent(t, rendered, "**bold**", "[click](", "~~s~~", "_it_")
	notifiertest.AssertPresent(t, rendered, "@\u200bchannel", `\*\*bold\*\*`, "&lt;script&gt;")
}

// outsideCode drops code blocks and spans, where Markdown is shown as
// typed. An escaped backtick opens nothing.
func outsideCode(s string) string {
	s = strings.ReplaceAll(s, "\\`", "\\'")
	var b strings.Builder
	for i, part := range strings.Split(s, "```") {
		if i%2 == 1 {
			continue
		}
		for j, p := range strings.Split(part, "`") {
			if j%2 == 0 {
				b.WriteString(p)
			}
		}
	}
	return b.String()
}

func TestReceiver_Send_classification(t *testing.T) {
	notifiertest.Classify(t, factory, notifiertest.Failing(), notifiertest.StandardCases(notifiertest.Reply{Status: 200, Body: "ok"}))
}

func TestReceiver_Send_errorDetail(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 400, Body: `{"id":"web.incoming_webhook.text.app_error","message":"No text specified","status_code":400}`})
	s, _ := factory(srv.Destination())
	if got, want := s.Send(context.Background(), notifiertest.Failing()).Detail, "HTTP 400 Bad Request: No text specified"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestNew_requiresURL(t *testing.T) {
	if _, err := mattermost.New(mattermost.Options{}); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Errorf("got %v, want a missing-URL error", err)
	}
}
