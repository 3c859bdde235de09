package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
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

// PutDelivery stores d, giving it a sequence number (queue order) if it has
// none. Keys are receiver NUL seq, so one receiver's queue is contiguous.
func (t *Tx) PutDelivery(d *Delivery) error {
	b := t.tx.Bucket(bucketOutbox)
	if d.Seq == 0 {
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("queue delivery: %w", err)
		}
		d.Seq = seq
	}
	if err := putJSON(b, deliveryKey(d.Receiver, d.Seq), d); err != nil {
		return fmt.Errorf("queue delivery to %s: %w", d.Receiver, err)
	}
	return nil
}

// DeleteDelivery removes a delivery from the outbox.
func (t *Tx) DeleteDelivery(receiver string, seq uint64) error {
	return t.tx.Bucket(bucketOutbox).Delete(deliveryKey(receiver, seq))
}

// Deliveries returns receiver's queued deliveries in queue order, up to
// limit (0: all).
func (t *Tx) Deliveries(receiver string, limit int) ([]Delivery, error) {
	var out []Delivery
	prefix := append([]byte(receiver), 0)
	c := t.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("decode delivery %x: %w", k, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Pending counts queued deliveries per receiver.
func (t *Tx) Pending() map[string]int {
	out := map[string]int{}
	_ = t.tx.Bucket(bucketOutbox).ForEach(func(k, _ []byte) error {
		if len(k) > 9 {
			out[string(k[:len(k)-9])]++
		}
		return nil
	})
	return out
}

func deliveryKey(receiver string, seq uint64) []byte {
	k := make([]byte, 0, len(receiver)+9)
	k = append(k, receiver...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
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

func alertKey(receiver, slot, condition string) []byte {
	return []byte(receiver + "\x00" + slot + "\x00" + condition)
}

// PutAlertState stores s.
func (t *Tx) PutAlertState(s AlertState) error {
	return putJSON(t.tx.Bucket(bucketAlerts), alertKey(s.Receiver, s.Slot, s.Condition), s)
}

// GetAlertState returns the state of condition at receiver for slot.
func (t *Tx) GetAlertState(receiver, slot, condition string) (AlertState, bool, error) {
	var s AlertState
	ok, err := getJSON(t.tx.Bucket(bucketAlerts), alertKey(receiver, slot, condition), &s)
	return s, ok, err
}

// DeleteAlertState forgets a resolved condition.
func (t *Tx) DeleteAlertState(receiver, slot, condition string) error {
	return t.tx.Bucket(bucketAlerts).Delete(alertKey(receiver, slot, condition))
}

// AlertStates returns every active condition.
func (t *Tx) AlertStates() ([]AlertState, error) {
	var out []AlertState
	err := t.tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
		var s AlertState
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode alert state %q: %w", k, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// ReceiverState is a receiver's delivery health, for notifier_failing.
type ReceiverState struct {
	Name                string    `json:"name"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	// Alerted: notifier_failing went out and awaits its resolution.
	Alerted     bool      `json:"alerted,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Receiver returns receiver name's delivery health.
func (t *Tx) Receiver(name string) (ReceiverState, error) {
	s := ReceiverState{Name: name}
	_, err := getJSON(t.tx.Bucket(bucketReceivers), []byte(name), &s)
	return s, err
}

// PutReceiver stores s.
func (t *Tx) PutReceiver(s ReceiverState) error {
	return putJSON(t.tx.Bucket(bucketReceivers), []byte(s.Name), s)
}
