// Package etcdstore keeps kpay-rotator's state (the store contract) in
// etcd, under one key prefix, for daemons on several hosts. The keys below
// are this backend's own; nothing outside sees them.
//
// A View reads at one etcd revision, so it sees one consistent state. An
// Update reads at one revision too, buffers its writes, and commits them
// in ONE etcd transaction, conditional on nothing having been committed
// under the prefix since that revision (one commit key, rewritten by every
// commit, stands for the whole state); a conflict re-runs fn on the new
// state, a few times at most. Updates of one process are serialized, so fn
// runs more than once only when another process committed meanwhile.
//
// A Guard adds comparisons to every commit (a later fencing layer: "I
// still lead"); when they fail the Update writes nothing and returns
// store.ErrFenced.
//
// Bounds: etcd refuses a transaction of more than --max-txn-ops (128 by
// default) operations or --max-request-bytes (1.5 MiB) bytes. Writes are
// sent as nested transactions, which etcd counts apart, so one Update may
// write up to about 4,000 keys (MaxWrites at the default limits) within
// MaxTxnBytes; a larger one fails with ErrTooLarge and writes nothing. A
// group commit of 50 probes writes some 150 to 200 keys.
package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/internal/failpoint"
	"kpay-rotator/store"
)

// SchemaVersion is the layout this binary reads and writes.
const SchemaVersion = 1

// DefaultPrefix is where the state lives when no prefix is configured.
const DefaultPrefix = "/kpay-rotator/"

// Defaults of Options.
const (
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxTxnOps and DefaultMaxTxnBytes are etcd's own defaults
	// (--max-txn-ops, --max-request-bytes less room for the request's
	// framing).
	DefaultMaxTxnOps   = 128
	DefaultMaxTxnBytes = 1536*1024 - 64*1024
	// maxAttempts bounds the re-runs of an Update that keeps conflicting
	// with another process's commits (each after a random back-off).
	maxAttempts = 10
)

// FailWrites is the failpoint that makes every commit fail (test builds
// only), as bboltstore's does.
const FailWrites = "store-writes-fail"

// Errors of this backend.
var (
	// ErrTooLarge: an Update wrote more than one etcd transaction can
	// carry; nothing was written.
	ErrTooLarge = errors.New("etcdstore: transaction too large for one etcd transaction")
	// ErrConflict: other processes kept committing while an Update ran,
	// maxAttempts times; nothing was written.
	ErrConflict = errors.New("etcdstore: the state kept changing under the transaction")
)

// Options configure Open.
type Options struct {
	// Prefix is where the state lives; it must end with "/". Default
	// DefaultPrefix.
	Prefix string
	// RequestTimeout bounds each etcd request. Default 5s.
	RequestTimeout time.Duration
	// ReadOnly refuses Update (status).
	ReadOnly bool
	// Retention bounds the event log and probe history.
	Retention store.Retention
	// Now dates write failures; time.Now if nil.
	Now func() time.Time
	// Guard, if set, returns comparisons every commit must also pass
	// (SetGuard changes it later).
	Guard func() []clientv3.Cmp
	// MaxTxnOps and MaxTxnBytes are the server's limits; defaults
	// DefaultMaxTxnOps and DefaultMaxTxnBytes.
	MaxTxnOps, MaxTxnBytes int
	// CloseClient makes Close close the client too.
	CloseClient bool
}

// DB is state kept in etcd; it implements store.Store.
type DB struct {
	cli       *clientv3.Client
	prefix    string
	timeout   time.Duration
	readOnly  bool
	now       func() time.Time
	maxOps    int
	maxBytes  int
	closeCli  bool
	retention atomic.Pointer[store.Retention]
	guard     atomic.Pointer[func() []clientv3.Cmp]
	writeFail atomic.Pointer[writeFailure]

	// mu serializes this process's Updates, as bbolt's single writer
	// does: they never conflict with each other.
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

var _ store.Store = (*DB)(nil)

// CheckPrefix reports what is wrong with a key prefix, if anything.
func CheckPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("is empty; e.g. prefix = \"" + DefaultPrefix + "\"")
	case !strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q does not end with \"/\", so it would share keys with any prefix it starts (%q and %q2); e.g. prefix = %q", p, p, p, p+"/")
	case strings.ContainsRune(p, 0):
		return errors.New("holds a NUL byte; use printable characters, e.g. prefix = \"" + DefaultPrefix + "\"")
	}
	return nil
}

