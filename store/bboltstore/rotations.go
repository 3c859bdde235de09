package bboltstore

import (
	"encoding/json"
	"fmt"

	"kpay-rotator/store"
)

// PutRotation stores r and keeps the slot's active-rotation index: a
// rotation is the slot's active one while staged or verified.
func (t *txn) PutRotation(r store.Rotation) error {
	if r.ID == "" || r.Slot == "" {
		return fmt.Errorf("put rotation: id and slot are required")
	}
	active := t.tx.Bucket(bucketActive)
	cur := active.Get([]byte(r.Slot))
	if r.State.Active() && cur != nil && string(cur) != r.ID {
		// Refused before anything is written: a caller that goes on
		// and commits must not find the refused rotation stored.
		return fmt.Errorf("put rotation %s: slot %s already has active rotation %s", r.ID, r.Slot, cur)
	}
	if err := putJSON(t.tx.Bucket(bucketRotations), pairKey(r.Slot, r.ID), r); err != nil {
		return fmt.Errorf("put rotation %s: %w", r.ID, err)
	}
	switch {
	case r.State.Active():
		return active.Put([]byte(r.Slot), []byte(r.ID))
	case string(cur) == r.ID:
		return active.Delete([]byte(r.Slot))
	}
	return nil
}

// Rotation returns slot's rotation with id.
func (t *txn) Rotation(slot, id string) (store.Rotation, bool, error) {
	var r store.Rotation
	ok, err := getJSON(t.tx.Bucket(bucketRotations), pairKey(slot, id), &r)
	if err != nil {
		return r, false, fmt.Errorf("read rotation %s: %w", id, err)
	}
	return r, ok, nil
}

// ActiveRotation returns slot's staged or verified rotation, if any.
func (t *txn) ActiveRotation(slot string) (store.Rotation, bool, error) {
	id := t.tx.Bucket(bucketActive).Get([]byte(slot))
	if id == nil {
		return store.Rotation{}, false, nil
	}
	return t.Rotation(slot, string(id))
}

// ActiveSlots lists the slots that have an active rotation, from the
// index alone: what a hand-over pass looks at, whatever the number of
// slots.
func (t *txn) ActiveSlots() ([]string, error) {
	var out []string
	err := t.tx.Bucket(bucketActive).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out, err
}

// Rotations returns slot's rotations, newest first, up to limit (0: all).
// Keys are slot NUL id, and ids start with their UTC staging time, so key
// order within a slot is time order.
func (t *txn) Rotations(slot string, limit int) ([]store.Rotation, error) {
	var out []store.Rotation
	prefix := pairKey(slot, "")
	c := t.tx.Bucket(bucketRotations).Cursor()
	// Seek past the slot's last key, then walk back.
	k, v := c.Seek(pairKey(slot, "\xff"))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && hasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var r store.Rotation
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("decode rotation %s: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}
