package rotator_test

import (
	"testing"
	"time"

	"kpay-rotator/store"
)

// probeTimes is when each recorded probe of slot's current pair ran,
// oldest first.
func (h *harness) probeTimes(slot string) []time.Time {
	h.t.Helper()
	fp := h.state(slot).Current
	var probes []store.ProbeRecord
	if err := h.store.View(func(tx store.Tx) error {
		var err error
		probes, err = tx.Probes(slot, fp, 0)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	var at []time.Time
	for i := len(probes) - 1; i >= 0; i-- { // newest first in the store
		at = append(at, probes[i].At)
	}
	return at
}

// Probes that raise nothing are written together: held (HoldRoutine)
// until Flush or the next write, while a probe that raises an event is
// written at once, and a pass of a slot first writes that slot's held
// probes, so it builds on every one of them.
func TestProbe_RoutineResultsAreWrittenTogether(t *testing.T) {
	h := newHarness(t, "")
	h.hold = time.Hour
	h.rebuild("")
	t0 := time.Now().Truncate(time.Second)
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	const a, b = "payments-live", "checkout-test"

	h.look(a, t0)
	h.look(b, t0)
	h.probe(a, t0)
	h.probe(b, t0)
	if err := h.rot.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, updates := h.transactions(func() { h.probe(a, t1); h.probe(b, t1) }); updates != 0 {
		t.Errorf("routine probes: %d write transactions, want 0 until flushed", updates)
	}
	if got := h.state(a).LastProbe.At; !got.Equal(t0) {
		t.Fatalf("before the flush the store shows the probe at %v, want the written one at %v", got, t0)
	}
	if _, updates := h.transactions(func() {
		if err := h.rot.Flush(); err != nil {
			t.Fatal(err)
		}
	}); updates != 1 {
		t.Errorf("flush of two held probes: %d write transactions, want 1", updates)
	}
	for _, slot := range []string{a, b} {
		if got := h.state(slot).LastProbe.At; !got.Equal(t1) {
			t.Errorf("%s: last probe %v after the flush, want %v", slot, got, t1)
		}
	}

	// A held probe of a is written before a's next pass reads it.
	h.probe(a, t2)
	if _, updates := h.transactions(func() { h.probe(a, t3) }); updates != 1 {
		t.Errorf("second routine probe of one slot: %d write transactions, want 1 (the first one's)", updates)
	}
	if err := h.rot.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.probeTimes(a), []time.Time{t0, t1, t2, t3}; !equalTimes(got, want) {
		t.Errorf("probe history %v, want %v: a held probe was lost", got, want)
	}

	// A rejection moves the slot: written at once, held probes with it.
	h.probe(b, t2)
	if _, err := h.kpay.Regenerate(h.apps[b].ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, updates := h.transactions(func() { h.probe(b, t3) }); updates == 0 {
		t.Error("a rejection was held instead of written at once")
	}
	if got := h.probeTimes(b); len(got) < 3 || !got[2].Equal(t2) {
		t.Errorf("probe history of %s %v: the probe held before the rejection is missing", b, got)
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
