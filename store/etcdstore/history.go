package etcdstore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

func probePrefix(slot, fp string) string { return pProbes + join(slot, fp, "") }

// RecordProbe appends p to the pair's probe history, then drops what is
// past the retention: at most store.PruneStep of the oldest records. The
// history's numbers follow its newest record, which pruning never drops.
// One read fetches the whole history (bounded by the retention): its
// newest record numbers the new one, its oldest are pruned.
func (t *txn) RecordProbe(slot, fp string, p store.ProbeRecord) error {
	prefix := probePrefix(slot, fp)
	hist, err := t.scanPrefix(prefix, 0, false)
	if err != nil {
		return fmt.Errorf("probe history of %s/%s: %w", slot, fp, err)
	}
	seq := uint64(1)
	if len(hist) > 0 {
		n, ok := parseSeq(hist[len(hist)-1].key[len(prefix):])
		if !ok {
			return fmt.Errorf("probe history of %s/%s: unreadable key %q", slot, fp, hist[len(hist)-1].key)
		}
		seq = n + 1
	}
	if err := t.putJSON(prefix+seqKey(seq), p); err != nil {
		return fmt.Errorf("record probe of %s/%s: %w", slot, fp, err)
	}
	if _, _, err := t.dropOldest(hist, prefix, seq, t.keep.ProbeHistory, cutoff(p.At, t.keep.ProbeAge), store.PruneStep); err != nil {
		return fmt.Errorf("trim probe history of %s/%s: %w", slot, fp, err)
	}
	return nil
}

// prune drops from the records under prefix, numbered up to last (the
// record just written), the oldest beyond the keep newest or dated before
// notBefore (zero: no age bound), at most store.PruneStep of them. It
// reads the two oldest first: in the steady state one write drops one
// record.
func (t *txn) prune(prefix string, last uint64, keep int, notBefore time.Time) error {
	dropped, limit := 0, 2
	for dropped < store.PruneStep {
		olds, err := t.scanPrefix(prefix, limit, false)
		if err != nil {
			return err
		}
		n, done, err := t.dropOldest(olds, prefix, last, keep, notBefore, store.PruneStep-dropped)
		if err != nil || done || len(olds) < limit {
			return err
		}
		dropped += n
		limit = store.PruneStep - dropped + 1
	}
	return nil
}

// dropOldest deletes from olds (the oldest records under prefix, oldest
// first) those past the bounds, at most most of them; done when it met
// one within them. Records only go from the front, so the numbers left
// are contiguous and last-first+1 is their count.
func (t *txn) dropOldest(olds []kv, prefix string, last uint64, keep int, notBefore time.Time, most int) (n int, done bool, err error) {
	for _, e := range olds {
		if n == most {
			return n, true, nil
		}
		first, ok := parseSeq(e.key[len(prefix):])
		if !ok {
			return n, true, fmt.Errorf("unreadable key %q", e.key)
		}
		if last-first < uint64(keep) && !datedBefore(e.val, notBefore) {
			return n, true, nil // the oldest is within both bounds, so all the rest are
		}
		if err := t.del(e.key); err != nil {
			return n, true, err
		}
		n++
	}
	return n, n == most, nil
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
// dated by "at") is dated before t.
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
	kvs, err := t.scanPrefix(probePrefix(slot, fp), limit, true)
	if err != nil {
		return nil, fmt.Errorf("read probes of %s/%s: %w", slot, fp, err)
	}
	out := make([]store.ProbeRecord, 0, len(kvs))
	for _, e := range kvs {
		var p store.ProbeRecord
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, fmt.Errorf("decode probe %q of %s/%s: %w", e.key, slot, fp, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// AppendEvent assigns e its sequence number and a stable random ID (kept
// if already set), appends it, then drops what is past the retention. The
// counter survives the events it numbered, so a number is never reused.
func (t *txn) AppendEvent(e *event.Event) error {
	seq, err := t.counter(keyEventSeq)
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	e.Seq = seq
	if e.ID == "" {
		e.ID = newEventID()
	}
	if err := t.putJSON(pEvents+seqKey(seq), e); err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	if err := t.prune(pEvents, seq, t.keep.Events, cutoff(e.At, t.keep.EventAge)); err != nil {
		return fmt.Errorf("drop old events: %w", err)
	}
	return nil
}

// Events returns up to limit events with Seq > after, oldest first.
func (t *txn) Events(after uint64, limit int) ([]event.Event, error) {
	if after == math.MaxUint64 {
		return nil, nil
	}
	kvs, err := t.scan(pEvents+seqKey(after+1), prefixEnd(pEvents), limit, false)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []event.Event
	for _, kv := range kvs {
		var e event.Event
		if err := json.Unmarshal(kv.val, &e); err != nil {
			return nil, fmt.Errorf("decode event %s: %w", kv.key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// LastEventSeq is the sequence number of the newest event (0 if none).
func (t *txn) LastEventSeq() (uint64, error) {
	kvs, err := t.scanPrefix(pEvents, 1, true)
	if err != nil || len(kvs) == 0 {
		return 0, err
	}
	n, _ := parseSeq(kvs[0].key[len(pEvents):])
	return n, nil
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "evt_" + hex.EncodeToString(b[:])
}
