package rotator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// On-demand work: what a signal, a command or a pass asks for now rather
// than at a scheduled time. Each runs in its own goroutine under the
// scheduler's context, and Stop waits for it.

// Handover takes staged pairs and open windows now (SIGUSR2, from `stage`).
// It never starts a probe pass: a hand-over costs its verification and
// one probe of the pair it retires, whatever the number of slots.
func (s *Scheduler) Handover() { s.spawn(s.advance) }

// RotateNow takes staged pairs, then reads, dates and probes every slot
// (SIGUSR1, `rotate`, and once at start). Staged pairs go first in their
// own goroutine: they must not queue behind a pass that the request
// budget can stretch over minutes. Passes are coalesced: a request that
// arrives while one runs makes it go round once more, so a fresh
// dashboard change is always seen.
func (s *Scheduler) RotateNow() {
	s.Handover()
	s.sweepAgain.Store(true)
	select {
	case s.sweeping <- struct{}{}:
	default:
		return // the running pass sees sweepAgain
	}
	s.spawn(func() {
		for {
			for s.sweepAgain.Swap(false) {
				s.sweep()
			}
			<-s.sweeping
			// A request may have landed between the last check and the
			// release; take the token back for it unless another did.
			if !s.sweepAgain.Load() {
				return
			}
			select {
			case s.sweeping <- struct{}{}:
			default:
				return
			}
		}
	})
}

// sweep reads and dates every slot first (Secrets Manager only), then
// probes them within KPay's request budget.
func (s *Scheduler) sweep() {
	if err := s.r.TrackAll(s.ctx, s.now, s.r.cfg.AWS.Concurrency); err != nil && s.ctx.Err() == nil {
		s.log.Error("tracking pass failed", "err", err)
	}
	if err := s.r.ProbeAll(s.ctx, s.now, s.r.cfg.KPay.Concurrency); err != nil && s.ctx.Err() == nil {
		s.log.Error("on-demand pass failed", "err", err)
	}
}

// Confirm implements Followups: slot's current pair is probed again,
// through the hand-over lane, after the confirmation delay. One
// confirmation per slot is pending at a time.
func (s *Scheduler) Confirm(slot string) {
	s.mu.Lock()
	if s.confirming[slot] {
		s.mu.Unlock()
		return
	}
	s.confirming[slot] = true
	s.mu.Unlock()
	started := s.spawn(func() {
		t := time.NewTimer(s.confirm)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		// Cleared first: this pass may ask for the next confirmation.
		s.mu.Lock()
		delete(s.confirming, slot)
		s.mu.Unlock()
		if err := s.r.ConfirmSlot(s.ctx, slot, s.now()); err != nil && s.ctx.Err() == nil {
			s.log.Warn("confirmation probe failed", "slot", slot, "err", err)
		}
	})
	if !started {
		s.mu.Lock()
		delete(s.confirming, slot)
		s.mu.Unlock()
	}
}

// WatchRetired implements Followups: the pair a rotation just retired is
// probed now, in the routine lane.
func (s *Scheduler) WatchRetired(slot string) {
	s.spawn(func() {
		if err := s.r.ProbeRetired(s.ctx, slot, s.now()); err != nil && s.ctx.Err() == nil {
			s.log.Warn("probe of the retired pair failed", "slot", slot, "err", err)
		}
	})
}

// spawn runs f in a goroutine Stop waits for, unless Stop has begun.
func (s *Scheduler) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.work.Go(f)
	return true
}

// ProbeAll runs ProbeSlot then ProbeRetired for every slot now, at most
// concurrency slots at a time; the prober's own budget still caps
// requests to KPay.
//
// Slots the budget has no room for are still read and dated; they are
// counted in one log line, not one per slot, and their scheduled probe
// comes round as usual.
func (r *Rotator) ProbeAll(ctx context.Context, now func() time.Time, concurrency int) error {
	start := time.Now()
	var skipped atomic.Int64
	err := r.forAll(ctx, concurrency, func(name string) error {
		err := r.ProbeSlot(ctx, name, now())
		if errors.Is(err, ErrNotProbed) {
			skipped.Add(1)
			err = nil
		}
		if err != nil {
			return err
		}
		return r.ProbeRetired(ctx, name, now())
	})
	if n := skipped.Load(); n > 0 {
		r.log.Warn("some slots were not probed in this pass: KPay's request budget had no room (or KPay is given a pause); their scheduled probes follow",
			"not_probed", n, "slots", len(r.cfg.Slots), "requests_per_minute", r.cfg.KPay.RequestsPerMinute)
	}
	r.log.Info("pass over every slot done", "slots", len(r.cfg.Slots), "took", time.Since(start).Round(time.Millisecond).String())
	return err
}

// TrackAll runs TrackSlot for every slot: secrets only, no KPay request,
// so it is as fast as Secrets Manager answers.
func (r *Rotator) TrackAll(ctx context.Context, now func() time.Time, concurrency int) error {
	return r.forAll(ctx, concurrency, func(name string) error { return r.TrackSlot(ctx, name, now()) })
}

// TrackSlots runs TrackSlot for the named slots, at most concurrency at a
// time (a drift_schedule's look at its slots' secrets).
func (r *Rotator) TrackSlots(ctx context.Context, names []string, now func() time.Time, concurrency int) error {
	return r.forEach(ctx, names, concurrency, func(name string) error { return r.TrackSlot(ctx, name, now()) })
}

func (r *Rotator) forAll(ctx context.Context, concurrency int, do func(string) error) error {
	names := make([]string, len(r.cfg.Slots))
	for i, s := range r.cfg.Slots {
		names[i] = s.Name
	}
	return r.forEach(ctx, names, concurrency, do)
}

func (r *Rotator) forEach(ctx context.Context, names []string, concurrency int, do func(string) error) error {
	if concurrency < 1 {
		concurrency = 1
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func(name string) {
			defer func() { <-sem; wg.Done() }()
			if err := do(name); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(name)
	}
	wg.Wait()
	return errors.Join(errs...)
}
