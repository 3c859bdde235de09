package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"kpay-rotator/event"
	"kpay-rotator/internal/retry"
	"kpay-rotator/notifier"
	"kpay-rotator/store"
)

// backoffCap bounds the wait between attempts at a failing receiver, and
// so how long its alerts wait once it is back: 30 s at most. A failing
// receiver is sent one delivery per wait (probe), so a long outage costs
// one request per 30 s whatever is queued; a longer wait would save next
// to nothing and delay every alert of a receiver that came back. A
// Retry-After above the cap is still honoured: the receiver asked for it.
const backoffCap = 30 * time.Second

// probeTurn is how many attempts a delivery gets as the probe of a failing
// receiver before it yields to deliveries tried fewer times: about half an
// hour at the cap. A receiver that answers 5xx to one body only (a bug on
// its side) would otherwise hold back everything queued behind it until
// max_delivery_age; one that is simply down loses, per turn, the grouping
// of one alert.
const probeTurn = 60

// failureBackoff is the wait after n failures in a row: 5 s doubling to
// backoffCap, less up to 20 % jitter, so that receivers failing together
// are not retried in lockstep and the cap is never passed.
var failureBackoff = retry.Backoff{Base: 5 * time.Second, Cap: backoffCap, Jitter: 0.2}

func backoff(n int) time.Duration { return failureBackoff.Wait(n, rand.Float64()) }

// take takes a token of bucket at now if one is there; if not, it takes
// nothing and says how long until one is. Only rate's methods that take a
// time are called: the others read time.Now, and the outbox runs on its
// injected clock.
func take(bucket *rate.Limiter, now time.Time) (wait time.Duration) {
	r := bucket.ReserveN(now, 1)
	if wait = r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
	}
	return wait
}

// deliver does what is due for r at now and returns when it should run
// next (zero: nothing queued). When the probe of a failing receiver goes
// through, the pass starts over as for a healthy one, so what waited
// behind the probe flows at once.
func (o *Outbox) deliver(ctx context.Context, r *receiver, now time.Time) time.Time {
	for {
		next, recovered := o.pass(ctx, r, now)
		if !recovered {
			return next
		}
	}
}

// pass gives up expired alerts and then, for a healthy receiver, groups
// first attempts that are due and sends what is due as the rate allows;
// a failing receiver gets a probe instead. recovered reports a probe that
// went through.
func (o *Outbox) pass(ctx context.Context, r *receiver, now time.Time) (next time.Time, recovered bool) {
	queue, health, err := o.load(r)
	if err != nil {
		o.log.Error("cannot read the outbox", "receiver", r.Name, "err", err)
		return now.Add(time.Minute), false
	}
	queue = o.expire(r, queue, now)
	if health.ConsecutiveFailures > 0 {
		return o.probe(ctx, r, inTurn(queue), health, now)
	}
	queue = inTurn(o.group(r, queue, now))
	for i := 0; i < len(queue); i++ {
		if due := queue[i].DueAt; due.After(now) {
			next = earliest(next, due)
			continue
		}
		if wait := take(r.bucket, now); wait > 0 {
			return earliest(next, now.Add(wait)), false
		}
		if ctx.Err() != nil {
			return time.Time{}, false
		}
		parts, err := o.fit(r, queue[i])
		if err != nil {
			o.log.Error("cannot split an alert too large for one message", "receiver", r.Name, "err", err)
			return now.Add(time.Minute), false
		}
		queue = slices.Replace(queue, i, i+1, parts...)
		if retryAt, failed := o.attempt(ctx, r, queue[i], now); failed {
			// Nothing more this pass: what follows would fail the same
			// way. Until one goes through, r gets only probes.
			return retryAt, false
		}
	}
	return next, false
}

// probe is a pass for a failing receiver: nothing before its RetryAt, and
// then one delivery, so that an outage costs one request per back-off
// however much is queued. Grouping waits for the receiver to come back,
// so a burst queued meanwhile still goes out grouped. recovered reports
// that the probe went through.
func (o *Outbox) probe(ctx context.Context, r *receiver, queue []store.Delivery, health store.ReceiverState, now time.Time) (next time.Time, recovered bool) {
	if health.RetryAt.After(now) {
		return health.RetryAt, false
	}
	i, next := probeCandidate(queue, now)
	if i < 0 {
		return next, false
	}
	if wait := take(r.bucket, now); wait > 0 {
		return now.Add(wait), false
	}
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	parts, err := o.fit(r, queue[i])
	if err != nil {
		o.log.Error("cannot split an alert too large for one message", "receiver", r.Name, "err", err)
		return now.Add(time.Minute), false
	}
	if retryAt, failed := o.attempt(ctx, r, parts[0], now); failed {
		return retryAt, false
	}
	return now, true
}

