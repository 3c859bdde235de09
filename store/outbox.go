package store

import (
	"time"

	"kpay-rotator/event"
)

// Delivery is one message waiting for one receiver: an event, a reminder
// of an active condition, or several events grouped. It is written in the
// transaction that records the event, and deleted once delivered, given up
// or handed to a fallback receiver: the outbox is at-least-once.
type Delivery struct {
	// ID is the alert's stable id, the same across retries and restarts
	// (Standard Webhooks webhook-id).
	ID       string        `json:"id"`
	Receiver string        `json:"receiver"`
	Seq      uint64        `json:"seq"`
	Events   []event.Event `json:"events"`
	Repeat   bool          `json:"repeat,omitempty"`
	// CreatedAt is when the oldest event was queued: max_delivery_age
	// counts from it.
	CreatedAt time.Time `json:"created_at"`
	// DueAt is the earliest next attempt (group_wait for a first attempt,
	// backoff or Retry-After for later ones).
	DueAt         time.Time `json:"due_at"`
	Attempts      int       `json:"attempts,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	// Origin names the receiver a fallback delivery was meant for.
	Origin string `json:"origin,omitempty"`
}

// AlertState is a condition (health, age, …) active at one receiver for one
// slot: what raised it, and when it was last sent, for repeat_interval.
type AlertState struct {
	Receiver  string      `json:"receiver"`
	Slot      string      `json:"slot"`
	Condition string      `json:"condition"`
	Event     event.Event `json:"event"`
	Since     time.Time   `json:"since"`
	LastSent  time.Time   `json:"last_sent"`
}

// ReceiverState is a receiver's delivery health, for notifier_failing and
// the back-off.
type ReceiverState struct {
	Name                string    `json:"name"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	// Alerted: notifier_failing went out and awaits its resolution.
	Alerted     bool      `json:"alerted,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// RetryAt is, while the receiver is failing, when it may be tried
	// again (back-off or its Retry-After); until then nothing is sent to
	// it.
	RetryAt time.Time `json:"retry_at,omitzero"`
}
