package slack_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/slack"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return slack.New(slack.Options{URL: d.URL, Timeout: d.Timeout, Now: d.Now})
}

func send(t *testing.T, a notifier.Alert) (notifiertest.Request, slack.Payload) {
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
	var p slack.Payload
	req.DecodeJSON(t, &p)
	return req, p
}

func TestReceiver_Send_payload(t *testing.T) {
	req, p := send(t, notifiertest.Failing())
	if req.Method != "POST" || req.Path != notifiertest.HookPath {
		t.Errorf("got %s %s, want POST %s", req.Method, req.Path, notifiertest.HookPath)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
	if len(p.Blocks) < 3 {
		t.Fatalf("got %d blocks, want header, sections and context: %+v", len(p.Blocks), p.Blocks)
	}
	if b := p.Blocks[0]; b.Type != "header" || b.Text.Type != "plain_text" || b.Text.Text != "KPay key failing: payments-live" {
		t.Errorf("got first block %+v, want the header", b)
	}
	if last := p.Blocks[len(p.Blocks)-1]; last.Type != "context" {
		t.Errorf("got last block %q, want context", last.Type)
	}
	if !strings.HasPrefix(p.Text, "KPay key failing: payments-live: KPay rejects") {
		t.Errorf("got fallback text %q", p.Text)
	}
	body := string(req.Body)
	for _, want := range []string{
		`*Slot*\n` + "`payments-live`", `*Severity*\ncritical`, `*Age*\n91d`, `*Cutover gap*\n3m`, "`prod/payments-live/kpay`",
		"*Next step*\\n```generate a new pair in the KPay dashboard, then run: kpay-rotator stage payments-live```",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s\n%s", want, body)
		}
	}
}

func TestReceiver_Send_markers(t *testing.T) {
	resolved := notifiertest.Alert(notifiertest.Event(event.KeyRecovered, "payments-live"))
	for _, tt := range []struct {
		name string
		a    notifier.Alert
		want string
	}{
		{"test", notifier.Alert{ID: "x", Events: notifiertest.Failing().Events, Test: true}, "[TEST] KPay key failing: payments-live"},
		{"reminder", notifier.Alert{ID: "x", Events: notifiertest.Failing().Events, Repeat: true}, "Reminder: KPay key failing: payments-live"},
		{"resolved", resolved, "Resolved: KPay key working again: payments-live"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, p := send(t, tt.a)
			if got := p.Blocks[0].Text.Text; got != tt.want {
				t.Errorf("got header %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReceiver_Send_limits(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"huge event":      notifiertest.Huge(),
		"40-slot group":   notifiertest.HugeGroup(),
		"5000-slot group": notifiertest.Group(5000, event.KeyOverdue),
	} {
		t.Run(name, func(t *testing.T) {
			req, p := send(t, a)
			// Slack's hard limits are far above; 10K keeps clear of the
			// undocumented msg_blocks_too_long seen near 13K.
			notifiertest.CheckBody(t, req.Body, 10000)
			if len(p.Blocks) > 50 {
				t.Errorf("got %d blocks, want at most 50", len(p.Blocks))
			}
			for _, b := range p.Blocks {
				if b.Type == "header" && utf8.RuneCountInString(b.Text.Text) > 150 {
					t.Errorf("header is %d characters, over 150", utf8.RuneCountInString(b.Text.Text))
				}
				if b.Type == "section" && b.Text != nil && utf8.RuneCountInString(b.Text.Text) > 3000 {
					t.Errorf("section text is %d characters, over 3000", utf8.RuneCountInString(b.Text.Text))
				}
				if len(b.Fields) > 10 {
					t.Errorf("section has %d fields, over 10", len(b.Fields))
				}
				for _, f := range b.Fields {
					if utf8.RuneCountInString(f.Text) > 2000 {
						t.Errorf("field is %d characters, over 2000", utf8.RuneCountInString(f.Text))
					}
				}
			}
		})
	}
}

func TestReceiver_Send_group(t *testing.T) {
	_, p := send(t, notifiertest.Group(40, event.KeyFailing))
	if got := p.Blocks[0].Text.Text; got != "40 KPay keys failing" {
		t.Errorf("got header %q", got)
	}
	// One block per event while blocks are left: 40 fit in Slack's 50.
	var items []string
	for _, b := range p.Blocks {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "• ") {
			items = append(items, b.Text.Text)
		}
	}
	if len(items) != 40 {
		t.Errorf("got %d event blocks, want all 40", len(items))
	}
	if len(items) > 0 && items[0] != "• `slot-00` (live): key failing · kpay_live_…9f2c · age 91d · cutover gap 3m" {
		t.Errorf("got first line %q, want the slot as code and its facts", items[0])
	}
	next := nextStep(p)
	code, _ := slackCode(next)
	notifiertest.AssertCopies(t, code, "generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage slot-00", "kpay-rotator stage slot-01")
	if strings.Contains(next, "&lt;slot&gt;") {
		t.Errorf("next step has a placeholder: %q", next)
	}
}

func TestReceiver_Send_groupBeyondBlocks(t *testing.T) {
	_, p := send(t, notifiertest.Group(120, event.KeyFailing))
	if len(p.Blocks) != 50 {
		t.Errorf("got %d blocks, want all 50 used", len(p.Blocks))
	}
	n := 0
	for _, b := range p.Blocks {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "• ") {
			n++
		}
	}
	var more string
	for _, b := range p.Blocks {
		for _, el := range b.Elements {
			if strings.HasPrefix(el.Text, "… and ") {
				more = el.Text
			}
		}
	}
	if n+countMore(more) != 120 || n < 40 {
		t.Errorf("got %d events listed and %q, want as many as the blocks hold and the rest counted", n, more)
	}
}

func nextStep(p slack.Payload) string {
	for _, b := range p.Blocks {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "*Next step*") {
			return b.Text.Text
		}
	}
	return ""
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"group":     notifiertest.CopyGroup(),
	} {
		t.Run(name, func(t *testing.T) {
			_, p := send(t, a)
			notifiertest.AssertCopies(t, payloadCode(p), notifiertest.Copyable(a)...)
		})
	}
	_, p := send(t, notifiertest.CopyGroup())
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, payloadCode(p), s, "kpay-rotator stage "+s)
	}
}

