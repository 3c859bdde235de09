package storetest

import (
	"slices"
	"testing"
	"time"

	"kpay-rotator/store"
)

var rotationCases = []testCase{
	{"Journal", testRotationsJournal},
	{"SecondActiveRefused", testRotationsSecondActiveRefused},
	{"SlotsIndependent", testRotationsSlotsIndependent},
	{"InactiveStateClearsActive", testRotationsInactiveStateClearsActive},
	{"ActiveSlotsListsOnlyActive", testRotationsActiveSlotsListsOnlyActive},
	{"NewestFirstScopedToSlot", testRotationsNewestFirstScopedToSlot},
	{"Missing", testRotationsMissing},
	{"IDAndSlotRequired", testRotationsIDAndSlotRequired},
}

func putRotation(s store.Store, r store.Rotation) error {
	return s.Update(func(tx store.Tx) error { return tx.PutRotation(r) })
}

func activeRotation(t *testing.T, s store.Store, slot string) (store.Rotation, bool) {
	t.Helper()
	return lookup(t, s, func(tx store.Tx) (store.Rotation, bool, error) { return tx.ActiveRotation(slot) })
}

func activeSlots(t *testing.T, s store.Store) []string {
	t.Helper()
	return sorted(read(t, s, func(tx store.Tx) ([]string, error) { return tx.ActiveSlots() }))
}

func rotationIDs(t *testing.T, s store.Store, slot string, limit int) []string {
	t.Helper()
	rs := read(t, s, func(tx store.Tx) ([]store.Rotation, error) { return tx.Rotations(slot, limit) })
	var out []string
	for _, r := range rs {
		if r.Slot != slot {
			t.Errorf("Rotations(%s) holds %s of slot %s", slot, r.ID, r.Slot)
		}
		out = append(out, r.ID)
	}
	return out
}

func mustPutRotation(t *testing.T, s store.Store, r store.Rotation) {
	t.Helper()
	if err := putRotation(s, r); err != nil {
		t.Fatalf("PutRotation(%s %s): %v", r.ID, r.State, err)
	}
}

func testRotationsJournal(t *testing.T, open Opener) {
	s := open(t, defaults)
	r1 := store.Rotation{ID: "rot_20261128T100000Z_a", Slot: "a", State: store.RotationStaged}
	mustPutRotation(t, s, r1)
	if got, ok := activeRotation(t, s, "a"); !ok || got.ID != r1.ID {
		t.Fatalf("ActiveRotation(a) = %q, %v; want %s", got.ID, ok, r1.ID)
	}
	if err := putRotation(s, store.Rotation{ID: "rot_20261128T100001Z_b", Slot: "a", State: store.RotationStaged}); err == nil {
		t.Error("a second active rotation of slot a was stored, want it refused")
	}
	mustPutRotation(t, s, store.Rotation{ID: "rot_20261128T100002Z_c", Slot: "a-b", State: store.RotationStaged})
	r1.State = store.RotationVerified
	mustPutRotation(t, s, r1)
	if got, ok := activeRotation(t, s, "a"); !ok || got.ID != r1.ID || got.State != store.RotationVerified {
		t.Errorf("ActiveRotation(a) after verify = %q %s, %v; want %s verified", got.ID, got.State, ok, r1.ID)
	}
	r1.State = store.RotationWritten
	mustPutRotation(t, s, r1)
	if got, ok := activeRotation(t, s, "a"); ok {
		t.Errorf("ActiveRotation(a) = %s (%s), want none once written", got.ID, got.State)
	}
	mustPutRotation(t, s, store.Rotation{ID: "rot_20261128T110000Z_d", Slot: "a", State: store.RotationRejected})
	if got, want := rotationIDs(t, s, "a", 0), []string{"rot_20261128T110000Z_d", r1.ID}; !slices.Equal(got, want) {
		t.Errorf("Rotations(a) = %v, want %v (d then a, nothing of slot a-b, not the refused b)", got, want)
	}
	if got := rotationIDs(t, s, "a", 1); len(got) != 1 {
		t.Errorf("Rotations(a, limit 1) = %v, want one", got)
	}
	if got, ok := lookup(t, s, func(tx store.Tx) (store.Rotation, bool, error) { return tx.Rotation("a", r1.ID) }); !ok || got.State != store.RotationWritten {
		t.Errorf("Rotation(a, %s) = %+v, %v; want it written", r1.ID, got, ok)
	}
}

