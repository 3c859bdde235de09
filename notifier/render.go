package notifier

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kpay-rotator/event"
)

// This file holds what every receiver says; the receivers only decide how
// their platform shows it and escape it. Everything returned here is
// plain, unescaped text, and everything taken from an event is untrusted:
// slot names come from configuration, but messages quote provider errors.

// wording names a kind: for one event about a subject ("KPay key
// failing: %s", the subject being the slot, or the notifier for the
// notifier's own events), for one without a subject (none; by default one
// without its ": %s"), for a group ("%d KPay keys failing"), and in a few
// words for a line of a group (phrase; by default one without "KPay" and
// its subject).
type wording struct{ one, none, many, phrase string }

var wordings = map[event.Kind]wording{
	event.KeyDue:                    {one: "KPay key due for rotation: %s", many: "%d KPay keys due for rotation"},
	event.KeyOverdue:                {one: "KPay key overdue: %s", many: "%d KPay keys overdue"},
	event.KeyFailing:                {one: "KPay key failing: %s", many: "%d KPay keys failing"},
	event.KeyDegraded:               {one: "KPay key degraded: %s", many: "%d KPay keys degraded"},
	event.KeyRecovered:              {one: "KPay key working again: %s", many: "%d KPay keys working again"},
	event.RotationRejected:          {one: "KPay rotation rejected: %s", many: "%d KPay rotations rejected"},
	event.KeyRotated:                {one: "KPay key rotated: %s", many: "%d KPay keys rotated"},
	event.OldKeyRevoked:             {one: "Old KPay key revoked: %s", many: "%d old KPay keys revoked"},
	event.OldKeyStillValid:          {one: "Old KPay key still valid: %s", many: "%d old KPay keys still valid"},
	event.OldKeyUnwatched:           {one: "Old KPay key no longer watched: %s", many: "%d old KPay keys no longer watched"},
	event.SecretChangedExternally:   {one: "KPay secret changed outside kpay-rotator: %s", many: "%d KPay secrets changed outside kpay-rotator"},
	event.RotationStalled:           {one: "KPay rotation stalled: %s", many: "%d KPay rotations stalled"},
	event.SecretUnreadable:          {one: "KPay secret unreadable: %s", many: "%d KPay secrets unreadable"},
	event.SecretReadable:            {one: "KPay secret readable again: %s", many: "%d KPay secrets readable again"},
	event.SecretMissing:             {one: "KPay secret missing: %s", many: "%d KPay secrets missing"},
	event.UnplannedRevocation:       {one: "KPay key revoked outside a rotation: %s", many: "%d KPay keys revoked outside a rotation"},
	event.RotationCancelled:         {one: "KPay rotation cancelled: %s", many: "%d KPay rotations cancelled"},
	event.SecretFieldsLost:          {one: "KPay secret lost fields: %s", many: "%d KPay secrets lost fields"},
	event.SecretFieldsRestored:      {one: "KPay secret fields restored: %s", many: "%d KPay secrets have their fields back"},
	event.SecretFieldsAccepted:      {one: "KPay secret fields removed on purpose: %s", many: "%d KPay secrets have fields removed on purpose"},
	event.SecretsManagerRotationOn:  {one: "Secrets Manager rotation enabled on a KPay secret: %s", many: "Secrets Manager rotation enabled on %d KPay secrets", phrase: "Secrets Manager rotation enabled"},
	event.SecretsManagerRotationOff: {one: "Secrets Manager rotation off again: %s", many: "Secrets Manager rotation off again on %d KPay secrets", phrase: "Secrets Manager rotation off"},
	event.NotifierFailing:           {one: "Alerts to notifier %s keep failing", none: "Alerts to a notifier keep failing", many: "Alerts to %d notifiers keep failing", phrase: "alerts keep failing"},
	event.NotifierRecovered:         {one: "Alerts reach notifier %s again", none: "Alerts reach a notifier again", many: "Alerts reach %d notifiers again", phrase: "alerts get through again"},
	event.NotificationExpired:       {one: "Alert to notifier %s given up", none: "An alert was given up", many: "%d alerts given up", phrase: "alert given up"},
	event.NotificationTest:          {one: "kpay-rotator test message to notifier %s", none: "kpay-rotator test message", many: "%d kpay-rotator test messages", phrase: "test message"},
}

func wordingOf(k event.Kind) wording {
	w, ok := wordings[k]
	if !ok {
		what := strings.ReplaceAll(string(k), "_", " ")
		w = wording{one: "KPay " + what + ": %s", many: "%d KPay alerts: " + what}
	}
	if w.none == "" {
		w.none = strings.TrimSuffix(w.one, ": %s")
	}
	if w.phrase == "" {
		w.phrase = strings.Replace(strings.TrimPrefix(w.none, "KPay "), " KPay ", " ", 1)
		if r, size := utf8.DecodeRuneInString(w.phrase); unicode.IsUpper(r) && !strings.HasPrefix(w.phrase, "KPay") {
			w.phrase = string(unicode.ToLower(r)) + w.phrase[size:]
		}
	}
	return w
}

// Phrase is a kind in a few words ("key failing"), for per-slot lines.
func Phrase(k event.Kind) string { return wordingOf(k).phrase }

// Subject is what an event is about, as a reader names it: its slot, or
// for the notifier's own events (which have none) the notifier; empty
// when there is neither.
func Subject(e event.Event) string {
	if e.Slot != "" {
		return e.Slot
	}
	return e.Fields["receiver"]
}

