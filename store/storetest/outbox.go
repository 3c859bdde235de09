package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

var outboxCases = []testCase{
	{"SeqInQueueOrder", testOutboxSeqInQueueOrder},
	{"PresetSeqKept", testOutboxPresetSeqKept},
	{"ScopedToReceiver", testOutboxScopedToReceiver},
	{"Limit", testOutboxLimit},
	{"Delete", testOutboxDelete},
	{"Pending", testOutboxPending},
	{"Settle", testOutboxSettle},
	{"SettleRolledBack", testOutboxSettleRolledBack},
	{"ReceiverRequired", testOutboxReceiverRequired},
}

var alertCases = []testCase{
	{"PutGetDelete", testAlertsPutGetDelete},
	{"ListAll", testAlertsListAll},
}

var receiverCases = []testCase{
	{"NamedZeroWhenNone", testReceiversNamedZeroWhenNone},
	{"PutReplaces", testReceiversPutReplaces},
}

func delivery(receiver, id string) *store.Delivery {
	return &store.Delivery{ID: id, Receiver: receiver, Events: []event.Event{event.New(event.KeyDue, t0, "a", "m")},
		CreatedAt: t0, DueAt: t0}
}

func queue(t *testing.T, s store.Store, receiver string, limit int) []store.Delivery {
	t.Helper()
	return read(t, s, func(tx store.Tx) ([]store.Delivery, error) { return tx.Deliveries(receiver, limit) })
}

