package teams

import (
	"fmt"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

// Budgets keep the body under Teams' 28 KB message limit (28672 bytes,
// reported as MessageSizeExceeded from inside the flow, where the sender
// never sees it) with room for the envelope.
const (
	maxTitle   = 300
	maxMessage = 4000
	maxFact    = 300
	maxAction  = 2000
	maxList    = 18000
	maxNote    = 400
)

// Message is the webhook body: a message envelope around one card.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment holds the card. ContentURL is sent as null, as the
// Workflows template expects.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	MSTeams map[string]string `json:"msteams,omitempty"`
	Body    []Element         `json:"body"`
}

// Element is a TextBlock or a FactSet.
type Element struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	Facts    []Fact `json:"facts,omitempty"`
}

// Fact is one row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Escape escapes one rune for the Markdown subset Adaptive Cards render
// in TextBlock and Fact text: emphasis (* _), links ([ ]) and the
// backslash itself. CommonMark backslash escapes are what the renderers
// implement; some mobile clients draw the backslash, which is the price
// of a link that cannot be forged.
func Escape(r rune) string {
	switch r {
	case '\\', '*', '_', '[', ']', '~', '`':
		return `\` + string(r)
	}
	return string(r)
}

// text escapes and clips s for a TextBlock, also escaping a leading list
// or heading marker, the one place where '-', '+', '#' or "1." would
// change how the line renders.
func text(s string, max int) string {
	s = notifier.OneLine(s)
	lead := ""
	if startsBlock(s) {
		lead = `\`
	}
	return lead + notifier.EscapeClip(s, max-len(lead), Escape)
}

func startsBlock(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '-', '+', '#', '>':
		return true
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && (s[i] == '.' || s[i] == ')')
}

// color maps a severity to a TextBlock colour.
func color(s event.Severity) string {
	switch s {
	case event.Critical:
		return "attention"
	case event.Warning:
		return "warning"
	case event.Resolved:
		return "good"
	}
	return "accent"
}

// Render builds the message for a.
func Render(a notifier.Alert) Message {
	body := []Element{{Type: "TextBlock", Text: text(notifier.Title(a), maxTitle), Weight: "Bolder", Size: "Medium", Color: color(a.Severity()), Wrap: true}}
	if notifier.Grouped(a) {
		var facts []Fact
		used := 0
		for i, e := range a.Events {
			slot := e.Slot
			if slot == "" {
				slot = "(no slot)"
			}
			f := Fact{Title: text(slot, maxFact), Value: text(notifier.Status(e), maxFact)}
			cost := len(f.Title) + len(f.Value) + 40 // JSON punctuation
			if used+cost > maxList {
				facts = append(facts, Fact{Title: "…", Value: fmt.Sprintf("and %d more", len(a.Events)-i)})
				break
			}
			used += cost
			facts = append(facts, f)
		}
		body = append(body, Element{Type: "FactSet", Facts: facts})
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		body = append(body, Element{Type: "TextBlock", Text: text(notifier.Message(e), maxMessage), Wrap: true})
		var facts []Fact
		for _, f := range notifier.Facts(e) {
			facts = append(facts, Fact{Title: f.Label, Value: text(f.Value, maxFact)})
		}
		body = append(body, Element{Type: "FactSet", Facts: facts})
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = text(act, maxAction)
		}
		body = append(body,
			Element{Type: "TextBlock", Text: "Next step", Weight: "Bolder", Wrap: true, Spacing: "Medium"},
			// Markdown lines need a blank line between them to stay
			// apart; one action per line.
			Element{Type: "TextBlock", Text: notifier.List(lines, "\n\n", maxAction, notifier.More), FontType: "Monospace", Wrap: true})
	}
	note := "kpay-rotator"
	if n := notifier.Note(a); n != "" {
		note = n + " · " + note
	}
	body = append(body, Element{Type: "TextBlock", Text: text(note, maxNote), IsSubtle: true, Size: "Small", Wrap: true})
	return Message{Type: "message", Attachments: []Attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: Card{
			Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard",
			// 1.4: Workflows has rejected 1.5 cards.
			Version: "1.4",
			// Full width: Teams draws cards narrow by default, and
			// commands and masked pairs wrap badly there.
			MSTeams: map[string]string{"width": "Full"},
			Body:    body,
		},
	}}}
}
