package slack

import (
	"kpay-rotator/notifier"
)

// Limits from Slack's Block Kit reference and observed behaviour: header
// text 150 characters, section text 3000 (400 beyond), and a message whose
// blocks pass about 13K characters fails with msg_blocks_too_long, so the
// budgets below keep a whole message under 8K.
const (
	maxHeader   = 150
	maxSection  = 2000
	maxField    = 250
	maxFields   = 10 // Block Kit's limit per section
	maxAction   = 1000
	maxList     = 2800
	maxItem     = 200
	maxContext  = 300
	maxFallback = 300
)

// Payload is the webhook body.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit layout block.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// mrkdwn text is escaped with notifier.EscapeHTML: '&', '<' and '>' are
// the control characters of links and mentions (<!channel>, <@U…>), and
// Slack asks for exactly these three to be escaped. escapeCode does the
// same inside a code span, where a backtick would end the span early; it
// becomes a look-alike.
func escapeCode(r rune) string {
	if r == '`' {
		return "ˋ"
	}
	return notifier.EscapeHTML(r)
}

func mrkdwn(s string) *Text { return &Text{Type: "mrkdwn", Text: s} }

// Render builds the message for a.
func Render(a notifier.Alert) Payload {
	title := notifier.Title(a)
	p := Payload{Blocks: []Block{{Type: "header", Text: &Text{Type: "plain_text", Text: notifier.Clip(title, maxHeader)}}}}
	fallback := title
	if notifier.Grouped(a) {
		items := make([]string, len(a.Events))
		for i, e := range a.Events {
			items[i] = "• " + notifier.EscapeClip(notifier.Summary(e), maxItem, notifier.EscapeHTML)
		}
		p.Blocks = append(p.Blocks, Block{Type: "section", Text: mrkdwn(notifier.List(items, "\n", maxList, notifier.More))})
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		msg := notifier.OneLine(notifier.Message(e))
		fallback += ": " + msg
		p.Blocks = append(p.Blocks, Block{Type: "section", Text: mrkdwn(notifier.EscapeClip(msg, maxSection, notifier.EscapeHTML))})
		var fields []Text
		for _, f := range notifier.Facts(e) {
			if len(fields) == maxFields {
				break
			}
			esc := notifier.EscapeHTML
			open, end := "", ""
			if f.Code {
				esc, open, end = escapeCode, "`", "`"
			}
			fields = append(fields, *mrkdwn("*" + f.Label + "*\n" + open + notifier.EscapeClip(f.Value, maxField, esc) + end))
		}
		if len(fields) > 0 {
			p.Blocks = append(p.Blocks, Block{Type: "section", Fields: fields})
		}
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = notifier.EscapeClip(act, maxAction, escapeCode)
		}
		p.Blocks = append(p.Blocks, Block{Type: "section", Text: mrkdwn("*Next step*\n```" + notifier.List(lines, "\n", maxAction, notifier.More) + "```")})
	}
	small := "kpay-rotator"
	if n := notifier.Note(a); n != "" {
		small = n + " · " + small
	}
	p.Blocks = append(p.Blocks, Block{Type: "context", Elements: []Text{*mrkdwn(notifier.EscapeClip(small, maxContext, notifier.EscapeHTML))}})
	p.Text = notifier.EscapeClip(fallback, maxFallback, notifier.EscapeHTML)
	return p
}

// okBody is what Slack answers on success.
const okBody = "ok"
