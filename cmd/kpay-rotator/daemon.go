package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/internal/atomicfile"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
)

// stopTimeout bounds a graceful stop (DESIGN §6: within 10 s).
const stopTimeout = 9 * time.Second

// snapshotName is the status snapshot the daemon keeps in its state
// directory: `status` reads it while the daemon holds the database lock.
const snapshotName = "status.json"

type daemonOptions struct {
	ConfigPath string
	Logger     *slog.Logger
	Reload     <-chan struct{}
	Rotate     <-chan struct{}
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Jitter overrides every slot's jitter (tests).
	Jitter *time.Duration
	// Started, when set, is called once the daemon runs (tests).
	Started func(*daemon)
}

// daemon is one running kpay-rotator.
type daemon struct {
	opts  daemonOptions
	log   *slog.Logger
	now   func() time.Time
	store *store.Store
	locks *rotator.SlotLocks

	mu  sync.Mutex
	gen *generation

	dirty         chan struct{}
	onDemand      sync.WaitGroup
	rotating      chan struct{} // holds a token while an on-demand loop runs
	rotatePending atomic.Bool
}

// proberOverride lets an in-process benchmark lift KPay's request budget
// (which the configuration caps at KPay's own 100/min) to measure the
// rotation path itself. Nothing outside tests sets it.
var proberOverride func(*healthcheck.Options)

// generation is everything built from one configuration; a reload builds a
// new one before the old one is stopped.
type generation struct {
	cfg     *config.Config
	secrets *awssecrets.Client
	prober  *healthcheck.Prober
	outbox  *outbox.Outbox
	rot     *rotator.Rotator
	sched   *rotator.Scheduler

	// stopOutbox ends the outbox's delivery loops; outboxDone closes when
	// they have returned.
	stopOutbox context.CancelFunc
	outboxDone chan struct{}
}

// start runs the generation's scheduler and delivery loops.
func (g *generation) start() {
	ctx, cancel := context.WithCancel(context.Background())
	g.stopOutbox, g.outboxDone = cancel, make(chan struct{})
	go func() { defer close(g.outboxDone); g.outbox.Run(ctx) }()
	g.sched.Start()
}

// stop stops scheduling and delivery; queued alerts stay in the outbox.
// Due alerts get one last delivery pass, bounded by ctx.
func (g *generation) stop(ctx context.Context) error {
	err := g.sched.Stop(ctx)
	g.stopOutbox()
	select {
	case <-g.outboxDone:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("outbox: delivery loops still running: %w", context.Cause(ctx)))
	}
	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if ferr := g.outbox.Flush(flushCtx, time.Now()); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

func runDaemon(ctx context.Context, o daemonOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	cfg, err := loadConfigFile(o.ConfigPath)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(cfg.Daemon.StateDir, store.FileName), store.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}

	d := &daemon{
		opts: o, log: log, now: o.Now, store: st,
		locks:    &rotator.SlotLocks{},
		dirty:    make(chan struct{}, 1),
		rotating: make(chan struct{}, 1),
	}
	gen, err := d.build(ctx, cfg, nil)
	if err != nil {
		st.Close()
		return err
	}
	d.gen = gen
	gen.start()
	log.Info("kpay-rotator started", "version", versionString(), "config", cfg.Path, "slots", len(cfg.Slots),
		"state", st.Path(), "pid", os.Getpid())
	d.writeSnapshot()

	snapDone := make(chan struct{})
	snapCtx, stopSnap := context.WithCancel(context.Background())
	go func() { defer close(snapDone); d.snapshotLoop(snapCtx) }()
	// Probe everything once at start rather than waiting up to a whole
	// schedule period to say anything.
	d.rotateNow()
	if o.Started != nil {
		o.Started(d)
	}

	for {
		select {
		case <-ctx.Done():
			err := d.shutdown()
			stopSnap()
			<-snapDone
			d.writeSnapshot()
			if cerr := st.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			log.Info("kpay-rotator stopped")
			return err
		case <-o.Reload:
			d.reload(ctx)
		case <-o.Rotate:
			log.Info("on-demand pass requested: probing every slot now")
			d.rotateNow()
		}
	}
}

