package outbox_test

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/notifier/receivers"
	"kpay-rotator/notifier/webhook"
)

// burst records n key_failing events, slots slot-0000 onwards, each
// routed to receiver, in one transaction as a KPay outage would.
func (r *rig) burst(receiver string, n int) []event.Event {
	r.t.Helper()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = ev(event.KeyFailing, fmt.Sprintf("slot-%04d", i))
		r.routes[evs[i].Slot] = []string{receiver}
	}
	r.record(evs...)
	return evs
}

// chatServer answers as each platform does on success: Telegram's and
// Discord's JSON, "ok" for the rest.
func chatServer(t *testing.T) *notifiertest.Server {
	return notifiertest.NewServerFunc(t, func(req notifiertest.Request) notifiertest.Reply {
		switch {
		case strings.HasPrefix(req.Path, "/bot"):
			return notifiertest.Reply{Header: map[string]string{"Content-Type": "application/json"}, Body: `{"ok":true,"result":{"message_id":1}}`}
		case req.Query.Get("wait") == "true":
			return notifiertest.Reply{Header: map[string]string{"Content-Type": "application/json"}, Body: `{"id":"1"}`}
		}
		return notifiertest.Reply{Body: "ok"}
	})
}

// TestOutbox_BurstReachesAWebhookInParts: 1,000 events queued at once
// reach a signed webhook as several requests, each within the body limit
// and with its own webhook-id (kept when one is retried), carrying every
// event exactly once and never an omitted_events count.
func TestOutbox_BurstReachesAWebhookInParts(t *testing.T) {
	var mu sync.Mutex
	var n int
	var failed string // the webhook-id refused once: the second request's
	srv := notifiertest.NewServerFunc(t, func(req notifiertest.Request) notifiertest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 2 {
			failed = req.Header.Get("webhook-id")
			return notifiertest.Reply{Status: 503}
		}
		return notifiertest.Reply{Status: 204}
	})
	d := srv.Destination()
	hook, err := webhook.New(webhook.Options{URL: d.URL, SigningSecret: d.SigningSecret, Timeout: d.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	every, burst := hook.Rate()
	r := newRig(t, recv("hooks", func(x *outbox.Receiver) { x.Sender, x.Every, x.Burst, x.MinSeverity = hook, every, burst, event.Info }))
	evs := r.burst("hooks", 1000)
	for s := time.Duration(0); s < 5*time.Minute && r.pending()["hooks"] > 0; s += tick {
		r.flushAt(10*time.Second + s)
	}
	if p := r.pending()["hooks"]; p != 0 {
		t.Fatalf("%d deliveries still queued after five minutes", p)
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{} // event id → times delivered
	bodyOf := map[string][]byte{}
	var parts int
	retried := false
	for _, req := range srv.Requests() {
		id := req.Header.Get("webhook-id")
		if len(req.Body) > webhook.DefaultMaxBody {
			t.Errorf("%s: body of %d bytes, over the %d cap", id, len(req.Body), webhook.DefaultMaxBody)
		}
		if bytes.Contains(req.Body, []byte("omitted_events")) {
			t.Errorf("%s: the body counts omitted events", id)
		}
		if prev, ok := bodyOf[id]; ok {
			if id != failed || !bytes.Equal(prev, req.Body) {
				t.Errorf("webhook-id %s sent twice (failed one: %q), want a retry of the refused one only, same bytes", id, failed)
			}
			retried = true
		} else {
			bodyOf[id] = req.Body
			if id == failed {
				continue // refused; counted when retried
			}
		}
		parts++
		var p webhook.Payload
		req.DecodeJSON(t, &p)
		for _, e := range p.Data.Events {
			seen[e.ID]++
		}
	}
	if parts < 2 {
		t.Fatalf("1,000 events came in %d request(s), want several under the cap", parts)
	}
	// Split once, when first sent: the parts are one alert's, numbered,
	// not regrouped and split anew on later passes.
	var ids []string
	for id := range bodyOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	base := ids[0][:strings.LastIndex(ids[0], "_")]
	for i := range ids {
		if want := fmt.Sprintf("%s_%d", base, i+1); !slices.Contains(ids, want) {
			t.Errorf("webhook-ids %v, want %s_1 to %s_%d", ids, base, base, len(ids))
			break
		}
	}
	if failed == "" || !retried {
		t.Errorf("the refused part (%q) was not retried under its id", failed)
	}
	if len(seen) != len(evs) {
		t.Errorf("the webhook got %d distinct events, want %d", len(seen), len(evs))
	}
	for _, e := range evs {
		if seen[e.ID] != 1 {
			t.Errorf("event %s (%s) delivered %d times, want once", e.ID, e.Slot, seen[e.ID])
			break
		}
	}
}

var andMore = regexp.MustCompile(`and (\d+) more`)

// slotName allows the backslash Markdown platforms escape a hyphen with.
var slotName = regexp.MustCompile(`slot\\?-\d{4}`)

// TestOutbox_BurstReachesChatAsOneMessage: the same burst reaches each
// chat receiver as one message that lists what fits and says "and N
// more" for the rest.
func TestOutbox_BurstReachesChatAsOneMessage(t *testing.T) {
	srv := chatServer(t)
	url := notifier.InlineSecret{Value: kpaySecret(srv.URL + notifiertest.HookPath)}
	for _, spec := range []receivers.Spec{
		{Type: "slack", URL: url},
		{Type: "discord", URL: url},
		{Type: "teams", URL: notifier.InlineSecret{Value: kpaySecret(srv.URL + "/powerautomate/automations/direct/workflows/x")}},
		{Type: "googlechat", URL: url},
		{Type: "mattermost", URL: url},
		{Type: "telegram", Token: notifier.InlineSecret{Value: kpaySecret(notifiertest.BotToken)}, ChatID: "-1001234567890", APIBase: srv.URL},
	} {
		t.Run(spec.Type, func(t *testing.T) {
			spec.Name = spec.Type
			rcv, err := receivers.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := rcv.(notifier.Splitter); ok {
				t.Fatalf("%s splits bursts; a chat receiver must summarise them", spec.Type)
			}
			every, burst := rcv.Rate()
			r := newRig(t, recv(spec.Name, func(x *outbox.Receiver) { x.Sender, x.Every, x.Burst = rcv, every, burst }))
			before := len(srv.Requests())
			r.burst(spec.Name, 1000)
			r.flushAt(10 * time.Second)
			reqs := srv.Requests()[before:]
			if len(reqs) != 1 || r.pending()[spec.Name] != 0 {
				t.Fatalf("got %d requests, %d still queued; want the burst as one message", len(reqs), r.pending()[spec.Name])
			}
			text := strings.Join(notifiertest.Texts(t, reqs[0].Body), "\n")
			m := andMore.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no \"and N more\" in the message:\n%.2000s", text)
			}
			more, _ := strconv.Atoi(m[1])
			listed := map[string]bool{}
			for _, s := range slotName.FindAllString(text, -1) {
				listed[s] = true
			}
			if len(listed) == 0 || len(listed)+more != 1000 {
				t.Errorf("the message lists %d slots and says %d more, want 1,000 in all:\n%.600s", len(listed), more, text)
			}
		})
	}
}
