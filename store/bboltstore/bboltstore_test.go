package bboltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kpay-rotator/event"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
	"kpay-rotator/store/storetest"
)

// TestConformance runs the store contract's suite against a real bbolt
// file per case.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, r store.Retention) store.Store {
		s, _ := openTemp(t, bboltstore.Options{Retention: r})
		return s
	})
}

func openTemp(t *testing.T, opts bboltstore.Options) (*bboltstore.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), bboltstore.FileName)
	s, err := bboltstore.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestOpen_FileModeAndPIDFile(t *testing.T) {
	_, path := openTemp(t, bboltstore.Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db mode = %o, want 600", got)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), bboltstore.PIDFileName))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file = %q, want %d", got, os.Getpid())
	}
}

func TestOpen_LooseModeIsTightened(t *testing.T) {
	path := filepath.Join(t.TempDir(), bboltstore.FileName)
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, _ := os.Stat(path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db mode after reopen = %o, want 600", got)
	}
}

func TestOpen_SecondOpenerFailsFastNamingHolder(t *testing.T) {
	_, path := openTemp(t, bboltstore.Options{})
	start := time.Now()
	_, err := bboltstore.Open(path, bboltstore.Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open error = %v, want ErrLocked", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second Open hung")
	}
	for _, want := range []string{path, bboltstore.PIDFileName, strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestOpen_ReadOnlyWhileLockedFails(t *testing.T) {
	_, path := openTemp(t, bboltstore.Options{})
	_, err := bboltstore.Open(path, bboltstore.Options{ReadOnly: true, LockTimeout: 20 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("read-only Open while locked = %v, want ErrLocked", err)
	}
}

func TestOpen_NewerSchemaIsClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), bboltstore.FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("meta"))
		return b.Put([]byte("schema"), []byte(strconv.Itoa(bboltstore.SchemaVersion+1)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = bboltstore.Open(path, bboltstore.Options{})
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("error %q does not say how to fix it", err)
	}
}

func TestOpen_ForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
	db.Close()
	if _, err := bboltstore.Open(path, bboltstore.Options{}); !errors.Is(err, store.ErrNotOurs) {
		t.Fatalf("Open = %v, want ErrNotOurs", err)
	}
}

