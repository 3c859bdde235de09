package etcdstore

import (
	"encoding/json"
	"fmt"

	"kpay-rotator/store"
)

// PutRotation stores r and keeps the slot's active-rotation index.
func (t *txn) PutRotation(r store.Rotation) error {
	if r.ID == "" || r.Slot == "" {
		return fmt.Errorf("put rotation: id and slot are required")
	}
	cur, _, err := t.get(pActive + r.Slot)
	if err != nil {
		return fmt.Errorf("put rotation %s: %w", r.ID, err)
	}
	if r.State.Active() && cur != nil && string(cur) != r.ID {
		// Refused before anything is written: a caller that goes on
		// and commits must not find the refused rotation stored.
		return fmt.Errorf("put rotation %s: slot %s already has active rotation %s", r.ID, r.Slot, cur)
	}
	if err := t.putJSON(pRotations+join(r.Slot, r.ID), r); err != nil {
		return fmt.Errorf("put rotation %s: %w", r.ID, err)
	}
	switch {
	case r.State.Active():
		return t.put(pActive+r.Slot, []byte(r.ID))
	case cur != nil && string(cur) == r.ID:
		return t.del(pActive + r.Slot)
	}
	return nil
}

// Rotation returns slot's rotation with id.
func (t *txn) Rotation(slot, id string) (store.Rotation, bool, error) {
	var r store.Rotation
	ok, err := t.getJSON(pRotations+join(slot, id), &r)
	if err != nil {
		return r, false, fmt.Errorf("read rotation %s: %w", id, err)
	}
	return r, ok, nil
}

// ActiveRotation returns slot's rotation not yet written, if any.
func (t *txn) ActiveRotation(slot string) (store.Rotation, bool, error) {
	id, ok, err := t.get(pActive + slot)
	if err != nil || !ok {
		return store.Rotation{}, false, err
	}
	return t.Rotation(slot, string(id))
}

// ActiveSlots lists the slots that have an active rotation, from the
// index alone.
func (t *txn) ActiveSlots() ([]string, error) {
	kvs, err := t.scanPrefix(pActive, 0, false)
	if err != nil {
		return nil, fmt.Errorf("list active rotations: %w", err)
	}
	var out []string
	for _, e := range kvs {
		out = append(out, e.key[len(pActive):])
	}
	return out, nil
}

// Rotations returns slot's rotations, newest first (ids start with their
// UTC time, so key order is time order), up to limit (0: all).
func (t *txn) Rotations(slot string, limit int) ([]store.Rotation, error) {
	kvs, err := t.scanPrefix(pRotations+join(slot, ""), limit, true)
	if err != nil {
		return nil, fmt.Errorf("list rotations of slot %s: %w", slot, err)
	}
	var out []store.Rotation
	for _, e := range kvs {
		var r store.Rotation
		if err := json.Unmarshal(e.val, &r); err != nil {
			return nil, fmt.Errorf("decode rotation %q: %w", e.key, err)
		}
		out = append(out, r)
	}
	return out, nil
}
