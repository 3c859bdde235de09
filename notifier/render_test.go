package notifier_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

var at = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func ev(k event.Kind, slot string) event.Event {
	e := event.New(k, at, slot, slot+": something happened")
	e.Environment = "live"
	e.Pair = "kpay_live_…9f2c"
	e.SecretID = "prod/" + slot
	e.Action = "kpay-rotator stage " + slot
	e.Fields = map[string]string{"age": "91d"}
	return e
}

func TestTitle(t *testing.T) {
	failing := ev(event.KeyFailing, "payments-live")
	for _, tt := range []struct {
		name string
		a    notifier.Alert
		want string
	}{
		{"one event", notifier.Alert{Events: []event.Event{failing}}, "KPay key failing: payments-live"},
		{"group of one kind", notifier.Alert{Events: []event.Event{failing, ev(event.KeyFailing, "b"), ev(event.KeyFailing, "c")}}, "3 KPay keys failing"},
		{"mixed group", notifier.Alert{Events: []event.Event{failing, ev(event.KeyOverdue, "b")}}, "2 KPay alerts"},
		{"resolved", notifier.Alert{Events: []event.Event{ev(event.KeyRecovered, "a")}}, "Resolved: KPay key working again: a"},
		{"resolved group", notifier.Alert{Events: []event.Event{ev(event.KeyRecovered, "a"), ev(event.KeyRecovered, "b")}}, "Resolved: 2 KPay keys working again"},
		{"reminder", notifier.Alert{Events: []event.Event{failing}, Repeat: true}, "Reminder: KPay key failing: payments-live"},
		{"test", notifier.Alert{Events: []event.Event{failing}, Test: true, Repeat: true}, "[TEST] Reminder: KPay key failing: payments-live"},
		{"no slot", notifier.Alert{Events: []event.Event{ev(event.RotationStalled, "")}}, "KPay rotation stalled"},
		{"notifier failing", notifier.Alert{Events: []event.Event{receiverEvent(event.NotifierFailing, "slack-ops")}}, "Alerts to notifier slack-ops keep failing"},
		{"notifier failing, no name", notifier.Alert{Events: []event.Event{receiverEvent(event.NotifierFailing, "")}}, "Alerts to a notifier keep failing"},
		{"notifier recovered", notifier.Alert{Events: []event.Event{receiverEvent(event.NotifierRecovered, "slack-ops")}}, "Resolved: Alerts reach notifier slack-ops again"},
		{"notification expired", notifier.Alert{Events: []event.Event{receiverEvent(event.NotificationExpired, "teams")}}, "Alert to notifier teams given up"},
		{"notify-test", notifier.Alert{Events: []event.Event{receiverEvent(event.NotificationTest, "")}, Test: true}, "[TEST] kpay-rotator test message"},
		{"KPay down", notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyDegraded, "b"), ev(event.KeyDegraded, "c")}}, "KPay appears to be down: 3 keys degraded"},
		{"KPay down, a slot twice", notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyDegraded, "b"), ev(event.KeyDegraded, "a")}}, "KPay appears to be down: 2 keys degraded"},
		{"KPay down reminder", notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyDegraded, "b")}, Repeat: true}, "Reminder: KPay appears to be down: 2 keys degraded"},
		{"one slot degraded twice is not KPay down", notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyDegraded, "a")}}, "2 KPay keys degraded"},
		{"degraded with failing is not KPay down", notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyFailing, "b")}}, "2 KPay alerts"},
		{"unknown kind", notifier.Alert{Events: []event.Event{ev("disk_full", "a")}}, "KPay disk full: a"},
		{"every kind has wording", notifier.Alert{Events: []event.Event{ev(event.OldKeyStillValid, "a")}}, "Old KPay key still valid: a"},
		{"unwatched", notifier.Alert{Events: []event.Event{ev(event.OldKeyUnwatched, "a"), ev(event.OldKeyUnwatched, "b")}}, "2 old KPay keys no longer watched"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := notifier.Title(tt.a); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func receiverEvent(k event.Kind, receiver string) event.Event {
	e := event.New(k, at, "", "alerts to "+receiver+" keep failing")
	if receiver != "" {
		e.Fields = map[string]string{"receiver": receiver}
	}
	return e
}

// Every kind has wording of its own, with a subject and without one.
func TestTitle_everyKind(t *testing.T) {
	for _, k := range event.Kinds() {
		for _, slot := range []string{"payments-live", ""} {
			got := notifier.Title(notifier.Alert{Events: []event.Event{ev(k, slot)}})
			if strings.Contains(got, "(no slot)") || strings.Contains(got, string(k)) {
				t.Errorf("%s, slot %q: got %q, want wording of its own", k, slot, got)
			}
			if slot != "" && !strings.Contains(got, slot) {
				t.Errorf("%s: got %q, want the slot named", k, got)
			}
			if strings.HasSuffix(got, ": ") || strings.Contains(got, "%") {
				t.Errorf("%s, slot %q: got %q", k, slot, got)
			}
		}
		if p := notifier.Phrase(k); p == "" || strings.Contains(p, "%") {
			t.Errorf("%s: got phrase %q", k, p)
		}
	}
}

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 events"}, {1, "1 event"}, {2, "2 events"}, {40, "40 events"}} {
		if got := notifier.Count(tt.n, "event", "events"); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestLead(t *testing.T) {
	down := notifier.Alert{Events: []event.Event{ev(event.KeyDegraded, "a"), ev(event.KeyDegraded, "b")}}
	if got := notifier.Lead(down); !strings.HasPrefix(got, "Probes of 2 slots keep failing") {
		t.Errorf("got %q", got)
	}
	if got := notifier.Lead(notifier.Alert{Events: []event.Event{ev(event.KeyFailing, "a"), ev(event.KeyFailing, "b")}}); got != "" {
		t.Errorf("failing group: got %q, want no lead", got)
	}
}

func TestNote(t *testing.T) {
	if got := notifier.Note(notifier.Alert{Events: []event.Event{ev(event.KeyFailing, "a")}}); got != "" {
		t.Errorf("plain alert: got %q", got)
	}
	got := notifier.Note(notifier.Alert{Events: []event.Event{ev(event.KeyRecovered, "a")}, Test: true, Repeat: true})
	for _, want := range []string{"Test message", "Reminder", "Resolved"} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q, want %q in it", got, want)
		}
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestFacts(t *testing.T) {
	e := ev(event.KeyOverdue, "payments-live")
	e.Fields["cutover_gap"] = "3m"
	e.Fields["outcome"] = "rejected" // not shown: only the facts a reader acts on
	want := []notifier.Fact{
		{"Severity", "critical", false}, {"Slot", "payments-live", true}, {"Environment", "live", false},
		{"Pair", "kpay_live_…9f2c", true}, {"Age", "91d", false}, {"Cutover gap", "3m", false},
		{"Secret", "prod/payments-live", true}, {"At", "2026-01-05 10:00 UTC", false},
	}
	if got := notifier.Facts(e); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	bare := event.Event{Kind: event.KeyFailing, Severity: event.Critical}
	if got := notifier.Facts(bare); len(got) != 1 {
		t.Errorf("bare event: got %+v, want only the severity", got)
	}
}

func TestActions(t *testing.T) {
	stage := func(slot string) event.Event {
		e := ev(event.KeyFailing, slot)
		e.Action = "generate a new pair in the KPay dashboard, then run: kpay-rotator stage " + slot
		return e
	}
	first := func(slot string) event.Event {
		e := ev(event.KeyOverdue, slot)
		e.Action = "run kpay-rotator stage " + slot + " first; when it asks, paste it"
		return e
	}
	status := func(slot string) event.Event {
		e := ev(event.KeyDegraded, slot)
		e.Action = "check KPay's status"
		return e
	}
	live := ev(event.KeyFailing, "live")
	live.Action = "check kpay_live_…9f2c and live-2, then run: kpay-rotator stage live"
	for _, tt := range []struct {
		name   string
		events []event.Event
		want   []string
	}{
		{"one event", []event.Event{stage("live")}, []string{"generate a new pair in the KPay dashboard, then run: kpay-rotator stage live"}},
		{"a command per slot, the words once", []event.Event{stage("shop.live"), stage("a_b"), stage("x--y")}, []string{
			"generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage shop.live", "kpay-rotator stage a_b", "kpay-rotator stage x--y"}},
		{"a step not ending in its command stays whole", []event.Event{first("a"), first("b")}, []string{
			"run kpay-rotator stage a first; when it asks, paste it", "run kpay-rotator stage b first; when it asks, paste it"}},
		{"a step without a slot once", []event.Event{status("a"), status("b"), status("c")}, []string{"check KPay's status"}},
		{"the slot as a word only", []event.Event{live, stage("test")}, []string{
			"check kpay_live_…9f2c and live-2, then run: kpay-rotator stage live",
			"generate a new pair in the KPay dashboard, then run: kpay-rotator stage test"}},
		{"mixed, in order", []event.Event{stage("s1"), status("s2"), stage("s3")}, []string{
			"generate a new pair in the KPay dashboard, then run:", "kpay-rotator stage s1", "kpay-rotator stage s3", "check KPay's status"}},
		// "a" is also a word of the step: it cannot be cut safely.
		{"a slot named like a word of the step", []event.Event{stage("a"), stage("b")}, []string{
			"generate a new pair in the KPay dashboard, then run: kpay-rotator stage a",
			"generate a new pair in the KPay dashboard, then run: kpay-rotator stage b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := notifier.Actions(notifier.Alert{Events: tt.events})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			for _, l := range got {
				if strings.Contains(l, "<slot>") {
					t.Errorf("placeholder in %q", l)
				}
			}
		})
	}
}

