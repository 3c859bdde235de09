package rotator

import (
	"errors"
	"sync"
	"testing"
	"time"

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
