package discord_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/discord"
	"kpay-rotator/notifier/notifiertest"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return discord.New(discord.Options{URL: d.URL, Timeout: d.Timeout, Now: d.Now})
}

const created = `{"id":"1234567890","type":0,"content":""}`

func send(t *testing.T, d func(*notifiertest.Server) notifiertest.Destination, a notifier.Alert) (notifier.Result, notifiertest.Request, discord.Payload) {
	t.Helper()
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200, Body: created})
	s, err := factory(d(srv))
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), a)
	if !res.Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	req := srv.Last(t)
	var p discord.Payload
	req.DecodeJSON(t, &p)
	return res, req, p
}

func plain(s *notifiertest.Server) notifiertest.Destination { return s.Destination() }

func TestReceiver_Send_payload(t *testing.T) {
	res, req, p := send(t, plain, notifiertest.Failing())
	if req.Method != "POST" || req.Path != notifiertest.HookPath || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %s %s %s", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	if got := req.Query.Get("wait"); got != "true" {
		t.Errorf("got wait=%q, want true", got)
	}
	if !strings.Contains(res.Detail, "message id 1234567890") {
		t.Errorf("got detail %q, want the created message id", res.Detail)
	}
	if !strings.Contains(string(req.Body), `"allowed_mentions":{"parse":[]}`) {
		t.Errorf("body lacks allowed_mentions parse []: %s", req.Body)
	}
	if len(p.Embeds) != 1 {
		t.Fatalf("got %d embeds, want 1", len(p.Embeds))
	}
	e := p.Embeds[0]
	if e.Title != "KPay key failing: payments-live" || e.Color != notifier.ColorCritical || e.Timestamp != "2026-01-05T10:00:00Z" {
		t.Errorf("got title %q colour %#x timestamp %q", e.Title, e.Color, e.Timestamp)
	}
	fields := map[string]string{}
	for _, f := range e.Fields {
		fields[f.Name] = f.Value
	}
	for name, want := range map[string]string{
		"Slot": "`payments-live`", "Pair": "`kpay_live_…9f2c`", "Age": "91d", "Cutover gap": "3m", "Severity": "critical",
		"Next step": "```\ngenerate a new pair in the KPay dashboard, then run: kpay-rotator stage payments-live\n```",
	} {
		if fields[name] != want {
			t.Errorf("got field %s = %q, want %q", name, fields[name], want)
		}
	}
}

func TestReceiver_Send_keepsQuery(t *testing.T) {
	_, req, _ := send(t, func(s *notifiertest.Server) notifiertest.Destination {
		return s.DestinationAt(notifiertest.HookPath + "?thread_id=42&wait=false")
	}, notifiertest.Failing())
	if req.Query.Get("thread_id") != "42" || req.Query.Get("wait") != "true" || len(req.Query["wait"]) != 1 {
		t.Errorf("got query %v, want thread_id=42 kept and wait=true", req.Query)
	}
}

func TestReceiver_Send_colourBySeverity(t *testing.T) {
	for _, tt := range []struct {
		kind event.Kind
		want int
	}{
		{event.KeyOverdue, notifier.ColorCritical},
		{event.KeyDue, notifier.ColorWarning},
		{event.KeyRecovered, notifier.ColorResolved},
		{event.KeyRotated, notifier.ColorInfo},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			_, _, p := send(t, plain, notifiertest.Alert(notifiertest.Event(tt.kind, "payments-live")))
			if got := p.Embeds[0].Color; got != tt.want {
				t.Errorf("got colour %#x, want %#x", got, tt.want)
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
			_, req, p := send(t, plain, a)
			notifiertest.CheckBody(t, req.Body, 16<<10)
			if len(p.Embeds) > 10 {
				t.Errorf("got %d embeds, over 10", len(p.Embeds))
			}
			total := 0
			n := utf8.RuneCountInString
			for _, e := range p.Embeds {
				if n(e.Title) > 256 || n(e.Description) > 4096 {
					t.Errorf("title %d, description %d characters; limits 256, 4096", n(e.Title), n(e.Description))
				}
				if len(e.Fields) > 25 {
					t.Errorf("got %d fields, over 25", len(e.Fields))
				}
				total += n(e.Title) + n(e.Description) + n(e.Footer.Text)
				for _, f := range e.Fields {
					if n(f.Name) > 256 || n(f.Value) > 1024 {
						t.Errorf("field %q is %d/%d characters; limits 256/1024", f.Name, n(f.Name), n(f.Value))
					}
					total += n(f.Name) + n(f.Value)
				}
			}
			if total > 6000 {
				t.Errorf("embeds total %d characters, over 6000", total)
			}
		})
	}
}

