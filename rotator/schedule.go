package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"kpay-rotator/internal/failpoint"
)

// FailSchedulerStuck is the failpoint that freezes the scheduler's
// liveness tick (test builds only), so the watchdog and readiness react.
const FailSchedulerStuck = "scheduler-stuck"

// SchedulerOptions configure NewScheduler.
type SchedulerOptions struct {
	Logger *slog.Logger
	// Now is the clock passed to the domain passes. Default time.Now.
	Now func() time.Time
	// Jitter overrides every slot's jitter (tests set it to 0).
	Jitter *time.Duration
}

// Scheduler runs ProbeSlot and ProbeRetired for every slot on its cron
// schedules, each run delayed by a random jitter so probes of many slots
// sharing a schedule do not hit KPay in one burst.
type Scheduler struct {
	r      *Rotator
	cron   *cron.Cron
	log    *slog.Logger
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	entries map[string]cron.EntryID
	// beat is the unix-nano time of the scheduler's last liveness tick.
	beat atomic.Int64
}

// NewScheduler builds the schedules for r's configuration. Nothing runs
// until Start.
func NewScheduler(r *Rotator, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		r:       r,
		log:     opts.Logger,
		now:     opts.Now,
		ctx:     ctx,
		cancel:  cancel,
		entries: map[string]cron.EntryID{},
	}
	cl := cronLogger{opts.Logger}
	s.cron = cron.New(cron.WithLogger(cl), cron.WithChain(cron.Recover(cl)))
	for _, slot := range r.cfg.Slots {
		jitter := slot.Jitter
		if opts.Jitter != nil {
			jitter = *opts.Jitter
		}
		name := slot.Name
		// SkipIfStillRunning per job: a slow KPay must not pile up probes of
		// one slot; the next tick simply skips.
		probe := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
			s.run(name, jitter, "probe", s.r.ProbeSlot)
		}))
		id, err := s.cron.AddJob(slot.ProbeSchedule, probe)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("slot %s: probe_schedule %q: %w", name, slot.ProbeSchedule, err)
		}
		s.entries[name] = id
		retired := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
			s.run(name, jitter, "retired probe", s.r.ProbeRetired)
		}))
		if _, err := s.cron.AddJob(slot.RetiredSchedule, retired); err != nil {
			cancel()
			return nil, fmt.Errorf("slot %s: retired_schedule %q: %w", name, slot.RetiredSchedule, err)
		}
	}
	// Staged pairs are taken within seconds even without SIGUSR1, and
	// failed writes are retried on their backoff.
	rotations := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
		if err := s.r.AdvanceRotations(s.ctx, s.now); err != nil && s.ctx.Err() == nil {
			s.log.Error("rotation pass failed", "err", err)
		}
	}))
	if _, err := s.cron.AddJob("@every 5s", rotations); err != nil {
		cancel()
		return nil, err
	}
	// A liveness tick proves the cron loop itself still dispatches jobs;
	// the watchdog and /readyz read it.
	if _, err := s.cron.AddFunc("@every 5s", func() {
		if failpoint.Active(FailSchedulerStuck) {
			<-s.ctx.Done() // a test build's stuck scheduler: the tick never lands
			return
		}
		s.beat.Store(s.now().UnixNano())
	}); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

func (s *Scheduler) run(slot string, jitter time.Duration, what string, pass func(context.Context, string, time.Time) error) {
	if jitter > 0 {
		t := time.NewTimer(rand.N(jitter))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
	switch err := pass(s.ctx, slot, s.now()); {
	case err == nil, s.ctx.Err() != nil:
	case errors.Is(err, ErrBudgetExhausted):
		s.log.Warn(what+" skipped", "slot", slot, "err", err)
	default:
		s.log.Error(what+" failed", "slot", slot, "err", err)
	}
}

// Start starts the cron loop.
func (s *Scheduler) Start() {
	s.beat.Store(s.now().UnixNano())
	s.cron.Start()
}

// Stop stops scheduling, cancels jitter waits and running passes, and
// waits for them to return or ctx to end.
func (s *Scheduler) Stop(ctx context.Context) error {
	done := s.cron.Stop()
	s.cancel()
	select {
	case <-done.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler: passes still running: %w", context.Cause(ctx))
	}
}

// Next is the next scheduled probe of slot (zero if unknown).
func (s *Scheduler) Next(slot string) time.Time {
	s.mu.Lock()
	id, ok := s.entries[slot]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(id).Next
}

// LastBeat is when the cron loop last proved alive.
func (s *Scheduler) LastBeat() time.Time { return time.Unix(0, s.beat.Load()) }

// Context is cancelled when the scheduler stops; on-demand passes run
// under it so a stop interrupts them too.
func (s *Scheduler) Context() context.Context { return s.ctx }

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
