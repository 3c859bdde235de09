package etcdstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/store"
)

// Keys under the prefix. Record keys join their parts with NUL, which no
// name holds, so one slot's (or receiver's) keys never interleave with
// those of another whose name it starts; sequence numbers are 16 hex
// digits, so key order is number order.
const (
	keySchema    = "meta/schema"
	keyCommit    = "meta/commit" // rewritten by every commit: the state's version
	keyEventSeq  = "meta/event_seq"
	keyOutboxSeq = "meta/outbox_seq"
	pSlots       = "slots/"
	pPairs       = "pairs/"
	pProbes      = "probes/"
	pEvents      = "events/"
	pRotations   = "rotations/"
	pActive      = "active_rotations/" // slot -> its one rotation not yet written
	pOutbox      = "outbox/"
	pAlerts      = "alerts/"
	pReceivers   = "receivers/"
)

// txn is one transaction: reads at one revision (the first read's),
// writes buffered until commit. Reads see the buffered writes.
type txn struct {
	s     *DB
	write bool
	keep  store.Retention
	rev   int64
	// writes maps a key to its new value; nil is a delete.
	writes map[string][]byte
	// read caches point reads at rev (nil: absent).
	read map[string][]byte
	// err is the first etcd failure while reading: fn may swallow the
	// error a method returned, but the transaction must not commit.
	err error
	// assigned are deliveries given a sequence number by this attempt,
	// so a re-run gives them one again.
	assigned []*store.Delivery
}

var _ store.Tx = (*txn)(nil)

func (s *DB) newTx(write bool) *txn {
	return &txn{s: s, write: write, keep: *s.retention.Load(), writes: map[string][]byte{}, read: map[string][]byte{}}
}

// undo forgets what a failed attempt handed out, before fn runs again.
func (t *txn) undo() {
	for _, d := range t.assigned {
		d.Seq = 0
	}
}

type kv struct {
	key string // without the prefix
	val []byte
}

// do runs one read at t's revision, fixing the revision on the first.
func (t *txn) do(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.timeout)
	defer cancel()
	resp, err := t.s.cli.Get(ctx, t.s.prefix+key, opts...)
	if err != nil {
		t.err = fmt.Errorf("read etcd %s: %w", t.s.Location(), err)
		return nil, t.err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// get returns key's value (without prefix) as this transaction sees it.
func (t *txn) get(key string) ([]byte, bool, error) {
	if v, ok := t.writes[key]; ok {
		return v, v != nil, nil
	}
	if v, ok := t.read[key]; ok {
		return v, v != nil, nil
	}
	resp, err := t.do(key)
	if err != nil {
		return nil, false, err
	}
	var v []byte
	if len(resp.Kvs) == 1 {
		v = resp.Kvs[0].Value
		if v == nil {
			v = []byte{}
		}
	}
	t.read[key] = v
	return v, v != nil, nil
}

// scan returns the keys in [from, to) as this transaction sees them, in
// key order (descending if desc), at most limit (0: all).
func (t *txn) scan(from, to string, limit int, desc bool) ([]kv, error) {
	// Buffered writes in the range: deletes hide stored keys, so read as
	// many more as there are of them.
	var mine []string
	dels := 0
	for k, v := range t.writes {
		if k >= from && k < to {
			mine = append(mine, k)
			if v == nil {
				dels++
			}
		}
	}
	opts := []clientv3.OpOption{clientv3.WithRange(t.s.prefix + to)}
	order := clientv3.SortAscend
	if desc {
		order = clientv3.SortDescend
	}
	opts = append(opts, clientv3.WithSort(clientv3.SortByKey, order))
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit+dels)))
	}
	resp, err := t.do(from, opts...)
	if err != nil {
		return nil, err
	}
	merged := make(map[string][]byte, len(resp.Kvs)+len(mine))
	for _, e := range resp.Kvs {
		k := strings.TrimPrefix(string(e.Key), t.s.prefix)
		merged[k] = e.Value
	}
	for _, k := range mine {
		merged[k] = t.writes[k]
	}
	keys := slices.Sorted(maps.Keys(merged))
	if desc {
		slices.Reverse(keys)
	}
	// With a limit, stored keys past the last one read are unknown; a
	// buffered key beyond them must not stand in for them.
	var bound string
	if limit > 0 && len(resp.Kvs) == limit+dels && len(resp.Kvs) > 0 {
		bound = strings.TrimPrefix(string(resp.Kvs[len(resp.Kvs)-1].Key), t.s.prefix)
	}
	out := make([]kv, 0, len(keys))
	for _, k := range keys {
		if bound != "" && ((!desc && k > bound) || (desc && k < bound)) {
			break
		}
		if v := merged[k]; v != nil {
			out = append(out, kv{k, v})
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (t *txn) scanPrefix(prefix string, limit int, desc bool) ([]kv, error) {
	return t.scan(prefix, prefixEnd(prefix), limit, desc)
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p string) string {
	return strings.TrimPrefix(clientv3.GetPrefixRangeEnd("\x01"+p), "\x01")
}

func (t *txn) put(key string, v []byte) error {
	if !t.write {
		return store.ErrReadOnly
	}
	if v == nil {
		v = []byte{}
	}
	t.writes[key] = v
	return nil
}

func (t *txn) del(key string) error {
	if !t.write {
		return store.ErrReadOnly
	}
	t.writes[key] = nil
	return nil
}

func (t *txn) putJSON(key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.put(key, raw)
}

func (t *txn) getJSON(key string, v any) (bool, error) {
	raw, ok, err := t.get(key)
	if err != nil || !ok {
		return false, err
	}
	return true, json.Unmarshal(raw, v)
}

// ops are the buffered writes as etcd operations, in key order, and their
// size in bytes. A delete of a key that is not stored is dropped: etcd
// refuses a put and a delete of one key in one transaction, and the
// delete would change nothing.
func (t *txn) ops() ([]clientv3.Op, int) {
	var ops []clientv3.Op
	size := 0
	for _, k := range slices.Sorted(maps.Keys(t.writes)) {
		v := t.writes[k]
		if v == nil {
			if r, ok := t.read[k]; ok && r == nil {
				continue // read as absent at rev; the commit checks rev
			}
			ops = append(ops, clientv3.OpDelete(t.s.prefix+k))
		} else {
			ops = append(ops, clientv3.OpPut(t.s.prefix+k, string(v)))
		}
		size += len(t.s.prefix) + len(k) + len(v) + 16
	}
	return ops, size
}

// counter returns the next number of the sequence at key, and records it.
func (t *txn) counter(key string) (uint64, error) {
	raw, ok, err := t.get(key)
	if err != nil {
		return 0, err
	}
	var n uint64
	if ok {
		if _, err := fmt.Sscan(string(raw), &n); err != nil {
			return 0, fmt.Errorf("read sequence %s: %w", key, err)
		}
	}
	n++
	return n, t.put(key, fmt.Appendf(nil, "%d", n))
}

func join(parts ...string) string { return strings.Join(parts, "\x00") }

func seqKey(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return hex.EncodeToString(b[:])
}

func parseSeq(s string) (uint64, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