func testRotationsSecondActiveRefused(t *testing.T, open Opener) {
	s := open(t, defaults)
	first := store.Rotation{ID: "rot_20261128T100000Z_1", Slot: "a", State: store.RotationOpen}
	mustPutRotation(t, s, first)
	for _, st := range []store.RotationState{store.RotationOpen, store.RotationStaged, store.RotationVerified} {
		second := store.Rotation{ID: "rot_20261128T100500Z_2", Slot: "a", State: st}
		if err := putRotation(s, second); err == nil {
			t.Errorf("PutRotation of a second %s rotation while %s is open = nil, want an error", st, first.ID)
		}
	}
	if got, ok := activeRotation(t, s, "a"); !ok || got.ID != first.ID {
		t.Errorf("ActiveRotation(a) after refusals = %q, %v; want %s still", got.ID, ok, first.ID)
	}
	// A refusal writes nothing, even when the caller goes on and commits.
	ignored := store.Rotation{ID: "rot_20261128T101000Z_3", Slot: "a", State: store.RotationStaged}
	write(t, s, func(tx store.Tx) error {
		if err := tx.PutRotation(ignored); err == nil {
			t.Errorf("PutRotation of a second active rotation = nil, want an error")
		}
		return nil
	})
	if ok := read(t, s, func(tx store.Tx) (bool, error) { _, ok, err := tx.Rotation("a", ignored.ID); return ok, err }); ok {
		t.Errorf("the refused rotation %s was stored by the commit after its refusal", ignored.ID)
	}
	// The active one moves through its own steps freely.
	for _, st := range []store.RotationState{store.RotationStaged, store.RotationVerified} {
		first.State = st
		mustPutRotation(t, s, first)
	}
	if got := activeSlots(t, s); !slices.Equal(got, []string{"a"}) {
		t.Errorf("ActiveSlots = %v, want [a]", got)
	}
}

func testRotationsSlotsIndependent(t *testing.T, open Opener) {
	s := open(t, defaults)
	for _, slot := range []string{"a", "a-b", "b"} {
		mustPutRotation(t, s, store.Rotation{ID: "rot_20261128T100000Z_" + slot, Slot: slot, State: store.RotationStaged})
	}
	for _, slot := range []string{"a", "a-b", "b"} {
		if got, ok := activeRotation(t, s, slot); !ok || got.Slot != slot || got.ID != "rot_20261128T100000Z_"+slot {
			t.Errorf("ActiveRotation(%s) = %+v, %v; want its own", slot, got, ok)
		}
	}
	mustPutRotation(t, s, store.Rotation{ID: "rot_20261128T100000Z_a", Slot: "a", State: store.RotationCancelled})
	if _, ok := activeRotation(t, s, "a"); ok {
		t.Error("ActiveRotation(a) after cancel: still active")
	}
	if got, want := activeSlots(t, s), []string{"a-b", "b"}; !slices.Equal(got, want) {
		t.Errorf("ActiveSlots after cancelling a = %v, want %v", got, want)
	}
}

func testRotationsInactiveStateClearsActive(t *testing.T, open Opener) {
	for _, st := range []store.RotationState{store.RotationWritten, store.RotationWatching, store.RotationDone,
		store.RotationRejected, store.RotationCancelled, store.RotationUnconfirmed} {
		t.Run(string(st), func(t *testing.T) {
			s := open(t, defaults)
			r := store.Rotation{ID: "rot_20261128T100000Z_1", Slot: "a", State: store.RotationVerified}
			mustPutRotation(t, s, r)
			r.State = st
			mustPutRotation(t, s, r)
			if got, ok := activeRotation(t, s, "a"); ok {
				t.Errorf("ActiveRotation(a) = %s (%s), want none once %s", got.ID, got.State, st)
			}
			if got := activeSlots(t, s); len(got) != 0 {
				t.Errorf("ActiveSlots = %v, want none once %s", got, st)
			}
			// The slot is free for the next rotation.
			if err := putRotation(s, store.Rotation{ID: "rot_20261128T110000Z_2", Slot: "a", State: store.RotationOpen}); err != nil {
				t.Errorf("a new rotation after one went %s was refused: %v", st, err)
			}
		})
	}
}

