package googlechat_test

import (
	"context"
	"html"
	"strings"
	"testing"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/googlechat"
	"kpay-rotator/notifier/notifiertest"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return googlechat.New(googlechat.Options{URL: d.URL, Timeout: d.Timeout, Now: d.Now})
}

const (
	spacePath = "/v1/spaces/AAAAspace01/messages?key=AIzaPublicKey0123456789&token=SpaceToken_abcdefghijklmnop%3D"
	created   = `{"name":"spaces/AAAAspace01/messages/BBBB.CCCC","thread":{"name":"spaces/AAAAspace01/threads/DDDD"}}`
)

func send(t *testing.T, a notifier.Alert) (notifier.Result, notifiertest.Request, googlechat.Message) {
	t.Helper()
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200, Body: created})
	s, err := factory(srv.DestinationAt(spacePath))
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), a)
	if !res.Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	req := srv.Last(t)
	var m googlechat.Message
	req.DecodeJSON(t, &m)
	return res, req, m
}

func TestReceiver_Send_payload(t *testing.T) {
	res, req, m := send(t, notifiertest.Failing())
	if req.Method != "POST" || req.Path != "/v1/spaces/AAAAspace01/messages" {
		t.Errorf("got %s %s", req.Method, req.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("got Content-Type %q", ct)
	}
	for k, want := range map[string]string{
		"key": "AIzaPublicKey0123456789", "token": "SpaceToken_abcdefghijklmnop=",
		"messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
	} {
		if got := req.Query.Get(k); got != want {
			t.Errorf("got query %s=%q, want %q", k, got, want)
		}
	}
	if !strings.Contains(res.Detail, "message spaces/AAAAspace01/messages/BBBB.CCCC") {
		t.Errorf("got detail %q, want the created message's name", res.Detail)
	}
	if m.Thread.ThreadKey != "kpay-rotator-payments-live" {
		t.Errorf("got threadKey %q", m.Thread.ThreadKey)
	}
	if m.Text != "KPay key failing: payments-live" {
		t.Errorf("got text %q", m.Text)
	}
	if len(m.CardsV2) != 1 || m.CardsV2[0].CardID == "" {
		t.Fatalf("got cardsV2 %+v", m.CardsV2)
	}
	card := m.CardsV2[0].Card
	if card.Header.Title != "KPay key failing: payments-live" || !strings.HasPrefix(card.Header.Subtitle, "critical · live") {
		t.Errorf("got header %+v", card.Header)
	}
	labels := map[string]string{}
	var paragraphs []string
	for _, s := range card.Sections {
		for _, w := range s.Widgets {
			if w.DecoratedText != nil {
				labels[w.DecoratedText.TopLabel] = w.DecoratedText.Text
			}
			if w.TextParagraph != nil {
				paragraphs = append(paragraphs, w.TextParagraph.Text)
			}
		}
	}
	for k, want := range map[string]string{"Slot": "payments-live", "Pair": "kpay_live_…9f2c", "Age": "91d", "Cutover gap": "3m", "Secret": "prod/payments-live/kpay"} {
		if labels[k] != want {
			t.Errorf("got %s = %q, want %q", k, labels[k], want)
		}
	}
	if !strings.Contains(labels["Severity"], `<font color="#D92D20">`) {
		t.Errorf("severity is not coloured: %q", labels["Severity"])
	}
	notifiertest.AssertPresent(t, paragraphs, "kpay-rotator stage payments-live")
}

func TestThreadKey(t *testing.T) {
	a := notifiertest.Alert(notifiertest.Event(event.KeyFailing, "payments-live"))
	b := notifiertest.Alert(notifiertest.Event(event.KeyRecovered, "payments-live"))
	if googlechat.ThreadKey(a) != googlechat.ThreadKey(b) {
		t.Error("failing and recovered of one slot go to different threads")
	}
	if got := googlechat.ThreadKey(notifiertest.Group(3, event.KeyFailing)); got != "kpay-rotator-group" {
		t.Errorf("got %q for a group of slots", got)
	}
	odd := notifiertest.Alert(notifiertest.Event(event.KeyFailing, "a b/c?"))
	if got := googlechat.ThreadKey(odd); got != "kpay-rotator-a-b-c-" {
		t.Errorf("got %q", got)
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
			notifiertest.CheckBody(t, req.Body, 32000)
		})
	}
}

// cardText is every DecoratedText and every line of every TextParagraph
// of the card as Chat shows it: card text is HTML, so entities are
// decoded and <br> ends a line; nothing else changes a byte.
func cardText(m googlechat.Message) []string {
	var out []string
	for _, s := range m.CardsV2[0].Card.Sections {
		for _, w := range s.Widgets {
			if w.DecoratedText != nil {
				out = append(out, html.UnescapeString(w.DecoratedText.Text))
			}
			if w.TextParagraph != nil {
				for _, l := range strings.Split(w.TextParagraph.Text, "<br>") {
					out = append(out, html.UnescapeString(l))
				}
			}
		}
	}
	return out
}

func TestReceiver_Send_copiesCodeByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.CopyAlert(),
		"backticks": notifiertest.BacktickAlert(),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, m := send(t, a)
			notifiertest.AssertCopies(t, cardText(m), notifiertest.Copyable(a)...)
		})
	}
	// A group lists its slots as text, with each slot's command as a
	// line of its own.
	_, _, m := send(t, notifiertest.CopyGroup())
	notifiertest.AssertCopies(t, cardText(m), notifier.Actions(notifiertest.CopyGroup())...)
	for _, s := range notifiertest.CopySlots {
		notifiertest.AssertCopies(t, cardText(m), "kpay-rotator stage "+s)
	}
}

func TestReceiver_Send_escapesUntrustedText(t *testing.T) {
	_, req, m := send(t, notifiertest.HostileAlert())
	texts := notifiertest.Texts(t, req.Body)
	notifiertest.AssertAbsent(t, texts, "<users/all>", "<script>", "<a href", "<b>bold</b>", "<!channel>", "\n- list")
	notifiertest.AssertPresent(t, texts, "&lt;users/all&gt;", "&lt;script&gt;", "&amp;amp;")
	// The text line has no escape mechanism: markup becomes look-alikes.
	notifiertest.AssertAbsent(t, []string{m.Text, m.CardsV2[0].Card.Header.Title}, "<", ">", "*", "`")
}

func TestReceiver_Send_classification(t *testing.T) {
	notifiertest.Classify(t, factory, notifiertest.Failing(), notifiertest.StandardCases(notifiertest.Reply{Status: 200, Body: created}))
}

func TestReceiver_Send_errorDetail(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 400, Body: `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`})
	s, _ := factory(srv.DestinationAt(spacePath))
	if got, want := s.Send(context.Background(), notifiertest.Failing()).Detail, "HTTP 400 Bad Request: INVALID_ARGUMENT: Invalid JSON payload"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestNew_requiresURL(t *testing.T) {
	if _, err := googlechat.New(googlechat.Options{}); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Errorf("got %v, want a missing-URL error", err)
	}
}

func TestReceiver_Send_kpayDown(t *testing.T) {
	_, req, m := send(t, notifiertest.Down())
	notifiertest.AssertDown(t, notifiertest.Texts(t, req.Body))
	if got := m.CardsV2[0].Card.Header.Subtitle; !strings.Contains(got, "3 events") {
		t.Errorf("got subtitle %q", got)
	}
}
