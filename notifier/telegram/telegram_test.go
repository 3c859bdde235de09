package telegram_test

import (
	"context"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/telegram"
)

const chat = "-1001234567890"

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return telegram.New(telegram.Options{Token: d.Token, ChatID: chat, APIBase: d.APIBase, Timeout: d.Timeout, Now: d.Now})
}

const sent = `{"ok":true,"result":{"message_id":42,"chat":{"id":-1001234567890}}}`

func send(t *testing.T, a notifier.Alert) (notifier.Result, notifiertest.Request, telegram.Message) {
	t.Helper()
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200, Body: sent})
	s, err := factory(srv.Destination())
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), a)
	if !res.Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	req := srv.Last(t)
	var m telegram.Message
	req.DecodeJSON(t, &m)
	return res, req, m
}

func TestReceiver_Send_payload(t *testing.T) {
	res, req, m := send(t, notifiertest.Failing())
	if want := "/bot" + notifiertest.BotToken + "/sendMessage"; req.Method != "POST" || req.Path != want {
		t.Errorf("got %s %s, want POST %s", req.Method, req.Path, want)
	}
	if req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got Content-Type %q", req.Header.Get("Content-Type"))
	}
	if !strings.Contains(res.Detail, "message id 42") {
		t.Errorf("got detail %q, want the message id", res.Detail)
	}
	if m.ChatID != chat || m.ParseMode != "HTML" || !m.LinkPreviewOptions.IsDisabled {
		t.Errorf("got %+v", m)
	}
	if !strings.Contains(string(req.Body), `"link_preview_options":{"is_disabled":true}`) {
		t.Errorf("body lacks link_preview_options: %s", req.Body)
	}
	for _, want := range []string{
		"<b>KPay key failing: payments-live</b>\nKPay rejects pair kpay_live_…9f2c (HTTP 401)",
		"Slot: <code>payments-live</code>", "Pair: <code>kpay_live_…9f2c</code>", "Age: 91d", "Cutover gap: 3m",
		"Next step:\n<pre>generate a new pair in the KPay dashboard, then run: kpay-rotator stage payments-live</pre>",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	checkHTML(t, m.Text)
}

// checkHTML is what Telegram's parser insists on: only its tags, each
// closed in order, and every '&' starting an entity. A cut inside a tag or
// an entity fails here.
func checkHTML(t *testing.T, s string) {
	t.Helper()
	var open []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				t.Fatalf("unterminated tag at %d: %.40q", i, s[i:])
			}
			tag := s[i+1 : i+j]
			if name, ok := strings.CutPrefix(tag, "/"); ok {
				if len(open) == 0 || open[len(open)-1] != name {
					t.Fatalf("closing </%s> does not match %v", name, open)
				}
				open = open[:len(open)-1]
			} else if tag == "b" || tag == "i" || tag == "code" || tag == "pre" {
				open = append(open, tag)
			} else {
				t.Fatalf("unexpected tag <%s>", tag)
			}
			i += j
		case '&':
			if !entityRE.MatchString(s[i:]) {
				t.Fatalf("bare or cut entity at %d: %.20q", i, s[i:])
			}
		}
	}
	if len(open) > 0 {
		t.Fatalf("tags left open: %v", open)
	}
}

var entityRE = regexp.MustCompile(`^&(amp|lt|gt);`)

func TestReceiver_Send_limits(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"huge event":      notifiertest.Huge(),
		"40-slot group":   notifiertest.HugeGroup(),
		"5000-slot group": notifiertest.Group(5000, event.KeyOverdue),
		"hostile":         notifiertest.HostileAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, req, m := send(t, a)
			notifiertest.CheckBody(t, req.Body, 16<<10)
			if n := utf8.RuneCountInString(m.Text); n > telegram.MaxText {
				t.Errorf("text is %d characters, over %d", n, telegram.MaxText)
			}
			checkHTML(t, m.Text)
		})
	}
}

func TestReceiver_Send_group(t *testing.T) {
	_, _, m := send(t, notifiertest.Group(40, event.KeyFailing))
	if !strings.HasPrefix(m.Text, "<b>40 KPay keys failing</b>\n• <code>slot-00</code> (live): key failing") {
		t.Errorf("got %.200q", m.Text)
	}
	n := strings.Count(m.Text, "• <code>slot-")
	more := regexp.MustCompile(`\n… and (\d+) more\n`).FindStringSubmatch(m.Text)
	if more != nil {
		k, _ := strconv.Atoi(more[1])
		n += k
	}
	if n != 40 {
		t.Errorf("got %d slots listed or counted, want 40:\n%s", n, m.Text)
	}
	notifiertest.AssertCopies(t, htmlCode(m.Text), "generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage slot-00")
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"group":     notifiertest.CopyGroup(),
		"backticks": notifiertest.BacktickAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, m := send(t, a)
			notifiertest.AssertCopies(t, htmlCode(m.Text), notifiertest.Copyable(a)...)
		})
	}
	_, _, m := send(t, notifiertest.CopyGroup())
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, htmlCode(m.Text), s, "kpay-rotator stage "+s)
	}
}