func testRotationsActiveSlotsListsOnlyActive(t *testing.T, open Opener) {
	s := open(t, defaults)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rots := []store.Rotation{
		{ID: "rot_a", Slot: "a", State: store.RotationOpen, OpenedAt: now},
		{ID: "rot_b", Slot: "b", State: store.RotationStaged, StagedAt: now},
		{ID: "rot_c", Slot: "c", State: store.RotationDone, StagedAt: now},
		{ID: "rot_d", Slot: "d", State: store.RotationVerified, StagedAt: now},
		{ID: "rot_e", Slot: "e", State: store.RotationWatching, StagedAt: now},
	}
	write(t, s, func(tx store.Tx) error {
		for _, r := range rots {
			if err := tx.PutRotation(r); err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := activeSlots(t, s), []string{"a", "b", "d"}; !slices.Equal(got, want) {
		t.Errorf("ActiveSlots = %v, want %v", got, want)
	}
}

func testRotationsNewestFirstScopedToSlot(t *testing.T, open Opener) {
	s := open(t, defaults)
	// Put out of time order: the journal orders by id, not by insertion.
	for _, r := range []store.Rotation{
		{ID: "rot_20261128T100000Z_2", Slot: "a"},
		{ID: "rot_20261127T100000Z_1", Slot: "a"},
		{ID: "rot_20261129T100000Z_9", Slot: "a-b"},
		{ID: "rot_20261129T100000Z_4", Slot: "a"},
		{ID: "rot_20261128T120000Z_3", Slot: "a"},
		{ID: "rot_20261126T100000Z_0", Slot: "b"},
	} {
		r.State = store.RotationDone
		mustPutRotation(t, s, r)
	}
	all := []string{"rot_20261129T100000Z_4", "rot_20261128T120000Z_3", "rot_20261128T100000Z_2", "rot_20261127T100000Z_1"}
	for _, c := range []struct {
		slot  string
		limit int
		want  []string
	}{
		{"a", 0, all},
		{"a", 2, all[:2]},
		{"a", 10, all},
		{"a-b", 0, []string{"rot_20261129T100000Z_9"}},
		{"b", 0, []string{"rot_20261126T100000Z_0"}},
		{"c", 0, nil},
	} {
		if got := rotationIDs(t, s, c.slot, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("Rotations(%s, limit %d) = %v, want %v", c.slot, c.limit, got, c.want)
		}
	}
}

func testRotationsMissing(t *testing.T, open Opener) {
	s := open(t, defaults)
	mustPutRotation(t, s, store.Rotation{ID: "rot_1", Slot: "a", State: store.RotationStaged})
	for _, k := range [][2]string{{"a", "rot_2"}, {"b", "rot_1"}, {"a-b", "rot_1"}} {
		if r, ok := lookup(t, s, func(tx store.Tx) (store.Rotation, bool, error) { return tx.Rotation(k[0], k[1]) }); ok {
			t.Errorf("Rotation(%s, %s) = %+v, want none", k[0], k[1], r)
		}
	}
	for _, slot := range []string{"b", "a-b", ""} {
		if r, ok := activeRotation(t, s, slot); ok {
			t.Errorf("ActiveRotation(%q) = %+v, want none", slot, r)
		}
	}
}

func testRotationsIDAndSlotRequired(t *testing.T, open Opener) {
	s := open(t, defaults)
	for _, r := range []store.Rotation{{Slot: "a", State: store.RotationOpen}, {ID: "rot_1", State: store.RotationOpen}} {
		var putErr error
		write(t, s, func(tx store.Tx) error { putErr = tx.PutRotation(r); return nil })
		if putErr == nil {
			t.Errorf("PutRotation(id %q, slot %q) = nil, want an error", r.ID, r.Slot)
		}
	}
	if got := activeSlots(t, s); len(got) != 0 {
		t.Errorf("ActiveSlots after refused puts = %v, want none", got)
	}
}
