package telegram

import (
	"strings"

	"kpay-rotator/event"

	"kpay-rotator/notifier"
)

// MaxText is sendMessage's limit on text, in characters after entity
// parsing; counting the HTML's bytes instead can only come out higher,
// so staying within it in bytes is safe. Longer text is rejected, not cut.
const MaxText = 4096

// Budgets for the fixed parts; the message (or a group's list) gets what
// remains of MaxText.
const (
	maxTitle  = 300
	maxFact   = 200
	maxAction = 800
	maxNote   = 300
	maxItem   = 200
)

// esc escapes for Telegram HTML: '&', '<' and '>' are all the Bot API
// requires outside attributes, and all it takes to keep text from opening
// a tag.
func esc(s string, max int) string { return notifier.EscapeClip(s, max, notifier.EscapeHTML) }

// In <code> and <pre> Telegram shows the text as it is once its three
// entities are decoded, and makes no mention, link or hashtag of it, so
// code is escaped exactly like the rest and copies back byte for byte.

// summary is one event of a group as a line: its subject as code, so it
// copies as it is, then the rest.
func summary(e event.Event) string {
	s := notifier.Subject(e)
	if s == "" {
		return esc(notifier.Status(e), maxItem)
	}
	return "<code>" + esc(s, maxItem/2) + "</code>" + esc(notifier.SummaryEnv(e)+": "+notifier.Status(e), maxItem)
}

// Render builds the HTML text for a, at most MaxText bytes. Every cut is
// made by EscapeClip on unescaped text or by List between whole lines,
// so no tag or entity is ever split and every tag opened is closed.
func Render(a notifier.Alert) string {
	head := "<b>" + esc(notifier.Title(a), maxTitle) + "</b>"
	var facts []string
	if !notifier.Grouped(a) && len(a.Events) == 1 {
		for _, f := range notifier.Facts(a.Events[0]) {
			v := esc(f.Value, maxFact)
			if f.Code {
				v = "<code>" + v + "</code>"
			}
			facts = append(facts, f.Label+": "+v)
		}
	}
	var tail []string
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = esc(act, maxAction)
		}
		tail = append(tail, "Next step:\n<pre>"+notifier.List(lines, "\n", maxAction, notifier.More)+"</pre>")
	}
	if n := notifier.Note(a); n != "" {
		tail = append(tail, "<i>"+esc(n, maxNote)+"</i>")
	}
	fixed := len(head) + len(strings.Join(facts, "\n")) + len(strings.Join(tail, "\n\n"))
	room := MaxText - fixed - 8 // the separators joined below
	var body string
	if notifier.Grouped(a) {
		lead := ""
		if l := notifier.Lead(a); l != "" {
			lead = esc(l, maxNote) + "\n\n"
		}
		items := make([]string, len(a.Events))
		for i, e := range a.Events {
			items[i] = "• " + summary(e)
		}
		body = lead + notifier.List(items, "\n", room-len(lead), notifier.More)
	} else if len(a.Events) == 1 {
		body = esc(notifier.OneLine(notifier.Message(a.Events[0])), room)
	}
	parts := []string{head + "\n" + body}
	if len(facts) > 0 {
		parts = append(parts, strings.Join(facts, "\n"))
	}
	parts = append(parts, tail...)
	return strings.Join(parts, "\n\n")
}
