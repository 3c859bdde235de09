package slack

import (
	"kpay-rotator/event"
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
	maxList     = 6800 // every list block's JSON together
	maxItem     = 200
	maxContext  = 300
	maxFallback = 300
	maxBlocks   = 50 // Block Kit's limit per message
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
// Slack asks for exactly these three to be escaped. Slack decodes the
// three entities inside code as well, so code shows (and copies) the
// original bytes, and nothing else is special there: '*', '_', '~' and
// '@' stay as they are. escapeCode adds what code needs: mrkdwn has no
// escape for a backtick, which would end the span early, so one becomes a
// look-alike. Identifiers never hold one (slot names are [a-z0-9._-],
// secret ids [A-Za-z0-9/_+=.@-]); only hostile text pays for it.
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
		if lead := notifier.Lead(a); lead != "" {
			p.Blocks = append(p.Blocks, Block{Type: "section", Text: mrkdwn(notifier.EscapeClip(lead, maxSection, notifier.EscapeHTML))})
		}
		p.Blocks = append(p.Blocks, list(a, maxBlocks-len(p.Blocks)-2)...)
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

// list is a group's events, one section block each, in order, while
// there are blocks (at most room) and bytes (maxList) left: a reader sees
// every slot of a burst that Slack can carry, and a last context block
// says how many more there were.
func list(a notifier.Alert, room int) []Block {
	var out []Block
	used := 0
	for i, e := range a.Events {
		b := Block{Type: "section", Text: mrkdwn("• " + summary(e))}
		cost := len(b.Text.Text) + 52 // the block's JSON around the text
		left := len(a.Events) - i
		// The last block may hold an event only if it is the last one;
		// otherwise it is kept for the count of the rest.
		if left > 1 && (len(out)+2 > room || used+cost+100 > maxList) || left == 1 && (len(out)+1 > room || used+cost > maxList) {
			return append(out, Block{Type: "context", Elements: []Text{*mrkdwn(notifier.More(left))}})
		}
		used += cost
		out = append(out, b)
	}
	return out
}

// summary is one event of a group as a line: its subject as code, so it
// copies as it is, then the rest escaped.
func summary(e event.Event) string {
	s := notifier.Subject(e)
	if s == "" {
		return notifier.EscapeClip(notifier.Status(e), maxItem, notifier.EscapeHTML)
	}
	return "`" + notifier.EscapeClip(s, maxItem/2, escapeCode) + "`" + notifier.EscapeClip(notifier.SummaryEnv(e)+": "+notifier.Status(e), maxItem, notifier.EscapeHTML)
}

// okBody is what Slack answers on success.
const okBody = "ok"
