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
		{"no slot", notifier.Alert{Events: []event.Event{ev(event.RotationStalled, "")}}, "KPay rotation stalled: (no slot)"},
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
	one := notifier.Alert{Events: []event.Event{ev(event.KeyFailing, "live")}}
	if got := notifier.Actions(one); !reflect.DeepEqual(got, []string{"kpay-rotator stage live"}) {
		t.Errorf("single: got %q", got)
	}
	a, b := ev(event.KeyFailing, "live"), ev(event.KeyFailing, "test")
	// "live" inside kpay_live_ or a longer name is not the slot.
	a.Action = "check kpay_live_…9f2c and live-2, then run: kpay-rotator stage live"
	b.Action = "check kpay_live_…9f2c and live-2, then run: kpay-rotator stage test"
	c := ev(event.KeyDegraded, "x")
	c.Action = "check KPay's status"
	got := notifier.Actions(notifier.Alert{Events: []event.Event{a, b, c}})
	want := []string{"check kpay_live_…9f2c and live-2, then run: kpay-rotator stage <slot>", "check KPay's status"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestSummary(t *testing.T) {
	e := ev(event.KeyRecovered, "payments-live")
	if got, want := notifier.Summary(e), "payments-live (live): key working again (resolved) · kpay_live_…9f2c · age 91d"; got != want {
		t.Errorf("got %q, want %q", got, want)
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