// build constructs a generation for cfg, reusing prev's clients when their
// configuration did not change (the prober keeps its request budget).
func (d *daemon) build(ctx context.Context, cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{cfg: cfg}
	if err := prepareInbox(cfg.Daemon.InboxDir); err != nil {
		return nil, err
	}
	if prev != nil && prev.cfg.AWS == cfg.AWS {
		g.secrets = prev.secrets
	} else {
		c, err := awssecrets.New(ctx, awssecrets.Options{Region: cfg.AWS.Region, Endpoint: cfg.AWS.Endpoint})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		g.secrets = c
	}
	if prev != nil && prev.cfg.KPay == cfg.KPay {
		g.prober = prev.prober
	} else {
		opts := healthcheck.Options{
			BaseURL:           cfg.KPay.BaseURL,
			Timeout:           cfg.KPay.Timeout,
			RequestsPerMinute: cfg.KPay.RequestsPerMinute,
			Concurrency:       cfg.KPay.Concurrency,
			Logger:            d.log,
			UserAgent:         "kpay-rotator/" + versionString(),
		}
		if proberOverride != nil {
			proberOverride(&opts)
		}
		p, err := healthcheck.New(opts)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		g.prober = p
	}
	rcvs, err := buildReceivers(cfg)
	if err != nil {
		return nil, err
	}
	g.outbox, err = outbox.New(outbox.Options{Store: d.store, Receivers: rcvs, Routes: routes(cfg), Now: d.now, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	rot, err := rotator.New(rotator.Options{
		Config: cfg, Store: d.store, Secrets: g.secrets, Prober: g.prober, Sink: g.outbox,
		Logger: d.log, Locks: d.locks, OnCommit: d.markDirty,
	})
	if err != nil {
		return nil, err
	}
	g.rot = rot
	g.sched, err = rotator.NewScheduler(rot, rotator.SchedulerOptions{Logger: d.log, Now: d.now, Jitter: d.opts.Jitter})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	warnBudget(d.log, cfg, d.now())
	return g, nil
}

func (d *daemon) current() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// reload builds the new configuration completely and swaps it in only if
// all of it worked; otherwise the running one stays and the log says why.
func (d *daemon) reload(ctx context.Context) {
	old := d.current()
	cfg, err := loadConfigFile(d.opts.ConfigPath)
	if err != nil {
		d.log.Error("reload refused: the new configuration is invalid; still running the previous one", "config", d.opts.ConfigPath, "err", err)
		return
	}
	if cfg.Checksum == old.cfg.Checksum {
		d.log.Info("reload: configuration unchanged", "config", cfg.Path)
		return
	}
	if cfg.Daemon.StateDir != old.cfg.Daemon.StateDir {
		d.log.Error("reload refused: state_dir cannot change while running; restart the daemon to move it; still running the previous configuration",
			"running", old.cfg.Daemon.StateDir, "new", cfg.Daemon.StateDir)
		return
	}
	gen, err := d.build(ctx, cfg, old)
	if err != nil {
		d.log.Error("reload refused; still running the previous configuration", "err", err)
		return
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := old.stop(stopCtx); err != nil {
		d.log.Warn("reload: previous generation did not stop cleanly", "err", err)
	}
	d.onDemand.Wait()
	d.mu.Lock()
	d.gen = gen
	d.mu.Unlock()
	gen.start()
	d.log.Info("configuration reloaded", "config", cfg.Path, "slots", len(cfg.Slots))
	d.markDirty()
	d.rotateNow()
}

// rotateNow asks for an on-demand pass over every slot. A request that
// arrives while a pass runs is never dropped: the running loop makes one
// more pass, so a staged pair or a fresh dashboard change is always seen.
func (d *daemon) rotateNow() {
	d.rotatePending.Store(true)
	select {
	case d.rotating <- struct{}{}:
	default:
		return // the running loop sees the pending flag
	}
	d.onDemand.Add(1)
	go func() {
		defer d.onDemand.Done()
		for {
			for d.rotatePending.Swap(false) {
				gen := d.current()
				ctx := gen.sched.Context()
				// Staged pairs first: every second until they are written
				// is a payments outage; probing 1,000 slots can wait.
				if err := gen.rot.AdvanceRotations(ctx, d.now); err != nil && ctx.Err() == nil {
					d.log.Error("rotation pass failed", "err", err)
				}
				if err := gen.rot.ProbeAll(ctx, d.now, gen.cfg.KPay.Concurrency); err != nil && ctx.Err() == nil {
					d.log.Error("on-demand pass failed", "err", err)
				}
			}
			<-d.rotating
			// A request may have landed between the last check and the
			// release; take the token back for it unless another loop did.
			if !d.rotatePending.Load() {
				return
			}
			select {
			case d.rotating <- struct{}{}:
			default:
				return
			}
		}
	}()
}

// shutdown stops scheduling and waits for passes, bounded by stopTimeout.
func (d *daemon) shutdown() error {
	d.log.Info("stopping: waiting for running passes")
	ctx, cancel := context.WithTimeoutCause(context.Background(), stopTimeout, errors.New("graceful stop took too long"))
	defer cancel()
	gen := d.current()
	err := gen.stop(ctx)
	done := make(chan struct{})
	go func() { d.onDemand.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, context.Cause(ctx))
	}
	gen.prober.Close()
	return err
}

func (d *daemon) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// snapshotLoop rewrites the status snapshot after changes, at most every
// 200 ms (status right after stage must show the rotation), and every 30 s
// so next-probe times stay fresh.
func (d *daemon) snapshotLoop(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
		case <-tick.C:
		}
		d.writeSnapshot()
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (d *daemon) status() (rotator.Status, error) {
	gen := d.current()
	doc, err := rotator.BuildStatus(d.store, gen.cfg, d.now(), gen.sched.Next)
	doc.Source, doc.PID = "daemon", os.Getpid()
	return doc, err
}

func (d *daemon) writeSnapshot() {
	doc, err := d.status()
	if err != nil {
		d.log.Warn("cannot build status snapshot", "err", err)
		return
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err == nil {
		err = atomicfile.Write(filepath.Join(d.current().cfg.Daemon.StateDir, snapshotName), append(b, '\n'), 0o600)
	}
	if err != nil {
		d.log.Warn("cannot write status snapshot", "err", err)
	}
}

// prepareInbox creates the inbox directory, private to the daemon's user,
// and refuses one others can read: staged pairs are secrets.
func prepareInbox(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create inbox %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("inbox %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: inbox %s has mode %04o, so others could read staged pairs; run: chmod 700 %s", errConfig, dir, fi.Mode().Perm(), dir)
	}
	return nil
}
