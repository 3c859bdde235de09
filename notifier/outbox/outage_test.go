package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/store"
)

// tick is how often these tests run a delivery pass: Run's loop runs one
// at least as often as anything is due, so a pass per second is what it
// does at worst.
const tick = time.Second

var (
	down = notifier.Result{Retry: true, Status: 503, Detail: "HTTP 503"}
	up   = notifier.Result{Delivered: true, Status: 200}
)

// queueTried queues n alerts for receiver as an earlier outage leaves
// them: each tried once and failed, so none is grouped with another.
// Their ids are old-0000 onwards, oldest first.
func (r *rig) queueTried(receiver string, n int) {
	r.t.Helper()
	err := r.store.Update(func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			e := ev(event.KeyFailing, fmt.Sprintf("slot-%04d", i))
			if err := tx.PutDelivery(&store.Delivery{ID: fmt.Sprintf("old-%04d", i), Receiver: receiver, Events: []event.Event{e},
				CreatedAt: r.now, DueAt: r.now, Attempts: 1, LastError: "HTTP 503"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// attempt is one send as the receiver saw it.
type attempt struct {
	at time.Time
	id string
}

// script makes receiver answer by the rig's clock, and records every
// attempt.
func (r *rig) script(receiver string, answer func(now time.Time, a notifier.Alert) notifier.Result) *[]attempt {
	var got []attempt
	s := r.send[receiver]
	s.answer = func(n int) notifier.Result {
		a := s.got[n-1] // under s.mu, held by Send
		got = append(got, attempt{r.now, a.ID})
		return answer(r.now, a)
	}
	return &got
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 4 * time.Second, 5 * time.Second},
		{2, 8 * time.Second, 10 * time.Second},
		{3, 16 * time.Second, 20 * time.Second},
		{4, 24 * time.Second, 30 * time.Second},
		{10, 24 * time.Second, 30 * time.Second},
		{1 << 20, 24 * time.Second, 30 * time.Second},
	} {
		t.Run(fmt.Sprint(tt.failures), func(t *testing.T) {
			for range 200 {
				if d := outbox.Backoff(tt.failures); d < tt.lo || d > tt.hi || d > outbox.BackoffCap {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v] and never over the cap %v", tt.failures, d, tt.lo, tt.hi, outbox.BackoffCap)
				}
			}
		})
	}
}

// TestOutbox_DeliversWithinTheCapOfRecovery: however long the outage, the
// first delivery after a receiver comes back is at most the back-off cap
// (plus one pass) later, and everything queued follows in the same pass.
func TestOutbox_DeliversWithinTheCapOfRecovery(t *testing.T) {
	for _, tt := range []struct {
		name   string
		outage time.Duration
		queued int
	}{
		{"just over the cap", outbox.BackoffCap + 2*time.Second, 10},
		{"the issue's 180 s", 180 * time.Second, 200},
		{"an hour", time.Hour, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Every, x.Burst = time.Millisecond, 1000 }))
			recovery := t0.Add(tt.outage)
			var first time.Time
			r.script("ops", func(now time.Time, _ notifier.Alert) notifier.Result {
				if now.Before(recovery) {
					return down
				}
				if first.IsZero() {
					first = now
				}
				return up
			})
			r.queueTried("ops", tt.queued)
			r.routes["checkout-test"] = []string{"ops"}
			r.record(ev(event.KeyFailing, "checkout-test"))
			for d := time.Duration(0); first.IsZero() && d <= tt.outage+time.Hour; d += tick {
				r.flushAt(d)
			}
			if first.IsZero() {
				t.Fatal("nothing delivered within an hour of recovery")
			}
			if lag, most := first.Sub(recovery), outbox.BackoffCap+tick; lag > most {
				t.Errorf("first delivery %v after recovery, want at most %v (cap %v + one pass)", lag, most, outbox.BackoffCap)
			}
			if p := r.pending()["ops"]; p != 0 {
				t.Errorf("%d alerts still queued after the first delivery; the rest must follow in the same pass", p)
			}
		})
	}
}

