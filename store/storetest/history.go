package storetest

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

var probeCases = []testCase{
	{"HistoryIsBounded", testProbesHistoryIsBounded},
	{"BoundedWithinOneUpdate", testProbesBoundedWithinOneUpdate},
	{"PerPairIndependent", testProbesPerPairIndependent},
	{"MissingPair", testProbesMissingPair},
}

var eventCases = []testCase{
	{"AppendOnlyWithStableIDs", testEventsAppendOnlyWithStableIDs},
	{"PresetIDKept", testEventsPresetIDKept},
	{"OneUpdateSeveralEvents", testEventsOneUpdateSeveralEvents},
	{"AfterAndLimit", testEventsAfterAndLimit},
	{"EmptyLog", testEventsEmptyLog},
}

func statuses(ps []store.ProbeRecord) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Status)
	}
	return out
}

func probes(t *testing.T, s store.Store, slot, fp string, limit int) []int {
	t.Helper()
	return statuses(read(t, s, func(tx store.Tx) ([]store.ProbeRecord, error) { return tx.Probes(slot, fp, limit) }))
}

func recordProbes(t *testing.T, s store.Store, slot, fp string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		write(t, s, func(tx store.Tx) error {
			return tx.RecordProbe(slot, fp, store.ProbeRecord{Outcome: "healthy", Status: i})
		})
	}
}

func testProbesHistoryIsBounded(t *testing.T, open Opener) {
	s := open(t, store.Retention{ProbeHistory: 5})
	recordProbes(t, s, "s", "fp", 201, 212)
	if got, want := probes(t, s, "s", "fp", 0), []int{212, 211, 210, 209, 208}; !slices.Equal(got, want) {
		t.Errorf("Probes(limit 0) = %v, want %v (the newest 5, newest first)", got, want)
	}
	if got, want := probes(t, s, "s", "fp", 2), []int{212, 211}; !slices.Equal(got, want) {
		t.Errorf("Probes(limit 2) = %v, want %v", got, want)
	}
	if got := probes(t, s, "s", "fp", 50); len(got) != 5 {
		t.Errorf("Probes(limit 50) = %v, want the 5 kept", got)
	}
}

