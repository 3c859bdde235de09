package bboltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	berrors "go.etcd.io/bbolt/errors"

	"kpay-rotator/store"
)

// Slot returns the state of slot name.
func (t *txn) Slot(name string) (store.SlotState, bool, error) {
	var st store.SlotState
	ok, err := getJSON(t.tx.Bucket(bucketSlots), []byte(name), &st)
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
	if err := putJSON(t.tx.Bucket(bucketSlots), []byte(st.Name), st); err != nil {
		return fmt.Errorf("put slot %s: %w", st.Name, err)
	}
	return nil
}

// Slots returns every slot the store knows, by name.
func (t *txn) Slots() ([]store.SlotState, error) {
	var out []store.SlotState
	err := t.tx.Bucket(bucketSlots).ForEach(func(k, v []byte) error {
		var st store.SlotState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("decode slot %s: %w", k, err)
		}
		out = append(out, st)
		return nil
	})
	return out, err
}

// Pair returns the record of the pair with fingerprint fp in slot.
func (t *txn) Pair(slot, fp string) (store.PairRecord, bool, error) {
	var p store.PairRecord
	ok, err := getJSON(t.tx.Bucket(bucketPairs), pairKey(slot, fp), &p)
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
	if err := putJSON(t.tx.Bucket(bucketPairs), pairKey(p.Slot, p.Fingerprint), p); err != nil {
		return fmt.Errorf("put pair %s of slot %s: %w", p.Fingerprint, p.Slot, err)
	}
	return nil
}

// Pairs returns every pair slot has held, oldest first.
func (t *txn) Pairs(slot string) ([]store.PairRecord, error) {
	var out []store.PairRecord
	prefix := append([]byte(slot), 0)
	c := t.tx.Bucket(bucketPairs).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		var p store.PairRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("decode pair %s: %w", k, err)
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstSeen.Before(out[j].FirstSeen) })
	return out, nil
}

// pairKey is slot NUL fingerprint: slot names cannot contain NUL, so one
// slot's keys never interleave with another's.
func pairKey(slot, fp string) []byte {
	k := make([]byte, 0, len(slot)+1+len(fp))
	k = append(k, slot...)
	k = append(k, 0)
	return append(k, fp...)
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

func getJSON(b interface{ Get([]byte) []byte }, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	// raw is only valid inside the transaction; Unmarshal copies.
	return true, json.Unmarshal(raw, v)
}

func putJSON(b interface{ Put([]byte, []byte) error }, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// DeletePair forgets the pair: its record and its probe history (one
// nested bucket, bounded by the probe bound).
func (t *txn) DeletePair(slot, fp string) error {
	k := pairKey(slot, fp)
	if err := t.tx.Bucket(bucketPairs).Delete(k); err != nil {
		return fmt.Errorf("delete pair %s of slot %s: %w", fp, slot, err)
	}
	if err := t.tx.Bucket(bucketProbes).DeleteBucket(k); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return fmt.Errorf("delete probe history of pair %s of slot %s: %w", fp, slot, err)
	}
	return nil
}
