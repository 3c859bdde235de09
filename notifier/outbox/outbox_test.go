package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// fakeSender records alerts and answers from a script.
type fakeSender struct {
	mu     sync.Mutex
	got    []notifier.Alert
	answer func(n int) notifier.Result
}

func (f *fakeSender) Send(_ context.Context, a notifier.Alert) notifier.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, a)
	if f.answer == nil {
		return notifier.Result{Delivered: true, Status: 200}
	}
	return f.answer(len(f.got))
}

func (f *fakeSender) sent() []notifier.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notifier.Alert(nil), f.got...)
}

type rig struct {
	t      *testing.T
	path   string
	store  store.Store
	ob     *outbox.Outbox
	send   map[string]*fakeSender
	now    time.Time
	routes map[string][]string
	recv   []outbox.Receiver
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newRig(t *testing.T, recv ...outbox.Receiver) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), bboltstore.FileName), send: map[string]*fakeSender{}, now: t0,
		routes: map[string][]string{"payments-live": {"ops", "pager"}, "checkout-test": {"ops"}}}
	for i := range recv {
		if recv[i].Sender != nil {
			continue // a real receiver under test
		}
		s := &fakeSender{}
		r.send[recv[i].Name] = s
		recv[i].Sender = s
	}
	r.recv = recv
	r.open()
	return r
}