func TestDB_StateSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), bboltstore.FileName)
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	born := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = s.Update(func(tx store.Tx) error {
		if err := tx.PutSlot(store.SlotState{Name: "payments-live", Health: store.HealthFailing, Age: store.AgeDue, Current: "fp_1"}); err != nil {
			return err
		}
		return tx.PutPair(store.PairRecord{Slot: "payments-live", Fingerprint: "fp_1", Mask: "kpay_live_…abcd", Born: born, BornSource: store.BornSecretsManager, Role: store.RoleCurrent})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = bboltstore.Open(path, bboltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		st         store.SlotState
		p          store.PairRecord
		okS, okP   bool
		errS, errP error
	)
	err = s.View(func(tx store.Tx) error {
		st, okS, errS = tx.Slot("payments-live")
		p, okP, errP = tx.Pair("payments-live", "fp_1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errS != nil || !okS {
		t.Fatalf("Slot = %v, %v", okS, errS)
	}
	if st.Health != store.HealthFailing || st.Age != store.AgeDue {
		t.Errorf("slot state = %s/%s, want failing/due", st.Health, st.Age)
	}
	if errP != nil || !okP {
		t.Fatalf("Pair = %v, %v", okP, errP)
	}
	if !p.Born.Equal(born) || p.BornSource != store.BornSecretsManager {
		t.Errorf("pair born = %v (%s), want %v (secrets_manager)", p.Born, p.BornSource, born)
	}
	if err := s.Update(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Update on read-only store = %v, want ErrReadOnly", err)
	}
	if _, _, failing := s.WriteFailure(); failing {
		t.Error("a refused write on a read-only store was taken for a failing disk")
	}
}

// TestDB_WriteFailureIsRememberedUntilACommitWorks separates a refused
// transaction (fn's error: the disk is fine) from a failed commit.
func TestDB_WriteFailureIsRememberedUntilACommitWorks(t *testing.T) {
	s, _ := openTemp(t, bboltstore.Options{})
	refused := errors.New("refused by fn")
	if err := s.Update(func(store.Tx) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if _, _, failing := s.WriteFailure(); failing {
		t.Fatal("fn's own error was taken for a failing disk")
	}
	if err := s.Update(func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close() // every commit now fails
	if err := s.Update(func(store.Tx) error { return nil }); err == nil {
		t.Fatal("Update on a closed store succeeded")
	}
	since, why, failing := s.WriteFailure()
	if !failing || why == "" || time.Since(since) > time.Minute {
		t.Errorf("WriteFailure = %v %q %v, want failing since just now with a reason", since, why, failing)
	}
	first := since
	_ = s.Update(func(store.Tx) error { return nil })
	if since, _, _ := s.WriteFailure(); !since.Equal(first) {
		t.Errorf("a second failure moved the start from %v to %v", first, since)
	}
}

// TestDB_WriteFailureDatedByOptionsNow: the failure's start comes from
// the injected clock, and a later failure does not move it.
func TestDB_WriteFailureDatedByOptionsNow(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	start := now
	s, _ := openTemp(t, bboltstore.Options{Now: func() time.Time { return now }})
	s.Close() // every commit now fails
	if err := s.Update(func(store.Tx) error { return nil }); err == nil {
		t.Fatal("Update on a closed store succeeded")
	}
	if since, _, failing := s.WriteFailure(); !failing || !since.Equal(start) {
		t.Errorf("WriteFailure since = %v (failing %v), want %v from Options.Now", since, failing, start)
	}
	now = now.Add(time.Hour)
	_ = s.Update(func(store.Tx) error { return nil })
	if since, _, _ := s.WriteFailure(); !since.Equal(start) {
		t.Errorf("a failure an hour later moved the start to %v, want %v", since, start)
	}
}

// A probe_history lowered across a restart bounds the history kept before.
func TestDB_LoweredProbeBoundTrimsOlderHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), bboltstore.FileName)
	record := func(db *bboltstore.DB, n int) {
		for i := range n {
			if err := db.Update(func(tx store.Tx) error {
				return tx.RecordProbe("s", "fp", store.ProbeRecord{Outcome: "healthy", Status: 200 + i})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, err := bboltstore.Open(path, bboltstore.Options{Retention: store.Retention{ProbeHistory: 20}})
	if err != nil {
		t.Fatal(err)
	}
	record(db, 20)
	db.Close()
	db, err = bboltstore.Open(path, bboltstore.Options{Retention: store.Retention{ProbeHistory: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	record(db, 1)
	var kept []store.ProbeRecord
	_ = db.View(func(tx store.Tx) error { kept, err = tx.Probes("s", "fp", 0); return err })
	if len(kept) != 5 || kept[0].Status != 200 {
		t.Errorf("kept %d probes (newest status %d) after lowering the bound to 5, want 5 (newest 200)", len(kept), kept[0].Status)
	}
}

// With retention the file stops growing: pages freed by dropped events
// are reused for new ones (bbolt never shrinks a file, so steady is the
// goal). Events are about the size of real ones.
func TestDB_RetentionKeepsTheFileSteady(t *testing.T) {
	s, path := openTemp(t, bboltstore.Options{Retention: store.Retention{Events: 1000}})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	appendN := func(n int) int64 {
		for range n / 100 {
			if err := s.Update(func(tx store.Tx) error {
				for range 100 {
					e := event.New(event.KeyFailing, at, "slot-0001", "slot-0001: KPay rejects the current pair kpay_live_…9f2c (401: invalid API key); payments using prod/slot-0001 fail since 2026-01-01 10:00:00 UTC")
					e.Action = "generate a new pair in the KPay dashboard, then kpay-rotator stage slot-0001"
					e.Fingerprint, e.Fields = strings.Repeat("ab", 32), map[string]string{"outcome": "rejected", "status": "401"}
					if err := tx.AppendEvent(&e); err != nil {
						return err
					}
					at = at.Add(time.Minute)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	steady := appendN(3000)
	if grown := appendN(27000); grown > steady {
		t.Errorf("keeping 1,000 events: file %d bytes after 3,000 events, %d after 30,000; want no growth", steady, grown)
	}
}
