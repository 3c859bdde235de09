package etcdstore

import (
	"encoding/json"
	"fmt"
	"sort"

	"kpay-rotator/store"
)

// Slot returns the state of slot name.
func (t *txn) Slot(name string) (store.SlotState, bool, error) {
	var st store.SlotState
	ok, err := t.getJSON(pSlots+name, &st)
	if err != nil {
		return store.SlotState{}, false, fmt.Errorf("read slot %s: %w", name, err)
	}
	return st, ok, nil
}

// PutSlot stores st under st.Name.
func (t *txn) PutSlot(st store.SlotState) error {
	if st.Name == "" {
		return fmt.Errorf("put slot: empty name")
	}
	if err := t.putJSON(pSlots+st.Name, st); err != nil {
		return fmt.Errorf("put slot %s: %w", st.Name, err)
	}
	return nil
}

// Slots returns every slot the store knows, by name.
func (t *txn) Slots() ([]store.SlotState, error) {
	kvs, err := t.scanPrefix(pSlots, 0, false)
	if err != nil {
		return nil, fmt.Errorf("list slots: %w", err)
	}
	out := make([]store.SlotState, 0, len(kvs))
	for _, e := range kvs {
		var st store.SlotState
		if err := json.Unmarshal(e.val, &st); err != nil {
			return nil, fmt.Errorf("decode slot %s: %w", e.key[len(pSlots):], err)
		}
		out = append(out, st)
	}
	return out, nil
}

// Pair returns the record of the pair with fingerprint fp in slot.
func (t *txn) Pair(slot, fp string) (store.PairRecord, bool, error) {
	var p store.PairRecord
	ok, err := t.getJSON(pPairs+join(slot, fp), &p)
	if err != nil {
		return store.PairRecord{}, false, fmt.Errorf("read pair %s of slot %s: %w", fp, slot, err)
	}
	return p, ok, nil
}

// PutPair stores p.
func (t *txn) PutPair(p store.PairRecord) error {
	if p.Slot == "" || p.Fingerprint == "" {
		return fmt.Errorf("put pair: slot and fingerprint are required")
	}
	if err := t.putJSON(pPairs+join(p.Slot, p.Fingerprint), p); err != nil {
		return fmt.Errorf("put pair %s of slot %s: %w", p.Fingerprint, p.Slot, err)
	}
	return nil
}

// Pairs returns every pair slot has held, oldest first.
func (t *txn) Pairs(slot string) ([]store.PairRecord, error) {
	kvs, err := t.scanPrefix(pPairs+join(slot, ""), 0, false)
	if err != nil {
		return nil, fmt.Errorf("list pairs of slot %s: %w", slot, err)
	}
	var out []store.PairRecord
	for _, e := range kvs {
		var p store.PairRecord
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, fmt.Errorf("decode pair %q: %w", e.key, err)
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstSeen.Before(out[j].FirstSeen) })
	return out, nil
}

// DeletePair forgets the pair: its record and its probe history (bounded
// by the probe bound).
func (t *txn) DeletePair(slot, fp string) error {
	if err := t.del(pPairs + join(slot, fp)); err != nil {
		return fmt.Errorf("delete pair %s of slot %s: %w", fp, slot, err)
	}
	kvs, err := t.scanPrefix(probePrefix(slot, fp), 0, false)
	if err != nil {
		return fmt.Errorf("delete probe history of pair %s of slot %s: %w", fp, slot, err)
	}
	for _, e := range kvs {
		if err := t.del(e.key); err != nil {
			return err
		}
	}
	return nil
}