// Open opens the state under opts.Prefix through cli, recording the
// schema there when it is empty (unless read-only).
func Open(ctx context.Context, cli *clientv3.Client, opts Options) (*DB, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := CheckPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("etcd prefix %w", err)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	if opts.MaxTxnBytes <= 0 {
		opts.MaxTxnBytes = DefaultMaxTxnBytes
	}
	s := &DB{cli: cli, prefix: opts.Prefix, timeout: opts.RequestTimeout, readOnly: opts.ReadOnly, now: opts.Now,
		maxOps: opts.MaxTxnOps, maxBytes: opts.MaxTxnBytes, closeCli: opts.CloseClient}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.SetRetention(opts.Retention)
	s.SetGuard(opts.Guard)
	if err := s.init(ctx); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

// init checks and records the schema: the first requests, which also
// connect, so they get ctx's deadline when it has one (a dial timeout)
// rather than the request timeout.
func (s *DB) init(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	key := s.prefix + keySchema
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("etcd %s did not answer: %w", strings.Join(s.cli.Endpoints(), ","), err)
	}
	if len(resp.Kvs) == 1 {
		v, err := strconv.Atoi(string(resp.Kvs[0].Value))
		if err != nil {
			return fmt.Errorf("%w: %s holds an unreadable schema version %q", store.ErrNotOurs, key, resp.Kvs[0].Value)
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w (schema %d; this binary understands %d): upgrade kpay-rotator on every host sharing %s",
				store.ErrNewerSchema, v, SchemaVersion, s.Location())
		}
		return nil
	}
	n, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("open state in etcd %s: %w", s.Location(), err)
	}
	if n.Count > 0 {
		return fmt.Errorf("%w: %s holds %d keys but no kpay-rotator schema; give kpay-rotator a prefix of its own ([store] prefix)",
			store.ErrNotOurs, s.Location(), n.Count)
	}
	if s.readOnly {
		return nil // nothing recorded yet: reads find nothing
	}
	_, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, strconv.Itoa(SchemaVersion))).Commit()
	if err != nil {
		return fmt.Errorf("record schema in etcd %s: %w", s.Location(), err)
	}
	return nil
}

// Location names the cluster and prefix.
func (s *DB) Location() string {
	return "etcd " + strings.Join(s.cli.Endpoints(), ",") + " prefix " + s.prefix
}

// SetRetention changes the bounds the next transactions prune to.
func (s *DB) SetRetention(r store.Retention) {
	r = r.WithDefaults()
	s.retention.Store(&r)
}

// SetGuard replaces the comparisons every later commit must pass (nil:
// none).
func (s *DB) SetGuard(g func() []clientv3.Cmp) { s.guard.Store(&g) }

// Client is the store's etcd client, for the election whose key the
// guard compares.
func (s *DB) Client() *clientv3.Client { return s.cli }

// Close ends the store's requests (and the client, with CloseClient).
func (s *DB) Close() error {
	s.cancel()
	if s.closeCli {
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("close etcd client: %w", err)
		}
	}
	return nil
}

type writeFailure struct {
	since time.Time
	err   string
}

// WriteFailure reports whether commits are failing, since when and why.
func (s *DB) WriteFailure() (since time.Time, reason string, failing bool) {
	if f := s.writeFail.Load(); f != nil {
		return f.since, f.err, true
	}
	return time.Time{}, "", false
}

func (s *DB) failed(err error) {
	if s.writeFail.Load() == nil {
		s.writeFail.Store(&writeFailure{since: s.now(), err: err.Error()})
	}
}

// View runs fn on the state at one revision. A revision compacted away
// while fn read restarts it on a newer one.
func (s *DB) View(fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		t := s.newTx(false)
		err := fn(t)
		if errors.Is(t.err, rpctypes.ErrCompacted) && attempt < maxAttempts {
			continue
		}
		return err
	}
}