func payloadCode(p slack.Payload) []string {
	var code []string
	for _, b := range p.Blocks {
		for _, t := range append(b.Fields, b.Elements...) {
			c, _ := slackCode(t.Text)
			code = append(code, c...)
		}
		if b.Text != nil && b.Text.Type == "mrkdwn" {
			c, _ := slackCode(b.Text.Text)
			code = append(code, c...)
		}
	}
	return code
}

// slackCode splits mrkdwn as Slack shows it: the lines of ``` blocks and
// the contents of `code` spans, with the three entities decoded (Slack
// decodes them in code too), and the text outside them as sent.
func slackCode(s string) (code []string, outside string) {
	dec := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
	var out strings.Builder
	for {
		i := strings.Index(s, "`")
		if i < 0 {
			out.WriteString(s)
			return code, out.String()
		}
		out.WriteString(s[:i])
		if strings.HasPrefix(s[i:], "```") {
			end := strings.Index(s[i+3:], "```")
			if end < 0 {
				out.WriteString(s[i:])
				return code, out.String()
			}
			code = append(code, strings.Split(dec.Replace(s[i+3:i+3+end]), "\n")...)
			s = s[i+3+end+3:]
			continue
		}
		end := strings.Index(s[i+1:], "`")
		if end < 0 {
			out.WriteString(s[i:])
			return code, out.String()
		}
		code = append(code, dec.Replace(s[i+1:i+1+end]))
		s = s[i+1+end+1:]
	}
}

func countMore(list string) int {
	i := strings.LastIndex(list, "… and ")
	if i < 0 {
		return 0
	}
	var n int
	for _, c := range list[i+len("… and "):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	req, _ := send(t, notifiertest.HostileAlert())
	texts := notifiertest.Texts(t, req.Body)
	var mrk []string
	var p slack.Payload
	req.DecodeJSON(t, &p)
	// plain_text (the header) is never parsed for mentions or links;
	// everything else is mrkdwn.
	for _, b := range p.Blocks {
		if b.Text != nil && b.Text.Type == "mrkdwn" {
			mrk = append(mrk, b.Text.Text)
		}
		for _, f := range append(b.Fields, b.Elements...) {
			mrk = append(mrk, f.Text)
		}
	}
	mrk = append(mrk, p.Text)
	// In code and out: the three entities are all Slack needs, in code too.
	notifiertest.AssertAbsent(t, mrk, "<!channel>", "<!here>", "<@123456789>", "<script>", "<a href", "<users/all>")
	var code []string
	for _, m := range mrk {
		c, _ := slackCode(m)
		code = append(code, c...)
	}
	// Code shows the text as it is, but for the backtick, which mrkdwn
	// cannot escape.
	notifiertest.AssertCopies(t, code, strings.ReplaceAll(notifier.OneLine(notifiertest.Hostile), "`", "ˋ"))
	notifiertest.AssertPresent(t, texts, "&lt;!channel&gt;", "&lt;script&gt;", "&amp;amp;")
	// A backtick in a code value would end the span early and let the
	// rest render as mrkdwn: each code span keeps only its own backticks.
	for _, b := range p.Blocks {
		for _, f := range b.Fields {
			if n := strings.Count(f.Text, "`"); n != 0 && n != 2 {
				t.Errorf("field has %d backticks, want a single span: %.200q", n, f.Text)
			}
		}
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "*Next step*") && strings.Count(b.Text.Text, "`") != 6 {
			t.Errorf("next step has stray backticks: %.200q", b.Text.Text)
		}
	}
	// The newline would start a list line.
	notifiertest.AssertAbsent(t, texts, "\n- list")
}

