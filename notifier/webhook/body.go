package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

// Payload is the body, shaped as Standard Webhooks recommends: a dotted
// type, a timestamp, and the data.
type Payload struct {
	// Type is "kpay_rotator.<kind>" for one event, "kpay_rotator.group"
	// for several.
	Type string `json:"type"`
	// Timestamp is when the newest event happened, not when this attempt
	// was made, so that the body is the same bytes on every retry.
	Timestamp string `json:"timestamp"`
	Data      Data   `json:"data"`
}

// Data is the alert.
type Data struct {
	AlertID  string        `json:"alert_id"`
	Repeat   bool          `json:"repeat"`
	Test     bool          `json:"test"`
	Severity string        `json:"severity"`
	Title    string        `json:"title"`
	Events   []event.Event `json:"events"`
	// OmittedEvents counts the events left out to keep the body within
	// its limit; they are the last of the group.
	OmittedEvents int `json:"omitted_events,omitempty"`
}

// Free text is clipped per event, so one runaway provider message cannot
// crowd out the rest of a group.
const (
	maxText  = 2048
	maxField = 512
)

// Body renders a as JSON of at most max bytes.
func Body(a notifier.Alert, max int) ([]byte, error) {
	p := Payload{Type: "kpay_rotator.group", Data: Data{
		AlertID: a.ID, Repeat: a.Repeat, Test: a.Test, Severity: a.Severity().String(), Title: notifier.Title(a),
	}}
	if len(a.Events) == 1 {
		p.Type = "kpay_rotator." + string(a.Events[0].Kind)
	}
	if t := notifier.Latest(a); !t.IsZero() {
		p.Timestamp = t.UTC().Format(time.RFC3339)
	}
	events := make([]event.Event, len(a.Events))
	sizes := make([]int, len(a.Events))
	for i, e := range a.Events {
		events[i] = clip(e)
		b, err := json.Marshal(events[i])
		if err != nil {
			return nil, err
		}
		sizes[i] = len(b) + 1 // the comma
	}
	envelope, err := notifier.MarshalJSON(p)
	if err != nil {
		return nil, err
	}
	// Room for omitted_events too, should it be needed.
	room := max - len(envelope) - len(`,"omitted_events":`) - 20
	n := 0
	for n < len(events) && room-sizes[n] >= 0 {
		room -= sizes[n]
		n++
	}
	p.Data.Events, p.Data.OmittedEvents = events[:n], len(events)-n
	return notifier.MarshalJSON(p)
}

// clip bounds an event's free text; the identifiers stay whole, a
// receiver keys on them.
func clip(e event.Event) event.Event {
	e.Message = notifier.Clip(strings.ToValidUTF8(e.Message, ""), maxText)
	e.Action = notifier.Clip(strings.ToValidUTF8(e.Action, ""), maxText)
	e.Pair = notifier.Clip(strings.ToValidUTF8(e.Pair, ""), maxField)
	e.SecretID = notifier.Clip(strings.ToValidUTF8(e.SecretID, ""), maxField)
	if len(e.Fields) > 0 {
		f := make(map[string]string, len(e.Fields))
		for k, v := range e.Fields {
			f[notifier.Clip(k, maxField)] = notifier.Clip(strings.ToValidUTF8(v, ""), maxField)
		}
		e.Fields = f
	}
	return e
}