func deliveryIDs(ds []store.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// putDeliveries queues one delivery per id to receiver, each in its own
// Update, and returns them with the Seqs the store gave.
func putDeliveries(t *testing.T, s store.Store, receiver string, ids ...string) []*store.Delivery {
	t.Helper()
	var out []*store.Delivery
	for _, id := range ids {
		d := delivery(receiver, id)
		write(t, s, func(tx store.Tx) error { return tx.PutDelivery(d) })
		out = append(out, d)
	}
	return out
}

func pending(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	p := read(t, s, func(tx store.Tx) (map[string]int, error) { return tx.Pending() })
	// A receiver with nothing queued may be listed with 0 or left out.
	maps.DeleteFunc(p, func(_ string, n int) bool { return n == 0 })
	return p
}

func testOutboxSeqInQueueOrder(t *testing.T, open Opener) {
	s := open(t, defaults)
	ds := putDeliveries(t, s, "a", "alr_1", "alr_2")
	putDeliveries(t, s, "b", "alr_x")
	// Several in one transaction are queued in the order they were put.
	var more []*store.Delivery
	write(t, s, func(tx store.Tx) error {
		for _, id := range []string{"alr_3", "alr_4"} {
			d := delivery("a", id)
			if err := tx.PutDelivery(d); err != nil {
				return err
			}
			more = append(more, d)
		}
		return nil
	})
	ds = append(ds, more...)
	for i, d := range ds {
		if d.Seq == 0 || i > 0 && d.Seq <= ds[i-1].Seq {
			t.Errorf("delivery %s got Seq %d after %d, want an increasing Seq", d.ID, d.Seq, ds[max(i-1, 0)].Seq)
		}
	}
	got := queue(t, s, "a", 0)
	if want := []string{"alr_1", "alr_2", "alr_3", "alr_4"}; !slices.Equal(deliveryIDs(got), want) {
		t.Errorf("Deliveries(a) = %v, want %v (queue order)", deliveryIDs(got), want)
	}
	for i, d := range got {
		if i < len(ds) && d.Seq != ds[i].Seq {
			t.Errorf("Deliveries(a)[%d] has Seq %d, want %d as PutDelivery gave", i, d.Seq, ds[i].Seq)
		}
	}
}

func testOutboxPresetSeqKept(t *testing.T, open Opener) {
	s := open(t, defaults)
	d := delivery("a", "alr_preset")
	d.Seq = 42
	write(t, s, func(tx store.Tx) error { return tx.PutDelivery(d) })
	if d.Seq != 42 {
		t.Errorf("PutDelivery changed a preset Seq to %d, want 42", d.Seq)
	}
	if got := queue(t, s, "a", 0); len(got) != 1 || got[0].Seq != 42 {
		t.Errorf("Deliveries(a) = %+v, want one with Seq 42", got)
	}

	// Putting a queued delivery again (a retry's new attempt count)
	// updates it in place: same Seq, same place in the queue.
	ds := putDeliveries(t, s, "b", "alr_1", "alr_2", "alr_3")
	retried := *ds[1]
	retried.Attempts, retried.LastError = 3, "503 from chat"
	write(t, s, func(tx store.Tx) error { return tx.PutDelivery(&retried) })
	if retried.Seq != ds[1].Seq {
		t.Errorf("re-putting delivery %d gave it Seq %d", ds[1].Seq, retried.Seq)
	}
	got := queue(t, s, "b", 0)
	if want := []string{"alr_1", "alr_2", "alr_3"}; !slices.Equal(deliveryIDs(got), want) {
		t.Fatalf("Deliveries(b) after a re-put = %v, want %v", deliveryIDs(got), want)
	}
	if got[1].Attempts != 3 || got[1].LastError != "503 from chat" || got[1].Seq != ds[1].Seq {
		t.Errorf("re-put delivery = %+v, want attempts 3 and its error, Seq %d", got[1], ds[1].Seq)
	}
}

func testOutboxScopedToReceiver(t *testing.T, open Opener) {
	s := open(t, defaults)
	putDeliveries(t, s, "a", "alr_a1")
	putDeliveries(t, s, "ab", "alr_ab1")
	putDeliveries(t, s, "a", "alr_a2")
	putDeliveries(t, s, "b", "alr_b1")
	for receiver, want := range map[string][]string{"a": {"alr_a1", "alr_a2"}, "ab": {"alr_ab1"}, "b": {"alr_b1"}, "c": nil} {
		got := queue(t, s, receiver, 0)
		if !slices.Equal(deliveryIDs(got), want) {
			t.Errorf("Deliveries(%s) = %v, want %v", receiver, deliveryIDs(got), want)
		}
		for _, d := range got {
			if d.Receiver != receiver {
				t.Errorf("Deliveries(%s) holds %s for %s", receiver, d.ID, d.Receiver)
			}
		}
	}
}

func testOutboxLimit(t *testing.T, open Opener) {
	s := open(t, defaults)
	putDeliveries(t, s, "a", "alr_1", "alr_2", "alr_3")
	for limit, want := range map[int][]string{0: {"alr_1", "alr_2", "alr_3"}, 1: {"alr_1"}, 2: {"alr_1", "alr_2"}, 5: {"alr_1", "alr_2", "alr_3"}} {
		if got := deliveryIDs(queue(t, s, "a", limit)); !slices.Equal(got, want) {
			t.Errorf("Deliveries(a, limit %d) = %v, want %v", limit, got, want)
		}
	}
}

func testOutboxDelete(t *testing.T, open Opener) {
	s := open(t, defaults)
	ds := putDeliveries(t, s, "a", "alr_1", "alr_2", "alr_3")
	other := putDeliveries(t, s, "ab", "alr_ab")
	write(t, s, func(tx store.Tx) error { return tx.DeleteDelivery("a", ds[1].Seq) })
	if got, want := deliveryIDs(queue(t, s, "a", 0)), []string{"alr_1", "alr_3"}; !slices.Equal(got, want) {
		t.Errorf("Deliveries(a) after deleting alr_2 = %v, want %v", got, want)
	}
	// Deleting what is not there is no error: a delivery already settled,
	// another receiver's Seq, an unknown receiver.
	for _, k := range []struct {
		receiver string
		seq      uint64
	}{{"a", ds[1].Seq}, {"a", other[0].Seq}, {"nobody", ds[0].Seq}, {"a", 9999}} {
		if err := s.Update(func(tx store.Tx) error { return tx.DeleteDelivery(k.receiver, k.seq) }); err != nil {
			t.Errorf("DeleteDelivery(%s, %d) of a missing delivery = %v, want nil", k.receiver, k.seq, err)
		}
	}
	if got, want := deliveryIDs(queue(t, s, "a", 0)), []string{"alr_1", "alr_3"}; !slices.Equal(got, want) {
		t.Errorf("Deliveries(a) after deleting missing ones = %v, want %v", got, want)
	}
	if got := deliveryIDs(queue(t, s, "ab", 0)); !slices.Equal(got, []string{"alr_ab"}) {
		t.Errorf("Deliveries(ab) = %v, want [alr_ab]: a's deletes touch only a", got)
	}
}

func testOutboxPending(t *testing.T, open Opener) {
	s := open(t, defaults)
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("Pending of an empty outbox = %v, want none", got)
	}
	ds := putDeliveries(t, s, "a", "alr_1", "alr_2")
	putDeliveries(t, s, "ab", "alr_3")
	putDeliveries(t, s, "b", "alr_4")
	if got, want := pending(t, s), map[string]int{"a": 2, "ab": 1, "b": 1}; !maps.Equal(got, want) {
		t.Errorf("Pending = %v, want %v", got, want)
	}
	write(t, s, func(tx store.Tx) error { return tx.DeleteDelivery("a", ds[0].Seq) })
	if got, want := pending(t, s), map[string]int{"a": 1, "ab": 1, "b": 1}; !maps.Equal(got, want) {
		t.Errorf("Pending after one delivery to a = %v, want %v", got, want)
	}
}