func (r *rig) open() {
	r.t.Helper()
	st, err := bboltstore.Open(r.path, bboltstore.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = st
	r.t.Cleanup(func() { st.Close() })
	ob, err := outbox.New(outbox.Options{Store: st, Receivers: r.recv, Routes: func(e event.Event) []string { return r.routes[e.Slot] }, Now: func() time.Time { return r.now }})
	if err != nil {
		r.t.Fatal(err)
	}
	r.ob = ob
}

// record appends events as the rotator does: in one transaction with their
// outbox entries.
func (r *rig) record(evs ...event.Event) {
	r.t.Helper()
	err := r.store.Update(func(tx store.Tx) error {
		for i := range evs {
			if err := tx.AppendEvent(&evs[i]); err != nil {
				return err
			}
			if err := r.ob.Enqueue(tx, evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.ob.Committed(evs)
}

func (r *rig) flushAt(d time.Duration) {
	r.t.Helper()
	r.now = t0.Add(d)
	if err := r.ob.Flush(context.Background(), r.now); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) pending() map[string]int {
	var p map[string]int
	_ = r.store.View(func(tx store.Tx) (err error) { p, err = tx.Pending(); return err })
	return p
}

func ev(k event.Kind, slot string) event.Event {
	e := event.New(k, t0, slot, string(k)+" on "+slot)
	switch k {
	case event.KeyFailing, event.KeyDegraded:
		e.Condition = "health"
	case event.KeyRecovered:
		e.Resolves = []string{"health"}
	case event.KeyDue, event.KeyOverdue:
		e.Condition = "age"
	}
	return e
}

func recv(name string, mod ...func(*outbox.Receiver)) outbox.Receiver {
	r := outbox.Receiver{Name: name, Every: time.Second, Burst: 5, MinSeverity: event.Warning, RepeatInterval: 4 * time.Hour, GroupWait: 10 * time.Second, MaxDeliveryAge: 24 * time.Hour}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func kinds(a notifier.Alert) string {
	var s []event.Kind
	for _, e := range a.Events {
		s = append(s, e.Kind)
	}
	return fmt.Sprint(s)
}

func TestOutbox_RoutesBySlotAndSeverity(t *testing.T) {
	r := newRig(t, recv("ops"), recv("pager", func(x *outbox.Receiver) { x.MinSeverity = event.Critical }))
	r.record(ev(event.KeyDue, "payments-live"))                  // warning: ops only
	r.record(ev(event.KeyFailing, "checkout-test"))              // critical, but checkout notifies ops only
	r.record(ev(event.SecretChangedExternally, "payments-live")) // info: nobody
	r.flushAt(10 * time.Second)
	if got := r.send["ops"].sent(); len(got) != 1 || kinds(got[0]) != "[key_due key_failing]" {
		t.Errorf("ops got %v", got)
	}
	if got := r.send["pager"].sent(); len(got) != 0 {
		t.Errorf("pager got %d alerts, want none", len(got))
	}
}

func TestOutbox_BurstBecomesOneMessagePerReceiver(t *testing.T) {
	r := newRig(t, recv("ops"), recv("pager"))
	for i := 0; i < 40; i++ {
		r.routes[fmt.Sprintf("slot-%02d", i)] = []string{"ops", "pager"}
		r.record(ev(event.KeyFailing, fmt.Sprintf("slot-%02d", i)))
	}
	r.flushAt(5 * time.Second) // inside group_wait: nothing yet
	if n := len(r.send["ops"].sent()); n != 0 {
		t.Fatalf("sent %d before group_wait", n)
	}
	r.flushAt(10 * time.Second)
	for _, name := range []string{"ops", "pager"} {
		got := r.send[name].sent()
		if len(got) != 1 || len(got[0].Events) != 40 {
			t.Errorf("%s got %d messages (first with %d events), want 1 with 40", name, len(got), len(got[0].Events))
		}
	}
	if p := r.pending(); len(p) != 0 {
		t.Errorf("pending after delivery: %v", p)
	}
}

func TestOutbox_RetryHonoursRetryAfterAndKeepsTheID(t *testing.T) {
	r := newRig(t, recv("ops"))
	r.send["ops"].answer = func(n int) notifier.Result {
		if n < 3 {
			return notifier.Result{Retry: true, Status: 429, RetryAfter: time.Minute}
		}
		return notifier.Result{Delivered: true, Status: 200}
	}
	r.record(ev(event.KeyFailing, "checkout-test"))
	r.flushAt(10 * time.Second)
	r.flushAt(30 * time.Second) // Retry-After not over: no attempt
	r.flushAt(71 * time.Second)
	r.flushAt(3 * time.Minute)
	got := r.send["ops"].sent()
	if len(got) != 3 {
		t.Fatalf("attempts = %d, want 3 (the 30 s flush must wait for Retry-After)", len(got))
	}
	if got[0].ID != got[1].ID || got[1].ID != got[2].ID {
		t.Errorf("alert id changed across retries: %s %s %s", got[0].ID, got[1].ID, got[2].ID)
	}
	if p := r.pending(); len(p) != 0 {
		t.Errorf("pending after delivery: %v", p)
	}
}

func TestOutbox_SurvivesRestart(t *testing.T) {
	r := newRig(t, recv("ops"))
	r.send["ops"].answer = func(int) notifier.Result { return notifier.Result{Retry: true, Status: 503} }
	r.record(ev(event.KeyFailing, "checkout-test"), ev(event.KeyOverdue, "checkout-test"))
	r.flushAt(10 * time.Second)
	first := r.send["ops"].sent()[0].ID
	r.store.Close()

	r.send["ops"].answer = nil
	r.open()
	r.flushAt(time.Hour)
	got := r.send["ops"].sent()
	if len(got) != 2 || got[1].ID != first || kinds(got[1]) != "[key_failing key_overdue]" {
		t.Errorf("after restart: %d sends, last %s %s; want the same alert again", len(got), got[len(got)-1].ID, kinds(got[len(got)-1]))
	}
}

func TestOutbox_RepeatsActiveConditionsThenResolves(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.RepeatInterval = time.Hour }), recv("pager"))
	r.record(ev(event.KeyFailing, "payments-live"))
	r.flushAt(10 * time.Second)
	r.flushAt(59 * time.Minute)
	if n := len(r.send["ops"].sent()); n != 1 {
		t.Fatalf("ops got %d before repeat_interval, want 1", n)
	}
	r.flushAt(61 * time.Minute)
	r.flushAt(62 * time.Minute)
	got := r.send["ops"].sent()
	if len(got) != 2 || !got[1].Repeat || kinds(got[1]) != "[key_failing]" {
		t.Fatalf("ops after an hour: %d sends (last repeat=%v), want a reminder", len(got), got[len(got)-1].Repeat)
	}
	// Recovery resolves it at both receivers, though resolved is below
	// their min_severity.
	r.now = t0.Add(2 * time.Hour)
	r.record(ev(event.KeyRecovered, "payments-live"))
	r.flushAt(2*time.Hour + 10*time.Second)
	for _, name := range []string{"ops", "pager"} {
		got := r.send[name].sent()
		if last := got[len(got)-1]; kinds(last) != "[key_recovered]" {
			t.Errorf("%s last message %s, want key_recovered", name, kinds(last))
		}
	}
	// No more reminders once resolved.
	before := len(r.send["ops"].sent())
	r.flushAt(10 * time.Hour)
	if n := len(r.send["ops"].sent()); n != before {
		t.Errorf("reminders after resolution: %d more", n-before)
	}
}

func TestOutbox_FinalFailureGoesToFallback(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Fallback = "pager" }), recv("pager"))
	r.routes["checkout-test"] = []string{"ops"}
	r.send["ops"].answer = func(int) notifier.Result { return notifier.Result{Status: 404, Detail: "no_service"} }
	r.record(ev(event.KeyFailing, "checkout-test"))
	r.flushAt(10 * time.Second)
	r.flushAt(11 * time.Second)
	if got := r.send["pager"].sent(); len(got) != 1 || kinds(got[0]) != "[key_failing]" {
		t.Errorf("pager (fallback) got %v", got)
	}
	if len(r.send["ops"].sent()) != 1 {
		t.Errorf("a 404 was retried")
	}
}

