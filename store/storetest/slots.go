package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"kpay-rotator/store"
)

var slotCases = []testCase{
	{"PutGetList", testSlotsPutGetList},
	{"Missing", testSlotsMissing},
	{"PutReplaces", testSlotsPutReplaces},
	{"EmptyNameRefused", testSlotsEmptyNameRefused},
}

var pairCases = []testCase{
	{"ScopedToSlot", testPairsScopedToSlot},
	{"OldestFirstSeenFirst", testPairsOldestFirstSeenFirst},
	{"Missing", testPairsMissing},
	{"SlotAndFingerprintRequired", testPairsSlotAndFingerprintRequired},
	{"DeleteForgetsRecordAndHistory", testPairsDeleteForgetsRecordAndHistory},
}

func slotNames(sts []store.SlotState) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.Name)
	}
	return out
}

func fingerprints(ps []store.PairRecord) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Fingerprint)
	}
	return out
}

func testSlotsPutGetList(t *testing.T, open Opener) {
	s := open(t, defaults)
	if got := read(t, s, func(tx store.Tx) ([]store.SlotState, error) { return tx.Slots() }); len(got) != 0 {
		t.Fatalf("Slots of an empty store = %v, want none", slotNames(got))
	}
	write(t, s, func(tx store.Tx) error {
		for _, name := range []string{"b", "a", "a-b"} {
			if err := tx.PutSlot(store.SlotState{Name: name, SecretID: "kpay/" + name, Health: store.HealthHealthy}); err != nil {
				return err
			}
		}
		return nil
	})
	st, ok := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot("a") })
	if !ok || st.Name != "a" || st.SecretID != "kpay/a" || st.Health != store.HealthHealthy {
		t.Errorf("Slot(a) = %+v, %v; want slot a with secret kpay/a, healthy", st, ok)
	}
	all := read(t, s, func(tx store.Tx) ([]store.SlotState, error) { return tx.Slots() })
	if got, want := slotNames(all), []string{"a", "a-b", "b"}; !slices.Equal(got, want) {
		t.Errorf("Slots = %v, want %v (by name)", got, want)
	}
}

func testSlotsMissing(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "a-b"}) })
	for _, name := range []string{"a", "missing"} {
		st, ok := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot(name) })
		if ok || st != (store.SlotState{}) {
			t.Errorf("Slot(%s) = %+v, %v; want zero, false", name, st, ok)
		}
	}
}

func testSlotsPutReplaces(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error {
		return tx.PutSlot(store.SlotState{Name: "a", Current: "fp_1", Health: store.HealthHealthy, Rejections: 2})
	})
	write(t, s, func(tx store.Tx) error {
		return tx.PutSlot(store.SlotState{Name: "a", Current: "fp_2", Health: store.HealthFailing})
	})
	st, _ := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot("a") })
	if want := (store.SlotState{Name: "a", Current: "fp_2", Health: store.HealthFailing}); !equal(st, want) {
		t.Errorf("Slot(a) after a second put = %+v, want %+v (replaced, not merged)", st, want)
	}
	if n := len(read(t, s, func(tx store.Tx) ([]store.SlotState, error) { return tx.Slots() })); n != 1 {
		t.Errorf("Slots after two puts of one slot = %d slots, want 1", n)
	}
}

func testSlotsEmptyNameRefused(t *testing.T, open Opener) {
	s := open(t, defaults)
	var putErr error
	write(t, s, func(tx store.Tx) error {
		putErr = tx.PutSlot(store.SlotState{SecretID: "kpay/nameless"})
		return nil
	})
	if putErr == nil {
		t.Error("PutSlot with an empty name = nil, want an error")
	}
	if got := read(t, s, func(tx store.Tx) ([]store.SlotState, error) { return tx.Slots() }); len(got) != 0 {
		t.Errorf("Slots after a refused put = %+v, want none", got)
	}
}

func testPairsScopedToSlot(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error {
		for i, slot := range []string{"a", "a-b", "a", "b"} {
			p := store.PairRecord{Slot: slot, Fingerprint: "fp_" + strconv.Itoa(i), FirstSeen: t0.Add(time.Duration(i) * time.Second)}
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	for slot, want := range map[string][]string{"a": {"fp_0", "fp_2"}, "a-b": {"fp_1"}, "b": {"fp_3"}, "c": nil} {
		pairs := read(t, s, func(tx store.Tx) ([]store.PairRecord, error) { return tx.Pairs(slot) })
		if got := fingerprints(pairs); !slices.Equal(got, want) {
			t.Errorf("Pairs(%s) = %v, want %v", slot, got, want)
		}
		for _, p := range pairs {
			if p.Slot != slot {
				t.Errorf("Pairs(%s) holds %s of slot %s", slot, p.Fingerprint, p.Slot)
			}
		}
	}
	if p, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair("a", "fp_1") }); ok {
		t.Errorf("Pair(a, fp_1) = %+v, want none: fp_1 is slot a-b's", p)
	}
	if p, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair("a-b", "fp_1") }); !ok || p.Slot != "a-b" {
		t.Errorf("Pair(a-b, fp_1) = %+v, %v; want slot a-b's pair", p, ok)
	}
}

