package store_test

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
)

func openTemp(t *testing.T, opts store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpen_FileModeAndPIDFile(t *testing.T) {
	_, path := openTemp(t, store.Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db mode = %o, want 600", got)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), store.PIDFileName))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file = %q, want %d", got, os.Getpid())
	}
}

func TestOpen_LooseModeIsTightened(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path, store.Options{})
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
	_, path := openTemp(t, store.Options{})
	start := time.Now()
	_, err := store.Open(path, store.Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open error = %v, want ErrLocked", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second Open hung")
	}
	for _, want := range []string{path, store.PIDFileName, strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestOpen_ReadOnlyWhileLockedFails(t *testing.T) {
	_, path := openTemp(t, store.Options{})
	_, err := store.Open(path, store.Options{ReadOnly: true, LockTimeout: 20 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("read-only Open while locked = %v, want ErrLocked", err)
	}
}

func TestOpen_NewerSchemaIsClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("meta"))
		return b.Put([]byte("schema"), []byte(strconv.Itoa(store.SchemaVersion+1)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(path, store.Options{})
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
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrNotOurs) {
		t.Fatalf("Open = %v, want ErrNotOurs", err)
	}
}

func TestStore_StateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	born := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = s.Update(func(tx *store.Tx) error {
		if err := tx.PutSlot(store.SlotState{Name: "payments-live", Health: store.HealthFailing, Age: store.AgeDue, Current: "fp_1"}); err != nil {
			return err
		}
		return tx.PutPair(store.PairRecord{Slot: "payments-live", Fingerprint: "fp_1", Mask: "kpay_live_…abcd", Born: born, BornSource: store.BornSecretsManager, Role: store.RoleCurrent})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(func(tx *store.Tx) error {
		st, ok, err := tx.Slot("payments-live")
		if err != nil || !ok {
			t.Fatalf("Slot = %v, %v", ok, err)
		}
		if st.Health != store.HealthFailing || st.Age != store.AgeDue {
			t.Errorf("slot state = %s/%s, want failing/due", st.Health, st.Age)
		}
		p, ok, err := tx.Pair("payments-live", "fp_1")
		if err != nil || !ok {
			t.Fatalf("Pair = %v, %v", ok, err)
		}
		if !p.Born.Equal(born) || p.BornSource != store.BornSecretsManager {
			t.Errorf("pair born = %v (%s), want %v (secrets_manager)", p.Born, p.BornSource, born)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Update on read-only store = %v, want ErrReadOnly", err)
	}
}

func TestTx_PairsAreScopedToSlot(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	t0 := time.Now()
	err := s.Update(func(tx *store.Tx) error {
		for i, slot := range []string{"a", "a-b", "a", "b"} {
			if err := tx.PutPair(store.PairRecord{Slot: slot, Fingerprint: "fp_" + strconv.Itoa(i), FirstSeen: t0.Add(time.Duration(i) * time.Second)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *store.Tx) error {
		pairs, err := tx.Pairs("a")
		if err != nil {
			t.Fatal(err)
		}
		if len(pairs) != 2 || pairs[0].Fingerprint != "fp_0" || pairs[1].Fingerprint != "fp_2" {
			t.Errorf("Pairs(a) = %+v, want fp_0, fp_2", pairs)
		}
		return nil
	})
}

func TestTx_ProbeHistoryIsBounded(t *testing.T) {
	s, _ := openTemp(t, store.Options{ProbeHistory: 5})
	for i := 1; i <= 12; i++ {
		err := s.Update(func(tx *store.Tx) error {
			return tx.RecordProbe("s", "fp", store.ProbeRecord{Outcome: "healthy", Status: 200 + i})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = s.View(func(tx *store.Tx) error {
		all, err := tx.Probes("s", "fp", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Fatalf("kept %d probes, want 5", len(all))
		}
		if all[0].Status != 212 || all[4].Status != 208 {
			t.Errorf("probes newest first = %d..%d, want 212..208", all[0].Status, all[4].Status)
		}
		two, _ := tx.Probes("s", "fp", 2)
		if len(two) != 2 {
			t.Errorf("Probes limit 2 returned %d", len(two))
		}
		return nil
	})
}

func TestTx_EventsAreAppendOnlyWithStableIDs(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	var ids []string
	for _, k := range []event.Kind{event.KeyDue, event.KeyFailing, event.KeyRecovered} {
		e := event.New(k, time.Now(), "slot", "m")
		if err := s.Update(func(tx *store.Tx) error { return tx.AppendEvent(&e) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if ids[0] == ids[1] || !strings.HasPrefix(ids[0], "evt_") {
		t.Errorf("event ids %v are not unique evt_ ids", ids)
	}
	_ = s.View(func(tx *store.Tx) error {
		evs, err := tx.Events(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Kind != event.KeyFailing || evs[1].ID != ids[2] || evs[1].Seq != 3 {
			t.Errorf("Events(after 1) = %+v", evs)
		}
		if got := tx.LastEventSeq(); got != 3 {
			t.Errorf("LastEventSeq = %d, want 3", got)
		}
		return nil
	})
}

func TestStore_FailedUpdateWritesNothing(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	boom := errors.New("boom")
	err := s.Update(func(tx *store.Tx) error {
		e := event.New(event.KeyDue, time.Now(), "s", "m")
		if err := tx.AppendEvent(&e); err != nil {
			return err
		}
		if err := tx.PutSlot(store.SlotState{Name: "s"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	_ = s.View(func(tx *store.Tx) error {
		if _, ok, _ := tx.Slot("s"); ok {
			t.Error("slot written by a failed transaction")
		}
		if n := tx.LastEventSeq(); n != 0 {
			t.Errorf("event written by a failed transaction (seq %d)", n)
		}
		return nil
	})
}

// TestUpdate_WriteFailureIsRememberedUntilACommitWorks separates a refused
// transaction (fn's error: the disk is fine) from a failed commit.
func TestUpdate_WriteFailureIsRememberedUntilACommitWorks(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	refused := errors.New("refused by fn")
	if err := s.Update(func(*store.Tx) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if _, _, failing := s.WriteFailure(); failing {
		t.Fatal("fn's own error was taken for a failing disk")
	}
	if err := s.Update(func(*store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close() // every commit now fails
	if err := s.Update(func(*store.Tx) error { return nil }); err == nil {
		t.Fatal("Update on a closed store succeeded")
	}
	since, why, failing := s.WriteFailure()
	if !failing || why == "" || time.Since(since) > time.Minute {
		t.Errorf("WriteFailure = %v %q %v, want failing since just now with a reason", since, why, failing)
	}
	first := since
	_ = s.Update(func(*store.Tx) error { return nil })
	if since, _, _ := s.WriteFailure(); !since.Equal(first) {
		t.Errorf("a second failure moved the start from %v to %v", first, since)
	}
}
