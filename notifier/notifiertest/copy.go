package notifiertest

import (
	"slices"
	"testing"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

// Identifiers full of the characters chat markup treats as syntax
// (emphasis, escapes, mentions, entities), all valid as slot names and
// Secrets Manager secret ids: what a reader copies from an alert must
// come back byte for byte on every platform.
const (
	CopySlot   = "shop.live_v2__x"
	CopySecret = "prod/shop_live+v2=x@here/kpay_v2__x-1.0"
)

// CopySlots are the slots of CopyGroup.
var CopySlots = []string{CopySlot, "a_b.c-d_", "x__y.z--w"}

// copyEvent is a failing event for slot whose action holds commands
// quoting the slot and CopySecret.
func copyEvent(slot string) event.Event {
	e := Event(event.KeyFailing, slot)
	e.SecretID = CopySecret
	e.Pair = "kpay_live_…9f_2c"
	e.Action = "generate a new pair in the KPay dashboard, then run: kpay-rotator stage " + slot
	return e
}

// CopyAlert is one event whose slot, pair, secret id and command are
// full of markup characters, and whose command also quotes the secret id
// with '&', '*' and '='.
func CopyAlert() notifier.Alert {
	e := copyEvent(CopySlot)
	e.Action = "aws secretsmanager describe-secret --secret-id " + CopySecret + " && kpay-rotator stage " + CopySlot + " --note *a*_b_=c"
	return Alert(e)
}

// CopyGroup is a burst of CopySlots failing, each with its own command.
func CopyGroup() notifier.Alert {
	var es []event.Event
	for _, s := range CopySlots {
		es = append(es, copyEvent(s))
	}
	return Alert(es...)
}

// BacktickAlert is CopyAlert with backticks in its secret id and command:
// not valid in real identifiers, but where a platform can show them in
// code it must, without the code ending early.
func BacktickAlert() notifier.Alert {
	a := CopyAlert()
	a.Events[0].SecretID = "odd`id``x"
	a.Events[0].Action = "echo `date` ``x`` " + CopySlot + "`"
	return a
}

// Copyable is what a reader must be able to copy from a's message, each
// as one code span, code line or monospace run: a single event's slot,
// pair and secret id, a group's slots, and every line of the next step
// ("kpay-rotator stage shop.live_v2__x" for each slot of a group).
func Copyable(a notifier.Alert) []string {
	var out []string
	if len(a.Events) == 1 {
		for _, f := range notifier.Facts(a.Events[0]) {
			if f.Code {
				out = append(out, f.Value)
			}
		}
	} else {
		for _, e := range a.Events {
			out = append(out, notifier.Subject(e))
		}
	}
	for _, act := range notifier.Actions(a) {
		if !slices.Contains(out, act) {
			out = append(out, act)
		}
	}
	return out
}

// AssertCopies fails unless each of want is, byte for byte, one of code:
// the code spans, code-block lines or monospace runs of a message as its
// platform shows them.
func AssertCopies(t testing.TB, code []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(code, w) {
			t.Errorf("no code in the message reads %q; the code reads:\n%q", w, code)
		}
	}
}
