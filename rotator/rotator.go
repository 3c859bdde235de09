// Package rotator is kpay-rotator's domain: for each configured slot it
// reads the pair from the secret store, dates it, probes it, derives the
// health and age states and records every change as an event.
//
// The domain is synchronous: ProbeSlot and ProbeRetired do one pass for one
// slot at a given time and return, so tests drive them with fixed clocks.
// The Scheduler only decides when to call them.
package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
)

// SecretReader reads slot secrets (awssecrets.Client is one).
type SecretReader interface {
	Current(ctx context.Context, secretID string) (secretdoc.Version, error)
	Version(ctx context.Context, secretID, versionID string) (secretdoc.Version, error)
	History(ctx context.Context, secretID string) ([]secretdoc.VersionInfo, error)
	Describe(ctx context.Context, secretID string) (secretdoc.Description, error)
}

// SecretWriter writes slot secrets (awssecrets.Client is one).
type SecretWriter interface {
	Put(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error)
	Create(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error)
}

// Inbox is the hand-over point with kpay-rotator stage (inbox.Dir is
// one): staged pairs, the rotation windows stage opens, the outcomes the
// rotator answers with, and acceptances of lost fields. Which files still
// belong to a rotation is the inbox's to tell (DropIf, CloseWindowIf).
type Inbox interface {
	// Pending lists the slots with a staged pair or an open window.
	Pending() ([]string, error)
	// Exists reports whether slot has a staged pair or an open window.
	Exists(slot string) bool
	Read(slot string) (inbox.Request, error)
	// DropIf removes slot's staged pair unless it is another rotation's.
	DropIf(slot, rotationID string) error
	ReadWindow(slot string) (inbox.Window, error)
	CloseWindow(slot string) error
	// CloseWindowIf removes slot's window only if it is rotationID's.
	CloseWindowIf(slot, rotationID string) error
	WriteResult(res inbox.Result) error
	ReadAcceptance(slot string) (inbox.Acceptance, error)
	RemoveAcceptance(slot string) error
}

// Prober checks a pair against KPay (healthcheck.Prober). ProbeUrgent is
// the hand-over lane: for requests made while payments may be down, which
// must not queue behind routine probes.
type Prober interface {
	Probe(ctx context.Context, pair kpay.Pair, want healthcheck.Expect) healthcheck.Result
	ProbeUrgent(ctx context.Context, pair kpay.Pair, want healthcheck.Expect) healthcheck.Result
}

// Followups is what a pass asks of whoever schedules the passes (the
// Scheduler): work that must happen soon, outside the pass that found it.
// Both methods must return at once.
type Followups interface {
	// Confirm: slot's current pair was rejected short of
	// failure_threshold; run ConfirmSlot within seconds, so a revoked
	// pair is reported in seconds, not at the next scheduled probe.
	Confirm(slot string)
	// WatchRetired: a rotation has just retired slot's previous pair; run
	// ProbeRetired now, so the rotation is seen complete at once.
	WatchRetired(slot string)
}

type nopFollowups struct{}

func (nopFollowups) Confirm(string)      {}
func (nopFollowups) WatchRetired(string) {}

// Sink receives every event the rotator records. Enqueue runs inside the
// store transaction that appends the event, so anything it writes (an
// outbox entry) commits with it; Committed runs after the commit.
type Sink interface {
	Enqueue(tx store.Tx, e event.Event) error
	Committed(events []event.Event)
}

// Options configure New.
type Options struct {
	Config  *config.Config
	Store   store.Store
	Secrets SecretReader
	// Writer writes rotated pairs; nil uses Secrets when it can write.
	Writer SecretWriter
	Prober Prober
	// Inbox; nil uses the directory the configuration names
	// ([daemon] inbox_dir).
	Inbox Inbox
	// Sink; nil records events in the store only (outbox.LogSink logs
	// them).
	Sink   Sink
	Logger *slog.Logger
	// Locks serialise work on a slot across rotators (a reload builds a
	// new rotator while the old one may still finish a pass). Nil makes a
	// private set.
	Locks *SlotLocks
	// OnCommit, when set, runs after every commit, with the slot it wrote
	// (the daemon's status document reads that slot again).
	OnCommit func(slot string)
	// Observer, when set, is told of every probe and finished rotation
	// (metrics).
	Observer Observer
	// Followups receives the work passes ask for; nil means the Scheduler
	// built on this rotator (NewScheduler), else nothing.
	Followups Followups
	// HoldRoutine is how long a probe that changed nothing but times may
	// wait to be written with others (0: written at once). Flush writes
	// them sooner; Scheduler.Stop flushes.
	HoldRoutine time.Duration
}

