package discord

import (
	"strings"
	"time"

	"kpay-rotator/event"

	"kpay-rotator/notifier"
)

// Limits of an embed, from Discord's reference. The total counts title,
// description, field names and values, footer and author across all
// embeds.
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFieldValue  = 1024
	maxTotal       = 6000
	maxFact        = 200
	maxItem        = 200
	maxFooter      = 300
)

// Payload is the webhook body.
type Payload struct {
	AllowedMentions AllowedMentions `json:"allowed_mentions"`
	Embeds          []Embed         `json:"embeds"`
}

// AllowedMentions with an empty Parse list stops every ping, whatever
// the text says.
type AllowedMentions struct {
	Parse []string `json:"parse"`
}

// Embed is a Discord rich embed.
type Embed struct {
	Title       string  `json:"title"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color"`
	Fields      []Field `json:"fields,omitempty"`
	Footer      *Footer `json:"footer,omitempty"`
	Timestamp   string  `json:"timestamp,omitempty"`
}

// Field is an embed field.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Footer is an embed footer.
type Footer struct {
	Text string `json:"text"`
}

// Escape escapes one rune of untrusted text for Discord markdown. Every
// markup character gets a backslash (Discord hides it before any
// punctuation), which also breaks <@id> mentions, masked links and bare
// URL autolinks (the ':' of "http:"); '@' gets a zero-width space after
// it so @everyone and @here are not even drawn as mentions.
func Escape(r rune) string {
	switch r {
	case '\\', '*', '_', '~', '`', '|', '>', '<', '#', '-', '[', ']', '(', ')', ':', '.', '!':
		return `\` + string(r)
	case '@':
		return "@\u200b"
	}
	return string(r)
}

// escapeTitle is Escape for the title, which holds only fixed wording and
// slot names: just the emphasis and mention characters are escaped, so
// that a client drawing titles without markdown shows few backslashes.
func escapeTitle(r rune) string {
	switch r {
	case '\\', '*', '_', '~', '`', '|', '<':
		return `\` + string(r)
	case '@':
		return "@\u200b"
	}
	return string(r)
}

// Inside code Discord shows every byte as it is, backslashes included,
// so nothing is escaped there; allowed_mentions (parse: []) already stops
// every ping, in code or not. Only a backtick needs care, as it could end
// the code early: codeSpan and nextStep pick fences that no backtick
// inside can close.

// codeSpan is s as an inline code span of at most about max bytes: a
// fence longer than any backtick run in s, and a space between fence and
// text on a side where s has a backtick, which Discord drops again. Three
// backticks in a row start a code block whatever fence surrounds them, so
// s holding them is escaped text instead, which Discord shows as the
// original bytes (it hides a backslash before punctuation).
func codeSpan(s string, max int) string {
	if strings.Contains(s, "```") {
		return notifier.EscapeClip(s, max, Escape)
	}
	s = notifier.Clip(s, max)
	f, open, end := notifier.Fence(s, 1), "", ""
	if strings.HasPrefix(s, "`") {
		open = " "
	}
	if strings.HasSuffix(s, "`") {
		end = " "
	}
	return f + open + s + end + f
}

// nextStep is the action lines as one code block, or, if a line holds
// three backticks in a row (which end a Discord code block whatever
// fence opened it), as one code span per line.
func nextStep(lines []string, max int) string {
	text := notifier.List(lines, "\n", max-8, notifier.More)
	if !strings.Contains(text, "```") {
		// The newline before the closing fence keeps a trailing
		// backtick inside.
		return "```\n" + text + "\n```"
	}
	spans := make([]string, len(lines))
	for i, l := range lines {
		spans[i] = codeSpan(l, len(l))
	}
	return notifier.List(spans, "\n", max, notifier.More)
}

// Render builds the message for a, within every embed limit.
func Render(a notifier.Alert) Payload {
	e := Embed{
		Title: notifier.EscapeClip(notifier.Title(a), maxTitle, escapeTitle),
		Color: notifier.Color(a.Severity()),
	}
	if t := notifier.Latest(a); !t.IsZero() {
		e.Timestamp = t.UTC().Format(time.RFC3339)
	}
	footer := "kpay-rotator"
	if n := notifier.Note(a); n != "" {
		footer = n + " · " + footer
	}
	// Footers are drawn as plain text, and this one is fixed wording.
	e.Footer = &Footer{Text: notifier.Clip(footer, maxFooter)}
	if !notifier.Grouped(a) && len(a.Events) == 1 {
		for _, f := range notifier.Facts(a.Events[0]) {
			v := notifier.EscapeClip(f.Value, maxFact, Escape)
			if f.Code {
				v = codeSpan(f.Value, maxFact)
			}
			e.Fields = append(e.Fields, Field{Name: f.Label, Value: v, Inline: true})
		}
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = notifier.Clip(act, maxFieldValue-16)
		}
		e.Fields = append(e.Fields, Field{Name: "Next step", Value: nextStep(lines, maxFieldValue)})
	}
	// The description gets what the 6000 total leaves, less a margin for
	// Discord counting some characters differently from bytes.
	used := len(e.Title) + len(e.Footer.Text)
	for _, f := range e.Fields {
		used += len(f.Name) + len(f.Value)
	}
	room := min(maxDescription, maxTotal-used-100)
	if notifier.Grouped(a) {
		lead := ""
		if l := notifier.Lead(a); l != "" {
			lead = notifier.EscapeClip(l, maxItem*4, Escape) + "\n\n"
		}
		items := make([]string, len(a.Events))
		for i, ev := range a.Events {
			items[i] = "• " + summary(ev)
		}
		e.Description = lead + notifier.List(items, "\n", room-len(lead), notifier.More)
	} else if len(a.Events) == 1 {
		e.Description = notifier.EscapeClip(notifier.OneLine(notifier.Message(a.Events[0])), room, Escape)
	}
	return Payload{AllowedMentions: AllowedMentions{Parse: []string{}}, Embeds: []Embed{e}}
}

// summary is one event of a group as a list line: its subject as code, so
// it copies as it is, then the rest escaped.
func summary(e event.Event) string {
	s := notifier.Subject(e)
	if s == "" {
		return notifier.EscapeClip(notifier.Status(e), maxItem, Escape)
	}
	return codeSpan(s, maxItem/2) + notifier.EscapeClip(notifier.SummaryEnv(e)+": "+notifier.Status(e), maxItem, Escape)
}
