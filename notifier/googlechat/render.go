package googlechat

import (
	"fmt"
	"html"
	"strings"

	"kpay-rotator/notifier"
)

// Budgets keep a message under Chat's limit of about 32,000 bytes for
// text and cards together.
const (
	maxTitle   = 200
	maxText    = 400
	maxMessage = 4000
	maxFact    = 300
	maxAction  = 2000
	maxList    = 16000
	maxItem    = 300
)

// Message is the webhook body, a Chat Message.
type Message struct {
	Text    string   `json:"text"`
	CardsV2 []CardV2 `json:"cardsV2"`
	Thread  Thread   `json:"thread"`
}

// Thread names the thread by a key of ours.
type Thread struct {
	ThreadKey string `json:"threadKey"`
}

// CardV2 is a card with an id.
type CardV2 struct {
	CardID string `json:"cardId"`
	Card   Card   `json:"card"`
}

// Card is a Chat card.
type Card struct {
	Header   Header    `json:"header"`
	Sections []Section `json:"sections"`
}

// Header is a card header.
type Header struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle,omitempty"`
}

// Section is a card section.
type Section struct {
	Header  string   `json:"header,omitempty"`
	Widgets []Widget `json:"widgets"`
}

// Widget is one of a TextParagraph or a DecoratedText.
type Widget struct {
	TextParagraph *TextParagraph `json:"textParagraph,omitempty"`
	DecoratedText *DecoratedText `json:"decoratedText,omitempty"`
}

// TextParagraph is card text with Chat's HTML subset.
type TextParagraph struct {
	Text string `json:"text"`
}

// DecoratedText is a labelled value.
type DecoratedText struct {
	TopLabel string `json:"topLabel,omitempty"`
	Text     string `json:"text"`
	WrapText bool   `json:"wrapText,omitempty"`
}

// escapeText neutralises one rune for the plain text line and the card
// header, which use Chat's own syntax with no escape mechanism: '<' opens
// mentions (<users/all>) and links, '*', '~' and '`' format. They become
// look-alikes; '_' is kept, as slot names use it and Chat only italicises
// _whole words_.
func escapeText(r rune) string {
	switch r {
	case '<':
		return "‹"
	case '>':
		return "›"
	case '*':
		return "∗"
	case '~':
		return "∼"
	case '`':
		return "ˋ"
	}
	return string(r)
}

// ThreadKey is the thread an alert goes to: one per slot, so a slot's
// failing, reminders and recovery read as one conversation; a group
// spanning slots gets a thread of its own.
func ThreadKey(a notifier.Alert) string {
	slot := ""
	for i, e := range a.Events {
		if i > 0 && e.Slot != slot {
			return "kpay-rotator-group"
		}
		slot = e.Slot
	}
	if slot == "" {
		return "kpay-rotator"
	}
	// Slot names are already [a-z0-9._-]; anything else is replaced so
	// the key stays a plain token.
	return "kpay-rotator-" + strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, notifier.Clip(slot, 100))
}

func paragraph(s string) Widget { return Widget{TextParagraph: &TextParagraph{Text: s}} }

// Render builds the message for a.
func Render(a notifier.Alert) Message {
	title := notifier.Title(a)
	sev := a.Severity()
	subtitle := sev.String()
	var sections []Section
	if notifier.Grouped(a) {
		subtitle += " · " + notifier.Count(len(a.Events), "event", "events")
		if lead := notifier.Lead(a); lead != "" {
			sections = append(sections, Section{Widgets: []Widget{paragraph(notifier.EscapeClip(lead, maxMessage, notifier.EscapeHTML))}})
		}
		items := make([]string, len(a.Events))
		for i, e := range a.Events {
			items[i] = "• " + notifier.EscapeClip(notifier.Summary(e), maxItem, notifier.EscapeHTML)
		}
		sections = append(sections, Section{Widgets: []Widget{paragraph(notifier.List(items, "<br>", maxList, notifier.More))}})
	} else if len(a.Events) == 1 {
		e := a.Events[0]
		if e.Environment != "" {
			subtitle += " · " + e.Environment
		}
		sections = append(sections, Section{Widgets: []Widget{paragraph(notifier.EscapeClip(notifier.OneLine(notifier.Message(e)), maxMessage, notifier.EscapeHTML))}})
		var facts []Widget
		for _, f := range notifier.Facts(e) {
			v := notifier.EscapeClip(f.Value, maxFact, notifier.EscapeHTML)
			if f.Label == "Severity" {
				v = fmt.Sprintf(`<font color="%s"><b>%s</b></font>`, notifier.HexColor(e.Severity), v)
			}
			facts = append(facts, Widget{DecoratedText: &DecoratedText{TopLabel: f.Label, Text: v, WrapText: true}})
		}
		sections = append(sections, Section{Header: "Details", Widgets: facts})
	}
	if acts := notifier.Actions(a); len(acts) > 0 {
		lines := make([]string, len(acts))
		for i, act := range acts {
			lines[i] = notifier.EscapeClip(act, maxAction, notifier.EscapeHTML)
		}
		sections = append(sections, Section{Header: "Next step", Widgets: []Widget{paragraph(notifier.List(lines, "<br>", maxAction, notifier.More))}})
	}
	if n := notifier.Note(a); n != "" {
		sections = append(sections, Section{Widgets: []Widget{paragraph("<i>" + html.EscapeString(n) + "</i>")}})
	}
	return Message{
		Text: notifier.EscapeClip(title, maxText, escapeText),
		CardsV2: []CardV2{{CardID: "kpay-rotator-alert", Card: Card{
			Header:   Header{Title: notifier.EscapeClip(title, maxTitle, escapeText), Subtitle: notifier.EscapeClip(subtitle+" · kpay-rotator", maxTitle, escapeText)},
			Sections: sections,
		}}},
		Thread: Thread{ThreadKey: ThreadKey(a)},
	}
}
