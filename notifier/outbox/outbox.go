// Package outbox delivers events to chat receivers at least once: every
// event routed to a receiver is written to a bbolt outbox in the same
// transaction that records the event, then sent with a token bucket per
// destination, grouping of bursts, repeats of active conditions and
// resolved messages when they clear. A failing receiver is tried with one
// delivery at a time, after a back-off capped at 30 s or its Retry-After,
// so an outage costs one request per interval and delivery resumes within
// one once it is back. A machine receiver (notifier.Splitter) gets a burst
// in as many deliveries as it takes. It is the one retry loop; receivers
// only classify.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/store"
)

// Receiver is one configured destination.
type Receiver struct {
	Name   string
	Sender notifier.Sender
	// Every and Burst are the destination's documented sending rate.
	Every          time.Duration
	Burst          int
	MinSeverity    event.Severity
	RepeatInterval time.Duration
	GroupWait      time.Duration
	MaxDeliveryAge time.Duration
	// Fallback names the receiver that gets what this one cannot deliver.
	Fallback string
}

// Options configure New.
type Options struct {
	Store     store.Store
	Receivers []Receiver
	// Routes gives the receivers a slot's event goes to: its notify list,
	// plus its security_notify list for security events.
	Routes func(e event.Event) []string
	Now    func() time.Time
	Logger *slog.Logger
	// FailureThreshold is how many consecutive failed attempts make a
	// receiver failing (notifier_failing). Default 3.
	FailureThreshold int
	// SendTimeout bounds one send. Default 30s.
	SendTimeout time.Duration
	// OnResult, when set, is told every attempt's result (one of
	// Results) for metrics.
	OnResult func(receiver, result string)
}

// Results lists every delivery result OnResult is told: delivered,
// retry (to be tried again), failed (final; to the fallback) and expired
// (past max_delivery_age).
func Results() []string { return []string{"delivered", "retry", "failed", "expired"} }

// Outbox routes, queues and delivers alerts. It implements the rotator's
// event sink.
type Outbox struct {
	opts      Options
	store     store.Store
	log       *slog.Logger
	now       func() time.Time
	receivers map[string]*receiver
	order     []string
	logSink   *LogSink
	// repeatWake tells the repeat loop that an alert condition opened
	// (its next reminder may be earlier than the loop's timer).
	repeatWake chan struct{}
}

type receiver struct {
	Receiver
	// bucket paces sends at the destination's rate; it is read only with
	// the times the delivery loop is given (see take).
	bucket *rate.Limiter
	wake   chan struct{}
	// split is set for a receiver that takes a burst in parts (fit).
	split notifier.Splitter
}

