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
	if n := strings.Count(at.Text, "\n- `slot") + strings.Count(at.Text[:3], "- `"); n != 40 {
		t.Errorf("got %d list lines, want 40:\n%.500s", n, at.Text)
	}
	code, _ := commonMarkCode(at.Text)
	notifiertest.AssertCopies(t, code, "generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage slot-00", "kpay-rotator stage slot-39")
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"group":     notifiertest.CopyGroup(),
		"backticks": notifiertest.BacktickAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, at := send(t, a)
			code, _ := commonMarkCode(at.Text)
			for _, f := range at.Fields {
				c, _ := commonMarkCode(f.Value)
				code = append(code, c...)
			}
			notifiertest.AssertCopies(t, code, notifiertest.Copyable(a)...)
		})
	}
	_, at := send(t, notifiertest.CopyGroup())
	code, _ := commonMarkCode(at.Text)
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, code, s, "kpay-rotator stage "+s)
	}
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	req, at := send(t, notifiertest.HostileAlert())
	texts := notifiertest.Texts(t, req.Body)
	// The server rewrites Slack-style tokens before any Markdown, code
	// included: <!channel> would become @channel and <@id> a username.
	notifiertest.AssertAbsent(t, texts, "<!channel>", "<!here>", "<@123456789>", "<@&987>")
	// Outside code, mentions, HTML and Markdown are neutralised; inside
	// code they are shown as typed and do not fire.
	var rendered, code []string
	for _, s := range append([]string{at.Title, at.Text}, fieldValues(at)...) {
		c, out := commonMarkCode(s)
		rendered, code = append(rendered, out), append(code, c...)
	}
	notifiertest.AssertAbsent(t, rendered, notifiertest.Mentions...)
	notifiertest.AssertAbsent(t, rendered, "<script>", "<a href", "\n- list", "\n# head", "**bold**", "[click](", "~~s~~", "_it_")
	notifiertest.AssertPresent(t, rendered, "@\u200bchannel", `\*\*bold\*\*`, "&lt;script&gt;")
	notifiertest.AssertPresent(t, code, "@everyone @here @channel", "**bold** __u__ _it_ ~~s~~ `tick`")
	notifiertest.AssertAbsent(t, []string{at.Fallback}, notifiertest.Mentions...)
}

func fieldValues(at mattermost.Attachment) []string {
	var out []string
	for _, f := range at.Fields {
		out = append(out, f.Value)
	}
	return out
}

// commonMarkCode splits Markdown as CommonMark (Mattermost's renderer)
// reads it: the lines of fenced code blocks and the contents of code
// spans, and the text outside them. A fence closes only on a line of at
// least as many backticks; a span only on a run of exactly as many, with
// one space dropped from each end when both ends have one.
func commonMarkCode(s string) (code []string, outside string) {
	var out strings.Builder
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		// A backtick in the info string makes the line no fence.
		if f := fenceOf(lines[i]); f >= 3 && !strings.Contains(lines[i][f:], "`") {
			j := i + 1
			for j < len(lines) && !(fenceOf(lines[j]) >= f && strings.Trim(lines[j], "`") == "") {
				code = append(code, lines[j])
				j++
			}
			i = j
			continue
		}
		spans, rest := codeSpans(lines[i])
		code = append(code, spans...)
		out.WriteString(rest + "\n")
	}
	return code, out.String()
}

func fenceOf(line string) int { return len(line) - len(strings.TrimLeft(line, "`")) }

func codeSpans(s string) (spans []string, rest string) {
	var out strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) {
			out.WriteString(s[i : i+2])
			i += 2
			continue
		}
		if s[i] != '`' {
			out.WriteByte(s[i])
			i++
			continue
		}
		n := runAt(s, i)
		end := -1
		for j := i + n; j < len(s); {
			if s[j] == '`' {
				m := runAt(s, j)
				if m == n {
					end = j
					break
				}
				j += m
				continue
			}
			j++
		}
		if end < 0 {
			out.WriteString(s[i : i+n])
			i += n
			continue
		}
		c := s[i+n : end]
		if len(c) >= 2 && c[0] == ' ' && c[len(c)-1] == ' ' && strings.Trim(c, " ") != "" {
			c = c[1 : len(c)-1]
		}
		spans = append(spans, c)
		i = end + n
	}
	return spans, out.String()
}

func runAt(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
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

func TestReceiver_Send_kpayDown(t *testing.T) {
	req, _ := send(t, notifiertest.Down())
	notifiertest.AssertDown(t, notifiertest.Texts(t, req.Body))
}
