package bboltstore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// RecordProbe appends p to the pair's probe history, dropping the oldest
// record beyond the configured bound so history never grows without limit.
func (t *txn) RecordProbe(slot, fp string, p store.ProbeRecord) error {
	b, err := t.tx.Bucket(bucketProbes).CreateBucketIfNotExists(pairKey(slot, fp))
	if err != nil {
		return fmt.Errorf("probe history of %s/%s: %w", slot, fp, err)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("probe history of %s/%s: %w", slot, fp, err)
	}
	if err := putJSON(b, u64(seq), p); err != nil {
		return fmt.Errorf("record probe of %s/%s: %w", slot, fp, err)
	}
	// Records are written in sequence and dropped from the front: in the
	// steady state only the one at seq-bound falls out, but a bound
	// lowered since the last start leaves more to drop.
	if n := uint64(t.s.probeHistory); seq > n {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq-n; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("trim probe history of %s/%s: %w", slot, fp, err)
			}
		}
	}
	return nil
}

// Probes returns up to limit most recent probes of a pair, newest first.
func (t *txn) Probes(slot, fp string, limit int) ([]store.ProbeRecord, error) {
	b := t.tx.Bucket(bucketProbes).Bucket(pairKey(slot, fp))
	if b == nil {
		return nil, nil
	}
	var out []store.ProbeRecord
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var p store.ProbeRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("decode probe %x of %s/%s: %w", k, slot, fp, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// AppendEvent assigns e its sequence number and a stable random ID (kept if
// already set) and appends it to the event log.
func (t *txn) AppendEvent(e *event.Event) error {
	b := t.tx.Bucket(bucketEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	e.Seq = seq
	if e.ID == "" {
		e.ID = newEventID()
	}
	if err := putJSON(b, u64(seq), e); err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	return nil
}

// Events returns up to limit events with Seq > after, oldest first.
func (t *txn) Events(after uint64, limit int) ([]event.Event, error) {
	return readEvents(t.tx.Bucket(bucketEvents), after, limit)
}

func readEvents(b *bolt.Bucket, after uint64, limit int) ([]event.Event, error) {
	var out []event.Event
	if after == math.MaxUint64 {
		return nil, nil // nothing can come after; after+1 would wrap to the start
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var e event.Event
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// LastEventSeq is the sequence number of the newest event (0 if none).
func (t *txn) LastEventSeq() (uint64, error) {
	k, _ := t.tx.Bucket(bucketEvents).Cursor().Last()
	if k == nil {
		return 0, nil
	}
	return binary.BigEndian.Uint64(k), nil
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "evt_" + hex.EncodeToString(b[:])
}
