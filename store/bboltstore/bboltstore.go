// Package bboltstore keeps kpay-rotator's state (the store contract) in
// one bbolt file: the one-host default, needing nothing but the file. The
// buckets and keys below are this backend's own; nothing outside sees them.
package bboltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"kpay-rotator/internal/atomicfile"
	"kpay-rotator/internal/failpoint"
	"kpay-rotator/store"
)

// SchemaVersion is the layout this binary reads and writes. Bump it with a
// migration when a bucket or record changes incompatibly.
const SchemaVersion = 1

// FileName is the database file inside the state directory; PIDFileName
// records which process holds it, so a second daemon can say who.
const (
	FileName    = "kpay-rotator.db"
	PIDFileName = "kpay-rotator.pid"
)

var (
	bucketMeta   = []byte("meta")
	bucketSlots  = []byte("slots")
	bucketPairs  = []byte("pairs")
	bucketProbes = []byte("probes")
	bucketEvents = []byte("events")
	// bucketRotations holds the rotation journal; bucketActive maps a slot
	// to its one rotation not yet written.
	bucketRotations = []byte("rotations")
	bucketActive    = []byte("active_rotations")
	// The alert outbox, the conditions active at each receiver, and each
	// receiver's delivery health.
	bucketOutbox    = []byte("outbox")
	bucketAlerts    = []byte("alerts")
	bucketReceivers = []byte("receivers")
	keySchema       = []byte("schema")
)

var allBuckets = [][]byte{bucketMeta, bucketSlots, bucketPairs, bucketProbes, bucketEvents, bucketRotations, bucketActive,
	bucketOutbox, bucketAlerts, bucketReceivers}

// Options configure Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock. bbolt waits forever by
	// default; a second daemon on the same state dir must fail fast
	// instead. Default 1s.
	LockTimeout time.Duration
	// ReadOnly opens with a shared lock for inspection (status).
	ReadOnly bool
	// Retention bounds the event log and probe history; zero fields take
	// store's defaults. SetRetention changes it later.
	Retention store.Retention
	// Now dates write failures; time.Now if nil.
	Now func() time.Time
}

// DB is an open state database; it implements store.Store.
type DB struct {
	db        *bolt.DB
	path      string
	readOnly  bool
	retention atomic.Pointer[store.Retention]
	pidFile   string
	now       func() time.Time
	writeFail atomic.Pointer[writeFailure]
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path with mode 0600.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, lockedError(path, opts.LockTimeout)
		}
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	s := &DB{db: db, path: path, readOnly: opts.ReadOnly, now: opts.Now}
	s.SetRetention(opts.Retention)
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		// The file never holds a secret, but it does describe which keys
		// exist and when they fail; keep it private even if it was
		// created by hand or restored with a loose mode.
		if err := os.Chmod(path, 0o600); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("restrict state database mode: %w", err)
		}
		s.pidFile = filepath.Join(filepath.Dir(path), PIDFileName)
		if err := atomicfile.Write(s.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("write pid file: %w", err)
		}
	}
	return s, nil
}

func lockedError(path string, waited time.Duration) error {
	pidFile := filepath.Join(filepath.Dir(path), PIDFileName)
	holder := "see " + pidFile
	if b, err := os.ReadFile(pidFile); err == nil {
		holder = fmt.Sprintf("%s names pid %s", pidFile, strings.TrimSpace(string(b)))
	}
	return fmt.Errorf("%w: %s (waited %s; %s); stop the other kpay-rotator or give this one another state_dir",
		store.ErrLocked, path, waited, holder)
}

func (s *DB) init() error {
	if s.readOnly {
		return s.db.View(func(tx *bolt.Tx) error { return checkSchema(tx, true) })
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := checkSchema(tx, false); err != nil {
			return err
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

func checkSchema(tx *bolt.Tx, readOnly bool) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return store.ErrNotOurs
		}
		if readOnly {
			return fmt.Errorf("%w: no schema recorded yet", store.ErrNotOurs)
		}
		return nil
	}
	v, err := strconv.Atoi(string(meta.Get(keySchema)))
	if err != nil {
		return fmt.Errorf("%w: unreadable schema version %q", store.ErrNotOurs, meta.Get(keySchema))
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w (schema %d; this binary understands %d): upgrade kpay-rotator, or restore a backup of the state directory",
			store.ErrNewerSchema, v, SchemaVersion)
	}
	return nil
}

// Location is the database file.
func (s *DB) Location() string { return s.path }

// SetRetention changes the bounds the next transactions prune to.
func (s *DB) SetRetention(r store.Retention) {
	r = r.WithDefaults()
	s.retention.Store(&r)
}

// Close closes the database and removes the pid file.
func (s *DB) Close() error {
	if s.pidFile != "" {
		_ = os.Remove(s.pidFile)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state database: %w", err)
	}
	return nil
}

// Update runs fn in one read-write transaction. A commit that fails (a
// full disk, an I/O error) is remembered until one succeeds.
func (s *DB) Update(fn func(store.Tx) error) error {
	if s.readOnly {
		return store.ErrReadOnly
	}
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(&txn{tx: tx, s: s, keep: *s.retention.Load()})
		if fnErr == nil && failpoint.Active(FailWrites) {
			// Stands for the commit failing, as on a full disk.
			return errors.New("commit: injected write failure (test build)")
		}
		return fnErr
	})
	switch {
	case err == nil:
		s.writeFail.Store(nil)
	case fnErr != nil:
		// fn's own refusal: nothing wrong with the disk.
	case s.writeFail.Load() == nil:
		s.writeFail.Store(&writeFailure{since: s.now(), err: err.Error()})
	}
	return err
}

// FailWrites is the failpoint that makes every commit fail (test builds
// only), as a full disk would.
const FailWrites = "store-writes-fail"

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

// View runs fn in a read-only transaction.
func (s *DB) View(fn func(store.Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&txn{tx: tx, s: s}) })
}

// txn is a bbolt transaction seen through the store contract. keep is
// the retention when it began: one transaction prunes to one bound.
type txn struct {
	tx   *bolt.Tx
	s    *DB
	keep store.Retention
}

var _ store.Tx = (*txn)(nil)