func TestOutbox_ExpiresAfterMaxDeliveryAgeAndSaysSo(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.MaxDeliveryAge = time.Hour }), recv("pager"))
	r.routes["checkout-test"] = []string{"ops"}
	r.send["ops"].answer = func(int) notifier.Result { return notifier.Result{Retry: true, Status: 500} }
	r.record(ev(event.KeyFailing, "checkout-test"))
	for m := 0; m <= 70; m += 5 {
		r.flushAt(time.Duration(m)*time.Minute + 10*time.Second)
	}
	if p := r.pending()["ops"]; p != 0 {
		t.Errorf("ops still has %d queued after max_delivery_age", p)
	}
	var expired, failing bool
	for _, a := range r.send["pager"].sent() {
		for _, e := range a.Events {
			expired = expired || e.Kind == event.NotificationExpired
			failing = failing || e.Kind == event.NotifierFailing
			if e.Kind == event.NotificationExpired && !strings.Contains(e.Message, "an alert (1 event, first: key_failing)") {
				t.Errorf("got %q, want the one event counted in the singular", e.Message)
			}
		}
	}
	if !expired || !failing {
		t.Errorf("pager did not hear of it: expired %v, notifier_failing %v", expired, failing)
	}
}

func TestOutbox_NotifierFailingThenRecovered(t *testing.T) {
	r := newRig(t, recv("ops"), recv("pager"))
	down := true
	r.send["ops"].answer = func(int) notifier.Result {
		if down {
			return notifier.Result{Retry: true, Status: 503, Detail: "HTTP 503"}
		}
		return notifier.Result{Delivered: true, Status: 200}
	}
	r.routes["checkout-test"] = []string{"ops"}
	r.record(ev(event.KeyFailing, "checkout-test"))
	for s := 10; s < 200; s += 20 {
		r.flushAt(time.Duration(s) * time.Second)
	}
	pagerKinds := func() []event.Kind {
		var out []event.Kind
		for _, a := range r.send["pager"].sent() {
			for _, e := range a.Events {
				out = append(out, e.Kind)
			}
		}
		return out
	}
	if k := pagerKinds(); len(k) != 1 || k[0] != event.NotifierFailing {
		t.Fatalf("pager heard %v, want one notifier_failing", k)
	}
	if got := r.send["ops"].sent(); len(got) < 3 {
		t.Fatalf("ops attempts = %d", len(got))
	}
	down = false
	r.flushAt(time.Hour)
	r.flushAt(time.Hour + 20*time.Second)
	if k := pagerKinds(); len(k) != 2 || k[1] != event.NotifierRecovered {
		t.Errorf("pager heard %v, want notifier_failing then notifier_recovered", k)
	}
	for _, a := range r.send["ops"].sent() {
		for _, e := range a.Events {
			if e.Kind == event.NotifierFailing {
				t.Error("the failing receiver was told it is failing")
			}
		}
	}
}

func TestOutbox_RateLimitPerDestination(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Every, x.Burst = 10*time.Second, 1 }))
	down := true
	r.send["ops"].answer = func(int) notifier.Result {
		if down {
			return notifier.Result{Retry: true, Status: 503}
		}
		return notifier.Result{Delivered: true}
	}
	// Three separate alerts (an hour apart, so not grouped), each failing
	// its first attempt.
	for i := 0; i < 3; i++ {
		r.now = t0.Add(time.Duration(i) * time.Hour)
		r.record(ev(event.KeyFailing, "checkout-test"))
		r.flushAt(time.Duration(i)*time.Hour + 10*time.Second)
	}
	down = false
	// All three are due for a retry at once: one token per 10 s.
	before := len(r.send["ops"].sent())
	r.flushAt(5 * time.Hour)
	if got := len(r.send["ops"].sent()) - before; got != 1 {
		t.Errorf("sent %d at once with burst 1, want 1", got)
	}
	r.flushAt(5*time.Hour + 10*time.Second)
	if got := len(r.send["ops"].sent()) - before; got != 2 {
		t.Errorf("sent %d after one interval, want 2", got)
	}
}

