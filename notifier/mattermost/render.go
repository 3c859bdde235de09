package mattermost

import (
	"strings"

	"kpay-rotator/event"

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

// escapePlain is for the fallback, plain text shown in notifications
// where nothing is rendered: look-alikes for the characters that would
// read as markup or a Slack-style token, and a zero-width space after
// '@'.
func escapePlain(r rune) string {
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

// code makes s safe inside a code span or block, where Markdown shows
// every byte as it is (escapes included, so nothing is escaped) and
// mentions do not fire (the server strips code before looking for them).
// What remains is the server's Slack compatibility, which rewrites text
// before any Markdown, code or not: <!channel>, <!here> and <!all> become
// mentions, <@id> a username and <url|text> a link. A '<' opening one of
// those becomes a look-alike; any other byte is kept, so a command copied
// from the post is the command.
func code(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '<' && slackToken(s[i+1:]) {
			b.WriteString("‹")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// slackToken reports whether rest, what follows a '<', makes it one of
// the Slack-style tokens the server rewrites.
func slackToken(rest string) bool {
	if strings.HasPrefix(rest, "!") || strings.HasPrefix(rest, "@") {
		return true
	}
	end := strings.IndexAny(rest, "<>\n")
	return end > 0 && rest[end] == '>' && strings.Contains(rest[:end], "|")
}

// codeSpan is s as an inline code span of at most about max bytes: a
// fence longer than any backtick run in s, and a space inside each end
// when s starts or ends with a backtick (CommonMark drops one space from
// each end of a span that has both).
func codeSpan(s string, max int) string {
	s = notifier.Clip(code(s), max)
	f, pad := notifier.Fence(s, 1), ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return f + pad + s + pad + f
}

// codeBlock is a fenced code block of text, its fence longer than any
// backtick run inside, so no line of text can close it.
func codeBlock(text string) string {
	f := notifier.Fence(text, 3)
	return f + "\n" + text + "\n" + f
}

// Render builds the message for a.
func Render(a notifier.Alert) Payload {
	title := notifier.Title(a)
	at := Attachment{
		Fallback: notifier.EscapeClip(title, maxTitle, escapePlain),
		Color:    notifier.HexColor(a.Severity()),
		Title:    notifier.EscapeClip(title, maxTitle, Escape),
		Footer:   "kpay-rotator",
	}
	var parts []string
	if notifier.Grouped(a) {
		if lead := notifier.Lead(a); lead != "" {
			parts = append(parts, notifier.EscapeClip(lead, maxMessage, Escape))
		}
		items := make([]string, len(a.Events))
		for i, e := range a.Events {
			items[i] = "- " + summary(e)
		}
		parts = append(parts, notifier.List(items, "\n", maxList, notifier.More))
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		parts = append(parts, notifier.EscapeClip(notifier.OneLine(notifier.Message(e)), maxMessage, Escape))
		for _, f := range notifier.Facts(e) {
			v := notifier.EscapeClip(f.Value, maxFact, Escape)
			if f.Code {
				v = codeSpan(f.Value, maxFact)
			}
			at.Fields = append(at.Fields, Field{Title: f.Label, Value: v, Short: true})
		}
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = notifier.Clip(code(act), maxAction)
		}
		parts = append(parts, "**Next step**\n"+codeBlock(notifier.List(lines, "\n", maxAction, notifier.More)))
	}
	if n := notifier.Note(a); n != "" {
		parts = append(parts, "_"+notifier.EscapeClip(n, maxTitle, Escape)+"_")
	}
	at.Text = strings.Join(parts, "\n\n")
	return Payload{Attachments: []Attachment{at}}
}

// summary is one event of a group as a list item: its subject as code, so
// it copies as it is, then the rest escaped.
func summary(e event.Event) string {
	s := notifier.Subject(e)
	if s == "" {
		return notifier.EscapeClip(notifier.Status(e), maxItem, Escape)
	}
	return codeSpan(s, maxItem/2) + notifier.EscapeClip(notifier.SummaryEnv(e)+": "+notifier.Status(e), maxItem, Escape)
}
