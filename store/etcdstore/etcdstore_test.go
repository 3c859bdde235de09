package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/event"
	"kpay-rotator/internal/etcdtest"
	"kpay-rotator/store"
	"kpay-rotator/store/etcdstore"
	"kpay-rotator/store/storetest"
)

// dial connects to c and closes the client when t ends.
func dial(t testing.TB, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := etcdstore.Dial(etcdstore.ClientOptions{Endpoints: c.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var prefixes atomic.Int64

// freshPrefix is a prefix no other case of this run uses: one cluster
// serves many empty stores.
func freshPrefix() string { return fmt.Sprintf("/test-%d/", prefixes.Add(1)) }

func open(t testing.TB, cli *clientv3.Client, opts etcdstore.Options) *etcdstore.DB {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = freshPrefix()
	}
	s, err := etcdstore.Open(context.Background(), cli, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store contract's suite against a real etcd
// server, each case under a prefix of its own.
func TestConformance(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	storetest.Run(t, func(t *testing.T, r store.Retention) store.Store {
		return open(t, cli, etcdstore.Options{Retention: r})
	})
}

func revision(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), "any")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestDB_GuardRefusesEveryWrite: while the guard's comparison fails, an
// Update writes nothing and says ErrFenced; once it holds, writes commit.
func TestDB_GuardRefusesEveryWrite(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	ctx := context.Background()
	const leader = "/test-leader"
	if _, err := cli.Put(ctx, leader, "other-host"); err != nil {
		t.Fatal(err)
	}
	s := open(t, cli, etcdstore.Options{Guard: func() []clientv3.Cmp {
		return []clientv3.Cmp{clientv3.Compare(clientv3.Value(leader), "=", "this-host")}
	}})
	before := revision(t, cli)
	err := s.Update(func(tx store.Tx) error {
		e := eventFor("s")
		return errors.Join(tx.PutSlot(store.SlotState{Name: "s"}), tx.AppendEvent(&e))
	})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Update under a failing guard = %v, want ErrFenced", err)
	}
	if after := revision(t, cli); after != before {
		t.Errorf("a fenced Update changed etcd: revision %d -> %d", before, after)
	}
	var n int
	_ = s.View(func(tx store.Tx) error { sl, err := tx.Slots(); n = len(sl); return err })
	if n != 0 {
		t.Errorf("after a fenced Update %d slots are stored, want 0", n)
	}
	if _, _, failing := s.WriteFailure(); failing {
		t.Error("a fenced write was taken for a failing store")
	}

	if _, err := cli.Put(ctx, leader, "this-host"); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "s"}) }); err != nil {
		t.Fatalf("Update once the guard holds = %v", err)
	}
	// SetGuard replaces it for later commits.
	s.SetGuard(func() []clientv3.Cmp {
		return []clientv3.Cmp{clientv3.Compare(clientv3.Version(leader), "=", 0)}
	})
	if err := s.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "t"}) }); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Update after SetGuard with a failing guard = %v, want ErrFenced", err)
	}
}

func eventFor(slot string) event.Event {
	return event.New(event.KeyDue, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), slot, "m")
}