// TestOutbox_RateLimitedPassSaysWhenTheNextTokenAccrues: after a long
// idle spell a destination gets its burst at once and no more; the pass
// that ran out of tokens says when the next one accrues, and the refused
// send took nothing, so at that time it goes.
func TestOutbox_RateLimitedPassSaysWhenTheNextTokenAccrues(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Every, x.Burst = 10*time.Second, 1 }))
	down := true
	r.send["ops"].answer = func(int) notifier.Result {
		if down {
			return notifier.Result{Retry: true, Status: 503}
		}
		return notifier.Result{Delivered: true}
	}
	// Two deliveries queue: the first alert, retried, and the later ones,
	// grouped when the receiver is back.
	for i := range 3 {
		r.now = t0.Add(time.Duration(i) * time.Hour)
		r.record(ev(event.KeyFailing, "checkout-test"))
		r.flushAt(time.Duration(i)*time.Hour + 10*time.Second)
	}
	down = false
	before := len(r.send["ops"].sent())
	at := t0.Add(5 * time.Hour)
	r.now = at
	if next := r.ob.DeliverAt(context.Background(), "ops", at); !next.Equal(at.Add(10 * time.Second)) {
		t.Errorf("pass out of tokens: next run at %s, want %s (one interval)", next, at.Add(10*time.Second))
	}
	if got := len(r.send["ops"].sent()) - before; got != 1 {
		t.Errorf("sent %d after idling with burst 1, want 1", got)
	}
	at = at.Add(10 * time.Second)
	r.now = at
	if next := r.ob.DeliverAt(context.Background(), "ops", at); !next.IsZero() {
		t.Errorf("after the last send: next run at %s, want none (nothing queued)", next)
	}
	if got := len(r.send["ops"].sent()) - before; got != 2 {
		t.Errorf("sent %d once the next token accrued, want 2", got)
	}
}

// countingStore counts write transactions.
type countingStore struct {
	store.Store
	updates int
}

func (c *countingStore) Update(fn func(store.Tx) error) error {
	c.updates++
	return c.Store.Update(fn)
}

// Reminders are scheduled for when they are due, not polled: the repeat
// loop learns when the next one is, and a look with nothing due writes
// nothing (no commit, no fsync).
func TestOutbox_RepeatSaysWhenTheNextReminderIsDue(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.RepeatInterval = time.Hour }),
		recv("pager", func(x *outbox.Receiver) { x.RepeatInterval = 90 * time.Minute }))
	cs := &countingStore{Store: r.store}
	ob, err := outbox.New(outbox.Options{Store: cs, Receivers: r.recv, Routes: func(e event.Event) []string { return r.routes[e.Slot] }, Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	if next, err := ob.RepeatNext(t0); err != nil || !next.IsZero() || cs.updates != 0 {
		t.Fatalf("no condition: next %v, %d writes, err %v; want none, none", next, cs.updates, err)
	}
	r.record(ev(event.KeyFailing, "payments-live")) // opens "health" at ops (1h) and pager (90m)
	next, err := ob.RepeatNext(t0.Add(30 * time.Minute))
	if err != nil || !next.Equal(t0.Add(time.Hour)) || cs.updates != 0 {
		t.Errorf("half an hour on: next %v, %d writes; want %v, none", next, cs.updates, t0.Add(time.Hour))
	}
	next, err = ob.RepeatNext(t0.Add(time.Hour))
	if err != nil || !next.Equal(t0.Add(90*time.Minute)) || cs.updates != 1 {
		t.Errorf("at ops' repeat: next %v, %d writes; want %v (pager's), 1", next, cs.updates, t0.Add(90*time.Minute))
	}
	if p := r.pending(); p["ops"] != 2 || p["pager"] != 1 {
		t.Errorf("queued %v, want the reminder at ops only", p)
	}
}