// inTurn orders queue for sending: oldest first, except that a delivery
// that has had its turn as the probe (probeTurn attempts) goes after those
// that have had fewer, so one alert the receiver keeps failing is tried
// last, not before everything else on every pass.
func inTurn(queue []store.Delivery) []store.Delivery {
	slices.SortStableFunc(queue, func(a, b store.Delivery) int { return cmp.Compare(a.Attempts/probeTurn, b.Attempts/probeTurn) })
	return queue
}

// probeCandidate is the first due delivery of queue (in turn). With none
// due it returns -1 and when the first will be.
func probeCandidate(queue []store.Delivery, now time.Time) (int, time.Time) {
	var next time.Time
	for i, d := range queue {
		if !d.DueAt.After(now) {
			return i, time.Time{}
		}
		next = earliest(next, d.DueAt)
	}
	return -1, next
}

// attempt sends d and records the result (settle).
func (o *Outbox) attempt(ctx context.Context, r *receiver, d store.Delivery, now time.Time) (retryAt time.Time, failed bool) {
	res := o.send(ctx, r, d)
	after := o.now()
	if after.Before(now) {
		after = now
	}
	return o.settle(r, d, res, after)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// load reads r's queue and health.
func (o *Outbox) load(r *receiver) ([]store.Delivery, store.ReceiverState, error) {
	var q []store.Delivery
	var h store.ReceiverState
	err := o.store.View(func(tx store.Tx) error {
		var err error
		if q, err = tx.Deliveries(r.Name, 0); err != nil {
			return err
		}
		h, err = tx.Receiver(r.Name)
		return err
	})
	if err != nil {
		return nil, h, fmt.Errorf("read the queue of %s: %w", r.Name, err)
	}
	return q, h, nil
}

// expire gives up deliveries older than max_delivery_age: each is handed
// to the fallback receiver if there is one, and recorded as its own event.
func (o *Outbox) expire(r *receiver, queue []store.Delivery, now time.Time) []store.Delivery {
	var keep []store.Delivery
	for _, d := range queue {
		if now.Sub(d.CreatedAt) < r.MaxDeliveryAge {
			keep = append(keep, d)
			continue
		}
		o.log.Error("giving up an alert: not delivered within max_delivery_age", "receiver", r.Name, "alert", d.ID,
			"events", len(d.Events), "attempts", d.Attempts, "last_error", d.LastError)
		if o.opts.OnResult != nil {
			o.opts.OnResult(r.Name, "expired")
		}
		if err := o.drop(r, d, now); err != nil {
			o.log.Error("cannot drop an expired alert", "receiver", r.Name, "err", err)
			keep = append(keep, d)
			continue
		}
		e := event.New(event.NotificationExpired, now, "", fmt.Sprintf(
			"an alert (%s, first: %s) could not be delivered to %s within max_delivery_age %s and was given up after %s; last error: %s",
			notifier.Count(len(d.Events), "event", "events"), firstKind(d), r.Name, r.MaxDeliveryAge, notifier.Count(d.Attempts, "attempt", "attempts"), d.LastError))
		e.Fields = map[string]string{"receiver": r.Name, "alert": d.ID}
		e.Action = fmt.Sprintf("check notifier %s (kpay-rotator notify-test %s); kpay-rotator status shows the current state of every slot", r.Name, r.Name)
		if err := o.emit(e); err != nil {
			o.log.Error("cannot record notification_expired", "err", err)
		}
	}
	return keep
}

func firstKind(d store.Delivery) event.Kind {
	if len(d.Events) == 0 {
		return ""
	}
	return d.Events[0].Kind
}

// drop removes d from r's queue and hands it to r's fallback, in one
// transaction.
func (o *Outbox) drop(r *receiver, d store.Delivery, now time.Time) error {
	return o.store.Update(func(tx store.Tx) error {
		if err := tx.DeleteDelivery(r.Name, d.Seq); err != nil {
			return err
		}
		if r.Fallback == "" || d.Origin != "" {
			// A fallback's own failures go nowhere further: no loops.
			return nil
		}
		fb := o.receivers[r.Fallback]
		defer o.Committed(nil) // wake the fallback's loop
		return tx.PutDelivery(&store.Delivery{ID: d.ID, Receiver: fb.Name, Events: d.Events, Repeat: d.Repeat,
			CreatedAt: now, DueAt: now, Origin: r.Name})
	})
}

// group merges the first attempts queued for r that hold one event each
// into one delivery once the oldest of them has waited group_wait: a burst
// (40 slots failing after a KPay outage) becomes one message, not 40. A
// delivery already holding several (a group, or a part of one, see fit)
// stays as it is: a part is as full as its receiver takes, and merging it
// again would rewrite the whole burst on every pass while it drains.
func (o *Outbox) group(r *receiver, queue []store.Delivery, now time.Time) []store.Delivery {
	var fresh []int
	due := false
	for i, d := range queue {
		if d.Attempts == 0 && d.Origin == "" && len(d.Events) == 1 {
			fresh = append(fresh, i)
			due = due || !d.DueAt.After(now)
		}
	}
	if !due || len(fresh) < 2 {
		return queue
	}
	merged := store.Delivery{ID: newID(), Receiver: r.Name, DueAt: now, Repeat: true}
	for _, i := range fresh {
		d := queue[i]
		merged.Events = append(merged.Events, d.Events...)
		merged.Repeat = merged.Repeat && d.Repeat
		if merged.CreatedAt.IsZero() || d.CreatedAt.Before(merged.CreatedAt) {
			merged.CreatedAt = d.CreatedAt
		}
	}
	err := o.store.Update(func(tx store.Tx) error {
		for _, i := range fresh {
			if err := tx.DeleteDelivery(r.Name, queue[i].Seq); err != nil {
				return err
			}
		}
		return tx.PutDelivery(&merged)
	})
	if err != nil {
		o.log.Error("cannot group alerts; sending them one by one", "receiver", r.Name, "err", err)
		return queue
	}
	var out []store.Delivery
	for i, d := range queue {
		if !slices.Contains(fresh, i) {
			out = append(out, d)
		}
	}
	return append(out, merged)
}

// fit is d as it goes out: whole, or, when r takes a burst in parts
// (notifier.Splitter) and d is more than one message of it, d's parts,
// which replace d in the queue in one transaction. Each part is a delivery
// of its own, with an id of its own (d's, numbered) that stays for its
// retries, so the receiver can deduplicate each; each keeps d's attempts,
// due time and age, so max_delivery_age still counts from the oldest
// event. Splitting when an alert is sent, not when it is grouped, covers
// every way a burst reaches r: grouped here, handed over as a fallback, or
// queued by an older version.
func (o *Outbox) fit(r *receiver, d store.Delivery) ([]store.Delivery, error) {
	if r.split == nil || len(d.Events) < 2 {
		return []store.Delivery{d}, nil
	}
	runs := r.split.Split(notifier.Alert{ID: d.ID, Events: d.Events, Repeat: d.Repeat})
	if len(runs) < 2 {
		return []store.Delivery{d}, nil
	}
	parts := make([]store.Delivery, len(runs))
	for i, run := range runs {
		p := d
		p.Seq, p.ID, p.Events = 0, fmt.Sprintf("%s_%d", d.ID, i+1), run
		parts[i] = p
	}
	err := o.store.Update(func(tx store.Tx) error {
		if err := tx.DeleteDelivery(r.Name, d.Seq); err != nil {
			return err
		}
		for i := range parts {
			if err := tx.PutDelivery(&parts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("split alert %s into %d: %w", d.ID, len(parts), err)
	}
	o.log.Info("alert split: too many events for one message", "receiver", r.Name, "alert", d.ID, "events", len(d.Events), "parts", len(parts))
	return parts, nil
}

func (o *Outbox) send(ctx context.Context, r *receiver, d store.Delivery) notifier.Result {
	ctx, cancel := context.WithTimeoutCause(ctx, o.opts.SendTimeout, errors.New("chat delivery took too long"))
	defer cancel()
	return r.Sender.Send(ctx, notifier.Alert{ID: d.ID, Events: d.Events, Repeat: d.Repeat})
}

// settle records the result of sending d; failed reports whether the
// destination failed (and when to try it again).
func (o *Outbox) settle(r *receiver, d store.Delivery, res notifier.Result, now time.Time) (retryAt time.Time, failed bool) {
	log := o.log.With("receiver", r.Name, "alert", d.ID, "events", len(d.Events))
	var result string
	var health store.ReceiverState
	err := o.store.Update(func(tx store.Tx) error {
		var err error
		if health, err = tx.Receiver(r.Name); err != nil {
			return err
		}
		switch {
		case res.Delivered:
			result = "delivered"
			health.ConsecutiveFailures, health.LastError, health.LastSuccess, health.RetryAt = 0, "", now, time.Time{}
			if err := tx.DeleteDelivery(r.Name, d.Seq); err != nil {
				return err
			}
		case res.Retry:
			result = "retry"
			// The back-off is the receiver's, not the alert's: it is the
			// receiver that is down, and whatever is tried next waits as
			// long.
			health.ConsecutiveFailures++
			health.LastError = res.Detail
			retryAt = now.Add(max(res.RetryAfter, backoff(health.ConsecutiveFailures)))
			health.RetryAt = retryAt
			d.Attempts++
			d.LastError, d.LastAttemptAt, d.DueAt = res.Detail, now, retryAt
			if err := tx.PutDelivery(&d); err != nil {
				return err
			}
		default:
			// A refusal is about this alert (it goes to the fallback);
			// the next one may well go through, so no wait.
			result = "failed"
			health.ConsecutiveFailures++
			health.LastError = res.Detail
			retryAt = now
			health.RetryAt = retryAt
		}
		if health.ConsecutiveFailures == 1 {
			health.FailingSince = now
		}
		return tx.PutReceiver(health)
	})
	if err != nil {
		log.Error("cannot record a delivery result", "err", err)
		return now.Add(time.Minute), true
	}
	if o.opts.OnResult != nil {
		o.opts.OnResult(r.Name, result)
	}
	switch result {
	case "delivered":
		log.Debug("alert delivered", "status", res.Status)
		o.receiverRecovered(r, health, now)
		return time.Time{}, false
	case "retry":
		log.Warn("alert not delivered; will retry", "status", res.Status, "attempt", d.Attempts, "retry_at", retryAt.Format(time.RFC3339), "err", res.Detail)
	default:
		log.Error("alert refused by the destination; not retrying", "status", res.Status, "err", res.Detail)
		if err := o.drop(r, d, now); err != nil {
			log.Error("cannot drop a refused alert", "err", err)
		}
	}
	o.receiverFailing(r, health, now)
	return retryAt, true
}

// receiverFailing raises notifier_failing through the other receivers once
// r has failed FailureThreshold times in a row.
func (o *Outbox) receiverFailing(r *receiver, h store.ReceiverState, now time.Time) {
	if h.Alerted || h.ConsecutiveFailures < o.opts.FailureThreshold {
		return
	}
	h.Alerted = true
	if err := o.store.Update(func(tx store.Tx) error { return tx.PutReceiver(h) }); err != nil {
		o.log.Error("cannot record receiver state", "receiver", r.Name, "err", err)
		return
	}
	e := event.New(event.NotifierFailing, now, "", fmt.Sprintf(
		"alerts to %s keep failing (%s in a row since %s): %s", r.Name, notifier.Count(h.ConsecutiveFailures, "attempt", "attempts"), h.FailingSince.UTC().Format(time.DateTime+" UTC"), h.LastError))
	e.Fields = map[string]string{"receiver": r.Name}
	e.Condition = "receiver:" + r.Name
	e.Action = fmt.Sprintf("check the webhook or token of notifier %s, then: kpay-rotator notify-test %s; queued alerts are kept and retried", r.Name, r.Name)
	if err := o.emit(e); err != nil {
		o.log.Error("cannot record notifier_failing", "err", err)
	}
}

func (o *Outbox) receiverRecovered(r *receiver, h store.ReceiverState, now time.Time) {
	if !h.Alerted {
		return
	}
	h.Alerted, h.FailingSince = false, time.Time{}
	if err := o.store.Update(func(tx store.Tx) error { return tx.PutReceiver(h) }); err != nil {
		o.log.Error("cannot record receiver state", "receiver", r.Name, "err", err)
		return
	}
	e := event.New(event.NotifierRecovered, now, "", fmt.Sprintf("alerts reach %s again", r.Name))
	e.Fields = map[string]string{"receiver": r.Name}
	e.Resolves = []string{"receiver:" + r.Name}
	if err := o.emit(e); err != nil {
		o.log.Error("cannot record notifier_recovered", "err", err)
	}
}
