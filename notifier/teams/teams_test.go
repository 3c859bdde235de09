package teams_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/teams"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return teams.New(teams.Options{URL: d.URL, Timeout: d.Timeout, Now: d.Now})
}

func send(t *testing.T, a notifier.Alert) (notifier.Result, notifiertest.Request, teams.Message) {
	t.Helper()
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 202})
	s, err := factory(srv.Destination())
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), a)
	if !res.Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	req := srv.Last(t)
	var m teams.Message
	req.DecodeJSON(t, &m)
	return res, req, m
}

func TestReceiver_Send_payload(t *testing.T) {
	res, req, m := send(t, notifiertest.Failing())
	if req.Method != "POST" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	if !strings.Contains(res.Detail, "asynchronously") {
		t.Errorf("got detail %q; a 202 must say it is not confirmation", res.Detail)
	}
	if !strings.Contains(string(req.Body), `"contentUrl":null`) {
		t.Errorf("body lacks contentUrl null: %.300s", req.Body)
	}
	if m.Type != "message" || len(m.Attachments) != 1 {
		t.Fatalf("got type %q with %d attachments", m.Type, len(m.Attachments))
	}
	at := m.Attachments[0]
	c := at.Content
	if at.ContentType != "application/vnd.microsoft.card.adaptive" || c.Type != "AdaptiveCard" || c.Version != "1.4" {
		t.Errorf("got %q / %q / %q", at.ContentType, c.Type, c.Version)
	}
	title := c.Body[0]
	if title.Type != "RichTextBlock" || len(title.Inlines) != 1 || title.Inlines[0] != (teams.TextRun{Type: "TextRun", Text: "KPay key failing: payments-live", Weight: "Bolder", Size: "Medium", Color: "attention"}) {
		t.Errorf("got title block %+v", title)
	}
	facts := map[string]string{}
	for _, el := range c.Body {
		if el.Type == "FactSet" {
			for _, f := range el.Facts {
				facts[f.Title] = f.Value
			}
		}
	}
	for k, want := range map[string]string{"Age": "91d", "Cutover gap": "3m", "Environment": "live"} {
		if facts[k] != want {
			t.Errorf("got fact %s = %q, want %q", k, facts[k], want)
		}
	}
	// Identifiers and the command are monospace runs, never Markdown.
	notifiertest.AssertCopies(t, monoRuns(m), "payments-live", "kpay_live_…9f2c", "prod/payments-live/kpay",
		"generate a new pair in the KPay dashboard, then run: kpay-rotator stage payments-live")
}

// monoRuns are the card's monospace TextRuns: its code, shown exactly
// as sent, since a TextRun is never parsed as Markdown.
func monoRuns(m teams.Message) []string {
	var out []string
	for _, el := range m.Attachments[0].Content.Body {
		for _, r := range el.Inlines {
			if r.FontType == "Monospace" {
				out = append(out, r.Text)
			}
		}
	}
	return out
}

// markdown is every text of the card that Teams parses as Markdown:
// TextBlocks and facts.
func markdown(m teams.Message) []string {
	var out []string
	for _, el := range m.Attachments[0].Content.Body {
		if el.Type == "TextBlock" {
			out = append(out, el.Text)
		}
		for _, f := range el.Facts {
			out = append(out, f.Title, f.Value)
		}
	}
	return out
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"group":     notifiertest.CopyGroup(),
		"backticks": notifiertest.BacktickAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, m := send(t, a)
			notifiertest.AssertCopies(t, monoRuns(m), notifiertest.Copyable(a)...)
			// No identifier goes through Markdown, where an escape would
			// show as a backslash on some clients.
			notifiertest.AssertAbsent(t, markdown(m), `\_`)
		})
	}
	_, _, m := send(t, notifiertest.CopyGroup())
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, monoRuns(m), s, "kpay-rotator stage "+s)
	}
}

func TestReceiver_Send_colourBySeverity(t *testing.T) {
	for kind, want := range map[event.Kind]string{
		event.KeyFailing: "attention", event.KeyDue: "warning", event.KeyRecovered: "good", event.KeyRotated: "accent",
	} {
		_, _, m := send(t, notifiertest.Alert(notifiertest.Event(kind, "payments-live")))
		if got := m.Attachments[0].Content.Body[0].Inlines[0].Color; got != want {
			t.Errorf("%s: got colour %q, want %q", kind, got, want)
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
			_, req, _ := send(t, a)
			// Teams refuses messages over 28672 bytes, from inside the
			// flow where nobody sees it.
			notifiertest.CheckBody(t, req.Body, 28672)
		})
	}
}

