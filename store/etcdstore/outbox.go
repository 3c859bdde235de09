package etcdstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"kpay-rotator/store"
)

func deliveryKey(receiver string, seq uint64) string { return pOutbox + join(receiver, seqKey(seq)) }

// PutDelivery stores d, giving it a sequence number (queue order) if it has
// none. Keys are receiver NUL seq, so one receiver's queue is contiguous.
func (t *txn) PutDelivery(d *store.Delivery) error {
	if d.Receiver == "" {
		return fmt.Errorf("queue delivery: receiver is required")
	}
	if d.Seq == 0 {
		seq, err := t.counter(keyOutboxSeq)
		if err != nil {
			return fmt.Errorf("queue delivery: %w", err)
		}
		d.Seq = seq
		t.assigned = append(t.assigned, d)
	}
	if err := t.putJSON(deliveryKey(d.Receiver, d.Seq), d); err != nil {
		return fmt.Errorf("queue delivery to %s: %w", d.Receiver, err)
	}
	return nil
}

// DeleteDelivery removes a delivery from the outbox.
func (t *txn) DeleteDelivery(receiver string, seq uint64) error {
	return t.del(deliveryKey(receiver, seq))
}

// Deliveries returns receiver's queued deliveries in queue order, up to
// limit (0: all).
func (t *txn) Deliveries(receiver string, limit int) ([]store.Delivery, error) {
	kvs, err := t.scanPrefix(pOutbox+join(receiver, ""), limit, false)
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s: %w", receiver, err)
	}
	var out []store.Delivery
	for _, e := range kvs {
		var d store.Delivery
		if err := json.Unmarshal(e.val, &d); err != nil {
			return nil, fmt.Errorf("decode delivery %q: %w", e.key, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Pending counts queued deliveries per receiver.
func (t *txn) Pending() (map[string]int, error) {
	kvs, err := t.scanPrefix(pOutbox, 0, false)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	out := map[string]int{}
	for _, e := range kvs {
		k := e.key[len(pOutbox):]
		if i := strings.LastIndexByte(k, 0); i >= 0 {
			out[k[:i]]++
		}
	}
	return out, nil
}

func alertKey(receiver, slot, condition string) string {
	return pAlerts + join(receiver, slot, condition)
}

// PutAlertState stores s.
func (t *txn) PutAlertState(s store.AlertState) error {
	return t.putJSON(alertKey(s.Receiver, s.Slot, s.Condition), s)
}

// GetAlertState returns the state of condition at receiver for slot.
func (t *txn) GetAlertState(receiver, slot, condition string) (store.AlertState, bool, error) {
	var s store.AlertState
	ok, err := t.getJSON(alertKey(receiver, slot, condition), &s)
	return s, ok, err
}

// DeleteAlertState forgets a resolved condition.
func (t *txn) DeleteAlertState(receiver, slot, condition string) error {
	return t.del(alertKey(receiver, slot, condition))
}

// AlertStates returns every active condition.
func (t *txn) AlertStates() ([]store.AlertState, error) {
	kvs, err := t.scanPrefix(pAlerts, 0, false)
	if err != nil {
		return nil, fmt.Errorf("read alert states: %w", err)
	}
	var out []store.AlertState
	for _, e := range kvs {
		var s store.AlertState
		if err := json.Unmarshal(e.val, &s); err != nil {
			return nil, fmt.Errorf("decode alert state %q: %w", e.key, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Receiver returns receiver name's delivery health.
func (t *txn) Receiver(name string) (store.ReceiverState, error) {
	s := store.ReceiverState{Name: name}
	_, err := t.getJSON(pReceivers+name, &s)
	return s, err
}

// PutReceiver stores s.
func (t *txn) PutReceiver(s store.ReceiverState) error {
	return t.putJSON(pReceivers+s.Name, s)
}
