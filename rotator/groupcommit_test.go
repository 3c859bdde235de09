package rotator

import (
	"errors"
	"sync"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/store"
)

// fakeUpdates stands for a store: it counts transactions, keeps what
// committed ones wrote, and can hold the first one until released.
type fakeUpdates struct {
	mu      sync.Mutex
	calls   int
	written []string
	hold    chan struct{}
}

func (f *fakeUpdates) update(fn func(store.Tx) error) error {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first && f.hold != nil {
		<-f.hold
	}
	var tx recordingTx
	if err := fn(&tx); err != nil {
		return err // rolled back: nothing of it is kept
	}
	f.mu.Lock()
	f.written = append(f.written, tx.slots...)
	f.mu.Unlock()
	return nil
}

type recordingTx struct {
	store.Tx
	slots []string
}

func (t *recordingTx) PutSlot(st store.SlotState) error {
	t.slots = append(t.slots, st.Name)
	return nil
}

func TestGroupCommit_ConcurrentCommitsShareOneTransaction(t *testing.T) {
	f := &fakeUpdates{hold: make(chan struct{})}
	g := &groupCommit{update: f.update}
	boom := errors.New("refused")
	put := func(name string) func(store.Tx) error {
		return func(tx store.Tx) error {
			if name == "bad" {
				return boom
			}
			return tx.PutSlot(store.SlotState{Name: name})
		}
	}
	errs := make(chan error, 11)
	go func() { errs <- g.do(put("first")) }() // held in its transaction
	for f.callCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	for _, n := range names {
		go func() { errs <- g.do(put(n)) }()
	}
	go func() { errs <- g.do(put("bad")) }()
	for g.queued() < len(names)+1 {
		time.Sleep(time.Millisecond)
	}
	close(f.hold)
	var failed int
	for range len(names) + 2 {
		if err := <-errs; errors.Is(err, boom) {
			failed++
		} else if err != nil {
			t.Errorf("commit: %v", err)
		}
	}
	if failed != 1 {
		t.Errorf("%d commits failed, want only the refused one", failed)
	}
	if got := len(f.written); got != len(names)+1 {
		t.Errorf("%d changes written (%v), want %d: the refused one must not take the others down", got, f.written, len(names)+1)
	}
	// The held one, the batch of ten (refused as a whole), then each of
	// the ten alone.
	if f.calls != 2+len(names)+1 {
		t.Errorf("%d transactions, want %d", f.calls, 2+len(names)+1)
	}
}

func TestGroupCommit_BatchOfGoodChangesIsOneTransaction(t *testing.T) {
	f := &fakeUpdates{hold: make(chan struct{})}
	g := &groupCommit{update: f.update}
	put := func(name string) func(store.Tx) error {
		return func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: name}) }
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.do(put("first")) })
	for f.callCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range 20 {
		wg.Go(func() { _ = g.do(put(string(rune('a' + i)))) })
	}
	for g.queued() < 20 {
		time.Sleep(time.Millisecond)
	}
	close(f.hold)
	wg.Wait()
	if f.calls != 2 || len(f.written) != 21 {
		t.Errorf("%d transactions wrote %d changes, want 2 transactions for all 21", f.calls, len(f.written))
	}
	// Idle, a commit goes out alone at once.
	if err := g.do(put("alone")); err != nil || f.calls != 3 {
		t.Errorf("an idle commit: %v, %d transactions; want its own", err, f.calls)
	}
}

func (f *fakeUpdates) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// A probe's change may be held only when it says nothing and asks for
// nothing.
func TestQuietProbe(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		change func(c *change)
		want   bool
	}{
		{"times and counts moved", func(c *change) { c.state.Transients = 1 }, true},
		{"health moved without an event", func(c *change) { c.state.Health = store.HealthHealthy }, true},
		{"event", func(c *change) { c.emit(newEvent("key_recovered", t0, config.Slot{Name: "s"}, "", "", "")) }, false},
		{"confirmation asked", func(c *change) { c.confirm = true }, false},
		{"rotation", func(c *change) { c.rotation = &store.Rotation{ID: "rot_1"} }, false},
		{"pair retired", func(c *change) { c.pairs = append(c.pairs, store.PairRecord{Role: store.RoleRetired}) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := store.SlotState{Name: "s"}
			c := &change{slot: "s", state: &st, pairs: []store.PairRecord{{Slot: "s", Role: store.RoleCurrent}},
				probe: &store.ProbeRecord{At: t0, Outcome: "healthy"}}
			tt.change(c)
			if got := quietProbe(c); got != tt.want {
				t.Errorf("quietProbe = %v, want %v", got, tt.want)
			}
		})
	}
}

// Held changes go out with the next write, in its transaction, or on
// their own once the hold ends; their after runs once written.
func TestGroupCommit_HeldChangesRideTheNextWrite(t *testing.T) {
	f := &fakeUpdates{}
	g := &groupCommit{update: f.update, hold: time.Hour}
	put := func(name string) func(store.Tx) error {
		return func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: name}) }
	}
	var after []string
	g.later("a", put("a"), func(err error) { after = append(after, "a") })
	g.later("b", put("b"), func(err error) { after = append(after, "b") })
	if !g.holds("a") || g.holds("c") || f.calls != 0 {
		t.Fatalf("held a %v, c %v, transactions %d; want true, false, 0", g.holds("a"), g.holds("c"), f.calls)
	}
	if err := g.do(put("c")); err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 || len(f.written) != 3 || len(after) != 2 || g.holds("a") {
		t.Errorf("next write: %d transactions writing %v, after ran for %v; want 1 writing a, b, c", f.calls, f.written, after)
	}

	short := &groupCommit{update: f.update, hold: time.Millisecond}
	done := make(chan error, 1)
	short.later("d", put("d"), func(err error) { done <- err })
	if err := <-done; err != nil { // written by the hold's end alone
		t.Fatal(err)
	}
	if short.holds("d") {
		t.Error("still held once written")
	}
}
