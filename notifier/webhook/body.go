package webhook

import (
	"errors"
	"fmt"
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

// Data is the alert. Every event of it is there: a burst too large for
// one body comes as several alerts, each with its own id (Split).
type Data struct {
	AlertID  string        `json:"alert_id"`
	Repeat   bool          `json:"repeat"`
	Test     bool          `json:"test"`
	Severity string        `json:"severity"`
	Title    string        `json:"title"`
	Events   []event.Event `json:"events"`
}

// ErrTooLarge is an alert whose body would pass the limit. The outbox
// never sends one, it cuts a burst with Split; a single event too large
// even with its free text clipped would be one.
var ErrTooLarge = errors.New("alert too large for one webhook body")

// Free text is clipped per event, so one runaway provider message cannot
// make an event too large to send.
const (
	maxText  = 2048
	maxField = 512
)

// maxID is the longest alert id Split leaves room for: the outbox's are
// 28 bytes ("alr_" and 24 hex digits) and a part's adds a short suffix.
const maxID = 64

// Body renders a as JSON of at most max bytes. It never leaves an event
// out: an alert that does not fit is ErrTooLarge.
func Body(a notifier.Alert, max int) ([]byte, error) {
	events := make([]event.Event, len(a.Events))
	for i, e := range a.Events {
		events[i] = clip(e)
	}
	b, err := notifier.MarshalJSON(payload(a, events))
	if err != nil {
		return nil, fmt.Errorf("encode the webhook body: %w", err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d events make %d bytes, over the limit of %d", ErrTooLarge, len(a.Events), len(b), max)
	}
	return b, nil
}

// payload is the body for a carrying events (a's, clipped).
func payload(a notifier.Alert, events []event.Event) Payload {
	p := Payload{Type: "kpay_rotator.group", Data: Data{
		AlertID: a.ID, Repeat: a.Repeat, Test: a.Test, Severity: a.Severity().String(), Title: notifier.Title(a), Events: events,
	}}
	if len(a.Events) == 1 {
		p.Type = "kpay_rotator." + string(a.Events[0].Kind)
	}
	if t := notifier.Latest(a); !t.IsZero() {
		p.Timestamp = t.UTC().Format(time.RFC3339)
	}
	return p
}

// Split cuts a's events, in order, into runs that each make a Body of at
// most max bytes under any alert id up to maxID bytes, each run as long as
// fits. This is the one place the body's size rule is applied to a
// burst; Body only checks it.
func Split(a notifier.Alert, max int) [][]event.Event {
	if len(a.Events) < 2 {
		return [][]event.Event{a.Events}
	}
	// sum[i] is the size of the first i events, each with the comma
	// that follows it.
	sum := make([]int, len(a.Events)+1)
	for i, e := range a.Events {
		b, err := notifier.MarshalJSON(clip(e))
		if err != nil {
			// Body reports it when the alert is sent.
			return [][]event.Event{a.Events}
		}
		sum[i+1] = sum[i] + len(b) + 1
	}
	if len(a.ID) < maxID {
		a.ID = strings.Repeat("x", maxID)
	}
	// size is the body of events [i, j): the envelope (whose title, type
	// and severity depend on the run) plus the events, less the last
	// comma.
	size := func(i, j int) int {
		run := a
		run.Events = a.Events[i:j]
		env, err := notifier.MarshalJSON(payload(run, []event.Event{}))
		if err != nil {
			return max + 1
		}
		return len(env) + sum[j] - sum[i] - 1
	}
	if size(0, len(a.Events)) <= max {
		return [][]event.Event{a.Events}
	}
	var runs [][]event.Event
	for i := 0; i < len(a.Events); {
		j := i + 1
		// The envelope is a few hundred bytes at most, so a run whose
		// events alone pass max cannot fit; only closer calls measure it.
		for j < len(a.Events) && sum[j+1]-sum[i] <= max && size(i, j+1) <= max {
			j++
		}
		runs = append(runs, a.Events[i:j])
		i = j
	}
	return runs
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