// settle is what the outbox does when a receiver takes a delivery: the
// delivery goes and the receiver's health is recorded, together.
func settle(tx store.Tx, d *store.Delivery, at time.Time) error {
	health, err := tx.Receiver(d.Receiver)
	if err != nil {
		return err
	}
	health.ConsecutiveFailures, health.LastError, health.LastSuccess = 0, "", at
	if err := tx.DeleteDelivery(d.Receiver, d.Seq); err != nil {
		return err
	}
	return tx.PutReceiver(health)
}

func testOutboxSettle(t *testing.T, open Opener) {
	s := open(t, defaults)
	ds := putDeliveries(t, s, "a", "alr_1", "alr_2")
	write(t, s, func(tx store.Tx) error {
		return tx.PutReceiver(store.ReceiverState{Name: "a", ConsecutiveFailures: 3, LastError: "timeout"})
	})
	at := t0.Add(time.Minute)
	write(t, s, func(tx store.Tx) error { return settle(tx, ds[0], at) })
	if got := deliveryIDs(queue(t, s, "a", 0)); !slices.Equal(got, []string{"alr_2"}) {
		t.Errorf("Deliveries(a) after settling alr_1 = %v, want [alr_2]", got)
	}
	health := read(t, s, func(tx store.Tx) (store.ReceiverState, error) { return tx.Receiver("a") })
	if health.ConsecutiveFailures != 0 || health.LastError != "" || !health.LastSuccess.Equal(at) {
		t.Errorf("Receiver(a) after settling = %+v, want no failures, last success %v", health, at)
	}
}

