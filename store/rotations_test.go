package store_test

import (
	"strings"
	"testing"
	"time"

	"kpay-rotator/store"
)

func TestTx_RotationJournal(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	put := func(r store.Rotation) error { return s.Update(func(tx *store.Tx) error { return tx.PutRotation(r) }) }
	active := func(slot string) (store.Rotation, bool) {
		var r store.Rotation
		var ok bool
		_ = s.View(func(tx *store.Tx) error { r, ok, _ = tx.ActiveRotation(slot); return nil })
		return r, ok
	}

	r1 := store.Rotation{ID: "rot_20261128T100000Z_a", Slot: "a", State: store.RotationStaged}
	if err := put(r1); err != nil {
		t.Fatal(err)
	}
	if got, ok := active("a"); !ok || got.ID != r1.ID {
		t.Fatalf("active(a) = %v %v, want %s", got.ID, ok, r1.ID)
	}
	// One slot holds one active rotation; others are independent.
	err := put(store.Rotation{ID: "rot_20261128T100001Z_b", Slot: "a", State: store.RotationStaged})
	if err == nil || !strings.Contains(err.Error(), "already has active rotation") {
		t.Errorf("second active rotation = %v", err)
	}
	if err := put(store.Rotation{ID: "rot_20261128T100002Z_c", Slot: "a-b", State: store.RotationStaged}); err != nil {
		t.Fatal(err)
	}
	r1.State = store.RotationVerified
	if err := put(r1); err != nil {
		t.Fatalf("advance to verified: %v", err)
	}
	r1.State = store.RotationWritten
	if err := put(r1); err != nil {
		t.Fatal(err)
	}
	if _, ok := active("a"); ok {
		t.Error("written rotation still active")
	}
	if err := put(store.Rotation{ID: "rot_20261128T110000Z_d", Slot: "a", State: store.RotationRejected}); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *store.Tx) error {
		rs, err := tx.Rotations("a", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].ID != "rot_20261128T110000Z_d" || rs[1].ID != r1.ID {
			t.Errorf("Rotations(a) = %+v, want d then a, and nothing of slot a-b", rs)
		}
		if one, _ := tx.Rotations("a", 1); len(one) != 1 {
			t.Errorf("limit 1 gave %d", len(one))
		}
		if got, ok, _ := tx.Rotation("a", r1.ID); !ok || got.State != store.RotationWritten {
			t.Errorf("Rotation(a, %s) = %+v %v", r1.ID, got, ok)
		}
		return nil
	})
}

func TestTx_ActiveSlotsListsOnlyActiveRotations(t *testing.T) {
	s, _ := openTemp(t, store.Options{})
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rots := []store.Rotation{
		{ID: "rot_a", Slot: "a", State: store.RotationOpen, OpenedAt: now},
		{ID: "rot_b", Slot: "b", State: store.RotationStaged, StagedAt: now},
		{ID: "rot_c", Slot: "c", State: store.RotationDone, StagedAt: now},
	}
	if err := s.Update(func(tx *store.Tx) error {
		for _, r := range rots {
			if err := tx.PutRotation(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = s.View(func(tx *store.Tx) error { got, _ = tx.ActiveSlots(); return nil })
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("ActiveSlots = %v, want [a b]", got)
	}
}
