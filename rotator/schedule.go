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

	"kpay-rotator/config"
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
	// ConfirmAfter is the wait before re-probing a pair KPay has just
	// rejected. Default ConfirmDelay.
	ConfirmAfter time.Duration
}

// ConfirmDelay is how soon a first rejection of a current pair is probed
// again: long enough for a one-off glitch to pass, short enough that a
// revoked pair is reported in seconds.
const ConfirmDelay = 2 * time.Second

// Scheduler runs ProbeSlot and ProbeRetired for every slot on its
// schedules (cron specs, each run delayed by a random jitter, or the auto
// pace), and every pass asked for on demand: hand-overs, confirmations of
// a rejection, a pass over every slot. Stop waits for all of them.
type Scheduler struct {
	r       *Rotator
	cron    *cron.Cron
	log     *slog.Logger
	now     func() time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	confirm time.Duration

	// next is every slot's probe schedule, so status can say when the
	// next probe comes without asking the cron loop (which copies every
	// entry per question).
	next map[string]cron.Schedule

	// Work started on demand, outside cron. stopped refuses new work
	// once Stop has begun, so Wait never races an Add.
	mu         sync.Mutex
	stopped    bool
	work       sync.WaitGroup
	confirming map[string]bool
	// sweeping holds a token while a pass over every slot runs;
	// sweepAgain asks it to go round once more.
	sweeping   chan struct{}
	sweepAgain atomic.Bool

	// beat is the unix-nano time of the scheduler's last liveness tick.
	beat atomic.Int64
}

// NewScheduler builds the schedules for r's configuration and makes
// itself r's Followups. Nothing runs until Start.
func NewScheduler(r *Rotator, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConfirmAfter <= 0 {
		opts.ConfirmAfter = ConfirmDelay
	}
	plan, err := newPlan(r.cfg, opts.Now())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		r:          r,
		log:        opts.Logger,
		now:        opts.Now,
		ctx:        ctx,
		cancel:     cancel,
		confirm:    opts.ConfirmAfter,
		next:       plan.probe,
		confirming: map[string]bool{},
		sweeping:   make(chan struct{}, 1),
	}
	if _, ok := r.follow.(nopFollowups); ok {
		r.follow = s
	}
	cl := cronLogger{opts.Logger}
	s.cron = cron.New(cron.WithLogger(cl), cron.WithChain(cron.Recover(cl)))
	for _, slot := range r.cfg.Slots {
		jitter := slot.Jitter
		if opts.Jitter != nil {
			jitter = *opts.Jitter
		}
		name := slot.Name
		probeJitter := jitter
		if !plan.jitter[name] {
			probeJitter = 0
		}
		// SkipIfStillRunning per job: a slow KPay must not pile up probes of
		// one slot; the next tick simply skips.
		probe := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
			s.run(name, probeJitter, "probe", s.r.ProbeSlot)
		}))
		s.cron.Schedule(plan.probe[name], probe)
		retired := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
			s.run(name, jitter, "retired probe", s.r.ProbeRetired)
		}))
		s.cron.Schedule(plan.retired[name], retired)
	}
	// Looks at the secrets (drift): one job per distinct drift_schedule,
	// each a pass over its slots within [aws] concurrency, so an hourly
	// look at 10,000 slots is one cron entry, not 10,000.
	for spec, names := range plan.drift {
		job := cron.NewChain(cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(func() {
			if err := s.r.TrackSlots(s.ctx, names, s.now, r.cfg.AWS.Concurrency); err != nil && s.ctx.Err() == nil {
				s.log.Error("look at the secrets failed", "drift_schedule", spec, "err", err)
			}
		}))
		s.cron.Schedule(plan.driftSched[spec], job)
	}
	// Staged pairs are taken within seconds even without a signal, open
	// windows checked for a stall, and failed writes retried on their
	// backoff.
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

// plan is every slot's schedules as NewScheduler runs them.
type plan struct {
	probe  map[string]cron.Schedule // current pair: cron spec or auto pace
	jitter map[string]bool          // whether the slot's jitter delays its probes
	// retired probes the slot's retired pairs.
	retired map[string]cron.Schedule
	// drift lists the slots of each distinct drift_schedule spec.
	drift      map[string][]string
	driftSched map[string]cron.Schedule
}

// newPlan builds cfg's schedules. Its errors are NewScheduler's.
func newPlan(cfg *config.Config, now time.Time) (plan, error) {
	probe, jitter, err := probeSchedules(cfg, now)
	if err != nil {
		return plan{}, fmt.Errorf("probe_schedule: %w", err)
	}
	p := plan{probe: probe, jitter: jitter, retired: map[string]cron.Schedule{},
		drift: map[string][]string{}, driftSched: map[string]cron.Schedule{}}
	for _, slot := range cfg.Slots {
		if _, ok := p.driftSched[slot.DriftSchedule]; !ok {
			sched, err := cron.ParseStandard(slot.DriftSchedule)
			if err != nil {
				return plan{}, fmt.Errorf("slot %s: drift_schedule %q: %w", slot.Name, slot.DriftSchedule, err)
			}
			p.driftSched[slot.DriftSchedule] = sched
		}
		p.drift[slot.DriftSchedule] = append(p.drift[slot.DriftSchedule], slot.Name)
		// ParseStandard is the parser cron.New uses by default.
		sched, err := cron.ParseStandard(slot.RetiredSchedule)
		if err != nil {
			return plan{}, fmt.Errorf("slot %s: retired_schedule %q: %w", slot.Name, slot.RetiredSchedule, err)
		}
		p.retired[slot.Name] = sched
	}
	return p, nil
}

// CheckSchedules builds cfg's schedules as NewScheduler does, with no
// rotator to run them, so check-config refuses what a start would, in the
// same words.
func CheckSchedules(cfg *config.Config, now time.Time) error {
	_, err := newPlan(cfg, now)
	return err
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
	case errors.Is(err, ErrNotProbed):
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

// Stop stops scheduling, cancels jitter waits and running passes, on
// demand ones included, and waits for them to return or ctx to end.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	cronDone := s.cron.Stop()
	s.cancel()
	done := make(chan struct{})
	go func() { <-cronDone.Done(); s.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler: passes still running: %w", context.Cause(ctx))
	}
}

// Next is the next scheduled probe of slot (zero if unknown), ignoring
// jitter.
func (s *Scheduler) Next(slot string) time.Time {
	sched, ok := s.next[slot]
	if !ok {
		return time.Time{}
	}
	return sched.Next(s.now())
}

// LastBeat is when the cron loop last proved alive.
func (s *Scheduler) LastBeat() time.Time { return time.Unix(0, s.beat.Load()) }

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