var codeRE = regexp.MustCompile(`(?s)<(code|pre)>(.*?)</(?:code|pre)>`)

// htmlCode is the text of every <code> and <pre> (each line of one) as
// Telegram shows it: entities decoded, nothing else changed.
func htmlCode(s string) []string {
	var out []string
	for _, m := range codeRE.FindAllStringSubmatch(s, -1) {
		text := html.UnescapeString(m[2])
		if m[1] == "pre" {
			out = append(out, strings.Split(text, "\n")...)
		} else {
			out = append(out, text)
		}
	}
	return out
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	_, _, m := send(t, notifiertest.HostileAlert())
	notifiertest.AssertAbsent(t, []string{m.Text}, "<script>", "<a href", "<b>bold</b>", "<!channel>")
	notifiertest.AssertPresent(t, []string{m.Text}, "&lt;script&gt;", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp;")
	notifiertest.AssertCopies(t, htmlCode(m.Text), notifier.OneLine(notifiertest.Hostile))
}

func TestReceiver_Send_classification(t *testing.T) {
	cases := append(notifiertest.StandardCases(notifiertest.Reply{Status: 200, Body: sent}),
		notifiertest.Case{Name: "429 flood wait in body", Reply: notifiertest.Reply{Status: 429,
			Body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 12","parameters":{"retry_after":12}}`},
			Want: notifiertest.Want{Retry: true, RetryAfter: 12 * time.Second, Status: 429}},
		notifiertest.Case{Name: "400 migrated to supergroup", Reply: notifiertest.Reply{Status: 400,
			Body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`},
			Want: notifiertest.Want{Status: 400}},
		notifiertest.Case{Name: "403 blocked", Reply: notifiertest.Reply{Status: 403,
			Body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}`},
			Want: notifiertest.Want{Status: 403}},
		notifiertest.Case{Name: "2xx ok false", Reply: notifiertest.Reply{Status: 200, Body: `{"ok":false,"description":"odd"}`},
			Want: notifiertest.Want{Status: 200}},
	)
	notifiertest.Classify(t, factory, notifiertest.Failing(), cases)
}

func TestReceiver_Send_migrationSaysNewChatID(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 400,
		Body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`})
	s, _ := factory(srv.Destination())
	if res := s.Send(context.Background(), notifiertest.Failing()); !strings.Contains(res.Detail, `set chat_id = "-1009876543210"`) {
		t.Errorf("got %q, want the new chat id", res.Detail)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestNew(t *testing.T) {
	tok := notifier.InlineSecret{Value: kpay.NewSecret(notifiertest.BotToken)}
	for _, tt := range []struct {
		name string
		o    telegram.Options
		want string
	}{
		{"no token", telegram.Options{ChatID: chat}, "bot token is required"},
		{"bad chat", telegram.Options{Token: tok, ChatID: "my group"}, "not a numeric chat id"},
		{"bad token", telegram.Options{Token: notifier.InlineSecret{Value: kpay.NewSecret("s3cret token")}, ChatID: chat}, "not of the form"},
		{"bad base", telegram.Options{Token: tok, ChatID: chat, APIBase: "api.telegram.org"}, "not an http(s) URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := telegram.New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("got %v, want an error saying %q without the token", err, tt.want)
			}
		})
	}
	for _, ok := range []string{chat, "12345", "@kpay_alerts"} {
		if _, err := telegram.New(telegram.Options{Token: tok, ChatID: ok}); err != nil {
			t.Errorf("chat %q: %v", ok, err)
		}
	}
}

// Telegram's public channel usernames are 5 to 32 characters of letters,
// digits and '_', starting with a letter: config and the receiver used to
// disagree on the shortest (config 5, the receiver 4).
func TestCheckChatID(t *testing.T) {
	for id, ok := range map[string]bool{
		"-1001234567890": true, "42": true,
		"@kpays": true, "@" + strings.Repeat("a", 32): true, "@kpay_alerts": true,
		"@kpay": false, "@" + strings.Repeat("a", 33): false, "@1kpay": false, "@kpay-alerts": false,
		"kpayalerts": false, "": false, "-": false,
	} {
		if err := telegram.CheckChatID(id); (err == nil) != ok {
			t.Errorf("CheckChatID(%q) = %v, want ok %v", id, err, ok)
		}
		if _, err := telegram.New(telegram.Options{Token: notifier.InlineSecret{Value: kpay.NewSecret(notifiertest.BotToken)}, ChatID: id}); (err == nil) != ok {
			t.Errorf("New with chat %q: %v, want ok %v", id, err, ok)
		}
	}
	if err := telegram.CheckChatID("https://t.me/kpayalerts"); err == nil || !strings.HasPrefix(err.Error(), `did you mean "@kpayalerts"? `) {
		t.Errorf("a t.me link: got %v, want a suggestion", err)
	}
}

func TestReceiver_Send_kpayDown(t *testing.T) {
	_, _, m := send(t, notifiertest.Down())
	notifiertest.AssertDown(t, []string{m.Text})
}