func testProbesBoundedWithinOneUpdate(t *testing.T, open Opener) {
	s := open(t, store.Retention{ProbeHistory: 3})
	write(t, s, func(tx store.Tx) error {
		for i := 1; i <= 10; i++ {
			if err := tx.RecordProbe("s", "fp", store.ProbeRecord{Status: i}); err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := probes(t, s, "s", "fp", 0), []int{10, 9, 8}; !slices.Equal(got, want) {
		t.Errorf("Probes after 10 in one Update = %v, want %v", got, want)
	}
}

func testProbesPerPairIndependent(t *testing.T, open Opener) {
	s := open(t, store.Retention{ProbeHistory: 3})
	recordProbes(t, s, "a", "fp_1", 1, 6)
	recordProbes(t, s, "a", "fp_2", 11, 12)
	recordProbes(t, s, "a-b", "fp_1", 21, 21)
	recordProbes(t, s, "b", "fp_1", 31, 35)
	for _, c := range []struct {
		slot, fp string
		want     []int
	}{
		{"a", "fp_1", []int{6, 5, 4}},
		{"a", "fp_2", []int{12, 11}},
		{"a-b", "fp_1", []int{21}},
		{"b", "fp_1", []int{35, 34, 33}},
	} {
		if got := probes(t, s, c.slot, c.fp, 0); !slices.Equal(got, c.want) {
			t.Errorf("Probes(%s, %s) = %v, want %v", c.slot, c.fp, got, c.want)
		}
	}
}

func testProbesMissingPair(t *testing.T, open Opener) {
	s := open(t, defaults)
	recordProbes(t, s, "a", "fp_1", 1, 1)
	for _, k := range [][2]string{{"a", "fp_2"}, {"b", "fp_1"}} {
		if got := probes(t, s, k[0], k[1], 0); len(got) != 0 {
			t.Errorf("Probes(%s, %s) = %v, want none", k[0], k[1], got)
		}
	}
}

func lastEventSeq(t *testing.T, s store.Store) uint64 {
	t.Helper()
	return read(t, s, func(tx store.Tx) (uint64, error) { return tx.LastEventSeq() })
}

func events(t *testing.T, s store.Store, after uint64, limit int) []event.Event {
	t.Helper()
	return read(t, s, func(tx store.Tx) ([]event.Event, error) { return tx.Events(after, limit) })
}

func seqs(evs []event.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func appendEvents(t *testing.T, s store.Store, kinds ...event.Kind) []event.Event {
	t.Helper()
	var out []event.Event
	for _, k := range kinds {
		e := event.New(k, t0, "slot", "m")
		write(t, s, func(tx store.Tx) error { return tx.AppendEvent(&e) })
		out = append(out, e)
	}
	return out
}

func testEventsAppendOnlyWithStableIDs(t *testing.T, open Opener) {
	s := open(t, defaults)
	appended := appendEvents(t, s, event.KeyDue, event.KeyFailing, event.KeyRecovered)
	ids := map[string]bool{}
	for i, e := range appended {
		if want := uint64(i + 1); e.Seq != want {
			t.Errorf("event %d got Seq %d, want %d", i, e.Seq, want)
		}
		if !strings.HasPrefix(e.ID, "evt_") || len(e.ID) <= len("evt_") || ids[e.ID] {
			t.Errorf("event %d got ID %q, want a unique evt_ id", i, e.ID)
		}
		ids[e.ID] = true
	}
	evs := events(t, s, 1, 0)
	if len(evs) != 2 || evs[0].Kind != event.KeyFailing || evs[0].ID != appended[1].ID ||
		evs[1].ID != appended[2].ID || evs[1].Seq != 3 {
		t.Errorf("Events(after 1) = %+v, want key_failing then key_recovered (seq 3) with the ids AppendEvent gave", evs)
	}
	if got := lastEventSeq(t, s); got != 3 {
		t.Errorf("LastEventSeq = %d, want 3", got)
	}
	// The log is append-only: a later append neither renumbers nor
	// rewrites what is there.
	appendEvents(t, s, event.KeyDue)
	if got := events(t, s, 0, 0); len(got) != 4 || got[0].ID != appended[0].ID || got[3].Seq != 4 {
		t.Errorf("Events after a fourth append = %+v, want the first three unchanged and seq 4 last", got)
	}
}

func testEventsPresetIDKept(t *testing.T, open Opener) {
	s := open(t, defaults)
	e := event.New(event.KeyRotated, t0, "a", "rotated")
	e.ID = "evt_preset"
	write(t, s, func(tx store.Tx) error { return tx.AppendEvent(&e) })
	if e.ID != "evt_preset" || e.Seq != 1 {
		t.Errorf("AppendEvent with a preset id left ID %q Seq %d, want evt_preset, 1", e.ID, e.Seq)
	}
	if evs := events(t, s, 0, 0); len(evs) != 1 || evs[0].ID != "evt_preset" {
		t.Errorf("Events = %+v, want one with id evt_preset", evs)
	}
}

func testEventsOneUpdateSeveralEvents(t *testing.T, open Opener) {
	s := open(t, defaults)
	appendEvents(t, s, event.KeyDue)
	var got []uint64
	write(t, s, func(tx store.Tx) error {
		for _, k := range []event.Kind{event.KeyRotated, event.OldKeyRevoked, event.KeyRecovered} {
			e := event.New(k, time.Now(), "a", "m")
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
			got = append(got, e.Seq)
		}
		// Inside the transaction, the log already ends with them.
		last, err := tx.LastEventSeq()
		got = append(got, last)
		return err
	})
	if want := []uint64{2, 3, 4, 4}; !slices.Equal(got, want) {
		t.Errorf("Seqs of three events in one Update, then LastEventSeq inside it = %v, want %v", got, want)
	}
	if got, want := seqs(events(t, s, 0, 0)), []uint64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("Events = seqs %v, want %v", got, want)
	}
}

func testEventsAfterAndLimit(t *testing.T, open Opener) {
	s := open(t, defaults)
	appendEvents(t, s, event.KeyDue, event.KeyOverdue, event.KeyFailing, event.KeyDegraded, event.KeyRecovered)
	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{1, 2, 3, 4, 5}},
		{0, 2, []uint64{1, 2}},
		{2, 0, []uint64{3, 4, 5}},
		{2, 2, []uint64{3, 4}},
		{4, 10, []uint64{5}},
		{5, 0, nil},
		{99, 0, nil},
		{math.MaxUint64, 0, nil},
	} {
		if got := seqs(events(t, s, c.after, c.limit)); !slices.Equal(got, c.want) {
			t.Errorf("Events(after %d, limit %d) = seqs %v, want %v", c.after, c.limit, got, c.want)
		}
	}
	if got := lastEventSeq(t, s); got != 5 {
		t.Errorf("LastEventSeq = %d, want 5", got)
	}
}

func testEventsEmptyLog(t *testing.T, open Opener) {
	s := open(t, defaults)
	if got := lastEventSeq(t, s); got != 0 {
		t.Errorf("LastEventSeq of an empty log = %d, want 0", got)
	}
	if got := events(t, s, 0, 0); len(got) != 0 {
		t.Errorf("Events of an empty log = %+v, want none", got)
	}
}