// TestDB_UpdateIsOneEtcdTransaction: an Update far over etcd's 128
// operations commits whole, as one revision.
func TestDB_UpdateIsOneEtcdTransaction(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	s := open(t, cli, etcdstore.Options{})
	const n = 1000
	before := revision(t, cli)
	err := s.Update(func(tx store.Tx) error {
		for i := range n {
			if err := tx.PutSlot(store.SlotState{Name: fmt.Sprintf("slot-%04d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update of %d slots: %v", n, err)
	}
	if after := revision(t, cli); after != before+1 {
		t.Errorf("etcd revision %d -> %d, want one transaction (+1)", before, after)
	}
	var got int
	_ = s.View(func(tx store.Tx) error { sl, err := tx.Slots(); got = len(sl); return err })
	if got != n {
		t.Errorf("Slots = %d, want %d", got, n)
	}
}

// TestDB_TooLargeUpdateWritesNothing: past what one etcd transaction
// carries, the Update fails saying so, and nothing is written.
func TestDB_TooLargeUpdateWritesNothing(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	s := open(t, cli, etcdstore.Options{})
	before := revision(t, cli)
	err := s.Update(func(tx store.Tx) error {
		for i := range etcdstore.MaxWrites + 1 {
			if err := tx.PutSlot(store.SlotState{Name: fmt.Sprintf("slot-%05d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, etcdstore.ErrTooLarge) || !strings.Contains(err.Error(), "split") {
		t.Fatalf("Update of %d writes = %v, want ErrTooLarge saying what to do", etcdstore.MaxWrites+1, err)
	}
	if after := revision(t, cli); after != before {
		t.Errorf("a refused Update changed etcd: revision %d -> %d", before, after)
	}
	// Bytes too: few keys, each large.
	s2 := open(t, cli, etcdstore.Options{MaxTxnBytes: 64 << 10})
	err = s2.Update(func(tx store.Tx) error {
		for i := range 100 {
			if err := tx.PutSlot(store.SlotState{Name: fmt.Sprintf("s%d", i), SourceError: strings.Repeat("x", 1024)}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, etcdstore.ErrTooLarge) {
		t.Errorf("Update of 100 KiB with a 64 KiB bound = %v, want ErrTooLarge", err)
	}
}

// TestDB_TwoProcessesDoNotLoseWrites: two stores on one prefix (two
// daemons' worth) increment one counter at once; every increment counts,
// because a commit that lost the race re-runs on the new state.
func TestDB_TwoProcessesDoNotLoseWrites(t *testing.T) {
	c := etcdtest.Start(t, 1)
	prefix := freshPrefix()
	a := open(t, dial(t, c), etcdstore.Options{Prefix: prefix})
	b := open(t, dial(t, c), etcdstore.Options{Prefix: prefix})
	const each = 25
	var wg sync.WaitGroup
	for _, s := range []*etcdstore.DB{a, b} {
		wg.Go(func() {
			for range each {
				err := s.Update(func(tx store.Tx) error {
					st, _, err := tx.Slot("s")
					if err != nil {
						return err
					}
					st.Name = "s"
					st.Rejections++
					// A queued delivery is numbered again on a re-run.
					d := &store.Delivery{ID: "x", Receiver: "r"}
					return errors.Join(tx.PutSlot(st), tx.PutDelivery(d))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var st store.SlotState
	var q []store.Delivery
	_ = a.View(func(tx store.Tx) (err error) {
		st, _, _ = tx.Slot("s")
		q, err = tx.Deliveries("r", 0)
		return err
	})
	if st.Rejections != 2*each {
		t.Errorf("after %d increments from two stores Rejections = %d", 2*each, st.Rejections)
	}
	if len(q) != 2*each {
		t.Errorf("outbox holds %d deliveries, want %d (none overwritten by a re-run)", len(q), 2*each)
	}
}

func TestOpen_RefusesForeignAndNewerState(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	ctx := context.Background()
	foreign := freshPrefix()
	if _, err := cli.Put(ctx, foreign+"config/x", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := etcdstore.Open(ctx, cli, etcdstore.Options{Prefix: foreign}); !errors.Is(err, store.ErrNotOurs) || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("Open of a prefix holding other keys = %v, want ErrNotOurs naming the prefix setting", err)
	}
	newer := freshPrefix()
	if _, err := cli.Put(ctx, newer+"meta/schema", fmt.Sprint(etcdstore.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := etcdstore.Open(ctx, cli, etcdstore.Options{Prefix: newer}); !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("Open of newer state = %v, want ErrNewerSchema saying upgrade", err)
	}
	for _, p := range []string{"/no-slash", ""} {
		if err := etcdstore.CheckPrefix(p); err == nil {
			t.Errorf("CheckPrefix(%q) = nil, want an error", p)
		}
	}
}

func TestDB_ReadOnlyRefusesUpdate(t *testing.T) {
	cli := dial(t, etcdtest.Start(t, 1))
	prefix := freshPrefix()
	w := open(t, cli, etcdstore.Options{Prefix: prefix})
	if err := w.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "s", Health: store.HealthFailing}) }); err != nil {
		t.Fatal(err)
	}
	r := open(t, cli, etcdstore.Options{Prefix: prefix, ReadOnly: true})
	var st store.SlotState
	_ = r.View(func(tx store.Tx) (err error) { st, _, err = tx.Slot("s"); return })
	if st.Health != store.HealthFailing {
		t.Errorf("read-only store reads slot health %q, want failing", st.Health)
	}
	if err := r.Update(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Update on a read-only store = %v, want ErrReadOnly", err)
	}
}

// TestDB_LostClusterIsWriteFailure: with etcd gone, an Update fails and
// WriteFailure says so, until a commit works again.
func TestDB_LostClusterIsWriteFailure(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, dial(t, c), etcdstore.Options{RequestTimeout: 500 * time.Millisecond})
	put := func() error {
		return s.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "s"}) })
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	c.Kill(0)
	if err := put(); err == nil {
		t.Fatal("Update with etcd down succeeded")
	}
	if _, why, failing := s.WriteFailure(); !failing || why == "" {
		t.Errorf("WriteFailure with etcd down = %q, %v; want failing with a reason", why, failing)
	}
	c.Restart(0)
	var err error
	for range 50 { // the client reconnects in its own time
		if err = put(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Update after etcd came back: %v", err)
	}
	if _, _, failing := s.WriteFailure(); failing {
		t.Error("WriteFailure still set after a commit worked")
	}
}

// TestDB_ThreeMembersSurviveOneLoss: on a three-member cluster the store
// keeps committing with one member killed.
func TestDB_ThreeMembersSurviveOneLoss(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := open(t, dial(t, c), etcdstore.Options{RequestTimeout: 3 * time.Second})
	c.Kill(0)
	// The two left elect a leader if the lost one led: give them that.
	var err error
	for range 20 {
		if err = s.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "s"}) }); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no commit within a minute of losing one member of three: %v", err)
	}
	for i := range 5 {
		if err := s.Update(func(tx store.Tx) error {
			return tx.PutSlot(store.SlotState{Name: "s", Rejections: i})
		}); err != nil {
			t.Fatalf("Update %d with one of three members down: %v", i, err)
		}
	}
	var st store.SlotState
	if err := s.View(func(tx store.Tx) (err error) { st, _, err = tx.Slot("s"); return }); err != nil {
		t.Fatal(err)
	}
	if st.Rejections != 4 {
		t.Errorf("Rejections = %d, want 4", st.Rejections)
	}
}