// Observer watches probes and rotations for metrics. A probe's outcome
// is a healthcheck.Outcome, prefixed "retired_" for a retired pair; a
// rotation's result is one of RotationResults.
type Observer interface {
	Probe(slot, outcome string, latency time.Duration)
	Rotation(slot, result string, gap time.Duration)
}

// RotationResults lists every result Observer.Rotation is told: written
// by the daemon, rejected before writing, stalled, or external (a pair
// pasted into the secret by hand ended an outage).
func RotationResults() []string { return []string{"written", "rejected", "stalled", "external"} }

type nopObserver struct{}

func (nopObserver) Probe(string, string, time.Duration)    {}
func (nopObserver) Rotation(string, string, time.Duration) {}

func (o *Options) validate() error {
	var errs []error
	if o.Config == nil {
		errs = append(errs, errors.New("rotator: Config is required"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("rotator: Store is required"))
	}
	if o.Secrets == nil {
		errs = append(errs, errors.New("rotator: Secrets is required"))
	}
	if o.Prober == nil {
		errs = append(errs, errors.New("rotator: Prober is required"))
	}
	return errors.Join(errs...)
}

// Rotator runs the per-slot domain passes for one configuration.
type Rotator struct {
	cfg     *config.Config
	slots   map[string]config.Slot
	store   store.Store
	secrets SecretReader
	writer  SecretWriter
	prober  Prober
	inbox   Inbox
	sink    Sink
	log     *slog.Logger
	locks   *SlotLocks
	// watching is held while a slot's retired pairs are probed, probing
	// while its current pair is: a scheduled probe and one asked for on
	// demand never both go out.
	watching, probing SlotLocks
	// secretLocks serialise writes to one secret, which several slots
	// may share (keyed by secret id).
	secretLocks SlotLocks
	// describeDenied holds the slots whose DescribeSecret was denied, so
	// that a policy lacking it is said once per configuration.
	describeDenied sync.Map
	// pairs are the values last read from the secrets, in memory only.
	pairs    pairCache
	commits  groupCommit
	onCommit func(slot string)
	observe  Observer
	follow   Followups
	// watch tells the scheduler which slots have retired pairs.
	watch retiredWatch
}

// New builds a Rotator.
func New(opts Options) (*Rotator, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Locks == nil {
		opts.Locks = &SlotLocks{}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Inbox == nil {
		opts.Inbox = inbox.Dir(opts.Config.Daemon.InboxDir)
	}
	if opts.Writer == nil {
		w, ok := opts.Secrets.(SecretWriter)
		if !ok {
			return nil, errors.New("rotator: Writer is required when Secrets cannot write")
		}
		opts.Writer = w
	}
	r := &Rotator{
		writer:   opts.Writer,
		cfg:      opts.Config,
		slots:    make(map[string]config.Slot, len(opts.Config.Slots)),
		store:    opts.Store,
		commits:  groupCommit{update: opts.Store.Update, hold: opts.HoldRoutine},
		secrets:  opts.Secrets,
		prober:   opts.Prober,
		inbox:    opts.Inbox,
		sink:     opts.Sink,
		log:      opts.Logger,
		locks:    opts.Locks,
		onCommit: opts.OnCommit,
		observe:  opts.Observer,
		follow:   opts.Followups,
	}
	if r.follow == nil {
		r.follow = nopFollowups{}
	}
	for _, s := range opts.Config.Slots {
		r.slots[s.Name] = s
	}
	return r, nil
}

// Config is the configuration this rotator runs.
func (r *Rotator) Config() *config.Config { return r.cfg }

// ErrUnknownSlot is returned for a slot name the configuration lacks.
var ErrUnknownSlot = errors.New("unknown slot")

func (r *Rotator) slot(name string) (config.Slot, error) {
	s, ok := r.slots[name]
	if !ok {
		return config.Slot{}, fmt.Errorf("%w %q: it is not in %s", ErrUnknownSlot, name, r.cfg.Path)
	}
	return s, nil
}

// SlotLocks hands out one mutex per slot name.
type SlotLocks struct{ m sync.Map }

// Lock locks slot name and returns its unlock function.
func (l *SlotLocks) Lock(name string) (unlock func()) {
	mu, _ := l.m.LoadOrStore(name, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// TryLock locks slot name if it is free.
func (l *SlotLocks) TryLock(name string) (unlock func(), ok bool) {
	mu, _ := l.m.LoadOrStore(name, &sync.Mutex{})
	if !mu.(*sync.Mutex).TryLock() {
		return nil, false
	}
	return mu.(*sync.Mutex).Unlock, true
}

// commit writes the slot's new state, pair records, probe and events in
// one transaction (shared with concurrent commits: groupCommit), then
// logs the events and tells the sink.
func (r *Rotator) commit(c *change) error {
	if c.routine {
		r.commits.later(c.slot, r.applyChange(c), func(err error) {
			if err != nil {
				r.log.Warn("cannot record a probe's result; the next probe records its own", "slot", c.slot, "err", err)
				return
			}
			r.committed(c)
		})
		return nil
	}
	if err := r.commits.do(r.applyChange(c)); err != nil {
		return fmt.Errorf("record slot %s: %w", c.slot, err)
	}
	r.committed(c)
	return nil
}

// Flush writes the routine probe results still held (groupCommit): for a
// status that must show every probe, and before a rotator is let go.
func (r *Rotator) Flush() error {
	if err := r.commits.flush(); err != nil {
		return fmt.Errorf("record held probe results: %w", err)
	}
	return nil
}

// settle writes slot's held changes before the slot is read, so that a
// pass builds on every probe before it.
func (r *Rotator) settle(slot string) error {
	if !r.commits.holds(slot) {
		return nil
	}
	return r.Flush()
}

// applyChange is c as store writes.
func (r *Rotator) applyChange(c *change) func(store.Tx) error {
	return func(tx store.Tx) error {
		if c.rotation != nil {
			if err := tx.PutRotation(*c.rotation); err != nil {
				return err
			}
		}
		for _, p := range c.pairs {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		if c.probe != nil {
			if err := tx.RecordProbe(c.probeSlot, c.probeFP, *c.probe); err != nil {
				return err
			}
		}
		if c.state != nil {
			if err := tx.PutSlot(*c.state); err != nil {
				return err
			}
		}
		for i := range c.events {
			if err := tx.AppendEvent(&c.events[i]); err != nil {
				return err
			}
			if r.sink != nil {
				if err := r.sink.Enqueue(tx, c.events[i]); err != nil {
					return fmt.Errorf("enqueue event %s: %w", c.events[i].Kind, err)
				}
			}
		}
		return nil
	}
}

// committed runs what follows c's commit.
func (r *Rotator) committed(c *change) {
	if r.sink != nil && len(c.events) > 0 {
		r.sink.Committed(c.events)
	}
	if c.retires() {
		r.watch.mark(c.slot)
	}
	if r.onCommit != nil {
		r.onCommit(c.slot)
	}
	if c.confirm {
		r.follow.Confirm(c.slot)
	}
}

// change collects what one pass writes.
type change struct {
	// confirm asks, once committed, for a confirmation probe.
	confirm bool
	// routine: a probe's change that says nothing (quietProbe); it may
	// wait to be written with others.
	routine bool

	slot      string
	state     *store.SlotState
	pairs     []store.PairRecord
	probe     *store.ProbeRecord
	probeSlot string
	probeFP   string
	rotation  *store.Rotation
	events    []event.Event
}

func (c *change) emit(e event.Event) { c.events = append(c.events, e) }

// newEvent fills the slot-level fields every event of s carries.
func newEvent(k event.Kind, now time.Time, s config.Slot, pairMask, fp, msg string) event.Event {
	e := event.New(k, now, s.Name, msg)
	e.Environment = string(s.Environment)
	e.SecretID = s.SecretID
	e.Pair = pairMask
	e.Fingerprint = fp
	return e
}
