package notifiertest

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

// At is the time of every sample event, and Clock returns it: the
// receivers' Now in tests, so Retry-After dates and webhook timestamps are
// exact.
var At = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// Clock returns At.
func Clock() time.Time { return At }

// Event is a fully populated sample event of kind k for slot.
func Event(k event.Kind, slot string) event.Event {
	e := event.New(k, At, slot, fmt.Sprintf("%s: KPay rejects pair kpay_live_…9f2c (HTTP 401)", slot))
	e.ID = "ev-" + slot + "-" + string(k)
	e.Seq = 7
	e.Environment = "live"
	e.Pair = "kpay_live_…9f2c"
	e.Fingerprint = "fp-9f2c"
	e.SecretID = "prod/" + slot + "/kpay"
	e.Action = "generate a new pair in the KPay dashboard, then run: kpay-rotator stage " + slot
	e.Condition = "health"
	e.Fields = map[string]string{"age": "91d", "cutover_gap": "3m", "outcome": "rejected"}
	return e
}

// Alert wraps events into an alert with a fixed id.
func Alert(events ...event.Event) notifier.Alert {
	return notifier.Alert{ID: "alert-0001", Events: events}
}

// Failing is the one-event alert most tests send.
func Failing() notifier.Alert { return Alert(Event(event.KeyFailing, "payments-live")) }

// Group is an alert of n events of kind k, slots "slot-00" onwards.
func Group(n int, k event.Kind) notifier.Alert {
	var es []event.Event
	for i := 0; i < n; i++ {
		es = append(es, Event(k, fmt.Sprintf("slot-%02d", i)))
	}
	return Alert(es...)
}

// HugeText is 100 KB of text with multi-byte runes and markup characters
// throughout, so a cut in the wrong place shows as invalid UTF-8 or a
// broken escape.
var HugeText = strings.Repeat("ключ <&> “quoted” *x* 🔑 ", 4000)

// Huge is one event whose every free-text field is HugeText.
func Huge() notifier.Alert {
	e := Event(event.KeyFailing, "payments-live")
	e.Message = HugeText
	e.Action = HugeText
	e.Pair = hugePrefix(3000)
	e.SecretID = hugePrefix(5000)
	e.Fields["age"] = hugePrefix(2000)
	return Alert(e)
}

// hugePrefix is about n bytes of HugeText, cut on a rune boundary: the
// receivers are tested on cutting valid text, not on repairing invalid
// input.
func hugePrefix(n int) string {
	for !utf8.RuneStart(HugeText[n]) {
		n--
	}
	return HugeText[:n]
}

// HugeGroup is Group(40, key_failing) with HugeText messages and actions.
func HugeGroup() notifier.Alert {
	a := Group(40, event.KeyFailing)
	for i := range a.Events {
		a.Events[i].Message = HugeText
		a.Events[i].Action = HugeText
	}
	return a
}

// Hostile is untrusted text trying every markup of every platform: Slack
// and Mattermost mentions, Discord mentions, Google Chat mentions, HTML
// (Telegram, cards), Markdown emphasis and links (Discord, Mattermost,
// Adaptive Cards), and a newline that would start a list.
const Hostile = "<!channel> <!here> @everyone @here @channel @all <@123456789> <@&987> <users/all> " +
	"<script>alert(1)</script> <b>bold</b> <a href=\"http://evil\">x</a> &amp; " +
	"**bold** __u__ _it_ ~~s~~ `tick` [click](http://evil) ](http://evil) \n- list\n# head"

// HostileAlert is one event carrying Hostile in its message, action,
// fields and identifiers.
func HostileAlert() notifier.Alert {
	e := Event(event.KeyFailing, "payments-live")
	e.Message = Hostile
	e.Action = Hostile
	e.Pair = Hostile
	e.SecretID = Hostile
	e.Fields["age"] = Hostile
	return Alert(e)
}

// Mentions are the strings that, left intact in rendered text, would
// notify people on some platform.
var Mentions = []string{"<!channel>", "<!here>", "@everyone", "@here", "@channel", "@all", "<@123456789>", "<@&987>", "<users/all>"}

// DegradedAction is the next step of every event of Down.
const DegradedAction = "check KPay's status and this host's network; nothing to change on the key yet"

// Down is a KPay outage as a burst: three slots degraded at once.
func Down() notifier.Alert {
	a := Group(3, event.KeyDegraded)
	for i := range a.Events {
		a.Events[i].Action = DegradedAction
	}
	return a
}

// AssertDown fails unless texts, every string of a message for Down, read
// as one outage: "KPay appears to be down", each slot listed, and the
// one next step said once, not once per slot.
func AssertDown(t testing.TB, texts []string) {
	t.Helper()
	AssertPresent(t, texts, "KPay appears to be down: 3 keys degraded", "Probes of 3 slots keep failing", "slot-00", "slot-01", "slot-02")
	n := 0
	for _, s := range texts {
		n += strings.Count(s, "nothing to change on the key yet")
	}
	if n != 1 {
		t.Errorf("the next step is said %d times, want once", n)
	}
}

// NotifierFailing is an alert about a notifier, not a slot: it has no
// slot, only the notifier's name in its fields.
func NotifierFailing() notifier.Alert {
	e := event.New(event.NotifierFailing, At, "", "alerts to teams-ops keep failing (3 attempts in a row since 2026-01-05 09:58:00 UTC): HTTP 503")
	e.Fields = map[string]string{"receiver": "teams-ops"}
	e.Action = "check the webhook or token of notifier teams-ops, then: kpay-rotator notify-test teams-ops; queued alerts are kept and retried"
	return Alert(e)
}
