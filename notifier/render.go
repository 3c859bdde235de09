package notifier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"kpay-rotator/event"
)

// This file holds what every receiver says; the receivers only decide how
// their platform shows it and escape it. Everything returned here is
// plain, unescaped text, and everything taken from an event is untrusted:
// slot names come from configuration, but messages quote provider errors.

// wording names a kind for one slot ("KPay key failing: %s") and for a
// group ("%d KPay keys failing").
type wording struct{ one, many string }

var wordings = map[event.Kind]wording{
	event.KeyDue:                  {"KPay key due for rotation: %s", "%d KPay keys due for rotation"},
	event.KeyOverdue:              {"KPay key overdue: %s", "%d KPay keys overdue"},
	event.KeyFailing:              {"KPay key failing: %s", "%d KPay keys failing"},
	event.KeyDegraded:             {"KPay key degraded: %s", "%d KPay keys degraded"},
	event.KeyRecovered:            {"KPay key working again: %s", "%d KPay keys working again"},
	event.RotationRejected:        {"KPay rotation rejected: %s", "%d KPay rotations rejected"},
	event.KeyRotated:              {"KPay key rotated: %s", "%d KPay keys rotated"},
	event.OldKeyRevoked:           {"Old KPay key revoked: %s", "%d old KPay keys revoked"},
	event.OldKeyStillValid:        {"Old KPay key still valid: %s", "%d old KPay keys still valid"},
	event.OldKeyUnwatched:         {"Old KPay key no longer watched: %s", "%d old KPay keys no longer watched"},
	event.SecretChangedExternally: {"KPay secret changed outside kpay-rotator: %s", "%d KPay secrets changed outside kpay-rotator"},
	event.RotationStalled:         {"KPay rotation stalled: %s", "%d KPay rotations stalled"},
	event.SecretUnreadable:        {"KPay secret unreadable: %s", "%d KPay secrets unreadable"},
	event.SecretReadable:          {"KPay secret readable again: %s", "%d KPay secrets readable again"},
	event.SecretMissing:           {"KPay secret missing: %s", "%d KPay secrets missing"},
	event.UnplannedRevocation:     {"KPay key revoked outside a rotation: %s", "%d KPay keys revoked outside a rotation"},
	event.RotationCancelled:       {"KPay rotation cancelled: %s", "%d KPay rotations cancelled"},
}

func wordingOf(k event.Kind) wording {
	if w, ok := wordings[k]; ok {
		return w
	}
	return wording{"KPay " + strings.ReplaceAll(string(k), "_", " ") + ": %s", "%d KPay alerts: " + strings.ReplaceAll(string(k), "_", " ")}
}

// Phrase is a kind in a few words ("key failing"), for per-slot lines.
func Phrase(k event.Kind) string {
	s := strings.TrimSuffix(wordingOf(k).one, ": %s")
	s = strings.TrimPrefix(s, "KPay ")
	return strings.Replace(s, " KPay ", " ", 1)
}

// Grouped reports whether a carries more than one event.
func Grouped(a Alert) bool { return len(a.Events) > 1 }

// Title is the alert's headline: "KPay key failing: payments-live" for
// one event, "12 KPay keys failing" for a group of one kind, "12 KPay
// alerts" for a mix; prefixed "[TEST] ", "Reminder: " and "Resolved: " as
// they apply, so the marker survives every platform's notification
// preview, which shows only the first line.
func Title(a Alert) string {
	var head string
	switch {
	case len(a.Events) == 0:
		head = "KPay alert"
	case len(a.Events) == 1:
		e := a.Events[0]
		slot := e.Slot
		if slot == "" {
			slot = "(no slot)"
		}
		head = fmt.Sprintf(wordingOf(e.Kind).one, slot)
	default:
		kind := a.Events[0].Kind
		for _, e := range a.Events[1:] {
			if e.Kind != kind {
				kind = ""
				break
			}
		}
		if kind != "" {
			head = fmt.Sprintf(wordingOf(kind).many, len(a.Events))
		} else {
			head = fmt.Sprintf("%d KPay alerts", len(a.Events))
		}
	}
	if len(a.Events) > 0 && a.Severity() == event.Resolved {
		head = "Resolved: " + head
	}
	if a.Repeat {
		head = "Reminder: " + head
	}
	if a.Test {
		head = "[TEST] " + head
	}
	return OneLine(head)
}

// Note is the small print under an alert: what kind of message this is
// and whether anyone needs to act. Empty when there is nothing to add.
func Note(a Alert) string {
	var parts []string
	if a.Test {
		parts = append(parts, "Test message from kpay-rotator notify-test; nothing happened and nothing needs doing.")
	}
	if a.Repeat {
		parts = append(parts, "Reminder: this condition is still active.")
	}
	if len(a.Events) > 0 && a.Severity() == event.Resolved {
		parts = append(parts, "Resolved: this condition has cleared; nothing more to do for it.")
	}
	return strings.Join(parts, " ")
}

