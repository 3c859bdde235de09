package storetest

import (
	"slices"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

var retentionCases = []testCase{
	{"EventsKeepTheNewest", testRetentionEventsKeepTheNewest},
	{"EventsBoundedWithinOneUpdate", testRetentionEventsBoundedWithinOneUpdate},
	{"EventsAgeCountsFromTheNewest", testRetentionEventsAgeCountsFromTheNewest},
	{"LoweredEventBoundIsReachedStepByStep", testRetentionLoweredEventBoundIsReachedStepByStep},
	{"ProbesAgeCountsFromTheNewest", testRetentionProbesAgeCountsFromTheNewest},
	{"LoweredProbeBoundIsReachedStepByStep", testRetentionLoweredProbeBoundIsReachedStepByStep},
	{"OutboxKeepsEventsTheLogDropped", testRetentionOutboxKeepsEventsTheLogDropped},
}

// appendAt appends one event per time, each in its own Update.
func appendAt(t *testing.T, s store.Store, ats ...time.Time) {
	t.Helper()
	for _, at := range ats {
		e := event.New(event.KeyDue, at, "a", "m")
		write(t, s, func(tx store.Tx) error { return tx.AppendEvent(&e) })
	}
}

func times(evs []event.Event) []time.Time {
	var out []time.Time
	for _, e := range evs {
		out = append(out, e.At)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func testRetentionEventsKeepTheNewest(t *testing.T, open Opener) {
	s := open(t, store.Retention{Events: 5})
	for i := range 12 {
		appendAt(t, s, t0.Add(time.Duration(i)*time.Minute))
	}
	if got, want := seqs(events(t, s, 0, 0)), seqRange(8, 12); !slices.Equal(got, want) {
		t.Errorf("Events after 12 appends keeping 5 = seqs %v, want %v", got, want)
	}
	if got := lastEventSeq(t, s); got != 12 {
		t.Errorf("LastEventSeq = %d, want 12", got)
	}
	// Dropping the oldest never renumbers the rest or reuses a number.
	appended := appendEvents(t, s, event.KeyFailing)
	if appended[0].Seq != 13 {
		t.Errorf("the next append got seq %d, want 13", appended[0].Seq)
	}
	if got, want := seqs(events(t, s, 0, 0)), seqRange(9, 13); !slices.Equal(got, want) {
		t.Errorf("Events after one more append = seqs %v, want %v", got, want)
	}
	if got, want := seqs(events(t, s, 10, 2)), []uint64{11, 12}; !slices.Equal(got, want) {
		t.Errorf("Events(after 10, limit 2) = seqs %v, want %v", got, want)
	}
}

func testRetentionEventsBoundedWithinOneUpdate(t *testing.T, open Opener) {
	s := open(t, store.Retention{Events: 3})
	write(t, s, func(tx store.Tx) error {
		for range 10 {
			e := event.New(event.KeyDue, t0, "a", "m")
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := seqs(events(t, s, 0, 0)), seqRange(8, 10); !slices.Equal(got, want) {
		t.Errorf("Events after 10 appends in one Update keeping 3 = seqs %v, want %v", got, want)
	}
}

func testRetentionEventsAgeCountsFromTheNewest(t *testing.T, open Opener) {
	const h = time.Hour
	s := open(t, store.Retention{EventAge: 48 * h})
	appendAt(t, s, t0, t0.Add(h), t0.Add(30*h))
	if got := len(events(t, s, 0, 0)); got != 3 {
		t.Fatalf("events within 48h of each other: %d kept, want 3", got)
	}
	// 50h: t0 and t0+1h are more than 48h older than it.
	appendAt(t, s, t0.Add(50*h))
	if got, want := times(events(t, s, 0, 0)), []time.Time{t0.Add(30 * h), t0.Add(50 * h)}; !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("after an event at t0+50h keeping 48h: events at %v, want %v", got, want)
	}
	// An event dated earlier than the newest (a clock set back) drops
	// nothing that is within 48h of it.
	appendAt(t, s, t0.Add(40*h))
	if got := len(events(t, s, 0, 0)); got != 3 {
		t.Errorf("after an event at t0+40h: %d kept, want 3 (none is 48h older than it)", got)
	}
}

func testRetentionLoweredEventBoundIsReachedStepByStep(t *testing.T, open Opener) {
	s := open(t, defaults)
	const n = 3 * store.PruneStep
	write(t, s, func(tx store.Tx) error {
		for range n {
			e := event.New(event.KeyDue, t0, "a", "m")
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
		}
		return nil
	})
	s.SetRetention(store.Retention{Events: 10})
	appendEvents(t, s, event.KeyDue)
	// One append does a bounded amount of work: it drops some of the
	// backlog, never all of it at once.
	if got := len(events(t, s, 0, 0)); got < n+1-store.PruneStep || got >= n+1 {
		t.Errorf("after the bound was lowered to 10, one append left %d of %d events, want %d to %d", got, n+1, n+1-store.PruneStep, n)
	}
	for range n / (store.PruneStep - 1) {
		appendEvents(t, s, event.KeyDue)
	}
	last := uint64(n + 1 + n/(store.PruneStep-1))
	if got, want := seqs(events(t, s, 0, 0)), seqRange(last-9, last); !slices.Equal(got, want) {
		t.Errorf("after enough appends: seqs %v, want the newest 10 %v", got, want)
	}
}

func testRetentionProbesAgeCountsFromTheNewest(t *testing.T, open Opener) {
	const h = time.Hour
	s := open(t, store.Retention{ProbeAge: 24 * h})
	for i, at := range []time.Time{t0, t0.Add(10 * h), t0.Add(30 * h)} {
		write(t, s, func(tx store.Tx) error {
			return tx.RecordProbe("a", "fp", store.ProbeRecord{At: at, Outcome: "healthy", Status: 200 + i})
		})
	}
	// Another pair's probes are its own: t0+30h there drops nothing here.
	write(t, s, func(tx store.Tx) error {
		return tx.RecordProbe("a", "fp_other", store.ProbeRecord{At: t0.Add(100 * h), Outcome: "healthy", Status: 299})
	})
	if got, want := probes(t, s, "a", "fp", 0), []int{202, 201}; !slices.Equal(got, want) {
		t.Errorf("probes after one at t0+30h keeping 24h = %v, want %v (t0 dropped)", got, want)
	}
}

func testRetentionLoweredProbeBoundIsReachedStepByStep(t *testing.T, open Opener) {
	const n = 3 * store.PruneStep
	s := open(t, store.Retention{ProbeHistory: n})
	write(t, s, func(tx store.Tx) error {
		for i := range n {
			if err := tx.RecordProbe("a", "fp", store.ProbeRecord{Status: i}); err != nil {
				return err
			}
		}
		return nil
	})
	s.SetRetention(store.Retention{ProbeHistory: 5})
	recordProbes(t, s, "a", "fp", 1000, 1000)
	if got := len(probes(t, s, "a", "fp", 0)); got < n+1-store.PruneStep || got >= n+1 {
		t.Errorf("after the bound was lowered to 5, one probe left %d of %d, want %d to %d", got, n+1, n+1-store.PruneStep, n)
	}
	// Enough probes to work off the backlog, and to push out the old ones.
	last := 1000 + max(5, n/(store.PruneStep-1)+1)
	recordProbes(t, s, "a", "fp", 1001, last)
	if got, want := probes(t, s, "a", "fp", 0), []int{last, last - 1, last - 2, last - 3, last - 4}; !slices.Equal(got, want) {
		t.Errorf("after enough probes: %v, want the newest 5 %v", got, want)
	}
}

// The outbox holds what it still delivers by value: dropping an event from
// the log takes nothing from a queued delivery or an active condition.
func testRetentionOutboxKeepsEventsTheLogDropped(t *testing.T, open Opener) {
	s := open(t, store.Retention{Events: 2})
	e := event.New(event.KeyFailing, t0, "a", "payments failing")
	e.Condition, e.Fields = "health", map[string]string{"status": "401"}
	d := &store.Delivery{ID: "alr_1", Receiver: "ops", CreatedAt: t0, DueAt: t0}
	write(t, s, func(tx store.Tx) error {
		if err := tx.AppendEvent(&e); err != nil {
			return err
		}
		d.Events = []event.Event{e}
		if err := tx.PutDelivery(d); err != nil {
			return err
		}
		return tx.PutAlertState(store.AlertState{Receiver: "ops", Slot: "a", Condition: "health", Event: e, Since: t0, LastSent: t0})
	})
	appendEvents(t, s, event.KeyDue, event.KeyDue, event.KeyDue)
	if evs := events(t, s, 0, 0); len(evs) != 2 || evs[0].Seq <= e.Seq {
		t.Fatalf("log = seqs %v, want 2 events, %d dropped", seqs(evs), e.Seq)
	}
	q := queue(t, s, "ops", 0)
	if len(q) != 1 || len(q[0].Events) != 1 || !equal(q[0].Events[0], e) {
		t.Errorf("queued delivery after its event left the log = %+v, want it to carry %+v", q, e)
	}
	st, ok := lookup(t, s, func(tx store.Tx) (store.AlertState, bool, error) { return tx.GetAlertState("ops", "a", "health") })
	if !ok || !equal(st.Event, e) {
		t.Errorf("active condition after its event left the log = %+v, %v; want it to carry %+v", st, ok, e)
	}
}