// Update runs fn and commits what it wrote in one etcd transaction.
func (s *DB) Update(fn func(store.Tx) error) error {
	if s.readOnly {
		return store.ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		t := s.newTx(true)
		fnErr := fn(t)
		retry := attempt < maxAttempts
		switch {
		case errors.Is(t.err, rpctypes.ErrCompacted) && retry:
			t.undo()
			continue
		case t.err != nil:
			// etcd failed under fn: the state cannot be read, so none
			// can be recorded either.
			s.failed(t.err)
			if fnErr == nil {
				fnErr = t.err
			}
			return fnErr
		case fnErr != nil:
			return fnErr
		}
		err := s.commit(t)
		switch {
		case err == nil:
			s.writeFail.Store(nil)
			return nil
		case errors.Is(err, errConflict) && retry:
			t.undo()
			s.backoff(attempt)
			continue
		case errors.Is(err, errConflict):
			err = fmt.Errorf("%w (%d attempts); is another process writing under %s?", ErrConflict, attempt, s.prefix)
		case errors.Is(err, store.ErrFenced):
			return err
		}
		s.failed(err)
		return err
	}
}

var errConflict = errors.New("conflict")

// backoff waits a random while, longer after each conflict: two processes
// that keep re-running at once would keep colliding, and one could lose
// every round.
func (s *DB) backoff(attempt int) {
	d := time.Duration(rand.Int64N(int64(min(100*time.Millisecond, time.Millisecond<<attempt))))
	select {
	case <-time.After(d):
	case <-s.ctx.Done():
	}
}

// commit sends t's writes as one transaction: the guard's comparisons
// around a transaction that compares the commit key's revision with the
// one t read at, and applies the writes in chunks (nested transactions,
// which etcd's operation limit counts level by level).
func (s *DB) commit(t *txn) error {
	ops, size := t.ops()
	if len(ops) == 0 {
		return nil
	}
	if failpoint.Active(FailWrites) {
		return errors.New("commit: injected write failure (test build)")
	}
	var guard []clientv3.Cmp
	if g := *s.guard.Load(); g != nil {
		guard = g()
	}
	commitKey := s.prefix + keyCommit
	ops = append(ops, clientv3.OpPut(commitKey, ""))
	size += len(commitKey)
	var cmps []clientv3.Cmp
	if t.rev > 0 {
		// Nothing committed since the revision fn read at.
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(commitKey), "<", t.rev+1))
	}
	budget := s.maxOps - max(len(guard), 1)
	chunks, err := chunk(ops, budget)
	if err != nil || size > s.maxBytes {
		return fmt.Errorf("%w: %d writes, %d bytes (at most %d writes and %d bytes); split the work over several updates",
			ErrTooLarge, len(ops)-1, size, capacity(budget), s.maxBytes)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(guard...).Then(clientv3.OpTxn(cmps, chunks, nil)).Commit()
	if err != nil {
		return fmt.Errorf("commit to etcd %s: %w", s.Location(), err)
	}
	if !resp.Succeeded {
		return store.ErrFenced
	}
	if !resp.Responses[0].GetResponseTxn().Succeeded {
		return errConflict
	}
	return nil
}

// chunk lays ops out for a transaction whose Then may hold budget
// operations: flat if they fit, else as k nested transactions of at most
// budget-k operations each (etcd gives a nested transaction what its
// parent leaves).
func chunk(ops []clientv3.Op, budget int) ([]clientv3.Op, error) {
	if len(ops) <= budget {
		return ops, nil
	}
	for k := 2; k <= budget/2; k++ {
		per := budget - k
		if k*per < len(ops) {
			continue
		}
		var out []clientv3.Op
		for i := 0; i < len(ops); i += per {
			out = append(out, clientv3.OpTxn(nil, ops[i:min(i+per, len(ops))], nil))
		}
		return out, nil
	}
	return nil, ErrTooLarge
}

// capacity is the most writes chunk can lay out within budget.
func capacity(budget int) int {
	k := budget / 2
	return k*(budget-k) - 1 // less the commit key
}

// MaxWrites is how many keys one Update may write at the default limits
// and no guard comparison beyond one.
var MaxWrites = capacity(DefaultMaxTxnOps - 1)
