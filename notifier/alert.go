package notifier

import (
	"context"
	"time"

	"kpay-rotator/event"
)

// Alert is one message to one receiver: a new event, a reminder of a
// condition still active, a resolution, or a burst grouped into one
// message.
type Alert struct {
	// ID is stable for the alert's whole life, across retries and
	// restarts: receivers use it as an idempotency key (Standard Webhooks
	// webhook-id) where the platform has one.
	ID string
	// Events holds one event, or several grouped into one message (e.g. 40
	// slots failing at once after a KPay outage). Never empty.
	Events []event.Event
	// Repeat marks a reminder of a condition that is still active.
	Repeat bool
	// Test marks a message sent by `kpay-rotator notify-test`.
	Test bool
}

// Severity is the highest severity among the alert's events.
func (a Alert) Severity() event.Severity {
	var s event.Severity
	for i, e := range a.Events {
		if i == 0 || e.Severity > s {
			s = e.Severity
		}
	}
	return s
}

// Result is what a receiver reports for one send attempt. Receivers only
// classify; the one retry loop lives with the outbox.
type Result struct {
	// Delivered: the platform accepted the message (2xx).
	Delivered bool
	// Retry: a transient failure (429, 5xx, network); try again later.
	// Neither Delivered nor Retry: a final failure (other 4xx).
	Retry bool
	// RetryAfter is the platform's requested wait (Retry-After header,
	// Discord/Telegram retry_after), zero if none.
	RetryAfter time.Duration
	// Status is the HTTP status, zero when no answer came.
	Status int
	// Detail is the platform's answer or the transport error, in one line,
	// with every secret (URL, token) removed.
	Detail string
}

// Sender delivers alerts to one destination. Implementations must never
// include the destination's URL, token or signing secret in Result.Detail,
// logs or errors.
type Sender interface {
	Send(ctx context.Context, a Alert) Result
}

// Splitter is a Sender whose destination must get every event of a burst:
// a machine receiver (the signed webhook) acts on each event, so a summary
// would lose what it needs. The outbox sends such a receiver a burst as
// several deliveries, each whole and with its own id, instead of one. Chat
// receivers are not Splitters: a person reads a burst best as one message
// that lists what fits and ends "… and N more" (More).
type Splitter interface {
	Sender
	// Split cuts a's events, in order, into runs that each fit one
	// message to the destination: a single run when a fits as it is. A
	// run holds at least one event, even one too large to send.
	Split(a Alert) [][]event.Event
}
