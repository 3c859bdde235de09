package mattermost

import (
	"strings"

	"kpay-rotator/notifier"
)

// Budgets keep a post well under Mattermost's 16383-character limit, past
// which the server splits it into several posts.
const (
	maxTitle   = 300
	maxMessage = 3000
	maxFact    = 300
	maxAction  = 1500
	maxList    = 8000
	maxItem    = 250
)

// Payload is the webhook body.
type Payload struct {
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a Slack-style message attachment.
type Attachment struct {
	Fallback string  `json:"fallback"`
	Color    string  `json:"color"`
	Title    string  `json:"title"`
	Text     string  `json:"text"`
	Fields   []Field `json:"fields,omitempty"`
	Footer   string  `json:"footer,omitempty"`
}

// Field is a short labelled value.
type Field struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Escape escapes one rune for Mattermost Markdown: backslash before the
// characters its parser treats as markup, entities for '<', '>' and '&'
// (which Slack-compatible parsing would otherwise read as <!channel> or a
// <url|link>), and a zero-width space after '@' so no word is a mention.
func Escape(r rune) string {
	switch r {
	case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '.', '!', '~', '|':
		return `\` + string(r)
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '&':
		return "&amp;"
	case '@':
		return "@\u200b"
	}
	return string(r)
}

// escapeCode is for code spans and blocks, where escapes and entities
// show literally: only a backtick (which would end the span), '<' (read
// by the server's Slack-compatible <!channel> expansion before any
// Markdown) and '@' are changed.
func escapeCode(r rune) string {
	switch r {
	case '`':
		return "ˋ"
	case '<':
		return "‹"
	case '>':
		return "›"
	case '@':
		return "@\u200b"
	}
	return string(r)
}

// Render builds the message for a.
func Render(a notifier.Alert) Payload {
	title := notifier.Title(a)
	at := Attachment{
		Fallback: notifier.EscapeClip(title, maxTitle, escapeCode),
		Color:    notifier.HexColor(a.Severity()),
		Title:    notifier.EscapeClip(title, maxTitle, Escape),
		Footer:   "kpay-rotator",
	}
	var parts []string
	if notifier.Grouped(a) {
		items := make([]string, len(a.Events))
		for i, e := range a.Events {
			items[i] = "- " + notifier.EscapeClip(notifier.Summary(e), maxItem, Escape)
		}
		parts = append(parts, notifier.List(items, "\n", maxList, notifier.More))
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		parts = append(parts, notifier.EscapeClip(notifier.OneLine(notifier.Message(e)), maxMessage, Escape))
		for _, f := range notifier.Facts(e) {
			v := notifier.EscapeClip(f.Value, maxFact, Escape)
			if f.Code {
				v = "`" + notifier.EscapeClip(f.Value, maxFact, escapeCode) + "`"
			}
			at.Fields = append(at.Fields, Field{Title: f.Label, Value: v, Short: true})
		}
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = notifier.EscapeClip(act, maxAction, escapeCode)
		}
		parts = append(parts, "**Next step**\n```\n"+notifier.List(lines, "\n", maxAction, notifier.More)+"\n```")
	}
	if n := notifier.Note(a); n != "" {
		parts = append(parts, "_"+notifier.EscapeClip(n, maxTitle, Escape)+"_")
	}
	at.Text = strings.Join(parts, "\n\n")
	return Payload{Attachments: []Attachment{at}}
}