func testPairsOldestFirstSeenFirst(t *testing.T, open Opener) {
	s := open(t, defaults)
	// Fingerprints sort the other way round from FirstSeen, and are put
	// in neither order, so neither key nor insertion order passes.
	seen := map[string]time.Time{"fp_a": t0.Add(3 * time.Hour), "fp_b": t0.Add(time.Hour), "fp_c": t0.Add(2 * time.Hour), "fp_d": t0}
	for _, fp := range []string{"fp_c", "fp_a", "fp_d", "fp_b"} {
		write(t, s, func(tx store.Tx) error {
			return tx.PutPair(store.PairRecord{Slot: "a", Fingerprint: fp, FirstSeen: seen[fp]})
		})
	}
	pairs := read(t, s, func(tx store.Tx) ([]store.PairRecord, error) { return tx.Pairs("a") })
	if got, want := fingerprints(pairs), []string{"fp_d", "fp_b", "fp_c", "fp_a"}; !slices.Equal(got, want) {
		t.Errorf("Pairs(a) = %v, want %v (oldest FirstSeen first)", got, want)
	}
}

func testPairsMissing(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error { return tx.PutPair(store.PairRecord{Slot: "a", Fingerprint: "fp_1"}) })
	for _, k := range [][2]string{{"a", "fp_2"}, {"b", "fp_1"}, {"missing", "missing"}} {
		p, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair(k[0], k[1]) })
		if ok || p != (store.PairRecord{}) {
			t.Errorf("Pair(%s, %s) = %+v, %v; want zero, false", k[0], k[1], p, ok)
		}
	}
}

func testPairsSlotAndFingerprintRequired(t *testing.T, open Opener) {
	s := open(t, defaults)
	for _, p := range []store.PairRecord{{Fingerprint: "fp_1"}, {Slot: "a"}, {}} {
		var putErr error
		write(t, s, func(tx store.Tx) error { putErr = tx.PutPair(p); return nil })
		if putErr == nil {
			t.Errorf("PutPair(slot %q, fingerprint %q) = nil, want an error", p.Slot, p.Fingerprint)
		}
	}
	for _, slot := range []string{"", "a"} {
		if got := read(t, s, func(tx store.Tx) ([]store.PairRecord, error) { return tx.Pairs(slot) }); len(got) != 0 {
			t.Errorf("Pairs(%q) after refused puts = %+v, want none", slot, got)
		}
	}
}

func testPairsDeleteForgetsRecordAndHistory(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error {
		for _, k := range [][2]string{{"a", "fp_1"}, {"a", "fp_2"}, {"a-b", "fp_1"}} {
			if err := tx.PutPair(store.PairRecord{Slot: k[0], Fingerprint: k[1], FirstSeen: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	recordProbes(t, s, "a", "fp_1", 1, 3)
	recordProbes(t, s, "a", "fp_2", 11, 11)
	recordProbes(t, s, "a-b", "fp_1", 21, 22)
	write(t, s, func(tx store.Tx) error { return tx.DeletePair("a", "fp_1") })

	if p, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair("a", "fp_1") }); ok {
		t.Errorf("Pair(a, fp_1) after DeletePair = %+v, want none", p)
	}
	if got := probes(t, s, "a", "fp_1", 0); len(got) != 0 {
		t.Errorf("Probes(a, fp_1) after DeletePair = %v, want none", got)
	}
	if got := fingerprints(read(t, s, func(tx store.Tx) ([]store.PairRecord, error) { return tx.Pairs("a") })); !slices.Equal(got, []string{"fp_2"}) {
		t.Errorf("Pairs(a) after DeletePair(a, fp_1) = %v, want [fp_2]", got)
	}
	// Only that pair: the slot's others, and a slot whose name it
	// prefixes holding the same fingerprint, keep theirs.
	if got := probes(t, s, "a", "fp_2", 0); !slices.Equal(got, []int{11}) {
		t.Errorf("Probes(a, fp_2) = %v, want [11]", got)
	}
	if _, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair("a-b", "fp_1") }); !ok {
		t.Error("Pair(a-b, fp_1) went with DeletePair(a, fp_1)")
	}
	if got := probes(t, s, "a-b", "fp_1", 0); !slices.Equal(got, []int{22, 21}) {
		t.Errorf("Probes(a-b, fp_1) = %v, want [22 21]", got)
	}

	var missingErr error
	write(t, s, func(tx store.Tx) error {
		missingErr = tx.DeletePair("a", "fp_missing")
		return nil
	})
	if missingErr != nil {
		t.Errorf("DeletePair of a missing pair = %v, want nil", missingErr)
	}
	// A pair seen again after it was forgotten starts a fresh history.
	recordProbes(t, s, "a", "fp_1", 31, 31)
	if got := probes(t, s, "a", "fp_1", 0); !slices.Equal(got, []int{31}) {
		t.Errorf("Probes(a, fp_1) recorded after DeletePair = %v, want [31]", got)
	}
}
