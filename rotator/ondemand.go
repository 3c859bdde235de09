package rotator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ProbeAll runs ProbeSlot then ProbeRetired for every slot now (SIGUSR1),
// at most concurrency slots at a time; the prober's own budget still caps
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
		if errors.Is(err, ErrBudgetExhausted) {
			skipped.Add(1)
			err = nil
		}
		if err != nil {
			return err
		}
		return r.ProbeRetired(ctx, name, now())
	})
	if n := skipped.Load(); n > 0 {
		r.log.Warn("some slots were not probed in this pass: KPay's request budget had no room; their scheduled probes follow",
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

func (r *Rotator) forAll(ctx context.Context, concurrency int, do func(string) error) error {
	if concurrency < 1 {
		concurrency = 1
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, s := range r.cfg.Slots {
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
		}(s.Name)
	}
	wg.Wait()
	return errors.Join(errs...)
}