func TestReceiver_Send_group(t *testing.T) {
	_, _, p := send(t, plain, notifiertest.Group(40, event.KeyFailing))
	e := p.Embeds[0]
	if e.Title != "40 KPay keys failing" {
		t.Errorf("got title %q", e.Title)
	}
	if !strings.Contains(e.Description, "• `slot-00` \\(live\\)\\: key failing · kpay\\_live\\_…9f2c · age 91d") {
		t.Errorf("description lacks the first slot's line: %.300q", e.Description)
	}
	if n := strings.Count(e.Description, "• `slot"); n != 40 && !strings.Contains(e.Description, "… and ") {
		t.Errorf("got %d slots listed and no '… and N more'", n)
	}
	code, _ := discordCode(e.Fields[len(e.Fields)-1].Value)
	notifiertest.AssertCopies(t, code, "generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage slot-00")
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"group":     notifiertest.CopyGroup(),
		"backticks": notifiertest.BacktickAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, p := send(t, plain, a)
			code := embedCode(p.Embeds[0])
			notifiertest.AssertCopies(t, code, notifiertest.Copyable(a)...)
		})
	}
	_, _, p := send(t, plain, notifiertest.CopyGroup())
	code := embedCode(p.Embeds[0])
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, code, s, "kpay-rotator stage "+s)
	}
	// Three backticks in a row end any Discord code, so such a value is
	// escaped text, which Discord shows as it was.
	a := notifiertest.CopyAlert()
	a.Events[0].SecretID = "a```b_c"
	_, _, p = send(t, plain, a)
	var shown []string
	for _, f := range p.Embeds[0].Fields {
		_, out := discordCode(f.Value)
		shown = append(shown, out)
	}
	notifiertest.AssertCopies(t, shown, "a```b_c")
}

func embedCode(e discord.Embed) []string {
	code, _ := discordCode(e.Description)
	for _, f := range e.Fields {
		c, _ := discordCode(f.Value)
		code = append(code, c...)
	}
	return code
}

// discordCode splits Discord markdown as its parser (simple-markdown)
// reads it: code blocks (```, an optional language line, up to the next
// ```, blank lines trimmed) and inline code (a run of n backticks up to
// the next run of exactly n, a space next to a backtick at either end
// dropped), and the text outside them with backslash escapes resolved.
func discordCode(s string) (code []string, outside string) { return scan(s, true) }

// scan is discordCode, resolving backslash escapes outside code or
// keeping them as typed.
func scan(s string, resolve bool) (code []string, outside string) {
	var out strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\\' && i+1 < len(s) && strings.ContainsRune("\\*_~`|><#-[]():.!", rune(s[i+1])):
			if !resolve {
				out.WriteByte('\\')
			}
			out.WriteByte(s[i+1])
			i += 2
		case strings.HasPrefix(s[i:], "```") && strings.Contains(s[i+3:], "```"):
			end := i + 3 + strings.Index(s[i+3:], "```")
			body := s[i+3 : end]
			if lang := regexp.MustCompile(`(?i)^[a-z0-9_+\-.#]+?\n`).FindString(body); lang != "" {
				body = body[len(lang):]
			}
			code = append(code, strings.Split(strings.Trim(body, "\n"), "\n")...)
			i = end + 3
		case s[i] == '`':
			n := runAt(s, i)
			end := -1
			for j := i + n + 1; j+n <= len(s); j++ {
				if s[j-1] != '`' && s[j:j+n] == strings.Repeat("`", n) && (j+n == len(s) || s[j+n] != '`') {
					end = j
					break
				}
			}
			if end < 0 {
				out.WriteString(s[i : i+n])
				i += n
				continue
			}
			c := s[i+n : end]
			// /^ (?= *`)/: a leading space before spaces and a backtick.
			if strings.HasPrefix(strings.TrimLeft(c, " "), "`") && strings.HasPrefix(c, " ") {
				c = c[1:]
			}
			if strings.HasSuffix(c, "` ") {
				c = strings.TrimSuffix(c, " ")
			}
			code = append(code, c)
			i = end + n
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	return code, out.String()
}

