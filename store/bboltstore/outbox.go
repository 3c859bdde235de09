package bboltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"kpay-rotator/store"
)

// PutDelivery stores d, giving it a sequence number (queue order) if it has
// none. Keys are receiver NUL seq, so one receiver's queue is contiguous.
func (t *txn) PutDelivery(d *store.Delivery) error {
	if d.Receiver == "" {
		return fmt.Errorf("queue delivery: receiver is required")
	}
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
func (t *txn) DeleteDelivery(receiver string, seq uint64) error {
	return t.tx.Bucket(bucketOutbox).Delete(deliveryKey(receiver, seq))
}

// Deliveries returns receiver's queued deliveries in queue order, up to
// limit (0: all).
func (t *txn) Deliveries(receiver string, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	prefix := append([]byte(receiver), 0)
	c := t.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var d store.Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("decode delivery %x: %w", k, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Pending counts queued deliveries per receiver.
func (t *txn) Pending() (map[string]int, error) {
	out := map[string]int{}
	err := t.tx.Bucket(bucketOutbox).ForEach(func(k, _ []byte) error {
		if len(k) > 9 {
			out[string(k[:len(k)-9])]++
		}
		return nil
	})
	return out, err
}

func deliveryKey(receiver string, seq uint64) []byte {
	k := make([]byte, 0, len(receiver)+9)
	k = append(k, receiver...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func alertKey(receiver, slot, condition string) []byte {
	return []byte(receiver + "\x00" + slot + "\x00" + condition)
}

// PutAlertState stores s.
func (t *txn) PutAlertState(s store.AlertState) error {
	return putJSON(t.tx.Bucket(bucketAlerts), alertKey(s.Receiver, s.Slot, s.Condition), s)
}

// GetAlertState returns the state of condition at receiver for slot.
func (t *txn) GetAlertState(receiver, slot, condition string) (store.AlertState, bool, error) {
	var s store.AlertState
	ok, err := getJSON(t.tx.Bucket(bucketAlerts), alertKey(receiver, slot, condition), &s)
	return s, ok, err
}

// DeleteAlertState forgets a resolved condition.
func (t *txn) DeleteAlertState(receiver, slot, condition string) error {
	return t.tx.Bucket(bucketAlerts).Delete(alertKey(receiver, slot, condition))
}

// AlertStates returns every active condition.
func (t *txn) AlertStates() ([]store.AlertState, error) {
	var out []store.AlertState
	err := t.tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
		var s store.AlertState
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode alert state %q: %w", k, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// Receiver returns receiver name's delivery health.
func (t *txn) Receiver(name string) (store.ReceiverState, error) {
	s := store.ReceiverState{Name: name}
	_, err := getJSON(t.tx.Bucket(bucketReceivers), []byte(name), &s)
	return s, err
}

// PutReceiver stores s.
func (t *txn) PutReceiver(s store.ReceiverState) error {
	return putJSON(t.tx.Bucket(bucketReceivers), []byte(s.Name), s)
}
