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

// FailSchedulerStuck is the failpoint that makes the scheduler's loop
// stop answering liveness checks (test builds only), so the watchdog and
// readiness react.
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
	// InboxChanges, when set, says the inbox changed (inbox.Watcher):
	// each change takes staged pairs at once, and the inbox is then
	// checked every RotationTick only while a rotation is in flight. Nil
	// (the inbox cannot be watched) checks it every RotationTick.
	InboxChanges <-chan struct{}
}

// RotationTick is how often the inbox is checked when it cannot be
// watched, and rotations in flight are advanced: a window checked for a
// stall, a failed write retried on its backoff. stage's message for a
// daemon it could not signal names it.
const RotationTick = 5 * time.Second

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
	tt      *timetable
	log     *slog.Logger
	now     func() time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	confirm time.Duration

	// probe and retired are every slot's entries; next probe times come
	// from them, kept as the timetable reschedules (O(1) per slot).
	probe, retired map[string]*entry
	// rotations is the rotation pass, armed while the inbox is not
	// watched or a rotation is in flight (rearmRotations).
	rotations *entry
	armMu     sync.Mutex
	inbox     <-chan struct{}
	watched   atomic.Bool

	// Work started on demand, outside the timetable. stopped refuses new
	// work once Stop has begun, so Wait never races an Add.
	mu         sync.Mutex
	stopped    bool
	started    bool
	loopDone   chan struct{}
	work       sync.WaitGroup
	confirming map[string]bool
	// sweeping holds a token while a pass over every slot runs;
	// sweepAgain asks it to go round once more.
	sweeping   chan struct{}
	sweepAgain atomic.Bool
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
		tt:         newTimetable(opts.Now, func() bool { return failpoint.Active(FailSchedulerStuck) }),
		log:        opts.Logger,
		now:        opts.Now,
		ctx:        ctx,
		cancel:     cancel,
		confirm:    opts.ConfirmAfter,
		probe:      make(map[string]*entry, len(r.cfg.Slots)),
		retired:    make(map[string]*entry, len(r.cfg.Slots)),
		inbox:      opts.InboxChanges,
		loopDone:   make(chan struct{}),
		confirming: map[string]bool{},
		sweeping:   make(chan struct{}, 1),
	}
	s.watched.Store(opts.InboxChanges != nil)
	if _, ok := r.follow.(nopFollowups); ok {
		r.follow = s
	}
	cl := cronLogger{opts.Logger}
	// Recover outermost, as cron.WithChain(cron.Recover) applied it;
	// SkipIfStillRunning per job: a slow KPay must not pile up probes of
	// one slot; the next tick simply skips.
	wrap := func(f func()) cron.Job {
		return cron.NewChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)).Then(cron.FuncJob(f))
	}
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
		s.probe[name] = s.tt.add(plan.probe[name], wrap(func() {
			s.run(name, probeJitter, "probe", s.r.ProbeSlot)
		}), true)
		// Armed by the retired scan (armRetired) or a commit that
		// retires a pair (Rotator.watch), until a probe of the slot's
		// retired pairs finds none.
		s.retired[name] = s.tt.add(plan.retired[name], wrap(func() {
			s.run(name, jitter, "retired probe", s.r.ProbeRetired)
		}), false)
	}
	// Looks at the secrets (drift): one entry per distinct drift_schedule,
	// each a pass over its slots within [aws] concurrency, so an hourly
	// look at 10,000 slots is one timetable entry, not 10,000.
	for spec, names := range plan.drift {
		s.tt.add(plan.driftSched[spec], wrap(func() {
			if err := s.r.TrackSlots(s.ctx, names, s.now, r.cfg.AWS.Concurrency); err != nil && s.ctx.Err() == nil {
				s.log.Error("look at the secrets failed", "drift_schedule", spec, "err", err)
			}
		}), true)
	}
	r.watch.notify(s.watchRetired)
	// A slot with no retired pair stays disarmed, but its ended pairs'
	// records still age past [retention]: a daily scan finds them.
	s.tt.add(cron.Every(RetiredScanEvery), wrap(s.armRetired), true)
	// Armed at first in any case: the first pass finds out whether a
	// rotation is in flight.
	s.rotations = s.tt.add(cron.Every(RotationTick), wrap(s.advance), true)
	return s, nil
}