func runAt(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	_, _, p := send(t, plain, notifiertest.HostileAlert())
	var rendered, code []string
	for _, e := range p.Embeds {
		rendered = append(rendered, e.Title, e.Footer.Text)
		for _, s := range append([]string{e.Description}, fieldValues(e)...) {
			c, _ := discordCode(s)
			code = append(code, c...)
			rendered = append(rendered, outsideCode(s))
		}
	}
	notifiertest.AssertAbsent(t, rendered, notifiertest.Mentions...)
	notifiertest.AssertAbsent(t, rendered, "**bold**", "](http://evil)", "[click]", "http://evil", "~~s~~", "<script>", "\n- list")
	notifiertest.AssertPresent(t, rendered, "@\u200beveryone", `\*\*bold\*\*`, "\\<@\u200b123456789\\>")
	// Code shows the text as it is, backticks and all; no ping fires
	// from it (allowed_mentions, checked in the payload test).
	notifiertest.AssertCopies(t, code, notifier.OneLine(notifiertest.Hostile))
}

func fieldValues(e discord.Embed) []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Value)
	}
	return out
}

// outsideCode is s without its code, as typed (escapes kept).
func outsideCode(s string) string {
	_, out := scan(s, false)
	return out
}

func TestReceiver_Send_classification(t *testing.T) {
	cases := notifiertest.StandardCases(notifiertest.Reply{Status: 200, Body: created})
	cases = append(cases,
		notifiertest.Case{Name: "429 body retry_after", Reply: notifiertest.Reply{Status: 429,
			Body: `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`},
			Want: notifiertest.Want{Retry: true, RetryAfter: 1500 * time.Millisecond, Status: 429}},
		notifiertest.Case{Name: "429 body beats header", Reply: notifiertest.Reply{Status: 429,
			Header: map[string]string{"Retry-After": "2"},
			Body:   `{"message":"You are being rate limited.","retry_after":1.25,"global":true}`},
			Want: notifiertest.Want{Retry: true, RetryAfter: 1250 * time.Millisecond, Status: 429}},
		notifiertest.Case{Name: "429 Cloudflare HTML", Reply: notifiertest.Reply{Status: 429,
			Header: map[string]string{"Retry-After": "60", "Content-Type": "text/html"}, Body: "<html>error 1015</html>"},
			Want: notifiertest.Want{Retry: true, RetryAfter: time.Minute, Status: 429}},
		notifiertest.Case{Name: "bucket empty after success", Reply: notifiertest.Reply{Status: 200, Body: created,
			Header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.75"}},
			Want: notifiertest.Want{Delivered: true, RetryAfter: 750 * time.Millisecond, Status: 200}},
		notifiertest.Case{Name: "404 unknown webhook", Reply: notifiertest.Reply{Status: 404, Body: `{"message":"Unknown Webhook","code":10015}`},
			Want: notifiertest.Want{Status: 404}},
	)
	notifiertest.Classify(t, factory, notifiertest.Failing(), cases)
}

func TestReceiver_Send_detailFromBody(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 404, Body: `{"message":"Unknown Webhook","code":10015}`})
	s, _ := factory(srv.Destination())
	if got, want := s.Send(context.Background(), notifiertest.Failing()).Detail, "HTTP 404 Not Found: Unknown Webhook (code 10015)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestNew_requiresURL(t *testing.T) {
	if _, err := discord.New(discord.Options{}); err == nil || !strings.Contains(err.Error(), "webhook URL is required") {
		t.Errorf("got %v, want a missing-URL error", err)
	}
}

func TestReceiver_Send_kpayDown(t *testing.T) {
	_, req, _ := send(t, plain, notifiertest.Down())
	notifiertest.AssertDown(t, notifiertest.Texts(t, req.Body))
}