// New validates the receivers and builds the outbox.
func New(opts Options) (*Outbox, error) {
	if opts.Store == nil {
		return nil, errors.New("outbox: Store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Routes == nil {
		opts.Routes = func(event.Event) []string { return nil }
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 3
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 30 * time.Second
	}
	o := &Outbox{opts: opts, store: opts.Store, log: opts.Logger, now: opts.Now, receivers: map[string]*receiver{}, logSink: NewLogSink(opts.Logger),
		repeatWake: make(chan struct{}, 1)}
	for _, r := range opts.Receivers {
		if r.Sender == nil || r.Name == "" {
			return nil, fmt.Errorf("outbox: receiver %q has no sender", r.Name)
		}
		if r.Every <= 0 {
			r.Every = time.Second
		}
		if r.RepeatInterval <= 0 {
			r.RepeatInterval = 4 * time.Hour
		}
		if r.MaxDeliveryAge <= 0 {
			r.MaxDeliveryAge = 24 * time.Hour
		}
		rc := &receiver{Receiver: r, bucket: rate.NewLimiter(rate.Every(r.Every), max(1, r.Burst)), wake: make(chan struct{}, 1)}
		rc.split, _ = r.Sender.(notifier.Splitter)
		o.receivers[r.Name] = rc
		o.order = append(o.order, r.Name)
	}
	for _, r := range o.receivers {
		if r.Fallback != "" && o.receivers[r.Fallback] == nil {
			return nil, fmt.Errorf("outbox: receiver %s: fallback %q is not a receiver", r.Name, r.Fallback)
		}
	}
	return o, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "alr_" + hex.EncodeToString(b[:])
}

// Enqueue routes e to its receivers inside the transaction that records
// it, opens or refreshes the condition it raises at each, and sends the
// resolution to every receiver where a condition it resolves was open.
func (o *Outbox) Enqueue(tx store.Tx, e event.Event) error {
	now := o.now()
	targets := o.route(e)
	for _, name := range targets {
		r := o.receivers[name]
		if err := tx.PutDelivery(&store.Delivery{ID: newID(), Receiver: name, Events: []event.Event{e}, CreatedAt: now, DueAt: now.Add(r.GroupWait)}); err != nil {
			return err
		}
		if e.Condition != "" && e.Severity >= event.Warning {
			st, ok, err := tx.GetAlertState(name, e.Slot, e.Condition)
			if err != nil {
				return err
			}
			if !ok {
				st = store.AlertState{Receiver: name, Slot: e.Slot, Condition: e.Condition, Since: now}
			}
			st.Event, st.LastSent = e, now
			if err := tx.PutAlertState(st); err != nil {
				return err
			}
		}
	}
	for _, cond := range e.Resolves {
		for _, name := range o.order {
			_, ok, err := tx.GetAlertState(name, e.Slot, cond)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := tx.DeleteAlertState(name, e.Slot, cond); err != nil {
				return err
			}
			if slices.Contains(targets, name) {
				continue
			}
			targets = append(targets, name)
			r := o.receivers[name]
			if err := tx.PutDelivery(&store.Delivery{ID: newID(), Receiver: name, Events: []event.Event{e}, CreatedAt: now, DueAt: now.Add(r.GroupWait)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// route is the receivers e goes to by its slot's routes (or, for the
// notifier's own events, every receiver but the one concerned) and their
// min_severity.
func (o *Outbox) route(e event.Event) []string {
	var names []string
	if e.Slot != "" {
		names = o.opts.Routes(e)
	} else {
		for _, n := range o.order {
			if n != e.Fields["receiver"] {
				names = append(names, n)
			}
		}
	}
	var out []string
	for _, n := range names {
		if r, ok := o.receivers[n]; ok && e.Severity >= r.MinSeverity && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Committed logs the committed events and wakes the delivery loops, and
// the repeat loop when an event opens a condition.
func (o *Outbox) Committed(events []event.Event) {
	o.logSink.Committed(events)
	for _, r := range o.receivers {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	for _, e := range events {
		if e.Condition != "" {
			select {
			case o.repeatWake <- struct{}{}:
			default:
			}
			break
		}
	}
}

// emit records an event of the outbox itself (a receiver failing, an
// alert given up) and queues it like any other.
func (o *Outbox) emit(e event.Event) error {
	err := o.store.Update(func(tx store.Tx) error {
		if err := tx.AppendEvent(&e); err != nil {
			return err
		}
		return o.Enqueue(tx, e)
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", e.Kind, err)
	}
	o.Committed([]event.Event{e})
	return nil
}

// Run delivers until ctx ends: one loop per receiver, so a slow or dead
// destination never holds up the others, and one for repeats. Each sleeps
// until its next piece of work is due, or until woken when nothing is:
// an empty outbox with no active condition costs no wake-up.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range o.order {
		r := o.receivers[name]
		wg.Go(func() {
			// Every enqueue wakes the loop (Committed), so with nothing
			// queued it has nothing to look for until then.
			o.sleepUntil(ctx, r.wake, func() time.Time { return o.deliver(ctx, r, o.now()) })
		})
	}
	wg.Go(func() {
		o.sleepUntil(ctx, o.repeatWake, func() time.Time {
			next, err := o.repeat(o.now())
			if err != nil {
				o.log.Error("cannot queue alert reminders", "err", err)
				return o.now().Add(time.Minute)
			}
			return next
		})
	})
	wg.Wait()
}

// sleepUntil runs work, then waits for the time it returns (zero: no
// time, only wake) or a wake, until ctx ends.
func (o *Outbox) sleepUntil(ctx context.Context, wake <-chan struct{}, work func() time.Time) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := work()
		var due <-chan time.Time
		if !next.IsZero() {
			t.Reset(max(next.Sub(o.now()), 10*time.Millisecond))
			due = t.C
		} else {
			t.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-due:
		}
	}
}

// Flush runs one repeat pass and one delivery pass per receiver at now,
// synchronously: tests drive the outbox with it and a fixed clock.
func (o *Outbox) Flush(ctx context.Context, now time.Time) error {
	if err := o.Repeat(now); err != nil {
		return err
	}
	for _, name := range o.order {
		o.deliver(ctx, o.receivers[name], now)
	}
	return nil
}

// reminder is e as repeated at now: an outage it reports says how long
// payments have been failing by then.
func reminder(e event.Event, now time.Time) event.Event {
	since, err := time.Parse(time.RFC3339, e.Fields["failing_since"])
	if err != nil {
		return e
	}
	e.Fields = maps.Clone(e.Fields)
	e.Fields["failing_for"] = notifier.Elapsed(now.Sub(since))
	return e
}

// Repeat queues a reminder for every condition still active at a receiver
// and not sent for its repeat_interval.
func (o *Outbox) Repeat(now time.Time) error {
	_, err := o.repeat(now)
	return err
}

// repeat is Repeat, returning when the next reminder is due (zero: no
// active condition). It reads first and writes only when something is
// due, so a wake with nothing to send costs no commit and no fsync.
func (o *Outbox) repeat(now time.Time) (next time.Time, err error) {
	due := false
	err = o.store.View(func(tx store.Tx) error {
		states, err := tx.AlertStates()
		for _, st := range states {
			at, ok := o.remindAt(st)
			if !ok || !at.After(now) {
				due = true
				continue
			}
			next = earliest(next, at)
		}
		return err
	})
	if err != nil || !due {
		return next, err
	}
	next = time.Time{}
	var queued bool
	err = o.store.Update(func(tx store.Tx) error {
		states, err := tx.AlertStates()
		if err != nil {
			return err
		}
		for _, st := range states {
			r, ok := o.receivers[st.Receiver]
			if !ok {
				// The receiver left the configuration.
				if err := tx.DeleteAlertState(st.Receiver, st.Slot, st.Condition); err != nil {
					return err
				}
				continue
			}
			if now.Sub(st.LastSent) < r.RepeatInterval {
				next = earliest(next, st.LastSent.Add(r.RepeatInterval))
				continue
			}
			if err := tx.PutDelivery(&store.Delivery{ID: newID(), Receiver: r.Name, Events: []event.Event{reminder(st.Event, now)}, Repeat: true, CreatedAt: now, DueAt: now.Add(r.GroupWait)}); err != nil {
				return err
			}
			st.LastSent = now
			if err := tx.PutAlertState(st); err != nil {
				return err
			}
			next = earliest(next, now.Add(r.RepeatInterval))
			queued = true
		}
		return nil
	})
	if queued {
		o.Committed(nil)
	}
	return next, err
}

// remindAt is when st's next reminder is due; false when its receiver
// left the configuration (the state is then deleted at once).
func (o *Outbox) remindAt(st store.AlertState) (time.Time, bool) {
	r, ok := o.receivers[st.Receiver]
	if !ok {
		return time.Time{}, false
	}
	return st.LastSent.Add(r.RepeatInterval), true
}