// TestOutbox_OneRequestPerIntervalWhileFailing: a failing receiver gets
// one request per back-off, always the oldest alert, however many are
// queued and keep arriving.
func TestOutbox_OneRequestPerIntervalWhileFailing(t *testing.T) {
	const outage = 10 * time.Minute
	for _, queued := range []int{1, 20, 200} {
		t.Run(fmt.Sprint(queued), func(t *testing.T) {
			r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Every, x.Burst = time.Millisecond, 1000 }))
			got := r.script("ops", func(time.Time, notifier.Alert) notifier.Result { return down })
			r.queueTried("ops", queued)
			r.routes["checkout-test"] = []string{"ops"}
			for d := time.Duration(0); d < outage; d += tick {
				if d%time.Minute == 0 {
					r.now = t0.Add(d)
					r.record(ev(event.KeyDegraded, "checkout-test")) // new alerts keep coming
				}
				r.flushAt(d)
			}
			if len(*got) < 2 {
				t.Fatalf("%d attempts in %v", len(*got), outage)
			}
			for i, a := range *got {
				if a.id != "old-0000" {
					t.Fatalf("attempt %d went to %s, want only the oldest alert (old-0000)", i+1, a.id)
				}
				if i == 0 {
					continue
				}
				// After i failures in a row: 5 s doubling to the cap, less
				// at most 20 % jitter.
				least := min(5*time.Second<<(i-1), outbox.BackoffCap) * 8 / 10
				if gap := a.at.Sub((*got)[i-1].at); gap < least {
					t.Fatalf("attempt %d came %v after the one before, want at least %v", i+1, gap, least)
				}
			}
			// 4-5 s, 8-10 s, 16-20 s, then 24-30 s each.
			if most := 4 + int((outage-28*time.Second)/(24*time.Second)); len(*got) > most {
				t.Errorf("%d requests in %v, want at most %d", len(*got), outage, most)
			}
		})
	}
}

// TestOutbox_RetryAfterIsHonoured: the wait before the next attempt is the
// back-off or the receiver's Retry-After, whichever is longer, even past
// the cap.
func TestOutbox_RetryAfterIsHonoured(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"none: the back-off", 0, 4 * time.Second, 5 * time.Second},
		{"shorter than the back-off", time.Second, 4 * time.Second, 5 * time.Second},
		{"under the cap", 20 * time.Second, 20 * time.Second, 20 * time.Second},
		{"over the cap", 5 * time.Minute, 5 * time.Minute, 5 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, recv("ops"))
			got := r.script("ops", func(time.Time, notifier.Alert) notifier.Result {
				return notifier.Result{Retry: true, Status: 429, RetryAfter: tt.retryAfter}
			})
			r.queueTried("ops", 3)
			for d := time.Duration(0); len(*got) < 2 && d < 10*time.Minute; d += tick {
				r.flushAt(d)
			}
			if len(*got) < 2 {
				t.Fatalf("%d attempts in 10 minutes", len(*got))
			}
			if gap := (*got)[1].at.Sub((*got)[0].at); gap < tt.lo || gap > tt.hi+tick {
				t.Errorf("second attempt %v after the first, want within [%v, %v] (+ one pass)", gap, tt.lo, tt.hi)
			}
		})
	}
}

// TestOutbox_OneBadAlertDoesNotHoldUpTheRest: a receiver that fails one
// alert only (a bug on its side with that body) gets the others once that
// alert has had its turn as the probe, all in one pass, and from then on
// ahead of it; the bad one stays queued.
func TestOutbox_OneBadAlertDoesNotHoldUpTheRest(t *testing.T) {
	r := newRig(t, recv("ops", func(x *outbox.Receiver) { x.Every, x.Burst = time.Millisecond, 1000 }))
	var firstGood time.Time
	r.script("ops", func(now time.Time, a notifier.Alert) notifier.Result {
		if a.ID == "old-0000" {
			return down
		}
		if firstGood.IsZero() {
			firstGood = now
		}
		return up
	})
	const queued = 50
	r.queueTried("ops", queued)
	// A turn is ProbeTurn attempts, at most the cap apart.
	turn := time.Duration(outbox.ProbeTurn) * outbox.BackoffCap
	var at time.Duration
	for ; r.pending()["ops"] > 1 && at < 2*turn; at += tick {
		r.flushAt(at)
	}
	if p := r.pending()["ops"]; p != 1 {
		t.Fatalf("%d alerts still queued after %v, want only the bad one", p, at)
	}
	if got := firstGood.Sub(t0); got > turn {
		t.Errorf("the first good alert went through after %v, want within one probe turn (%v)", got, turn)
	}
	if drained := r.now.Sub(firstGood); drained > 0 {
		t.Errorf("the other %d alerts took %v after the first of them, want all in its pass", queued-1, drained)
	}
	// New alerts are not held up by the bad one either.
	r.routes["checkout-test"] = []string{"ops"}
	r.record(ev(event.KeyFailing, "checkout-test"))
	start := r.now
	for d := start.Sub(t0); r.pending()["ops"] > 1 && d < start.Sub(t0)+time.Hour; d += tick {
		r.flushAt(d)
	}
	if lag, most := r.now.Sub(start), 10*time.Second+outbox.BackoffCap+tick; lag > most {
		t.Errorf("a new alert took %v, want at most group_wait + cap + one pass (%v)", lag, most)
	}
}
