package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

var txCases = []testCase{
	{"FailedUpdateWritesNothing", testTxFailedUpdateWritesNothing},
	{"FailedUpdateKeepsPriorState", testTxFailedUpdateKeepsPriorState},
	{"UpdateReturnsFnError", testTxUpdateReturnsFnError},
	{"FnErrorIsNoWriteFailure", testTxFnErrorIsNoWriteFailure},
	{"ViewReturnsFnError", testTxViewReturnsFnError},
	{"ReadsOwnWrites", testTxReadsOwnWrites},
	{"ViewSeesNoHalfDoneUpdate", testTxViewSeesNoHalfDoneUpdate},
	{"UpdatesDoNotLoseWrites", testTxUpdatesDoNotLoseWrites},
	{"Location", testTxLocation},
}

// writeEverything writes one record of every kind the contract keeps.
func writeEverything(tx store.Tx) error {
	e := event.New(event.KeyDue, t0, "s", "m")
	for _, err := range []error{
		tx.PutSlot(store.SlotState{Name: "s", Current: "fp"}),
		tx.PutPair(store.PairRecord{Slot: "s", Fingerprint: "fp", FirstSeen: t0}),
		tx.RecordProbe("s", "fp", store.ProbeRecord{At: t0, Outcome: "healthy", Status: 200}),
		tx.AppendEvent(&e),
		tx.PutRotation(store.Rotation{ID: "rot_1", Slot: "s", State: store.RotationStaged}),
		tx.PutDelivery(delivery("r", "alr_1")),
		tx.PutAlertState(alertState("r", "s", "health")),
		tx.PutReceiver(store.ReceiverState{Name: "r", ConsecutiveFailures: 1}),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// everything is what a View can see of writeEverything's records.
type everything struct {
	Slots      []store.SlotState
	Pairs      []store.PairRecord
	Probes     []store.ProbeRecord
	Events     []event.Event
	LastSeq    uint64
	Rotation   bool
	Active     bool
	Actives    []string
	Deliveries []store.Delivery
	Pending    map[string]int
	Alert      bool
	Alerts     []store.AlertState
	Receiver   store.ReceiverState
}

func readEverything(tx store.Tx) (everything, error) {
	var v everything
	var errs [13]error
	v.Slots, errs[0] = tx.Slots()
	v.Pairs, errs[1] = tx.Pairs("s")
	v.Probes, errs[2] = tx.Probes("s", "fp", 0)
	v.Events, errs[3] = tx.Events(0, 0)
	v.LastSeq, errs[4] = tx.LastEventSeq()
	_, v.Rotation, errs[5] = tx.Rotation("s", "rot_1")
	_, v.Active, errs[6] = tx.ActiveRotation("s")
	v.Actives, errs[7] = tx.ActiveSlots()
	v.Deliveries, errs[8] = tx.Deliveries("r", 0)
	v.Pending, errs[9] = tx.Pending()
	_, v.Alert, errs[10] = tx.GetAlertState("r", "s", "health")
	v.Alerts, errs[11] = tx.AlertStates()
	v.Receiver, errs[12] = tx.Receiver("r")
	// The contract leaves these orders and zero counts open.
	slices.Sort(v.Actives)
	maps.DeleteFunc(v.Pending, func(_ string, n int) bool { return n == 0 })
	return v, errors.Join(errs[:]...)
}

func testTxFailedUpdateWritesNothing(t *testing.T, open Opener) {
	s := open(t, defaults)
	boom := errors.New("boom")
	err := s.Update(func(tx store.Tx) error {
		if err := writeEverything(tx); err != nil {
			return err
		}
		// Written and readable inside the transaction...
		if v, err := readEverything(tx); err != nil || len(v.Slots) != 1 || !v.Active || len(v.Deliveries) != 1 {
			return fmt.Errorf("writes not visible inside their own transaction: %+v, %v", v, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	// ...and none of it outside.
	v := read(t, s, readEverything)
	for what, written := range map[string]bool{
		"slot":            len(v.Slots) > 0,
		"pair":            len(v.Pairs) > 0,
		"probe":           len(v.Probes) > 0,
		"event":           len(v.Events) > 0 || v.LastSeq != 0,
		"rotation":        v.Rotation,
		"active rotation": v.Active || len(v.Actives) > 0,
		"delivery":        len(v.Deliveries) > 0 || pendingAny(v.Pending),
		"alert state":     v.Alert || len(v.Alerts) > 0,
		"receiver health": !equal(v.Receiver, store.ReceiverState{Name: "r"}),
	} {
		if written {
			t.Errorf("a failed Update left its %s behind: %+v", what, v)
		}
	}
	// Nor did it use up the event log's numbers, or its slot's rotation.
	e := event.New(event.KeyDue, t0, "s", "m")
	write(t, s, func(tx store.Tx) error { return tx.AppendEvent(&e) })
	if e.Seq != 1 {
		t.Errorf("first event after a failed Update got Seq %d, want 1", e.Seq)
	}
	if err := putRotation(s, store.Rotation{ID: "rot_2", Slot: "s", State: store.RotationOpen}); err != nil {
		t.Errorf("a rotation after a failed Update's rotation was refused: %v", err)
	}
}

func pendingAny(p map[string]int) bool {
	for _, n := range p {
		if n != 0 {
			return true
		}
	}
	return false
}

func testTxFailedUpdateKeepsPriorState(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, writeEverything)
	before := read(t, s, readEverything)
	boom := errors.New("boom")
	err := s.Update(func(tx store.Tx) error {
		// Overwrite, delete and advance everything, then fail.
		ds, err := tx.Deliveries("r", 0)
		if err != nil || len(ds) != 1 {
			return fmt.Errorf("deliveries = %v, %v", ds, err)
		}
		e := event.New(event.KeyFailing, t0, "s", "m2")
		for _, err := range []error{
			tx.PutSlot(store.SlotState{Name: "s", Current: "fp_2", Health: store.HealthFailing}),
			tx.PutSlot(store.SlotState{Name: "t"}),
			tx.PutPair(store.PairRecord{Slot: "s", Fingerprint: "fp", Role: store.RoleRevoked, FirstSeen: t0}),
			tx.RecordProbe("s", "fp", store.ProbeRecord{Status: 401}),
			tx.AppendEvent(&e),
			tx.PutRotation(store.Rotation{ID: "rot_1", Slot: "s", State: store.RotationRejected}),
			tx.DeleteDelivery("r", ds[0].Seq),
			tx.DeleteAlertState("r", "s", "health"),
			tx.PutReceiver(store.ReceiverState{Name: "r", Alerted: true}),
		} {
			if err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	if after := read(t, s, readEverything); !equal(after, before) {
		t.Errorf("a failed Update changed the state:\ngot  %+v\nwant %+v", after, before)
	}
}

func testTxUpdateReturnsFnError(t *testing.T, open Opener) {
	s := open(t, defaults)
	refused := errors.New("refused")
	err := s.Update(func(tx store.Tx) error {
		if err := tx.PutSlot(store.SlotState{Name: "s"}); err != nil {
			return err
		}
		return fmt.Errorf("stage slot s: %w", refused)
	})
	if !errors.Is(err, refused) {
		t.Errorf("Update = %v, want an error that is %v", err, refused)
	}
}

func testTxFnErrorIsNoWriteFailure(t *testing.T, open Opener) {
	s := open(t, defaults)
	if since, why, failing := s.WriteFailure(); failing {
		t.Fatalf("a fresh store reports a write failure: %v %q", since, why)
	}
	refused := errors.New("refused by fn")
	if err := s.Update(func(tx store.Tx) error { _ = writeEverything(tx); return refused }); !errors.Is(err, refused) {
		t.Fatalf("Update = %v, want %v", err, refused)
	}
	if since, why, failing := s.WriteFailure(); failing {
		t.Errorf("fn's own error was taken for a failing store: since %v, %q", since, why)
	}
	write(t, s, writeEverything)
	if since, why, failing := s.WriteFailure(); failing {
		t.Errorf("WriteFailure after a commit = since %v, %q, want none", since, why)
	}
}

func testTxViewReturnsFnError(t *testing.T, open Opener) {
	s := open(t, defaults)
	boom := errors.New("boom")
	if err := s.View(func(store.Tx) error { return fmt.Errorf("read: %w", boom) }); !errors.Is(err, boom) {
		t.Errorf("View = %v, want an error that is %v", err, boom)
	}
}

func testTxReadsOwnWrites(t *testing.T, open Opener) {
	s := open(t, defaults)
	var v everything
	write(t, s, func(tx store.Tx) error {
		if err := writeEverything(tx); err != nil {
			return err
		}
		var err error
		v, err = readEverything(tx)
		return err
	})
	if len(v.Slots) != 1 || len(v.Pairs) != 1 || len(v.Probes) != 1 || len(v.Events) != 1 || v.LastSeq != 1 ||
		!v.Rotation || !v.Active || len(v.Actives) != 1 || len(v.Deliveries) != 1 || v.Pending["r"] != 1 ||
		!v.Alert || len(v.Alerts) != 1 || v.Receiver.ConsecutiveFailures != 1 {
		t.Errorf("inside the Update that wrote them, reads = %+v, want one of each", v)
	}
	if after := read(t, s, readEverything); !equal(after, v) {
		t.Errorf("after commit reads = %+v, want what the Update saw, %+v", after, v)
	}
}

// testTxViewSeesNoHalfDoneUpdate writes a slot and its pair together, many
// times, while readers check that every View sees both from the same
// Update and that nothing changes under a View that is running.
func testTxViewSeesNoHalfDoneUpdate(t *testing.T, open Opener) {
	const (
		writes  = 50
		readers = 4
	)
	s := open(t, defaults)
	// snapshot reads slot, pair, slot again: the generation each holds
	// ("" before the first write).
	snapshot := func(tx store.Tx) ([3]string, error) {
		var g [3]string
		st, _, err1 := tx.Slot("s")
		p, _, err2 := tx.Pair("s", "fp")
		st2, _, err3 := tx.Slot("s")
		g[0], g[1], g[2] = st.VersionID, p.VersionID, st2.VersionID
		return g, errors.Join(err1, err2, err3)
	}
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		done    = make(chan struct{})
	)
	started.Add(readers)
	for range readers {
		wg.Go(func() {
			first := true
			for {
				select {
				case <-done:
					return
				default:
				}
				var g [3]string
				err := s.View(func(tx store.Tx) error {
					var err error
					g, err = snapshot(tx)
					return err
				})
				if first {
					started.Done()
					first = false
				}
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
				if g[0] != g[1] || g[1] != g[2] {
					t.Errorf("a View saw slot generation %q, pair %q, then slot %q: want one Update's", g[0], g[1], g[2])
					return
				}
			}
		})
	}
	started.Wait()
	for i := 1; i <= writes; i++ {
		gen := strconv.Itoa(i)
		err := s.Update(func(tx store.Tx) error {
			if err := tx.PutSlot(store.SlotState{Name: "s", Current: "fp", VersionID: gen}); err != nil {
				return err
			}
			return tx.PutPair(store.PairRecord{Slot: "s", Fingerprint: "fp", VersionID: gen})
		})
		if err != nil {
			t.Errorf("Update %d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	g := read(t, s, snapshot)
	if want := strconv.Itoa(writes); g != [3]string{want, want, want} {
		t.Errorf("after the writer finished, a View saw %v, want generation %s throughout", g, want)
	}
}

// testTxUpdatesDoNotLoseWrites runs read-modify-write Updates from several
// goroutines at once: each must see the one before it.
func testTxUpdatesDoNotLoseWrites(t *testing.T, open Opener) {
	const (
		writers = 4
		each    = 10
	)
	s := open(t, defaults)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := s.Update(func(tx store.Tx) error {
					st, _, err := tx.Slot("s")
					if err != nil {
						return err
					}
					st.Name = "s"
					st.Rejections++
					return tx.PutSlot(st)
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st, _ := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot("s") })
	if st.Rejections != writers*each {
		t.Errorf("after %d concurrent increments Rejections = %d, want %d", writers*each, st.Rejections, writers*each)
	}
}

func testTxLocation(t *testing.T, open Opener) {
	s := open(t, defaults)
	if s.Location() == "" {
		t.Error("Location is empty, want where the state lives")
	}
}