func TestSummary(t *testing.T) {
	noEnv := ev(event.KeyFailing, "a")
	noEnv.Environment = ""
	for _, tt := range []struct {
		e    event.Event
		want string
	}{
		{ev(event.KeyRecovered, "payments-live"), "payments-live (live): key working again (resolved) · kpay_live_…9f2c · age 91d"},
		{noEnv, "a: key failing · kpay_live_…9f2c · age 91d"},
		{receiverEvent(event.NotifierFailing, "slack-ops"), "slack-ops: alerts keep failing"},
		{receiverEvent(event.NotificationExpired, ""), "alert given up"},
	} {
		if got := notifier.Summary(tt.e); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestColor(t *testing.T) {
	if notifier.HexColor(event.Critical) != "#D92D20" || notifier.Color(event.Info) != notifier.ColorInfo {
		t.Error("unexpected palette")
	}
}

func TestMessage_DropsTheSlotLead(t *testing.T) {
	e := event.New(event.KeyFailing, time.Now(), "payments-live", "payments-live: KPay rejects the pair")
	if got := notifier.Message(e); got != "KPay rejects the pair" {
		t.Errorf("Message = %q", got)
	}
	e.Message = "another-slot: x"
	if got := notifier.Message(e); got != "another-slot: x" {
		t.Errorf("Message of another slot's lead = %q", got)
	}
}