func TestReceiver_Send_classification(t *testing.T) {
	notifiertest.Classify(t, factory, notifiertest.Failing(), notifiertest.StandardCases(notifiertest.Reply{Status: 200, Body: "ok"}))
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestReceiver_Send_readsURLFileAtSendTime(t *testing.T) {
	first := notifiertest.NewServer(t, notifiertest.Reply{Body: "ok"})
	second := notifiertest.NewServer(t, notifiertest.Reply{Body: "ok"})
	path := filepath.Join(t.TempDir(), "slack-ops")
	write := func(url string) {
		if err := os.WriteFile(path, []byte(url+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(first.URL + notifiertest.HookPath)
	r, err := slack.New(slack.Options{URL: notifier.FileSecret{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Send(context.Background(), notifiertest.Failing()); !res.Delivered {
		t.Fatalf("first send: %+v", res)
	}
	write(second.URL + notifiertest.HookPath)
	if res := r.Send(context.Background(), notifiertest.Failing()); !res.Delivered {
		t.Fatalf("second send: %+v", res)
	}
	if a, b := len(first.Requests()), len(second.Requests()); a != 1 || b != 1 {
		t.Errorf("got %d requests to the first URL and %d to the second, want 1 and 1", a, b)
	}
	if got := second.Last(t).Path; got != notifiertest.HookPath {
		t.Errorf("got path %q; the trailing newline was not trimmed?", got)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	res := r.Send(context.Background(), notifiertest.Failing())
	// Retried, not dropped: a file is fixed in place.
	if res.Delivered || !res.Retry || !strings.Contains(res.Detail, "chmod 600 "+path) {
		t.Errorf("got %+v, want a retryable failure saying chmod 600 %s", res, path)
	}
	if n := len(second.Requests()); n != 1 {
		t.Errorf("a world-readable URL file was used anyway (%d requests)", n)
	}
}

func TestNew(t *testing.T) {
	if _, err := slack.New(slack.Options{}); err == nil || !strings.Contains(err.Error(), "webhook URL is required") {
		t.Errorf("got %v, want a missing-URL error", err)
	}
	bad := "https://hooks.slack.com/services/T0/B0/s3cretValue\x7f"
	_, err := slack.New(slack.Options{URL: notifier.InlineSecret{Value: kpay.NewSecret(bad)}})
	if err == nil || strings.Contains(err.Error(), "s3cretValue") {
		t.Errorf("got %v, want an error that does not quote the URL", err)
	}
}

func TestReceiver_Rate(t *testing.T) {
	r, _ := slack.New(slack.Options{URL: notifier.EnvSecret{Name: "X"}})
	if every, burst := r.Rate(); every != time.Second || burst != 1 {
		t.Errorf("got %v/%d, want 1s/1", every, burst)
	}
}

// A URL file that turns from https to plain http to another host between
// two sends is refused at the second, before any request.
func TestReceiver_Send_refusesAURLFileTurnedPlainHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slack-ops")
	if err := os.WriteFile(path, []byte("https://hooks.slack.com/services/T0/B0/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := slack.New(slack.Options{URL: notifier.FileSecret{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("http://hooks.example.net/services/T0/B0/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := r.Send(context.Background(), notifiertest.Failing())
	if res.Delivered || !res.Retry || !strings.Contains(res.Detail, "plain http") || strings.Contains(res.Detail, "/services/") {
		t.Errorf("got %+v, want a retryable refusal naming plain http and not quoting the URL", res)
	}
}

func TestReceiver_Send_kpayDown(t *testing.T) {
	req, _ := send(t, notifiertest.Down())
	notifiertest.AssertDown(t, notifiertest.Texts(t, req.Body))
}

func TestReceiver_Send_aboutANotifier(t *testing.T) {
	req, p := send(t, notifiertest.NotifierFailing())
	if got := p.Blocks[0].Text.Text; got != "Alerts to notifier teams-ops keep failing" {
		t.Errorf("got header %q", got)
	}
	notifiertest.AssertAbsent(t, notifiertest.Texts(t, req.Body), "(no slot)")
}
