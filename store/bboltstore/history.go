package bboltstore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// RecordProbe appends p to the pair's probe history, then drops what is
// past the retention: at most store.PruneStep of the oldest records.
func (t *txn) RecordProbe(slot, fp string, p store.ProbeRecord) error {
	b, err := t.tx.Bucket(bucketProbes).CreateBucketIfNotExists(pairKey(slot, fp))
	if err != nil {
		return fmt.Errorf("probe history of %s/%s: %w", slot, fp, err)
	}
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("probe history of %s/%s: %w", slot, fp, err)
	}
	if err := putJSON(b, u64(seq), p); err != nil {
		return fmt.Errorf("record probe of %s/%s: %w", slot, fp, err)
	}
	if err := prune(b, seq, t.keep.ProbeHistory, cutoff(p.At, t.keep.ProbeAge)); err != nil {
		return fmt.Errorf("trim probe history of %s/%s: %w", slot, fp, err)
	}
	return nil
}

// appendFill is how full pages of the event log and probe histories are
// left when they split. bbolt's default (half) suits random inserts; these
// buckets are only appended to, in key order, so a half-empty page never
// fills again: 10,000 events took 32 MiB of file at half, 8 MiB at 90%.
const appendFill = 0.9

// prune drops from bucket b, whose keys are sequence numbers up to last
// (the record just written), the oldest records beyond the keep newest or
// dated before notBefore (zero: no age bound), at most store.PruneStep of
// them. Records only ever go from the front, so the keys left are
// contiguous and last-first+1 is their count: no scan to count them.
func prune(b *bolt.Bucket, last uint64, keep int, notBefore time.Time) error {
	c := b.Cursor()
	for range store.PruneStep {
		k, v := c.First()
		if k == nil {
			return nil
		}
		if first := binary.BigEndian.Uint64(k); last-first < uint64(keep) && !datedBefore(v, notBefore) {
			return nil // the oldest is within both bounds, so all the rest are
		}
		// The cursor is re-positioned by First each round: bbolt may skip
		// keys when deleting while iterating.
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// cutoff is the oldest time kept when the newest record is dated at and
// records are kept for age; zero (no age bound) when at is not set.
func cutoff(at time.Time, age time.Duration) time.Time {
	if at.IsZero() || age <= 0 {
		return time.Time{}
	}
	return at.Add(-age)
}

// datedBefore reports whether the record raw (an event or a probe, both
// dated by "at") is dated before t; an undated record counts as older than
// any t.
func datedBefore(raw []byte, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	var rec struct {
		At time.Time `json:"at"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return false // unreadable: leave it to the count bound
	}
	return rec.At.Before(t)
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
// already set) and appends it to the event log, then drops what is past the
// retention: at most store.PruneStep of the oldest events. The bucket's
// sequence survives the events it numbered, so a number is never reused.
func (t *txn) AppendEvent(e *event.Event) error {
	b := t.tx.Bucket(bucketEvents)
	b.FillPercent = appendFill
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
	if err := prune(b, seq, t.keep.Events, cutoff(e.At, t.keep.EventAge)); err != nil {
		return fmt.Errorf("drop old events: %w", err)
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
