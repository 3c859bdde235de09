package teams

import (
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

// Element is a TextBlock, a RichTextBlock or a FactSet.
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
	// Inlines are a RichTextBlock's runs.
	Inlines []TextRun `json:"inlines,omitempty"`
}

// TextRun is one run of a RichTextBlock. Its text is never parsed as
// Markdown (Adaptive Cards 1.2), so it needs no escaping and shows every
// byte as it is: the one way a card carries a command or an identifier
// that copies back exactly, where TextBlock and Fact text are Markdown
// and a backslash escape shows up as a backslash on some clients.
type TextRun struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
}

// run is a TextRun of untrusted text: one line, at most max bytes.
func run(s string, max int) TextRun {
	return TextRun{Type: "TextRun", Text: notifier.Clip(notifier.OneLine(s), max)}
}

// mono is run in a monospace font, for commands and identifiers.
func mono(s string, max int) TextRun {
	r := run(s, max)
	r.FontType = "Monospace"
	return r
}

func rich(runs ...TextRun) Element { return Element{Type: "RichTextBlock", Inlines: runs} }

// Fact is one row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Escape escapes one rune for the Markdown subset Adaptive Cards render
// in TextBlock and Fact text: emphasis (* _), links ([ ]) and the
// backslash itself. CommonMark backslash escapes are what the renderers
// implement; some mobile clients draw the backslash, which is the price
// of a link that cannot be forged. So only fixed wording and short facts
// go through Markdown; the title, the message, slot names, commands and
// identifiers go in TextRuns, which need no escaping.
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
	title := run(notifier.Title(a), maxTitle)
	title.Weight, title.Size, title.Color = "Bolder", "Medium", color(a.Severity())
	body := []Element{rich(title)}
	if notifier.Grouped(a) {
		if lead := notifier.Lead(a); lead != "" {
			body = append(body, Element{Type: "TextBlock", Text: text(lead, maxMessage), Wrap: true})
		}
		used := 0
		for i, e := range a.Events {
			line := rich(run(notifier.Status(e), maxFact))
			if s := notifier.Subject(e); s != "" {
				// Not run: OneLine would trim the space that leads the rest.
				rest := TextRun{Type: "TextRun", Text: notifier.Clip(notifier.SummaryEnv(e)+": "+notifier.Status(e), maxFact)}
				line = rich(mono(s, maxFact), rest)
			}
			cost := 120 // the element's JSON around the text
			for _, r := range line.Inlines {
				cost += len(r.Text)
			}
			if used+cost > maxList {
				body = append(body, rich(run(notifier.More(len(a.Events)-i), maxFact)))
				break
			}
			used += cost
			body = append(body, line)
		}
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		// The message quotes pairs and provider errors: a TextRun shows
		// them as they are, with no Markdown to forge and nothing to
		// escape.
		body = append(body, rich(run(notifier.Message(e), maxMessage)))
		var facts []Fact
		var codes []Element
		for _, f := range notifier.Facts(e) {
			if f.Code {
				label := run(f.Label+": ", maxFact)
				label.Weight = "Bolder"
				codes = append(codes, rich(label, mono(f.Value, maxFact)))
				continue
			}
			facts = append(facts, Fact{Title: f.Label, Value: text(f.Value, maxFact)})
		}
		body = append(body, Element{Type: "FactSet", Facts: facts})
		body = append(body, codes...)
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		body = append(body, Element{Type: "TextBlock", Text: "Next step", Weight: "Bolder", Wrap: true, Spacing: "Medium"})
		// One block per command, so each is a line of its own and
		// copies on its own.
		used := 0
		for i, act := range acts {
			r := mono(act, maxAction)
			if used+len(r.Text) > maxAction && i > 0 {
				body = append(body, rich(run(notifier.More(len(acts)-i), maxFact)))
				break
			}
			used += len(r.Text)
			body = append(body, rich(r))
		}
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