func TestReceiver_Send_group(t *testing.T) {
	_, _, m := send(t, notifiertest.Group(40, event.KeyFailing))
	body := m.Attachments[0].Content.Body
	if got := body[0].Inlines[0].Text; got != "40 KPay keys failing" {
		t.Errorf("got title %q", got)
	}
	var lines []string
	for _, el := range body[1:] {
		if el.Type == "RichTextBlock" && len(el.Inlines) == 2 {
			lines = append(lines, el.Inlines[0].Text+el.Inlines[1].Text)
		}
	}
	if len(lines) != 40 || lines[0] != "slot-00 (live): key failing · kpay_live_…9f2c · age 91d · cutover gap 3m" {
		t.Errorf("got %d lines, first %q", len(lines), lines)
	}
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	_, _, m := send(t, notifiertest.HostileAlert())
	texts := markdown(m)
	notifiertest.AssertAbsent(t, texts, "**bold**", "[click]", "_it_", "\n- list", "\n# head")
	// A link needs "](" with the bracket unescaped.
	for _, s := range texts {
		if strings.Contains(strings.ReplaceAll(s, `\](`, ""), "](") {
			t.Errorf("unescaped ]( in %.200q", s)
		}
	}
	notifiertest.AssertPresent(t, texts, `\*\*bold\*\*`, `\[click\](http://evil)`, `\_it\_`)
	// In a TextRun nothing is parsed: the text is shown as it is.
	notifiertest.AssertCopies(t, monoRuns(m), notifier.OneLine(notifiertest.Hostile))
}

func TestReceiver_Send_escapesLeadingListMarker(t *testing.T) {
	e := notifiertest.Event(event.KeyFailing, "payments-live")
	e.Fields["age"] = "- not a list"
	_, req, _ := send(t, notifiertest.Alert(e))
	notifiertest.AssertPresent(t, notifiertest.Texts(t, req.Body), `\- not a list`)
}

func TestReceiver_Send_classification(t *testing.T) {
	cases := append(notifiertest.StandardCases(notifiertest.Reply{Status: 202}),
		notifiertest.Case{Name: "200 ok", Reply: notifiertest.Reply{Status: 200}, Want: notifiertest.Want{Delivered: true, Status: 200}})
	notifiertest.Classify(t, factory, notifiertest.Failing(), cases)
}

func TestReceiver_Send_errorDetail(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 401, Body: `{"error":{"code":"DirectApiAuthorizationRequired","message":"The request needs a valid sig."}}`})
	s, _ := factory(srv.Destination())
	res := s.Send(context.Background(), notifiertest.Failing())
	if want := "HTTP 401 Unauthorized: DirectApiAuthorizationRequired: The request needs a valid sig."; res.Detail != want {
		t.Errorf("got %q, want %q", res.Detail, want)
	}
}

func TestReceiver_refusesConnectorURLs(t *testing.T) {
	legacy := "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/0123456789abcdef/ghi"
	if _, err := teams.New(teams.Options{URL: notifier.InlineSecret{Value: kpay.NewSecret(legacy)}}); err == nil || !strings.Contains(err.Error(), "Workflows") || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("got %v, want a refusal naming Workflows without the URL", err)
	}
	// From a file, the same URL is refused at send time (and retried: the
	// file may be fixed).
	path := filepath.Join(t.TempDir(), "teams")
	if err := os.WriteFile(path, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := teams.New(teams.Options{URL: notifier.FileSecret{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Send(context.Background(), notifiertest.Failing()); res.Delivered || !res.Retry || !strings.Contains(res.Detail, "retired") {
		t.Errorf("got %+v, want a retryable failure saying connectors are retired", res)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestNew_requiresURL(t *testing.T) {
	if _, err := teams.New(teams.Options{}); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Errorf("got %v, want a missing-URL error", err)
	}
}

func TestReceiver_Send_kpayDown(t *testing.T) {
	_, req, _ := send(t, notifiertest.Down())
	notifiertest.AssertDown(t, notifiertest.Texts(t, req.Body))
}

func TestReceiver_Send_aboutANotifier(t *testing.T) {
	a := notifiertest.NotifierFailing()
	a.Events = append(a.Events, notifiertest.Event(event.KeyFailing, "payments-live"))
	_, req, m := send(t, a)
	texts := notifiertest.Texts(t, req.Body)
	notifiertest.AssertAbsent(t, texts, "(no slot)")
	notifiertest.AssertPresent(t, texts, "alerts keep failing")
	notifiertest.AssertCopies(t, monoRuns(m), "teams-ops", "payments-live")
}