// RetiredScanEvery is how often every slot is checked for retired-pair
// work, on top of the scan at start.
const RetiredScanEvery = 24 * time.Hour

// armRetired arms the retired probes of every slot with retired-pair
// work. It only arms: a commit that retires a pair meanwhile arms its slot
// too, and the probe itself disarms a slot with nothing left.
func (s *Scheduler) armRetired() {
	names, err := s.r.RetiredWork(s.now())
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("cannot find retired pairs to watch; watching every slot's", "err", err)
			for _, e := range s.retired {
				s.tt.arm(e)
			}
		}
		return
	}
	for _, n := range names {
		if e, ok := s.retired[n]; ok {
			s.tt.arm(e)
		}
	}
}

// watchRetired arms or disarms slot's retired probes.
func (s *Scheduler) watchRetired(slot string, on bool) {
	e, ok := s.retired[slot]
	switch {
	case !ok:
	case on:
		s.tt.arm(e)
	default:
		s.tt.disarm(e)
	}
}

// advance runs a rotation pass (staged pairs, open windows, failed
// writes), then decides whether the next one needs the tick.
func (s *Scheduler) advance() {
	if err := s.r.AdvanceRotations(s.ctx, s.now); err != nil && s.ctx.Err() == nil {
		s.log.Error("rotation pass failed", "err", err)
	}
	s.rearmRotations()
}

// rearmRotations keeps the rotation pass on its tick while the inbox is
// not watched or a rotation is in flight; otherwise an idle daemon has no
// reason to look, and a change in the inbox or a signal starts the next
// pass. The lock orders the decisions of concurrent passes as their
// checks: the last check made is the one that holds.
func (s *Scheduler) rearmRotations() {
	s.armMu.Lock()
	defer s.armMu.Unlock()
	if !s.watched.Load() || s.r.rotationsInFlight() {
		s.tt.arm(s.rotations)
		return
	}
	s.tt.disarm(s.rotations)
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

// Start starts the timetable's loop and, when the inbox is watched, the
// hand-overs its changes ask for.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.tt.beat.Store(s.now().UnixNano())
	s.tt.rearm()
	go func() { defer close(s.loopDone); s.tt.run(s.ctx) }()
	if s.inbox != nil {
		s.work.Go(s.followInbox)
	}
	s.work.Go(s.armRetired)
}

// followInbox takes staged pairs on every change the inbox watch
// reports. If the watch ends (the directory went away), the rotation
// tick checks the inbox instead.
func (s *Scheduler) followInbox() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case _, ok := <-s.inbox:
			if !ok {
				s.log.Warn("the inbox is no longer watched; checking it every "+RotationTick.String()+" instead", "dir", s.r.cfg.Daemon.InboxDir)
				s.watched.Store(false)
				s.rearmRotations()
				return
			}
			s.log.Debug("inbox changed: taking staged pairs")
			s.Handover()
		}
	}
}

// Stop stops scheduling, cancels jitter waits and running passes, on
// demand ones included, and waits for them to return or ctx to end.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		if started {
			<-s.loopDone // no job is dispatched after this
		}
		s.tt.jobs.Wait()
		s.work.Wait()
		if err := s.r.Flush(); err != nil {
			s.log.Warn("probe results held for writing are lost", "err", err)
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler: passes still running: %w", context.Cause(ctx))
	}
}

// Next is the next scheduled probe of slot (zero if unknown), ignoring
// jitter: what the timetable holds, so asking it for every slot costs
// O(1) each.
func (s *Scheduler) Next(slot string) time.Time {
	e, ok := s.probe[slot]
	if !ok {
		return time.Time{}
	}
	return s.tt.nextOf(e)
}

// Alive reports whether the scheduler's loop answers within wait: that
// it still turns, and so dispatches every job when due. The watchdog and
// /readyz ask; there is no tick of its own to wake an idle daemon.
func (s *Scheduler) Alive(wait time.Duration) bool { return s.tt.alive(wait) }

// LastBeat is when the scheduler's loop last proved alive (answered
// Alive or dispatched a job), or when it started.
func (s *Scheduler) LastBeat() time.Time { return s.tt.lastBeat() }

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