// Grouped reports whether a carries more than one event.
func Grouped(a Alert) bool { return len(a.Events) > 1 }

// Down reports whether a reads as a KPay outage rather than trouble with
// keys: every event says a slot's probes keep failing without KPay
// rejecting the pair (key_degraded), for at least two slots. One slot
// degraded may be its network path or its application; all of a burst
// degraded at once is KPay (or this host) being down, and a reader should
// hear that once, not once per slot.
func Down(a Alert) bool { return downSlots(a) >= 2 }

// downSlots counts the slots of an alert made only of key_degraded
// events; 0 when any event is something else.
func downSlots(a Alert) int {
	slots := map[string]bool{}
	for _, e := range a.Events {
		if e.Kind != event.KeyDegraded || e.Slot == "" {
			return 0
		}
		slots[e.Slot] = true
	}
	return len(slots)
}

// Lead is the sentence a grouped alert opens with, before its list;
// empty when the title says it all.
func Lead(a Alert) string {
	if !Down(a) {
		return ""
	}
	return fmt.Sprintf("Probes of %s keep failing without KPay rejecting any pair: KPay or this host's network is having trouble, not the keys. Nothing to change on the keys; each slot says it works again once KPay answers.",
		Count(downSlots(a), "slot", "slots"))
}

// Title is the alert's headline: "KPay key failing: payments-live" for
// one event, "12 KPay keys failing" for a group of one kind, "KPay
// appears to be down: 12 keys degraded" for an outage (Down), "12 KPay
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
		w := wordingOf(e.Kind)
		if s := Subject(e); s != "" {
			head = fmt.Sprintf(w.one, s)
		} else {
			head = w.none
		}
	case Down(a):
		head = "KPay appears to be down: " + Count(downSlots(a), "key", "keys") + " degraded"
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
	lead := SummaryLead(e)
	if lead == "" {
		return Status(e)
	}
	return OneLine(lead + ": " + Status(e))
}

// SummaryLead is Summary's part before the colon, the subject and its
// environment: "payments-live (live)"; empty for an event about nothing
// in particular. Platforms that show the slot as code build the line
// from Subject, SummaryEnv and Status instead.
func SummaryLead(e event.Event) string {
	s := Subject(e)
	if s == "" {
		return ""
	}
	return OneLine(s + SummaryEnv(e))
}

// SummaryEnv is " (live)", the environment as Summary shows it after the
// subject; empty without one.
func SummaryEnv(e event.Event) string {
	if e.Environment == "" {
		return ""
	}
	return " (" + OneLine(e.Environment) + ")"
}

// Status is Summary without the subject, for platforms that show the
// slot in a column of its own: "key failing · kpay_live_…9f2c · age 91d".
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

// Actions lists the next steps of an alert's events, in order, one line
// each. In a group each slot keeps its own command ("kpay-rotator stage
// shop.live"), so a reader copies it as it is instead of filling in a
// placeholder. Slots sharing a step that ends in a command ("generate a
// new pair in the KPay dashboard, then run: kpay-rotator stage
// payments-live") get its words once, then one command line per slot; a
// step that names no slot ("check KPay's status") is listed once however
// many events share it.
func Actions(a Alert) []string {
	type step struct {
		template string
		events   []event.Event
	}
	var steps []*step
	byTemplate := map[string]*step{}
	for _, e := range a.Events {
		act := OneLine(e.Action)
		if act == "" {
			continue
		}
		t := act
		if Grouped(a) && e.Slot != "" {
			t = replaceWord(act, e.Slot, slotMark)
		}
		st := byTemplate[t]
		if st == nil {
			st = &step{template: t}
			byTemplate[t] = st
			steps = append(steps, st)
		}
		st.events = append(st.events, e)
	}
	var out []string
	add := func(line string) {
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	for _, st := range steps {
		words, command, ok := splitCommand(st.template)
		if !ok || len(st.events) < 2 {
			for _, e := range st.events {
				add(OneLine(e.Action))
			}
			continue
		}
		add(words)
		for _, e := range st.events {
			add(strings.ReplaceAll(command, slotMark, e.Slot))
		}
	}
	return out
}

// slotMark stands for the slot while the steps of a group are compared;
// it cannot occur in OneLine text.
const slotMark = "\x00"

// splitCommand cuts a step "words: command" whose command, the end of
// the step, holds the slot once: "generate a new pair…, then run:" and
// "kpay-rotator stage " and the slot. ok is false for any other shape, such as
// "run kpay-rotator stage x first; when it asks…", which is then shown
// whole for each slot.
func splitCommand(t string) (words, command string, ok bool) {
	mark := strings.Index(t, slotMark)
	if mark < 0 || strings.Count(t, slotMark) != 1 {
		return "", "", false
	}
	colon := strings.LastIndex(t[:mark], ": ")
	if colon < 0 {
		return "", "", false
	}
	words, command = t[:colon+1], t[colon+2:]
	// A command runs to the end: prose after it ("; if nobody did…",
	// "(add --dry-run…)") keeps the step whole.
	if strings.ContainsAny(command, ";,(") || !strings.HasPrefix(command, "kpay-rotator ") && !strings.HasPrefix(command, "aws ") {
		return "", "", false
	}
	return words, command, true
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

// Count is n with the noun that agrees with it: "1 event", "3 events".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

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