// Fact is one labelled value of an event. Code values (pair, secret id)
// are identifiers a reader copies, shown in a monospace span where the
// platform has one.
type Fact struct {
	Label, Value string
	Code         bool
}

// Facts lists what a reader needs beside the message, in a fixed order;
// missing values are left out.
func Facts(e event.Event) []Fact {
	var fs []Fact
	add := func(label, value string, code bool) {
		if value = OneLine(value); value != "" {
			fs = append(fs, Fact{label, value, code})
		}
	}
	add("Severity", e.Severity.String(), false)
	add("Slot", e.Slot, true)
	add("Environment", e.Environment, false)
	add("Pair", e.Pair, true)
	add("Age", e.Fields["age"], false)
	add("Cutover gap", e.Fields["cutover_gap"], false)
	add("Failing for", e.Fields["failing_for"], false)
	add("Secret", e.SecretID, true)
	if !e.At.IsZero() {
		// UTC with the zone spelled out: the reader may be anywhere, and
		// a delayed delivery (after a chat outage) needs its real time.
		add("At", e.At.UTC().Format("2006-01-02 15:04 UTC"), false)
	}
	return fs
}

// Summary is one event as one line of a grouped alert:
// "payments-live (live): key failing · kpay_live_…9f2c · age 91d".
func Summary(e event.Event) string {
	slot := orNone(e.Slot)
	if e.Environment != "" {
		slot += " (" + e.Environment + ")"
	}
	return OneLine(slot + ": " + Status(e))
}

// Status is Summary without the slot, for platforms that show the slot
// in a column of its own: "key failing · kpay_live_…9f2c · age 91d".
func Status(e event.Event) string {
	var b strings.Builder
	b.WriteString(Phrase(e.Kind))
	if e.Severity == event.Resolved {
		b.WriteString(" (resolved)")
	}
	if e.Pair != "" {
		b.WriteString(" · " + e.Pair)
	}
	if age := e.Fields["age"]; age != "" {
		b.WriteString(" · age " + age)
	}
	if gap := e.Fields["cutover_gap"]; gap != "" {
		b.WriteString(" · cutover gap " + gap)
	}
	if d := e.Fields["failing_for"]; d != "" {
		b.WriteString(" · failing for " + d)
	}
	return OneLine(b.String())
}

func orNone(s string) string {
	if s == "" {
		return "(no slot)"
	}
	return s
}

// slotPlaceholder stands for the slot name in a grouped alert's next
// steps, as in a command synopsis.
const slotPlaceholder = "<slot>"

// Actions lists the distinct next steps of an alert's events. For a group
// the slot name in each is replaced by "<slot>", so 40 slots needing the
// same command give one line instead of 40.
func Actions(a Alert) []string {
	var out []string
	for _, e := range a.Events {
		act := OneLine(e.Action)
		if act == "" {
			continue
		}
		if Grouped(a) && e.Slot != "" {
			act = replaceWord(act, e.Slot, slotPlaceholder)
		}
		if !slices.Contains(out, act) {
			out = append(out, act)
		}
	}
	return out
}

// replaceWord replaces whole-word occurrences of w in s, so that slot
// "live" does not rewrite "kpay_live_…".
func replaceWord(s, w, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		before := i == 0 || !wordByte(s[i-1])
		after := i+len(w) == len(s) || !wordByte(s[i+len(w)])
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(repl)
		} else {
			b.WriteString(w)
		}
		s = s[i+len(w):]
	}
}

// wordByte matches the characters a slot name may contain.
func wordByte(c byte) bool {
	return c == '-' || c == '_' || c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Latest is the time of the alert's newest event, zero if none has one.
func Latest(a Alert) time.Time {
	var t time.Time
	for _, e := range a.Events {
		if e.At.After(t) {
			t = e.At
		}
	}
	return t
}

// More is the closing line of a clipped list.
func More(n int) string { return fmt.Sprintf("… and %d more", n) }

// Colours by severity, shared so every platform that shows one agrees.
const (
	ColorCritical = 0xD92D20 // red
	ColorWarning  = 0xF79009 // amber
	ColorResolved = 0x12B76A // green
	ColorInfo     = 0x2E90FA // blue
)

// Color is the RGB colour of a severity.
func Color(s event.Severity) int {
	switch s {
	case event.Critical:
		return ColorCritical
	case event.Warning:
		return ColorWarning
	case event.Resolved:
		return ColorResolved
	}
	return ColorInfo
}

// HexColor is Color as "#rrggbb".
func HexColor(s event.Severity) string { return fmt.Sprintf("#%06X", Color(s)) }

// Message is the event's sentence for a chat message, without the
// "slot: " lead the log line carries: the title and facts already name
// the slot.
func Message(e event.Event) string {
	if e.Slot != "" {
		return strings.TrimPrefix(e.Message, e.Slot+": ")
	}
	return e.Message
}