func testOutboxSettleRolledBack(t *testing.T, open Opener) {
	s := open(t, defaults)
	ds := putDeliveries(t, s, "a", "alr_1")
	before := store.ReceiverState{Name: "a", ConsecutiveFailures: 3, LastError: "timeout"}
	write(t, s, func(tx store.Tx) error { return tx.PutReceiver(before) })
	boom := errors.New("crash between the two writes")
	err := s.Update(func(tx store.Tx) error {
		if err := settle(tx, ds[0], t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	if got := deliveryIDs(queue(t, s, "a", 0)); !slices.Equal(got, []string{"alr_1"}) {
		t.Errorf("Deliveries(a) after a failed settle = %v, want [alr_1] still", got)
	}
	if got := read(t, s, func(tx store.Tx) (store.ReceiverState, error) { return tx.Receiver("a") }); !equal(got, before) {
		t.Errorf("Receiver(a) after a failed settle = %+v, want %+v", got, before)
	}
}

func alertState(receiver, slot, condition string) store.AlertState {
	return store.AlertState{Receiver: receiver, Slot: slot, Condition: condition,
		Event: event.New(event.KeyFailing, t0, slot, "m"), Since: t0, LastSent: t0}
}

func getAlert(t *testing.T, s store.Store, receiver, slot, condition string) (store.AlertState, bool) {
	t.Helper()
	return lookup(t, s, func(tx store.Tx) (store.AlertState, bool, error) {
		return tx.GetAlertState(receiver, slot, condition)
	})
}

func testAlertsPutGetDelete(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error {
		for _, a := range []store.AlertState{alertState("r", "a", "health"), alertState("r", "a", "age"),
			alertState("r", "a-b", "health"), alertState("rr", "a", "health")} {
			if err := tx.PutAlertState(a); err != nil {
				return err
			}
		}
		return nil
	})
	got, ok := getAlert(t, s, "r", "a", "health")
	if !ok || got.Receiver != "r" || got.Slot != "a" || got.Condition != "health" || got.Event.Kind != event.KeyFailing {
		t.Errorf("GetAlertState(r, a, health) = %+v, %v; want the key_failing condition", got, ok)
	}
	for _, k := range [][3]string{{"r", "b", "health"}, {"r", "a", "source"}, {"x", "a", "health"}} {
		if got, ok := getAlert(t, s, k[0], k[1], k[2]); ok {
			t.Errorf("GetAlertState(%s, %s, %s) = %+v, want none", k[0], k[1], k[2], got)
		}
	}

	// A repeat updates LastSent in place.
	sent := t0.Add(4 * time.Hour)
	write(t, s, func(tx store.Tx) error {
		a := alertState("r", "a", "health")
		a.LastSent = sent
		return tx.PutAlertState(a)
	})
	if got, _ := getAlert(t, s, "r", "a", "health"); !got.LastSent.Equal(sent) {
		t.Errorf("LastSent after a repeat = %v, want %v", got.LastSent, sent)
	}

	write(t, s, func(tx store.Tx) error { return tx.DeleteAlertState("r", "a", "health") })
	if got, ok := getAlert(t, s, "r", "a", "health"); ok {
		t.Errorf("GetAlertState(r, a, health) after delete = %+v, want none", got)
	}
	for _, k := range [][3]string{{"r", "a", "age"}, {"r", "a-b", "health"}, {"rr", "a", "health"}} {
		if _, ok := getAlert(t, s, k[0], k[1], k[2]); !ok {
			t.Errorf("GetAlertState(%s, %s, %s) went with (r, a, health)", k[0], k[1], k[2])
		}
	}
}

func testAlertsListAll(t *testing.T, open Opener) {
	s := open(t, defaults)
	list := func() []string {
		as := read(t, s, func(tx store.Tx) ([]store.AlertState, error) { return tx.AlertStates() })
		var out []string
		for _, a := range as {
			out = append(out, a.Receiver+"/"+a.Slot+"/"+a.Condition)
		}
		return sorted(out)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("AlertStates of an empty store = %v, want none", got)
	}
	write(t, s, func(tx store.Tx) error {
		for _, a := range []store.AlertState{alertState("r", "b", "age"), alertState("r", "a", "health"), alertState("q", "a", "health")} {
			if err := tx.PutAlertState(a); err != nil {
				return err
			}
		}
		return tx.DeleteAlertState("r", "b", "age")
	})
	if got, want := list(), []string{"q/a/health", "r/a/health"}; !slices.Equal(got, want) {
		t.Errorf("AlertStates = %v, want %v", got, want)
	}
}

func receiverState(t *testing.T, s store.Store, name string) store.ReceiverState {
	t.Helper()
	return read(t, s, func(tx store.Tx) (store.ReceiverState, error) { return tx.Receiver(name) })
}

func testReceiversNamedZeroWhenNone(t *testing.T, open Opener) {
	s := open(t, defaults)
	write(t, s, func(tx store.Tx) error {
		return tx.PutReceiver(store.ReceiverState{Name: "ab", ConsecutiveFailures: 2})
	})
	for _, name := range []string{"a", "b", "slack"} {
		if got, want := receiverState(t, s, name), (store.ReceiverState{Name: name}); !equal(got, want) {
			t.Errorf("Receiver(%s) with none stored = %+v, want %+v", name, got, want)
		}
	}
}

func testReceiversPutReplaces(t *testing.T, open Opener) {
	s := open(t, defaults)
	first := store.ReceiverState{Name: "slack", ConsecutiveFailures: 4, FailingSince: t0, Alerted: true, LastError: "429"}
	write(t, s, func(tx store.Tx) error { return tx.PutReceiver(first) })
	if got := receiverState(t, s, "slack"); !equal(got, first) {
		t.Errorf("Receiver(slack) = %+v, want %+v", got, first)
	}
	second := store.ReceiverState{Name: "slack", LastSuccess: t0.Add(time.Hour)}
	write(t, s, func(tx store.Tx) error { return tx.PutReceiver(second) })
	if got := receiverState(t, s, "slack"); !equal(got, second) {
		t.Errorf("Receiver(slack) after a second put = %+v, want %+v", got, second)
	}
}

func testOutboxReceiverRequired(t *testing.T, open Opener) {
	s := open(t, defaults)
	err := s.Update(func(tx store.Tx) error { return tx.PutDelivery(delivery("", "alr_1")) })
	if err == nil {
		t.Error("PutDelivery with no receiver = nil, want an error")
	}
	if got := read(t, s, func(tx store.Tx) ([]store.Delivery, error) { return tx.Deliveries("", 0) }); len(got) != 0 {
		t.Errorf("a delivery with no receiver was stored: %+v", got)
	}
}
