// Package daemon runs kpay-rotator: it owns the lifecycle of everything
// that starts, reloads and stops with the process (the state database,
// the rotator and its scheduler, the outbox, the HTTP endpoint and the
// systemd notifications), and the local control protocol commands use to
// reach it. Signals stay in the command: Run receives plain channel
// sends, so tests reload and rotate without signals.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/awssecrets"
	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/internal/sdnotify"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/etcdstore"
)

// Options configure Run.
type Options struct {
	ConfigPath string
	// Logger receives the daemon's log; nil discards it.
	Logger *slog.Logger
	// Version names the build in the log and KPay's User-Agent.
	Version string
	// Reload asks for a reload (SIGHUP), Rotate for staged pairs and a
	// probe pass (SIGUSR1).
	Reload <-chan struct{}
	Rotate <-chan struct{}
	// Handover asks for staged pairs only (SIGUSR2, from stage).
	Handover <-chan struct{}
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Jitter overrides every slot's jitter (tests).
	Jitter *time.Duration
	// Started, when set, is called once the daemon runs (tests).
	Started func(*Daemon)
	// Notify talks to systemd; nil reads $NOTIFY_SOCKET.
	Notify *sdnotify.Notifier
}

// Daemon is one running kpay-rotator.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	store store.Store
	locks *rotator.SlotLocks

	mu  sync.Mutex
	gen *generation

	dirty chan struct{}
	// statusCache reads a slot again only after a commit to it.
	statusCache rotator.StatusCache

	notify    *sdnotify.Notifier
	metrics   *metrics
	httpAddr  string
	reloadErr atomic.Pointer[string]

	// id names this daemon in the election and in status (host/pid).
	id string
	// election is set with backend = "etcd": leadership decides whether
	// this daemon acts; guard is its store's SetGuard.
	election elector
	guard    func(func() []clientv3.Cmp)
	// actMu serializes starting and stopping the generation (elections,
	// reloads, on-demand passes); acting says it runs.
	actMu  sync.Mutex
	acting atomic.Bool
}

func (d *Daemon) reloadError() string {
	if p := d.reloadErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (d *Daemon) setReloadError(msg string) {
	d.reloadErr.Store(&msg)
	d.metrics.reloaded(msg == "", d.now())
}

// generation is everything built from one configuration; a reload builds a
// new one before the old one is stopped.
type generation struct {
	cfg     *config.Config
	secrets *awssecrets.Client
	prober  *healthcheck.Prober
	outbox  *outbox.Outbox
	rot     *rotator.Rotator
	sched   *rotator.Scheduler
	// inbox watches the inbox; nil when it cannot be watched.
	inbox *inbox.Watcher

	// stopOutbox ends the outbox's delivery loops; outboxDone closes when
	// they have returned. Both are nil until start.
	stopOutbox context.CancelFunc
	outboxDone chan struct{}
}

// used says the generation was started: a scheduler runs once, so acting
// again needs a new generation.
func (g *generation) used() bool { return g.stopOutbox != nil }

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
	done, err := g.halt(ctx)
	if !done {
		return err
	}
	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if ferr := g.outbox.Flush(flushCtx, time.Now()); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

// abandon stops scheduling and delivery at once, without a last delivery
// pass: leadership is gone, another daemon delivers. It waits for the
// loops at most until ctx ends.
func (g *generation) abandon(ctx context.Context) error {
	_, err := g.halt(ctx)
	return err
}

// halt stops scheduling and the delivery loops, waiting for them at most
// until ctx ends; done says the loops of a started generation returned.
func (g *generation) halt(ctx context.Context) (done bool, err error) {
	err = g.sched.Stop(ctx)
	if g.inbox != nil {
		g.inbox.Close()
	}
	if !g.used() {
		return false, err
	}
	g.stopOutbox()
	select {
	case <-g.outboxDone:
		return true, err
	case <-ctx.Done():
		return false, errors.Join(err, fmt.Errorf("outbox: delivery loops still running: %w", context.Cause(ctx)))
	}
}

// Run runs the daemon until ctx ends, then stops it within 10 s
// and returns what went wrong on the way down, if anything.
func Run(ctx context.Context, o Options) (err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Notify == nil {
		o.Notify = sdnotify.New()
	}
	log := o.Logger
	// Everything started from here on registers how it stops; any return
	// runs those steps last-in first-out.
	var down teardown
	stopping := false
	defer func() {
		err = errors.Join(err, down.run(log))
		if stopping {
			log.Info("kpay-rotator stopped")
		}
	}()
	down.add("close the systemd socket", stepTimeout, func(context.Context) error { o.Notify.Close(); return nil })

	cfg, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	st, closeStore, err := openStore(ctx, cfg, storeOptions{now: o.Now})
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	// The database closes last: every other step may still record.
	down.add("close the state database", stepTimeout, func(context.Context) error { return closeStore() })

	d := &Daemon{
		opts: o, log: log, now: o.Now, store: st,
		locks:  &rotator.SlotLocks{},
		dirty:  make(chan struct{}, 1),
		notify: o.Notify,
	}
	d.id = identity()
	if db, ok := st.(*etcdstore.DB); ok {
		// Nothing is written before this daemon leads.
		db.SetGuard(fenced)
		d.guard = db.SetGuard
		d.election = &etcdElector{cli: db.Client(), prefix: cfg.Store.Prefix + "leader", ttl: cfg.Store.LeaseTTL, id: d.id}
	}
	d.metrics = newMetrics(d, o.Version)
	gen, err := d.build(ctx, cfg, nil)
	if err != nil {
		return err
	}
	d.gen = gen
	d.metrics.configure(cfg)
	d.setReloadError("")
	stopHTTP, err := d.serveHTTP(cfg.Daemon.Listen)
	if err != nil {
		return err
	}
	down.add("stop the HTTP endpoint", time.Second, stopHTTP)

	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	down.add("stop the status and watchdog loops", stepTimeout, func(ctx context.Context) error {
		stopBackground()
		return waitGroup(ctx, &bg)
	})
	// The lease is released last, once this daemon's passes and deliveries
	// have stopped, so the next leader never overlaps them.
	var held atomic.Pointer[term]
	down.add("resign leadership", stepTimeout, func(ctx context.Context) error {
		if t := held.Load(); t != nil {
			return t.end(ctx)
		}
		return nil
	})
	if d.election == nil {
		d.acting.Store(true)
		d.metrics.leading(true)
		gen.start()
	}
	// Whichever generation runs at the end is the one to stop.
	down.add("stop scheduling, passes and alert delivery", passesTimeout, func(ctx context.Context) error {
		log.Info("stopping: waiting for running passes")
		gen := d.current()
		err := gen.stop(ctx)
		gen.prober.Close()
		return err
	})
	log.Info("kpay-rotator started", "version", o.Version, "config", cfg.Path, "slots", len(cfg.Slots),
		"state", st.Location(), "pid", os.Getpid())
	if err := d.notify.Ready(d.statusLine()); err != nil {
		log.Warn("cannot tell systemd the daemon is ready", "err", err)
	}
	bg.Add(2)
	go func() { defer bg.Done(); d.statusLoop(bgCtx) }()
	go func() { defer bg.Done(); d.watchdogLoop(bgCtx) }()
	if d.election == nil {
		// Probe everything once at start rather than waiting up to a
		// whole schedule period to say anything.
		gen.sched.RotateNow()
	} else {
		log.Info("campaigning for leadership in etcd; following until elected", "id", d.id, "lease_ttl", cfg.Store.LeaseTTL)
		electCtx, stopElection := context.WithCancel(context.Background())
		elected := make(chan struct{})
		go func() { defer close(elected); held.Store(elect(electCtx, d.election, d, log, sleepCtx)) }()
		down.add("stop campaigning", stepTimeout, func(ctx context.Context) error {
			stopElection()
			select {
			case <-elected:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("election: still campaigning: %w", context.Cause(ctx))
			}
		})
	}
	if o.Started != nil {
		o.Started(d)
	}

	for {
		select {
		case <-ctx.Done():
			_ = d.notify.Stopping()
			stopping = true
			return nil
		case <-o.Reload:
			_ = d.notify.Reloading()
			d.reload(ctx)
			if err := d.notify.Ready(d.statusLine()); err != nil {
				log.Warn("cannot tell systemd the reload finished", "err", err)
			}
		case <-o.Rotate:
			d.whileActing(func(g *generation) {
				log.Info("on-demand pass requested: probing every slot now")
				g.sched.RotateNow()
			})
		case <-o.Handover:
			d.whileActing(func(g *generation) {
				log.Debug("hand-over requested: taking staged pairs")
				g.sched.Handover()
			})
		}
	}
}

// Status builds the daemon's status document, as /v1/status serves it.
func (d *Daemon) Status() (rotator.Status, error) { return d.status() }

// Addr is the address the HTTP endpoint listens on.
func (d *Daemon) Addr() string { return d.httpAddr }

// statusLine is the one-line state systemctl status shows, from a status
// document already built (building one reads every slot).
func (d *Daemon) statusLine() string {
	gen := d.current()
	counts, err := d.statusCache.Health(d.store, gen.cfg, d.now())
	if err != nil {
		return "status unavailable: " + err.Error()
	}
	line := fmt.Sprintf("%d slots: %d healthy, %d failing, %d degraded, %d unknown",
		len(gen.cfg.Slots), counts["healthy"], counts["failing"], counts["degraded"], counts["unknown"])
	if msg := d.reloadError(); msg != "" {
		line = "reload failed, running the previous configuration: " + msg + "; " + line
	}
	return line
}

// watchdogLoop feeds systemd's watchdog at half its interval, but only
// while the daemon is ready: a stuck scheduler or an unreadable store
// stops the pings, and systemd restarts the service.
func (d *Daemon) watchdogLoop(ctx context.Context) {
	interval, ok := sdnotify.WatchdogInterval()
	if !ok || !d.notify.Enabled() {
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	quiet := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		problems := d.readiness()
		// A failed reload is not a reason to be killed: the previous
		// configuration keeps running. Failing writes are, once they have
		// lasted a watchdog interval: a restart may find the space freed,
		// and systemd then says loudly that the service is failing.
		problems = slices.DeleteFunc(problems, func(p string) bool {
			if strings.HasPrefix(p, "last reload failed") {
				return true
			}
			since, _, failing := d.store.WriteFailure()
			return strings.HasPrefix(p, "state database: writes failing") && failing && time.Since(since) < interval
		})
		if len(problems) > 0 {
			if !quiet {
				d.log.Error("not feeding the systemd watchdog: the daemon is not healthy", "problems", problems)
				quiet = true
			}
			continue
		}
		quiet = false
		if err := d.notify.Watchdog(); err != nil {
			d.log.Warn("cannot ping the systemd watchdog", "err", err)
		}
	}
}

// build constructs a generation for cfg, reusing prev's clients when their
// configuration did not change (the prober keeps its request budget).
func (d *Daemon) build(ctx context.Context, cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{cfg: cfg}
	if err := inbox.Prepare(cfg.Daemon.InboxDir); err != nil {
		return nil, err
	}
	if prev != nil && prev.cfg.AWS == cfg.AWS {
		g.secrets = prev.secrets
	} else {
		c, err := awssecrets.New(ctx, awssecrets.Options{Region: cfg.AWS.Region, Endpoint: cfg.AWS.Endpoint})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		g.secrets = c
	}
	if prev != nil && prev.cfg.KPay == cfg.KPay {
		g.prober = prev.prober
	} else {
		p, err := newProber(cfg.KPay, d.log, d.opts.Version)
		if err != nil {
			return nil, err
		}
		g.prober = p
	}
	rcvs, err := buildReceivers(cfg)
	if err != nil {
		return nil, err
	}
	// Credentials are read at every send; what cannot be sent with now is
	// said now, without refusing to start (probing matters more).
	warnings, errs := CheckCredentials(cfg)
	for _, w := range warnings {
		d.log.Info("notifier credential not checked here", "detail", w)
	}
	for _, err := range errs {
		d.log.Error("alerts cannot be sent through this notifier until its credential is fixed; they are kept and retried", "err", err)
	}
	g.outbox, err = outbox.New(outbox.Options{Store: d.store, Receivers: rcvs, Routes: routes(cfg), Now: d.now, Logger: d.log,
		OnResult: d.metrics.notification})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	rot, err := rotator.New(rotator.Options{
		Config: cfg, Store: d.store, Secrets: g.secrets, Prober: g.prober, Sink: g.outbox,
		Logger: d.log, Locks: d.locks, OnCommit: d.committed, Observer: d.metrics,
		HoldRoutine: HoldRoutine,
	})
	if err != nil {
		return nil, err
	}
	g.rot = rot
	sopts := rotator.SchedulerOptions{Logger: d.log, Now: d.now, Jitter: d.opts.Jitter}
	if g.inbox, err = inbox.Watch(cfg.Daemon.InboxDir); err != nil {
		d.log.Warn("cannot watch the inbox; checking it every "+rotator.RotationTick.String()+" instead", "err", err)
	} else {
		sopts.InboxChanges = g.inbox.Changes()
	}
	g.sched, err = rotator.NewScheduler(rot, sopts)
	if err != nil {
		if g.inbox != nil {
			g.inbox.Close()
		}
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	warnBudget(d.log, cfg, d.now())
	return g, nil
}

func (d *Daemon) current() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// reload builds the new configuration completely and swaps it in only if
// all of it worked; otherwise the running one stays and the log says why.
func (d *Daemon) reload(ctx context.Context) {
	d.actMu.Lock()
	defer d.actMu.Unlock()
	old := d.current()
	cfg, err := LoadConfig(d.opts.ConfigPath)
	if err != nil {
		d.log.Error("reload refused: the new configuration is invalid; still running the previous one", "config", d.opts.ConfigPath, "err", err)
		d.setReloadError(firstLine(err.Error()))
		return
	}
	if cfg.Checksum == old.cfg.Checksum {
		d.log.Info("reload: configuration unchanged", "config", cfg.Path)
		d.setReloadError("")
		return
	}
	if cfg.Daemon.StateDir != old.cfg.Daemon.StateDir || cfg.Daemon.Listen != old.cfg.Daemon.Listen {
		d.log.Error("reload refused: state_dir and listen cannot change while running; restart the daemon to change them; still running the previous configuration",
			"running_state_dir", old.cfg.Daemon.StateDir, "new_state_dir", cfg.Daemon.StateDir, "running_listen", old.cfg.Daemon.Listen, "new_listen", cfg.Daemon.Listen)
		d.setReloadError("state_dir or listen changed; restart to apply")
		return
	}
	if !reflect.DeepEqual(cfg.Store, old.cfg.Store) {
		d.log.Error("reload refused: [store] cannot change while running; restart the daemon to change it; still running the previous configuration",
			"running_backend", old.cfg.Store.Backend, "new_backend", cfg.Store.Backend)
		d.setReloadError("[store] changed; restart to apply")
		return
	}
	gen, err := d.build(ctx, cfg, old)
	if err != nil {
		d.log.Error("reload refused; still running the previous configuration", "err", err)
		d.setReloadError(firstLine(err.Error()))
		return
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), passesTimeout)
	defer cancel()
	if err := old.stop(stopCtx); err != nil {
		d.log.Warn("reload: previous generation did not stop cleanly", "err", err)
	}
	d.store.SetRetention(cfg.Retention.Store())
	d.swap(gen)
	d.metrics.configure(cfg)
	if d.acting.Load() {
		gen.start()
	}
	d.setReloadError("")
	d.log.Info("configuration reloaded", "config", cfg.Path, "slots", len(cfg.Slots))
	d.markDirty()
	if d.acting.Load() {
		gen.sched.RotateNow()
	}
}

func (d *Daemon) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// committed is the rotator's OnCommit.
func (d *Daemon) committed(slot string) {
	d.statusCache.Invalidate(slot)
	d.markDirty()
}

// statusLoop keeps systemd's status line following the slots: after
// changes, at most every statusLineEvery. The line holds nothing that
// changes without a commit or a reload, so it needs no timer; outside
// systemd there is no line to keep, so nothing is counted.
// HoldRoutine is how long a probe result that changes nothing but times
// waits to be written with others: at the request budget's pace that is
// one transaction for many probes instead of one each, and a crash loses
// at most this much probe history, never a state change.
const HoldRoutine = 10 * time.Second

// statusLineEvery spaces the line's updates: under continuous probing
// each one rereads the slots that changed, and a person reading
// systemctl status needs no finer grain.
const statusLineEvery = 2 * time.Second

func (d *Daemon) statusLoop(ctx context.Context) {
	if !d.notify.Enabled() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
		}
		if err := d.notify.Status(d.statusLine()); err != nil {
			d.log.Debug("cannot update the systemd status line", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(statusLineEvery):
		}
	}
}

func (d *Daemon) status() (rotator.Status, error) {
	gen := d.current()
	// Status shows every probe made, held ones too.
	if err := gen.rot.Flush(); err != nil {
		d.log.Warn("status may miss the latest probes", "err", err)
	}
	doc, err := d.statusCache.Status(d.store, gen.cfg, d.now(), gen.sched.Next)
	doc.Source, doc.PID = "daemon", os.Getpid()
	doc.Role, doc.Leader = d.role(), d.leaderID()
	doc.ReloadError = d.reloadError()
	doc.StateError = d.writeFailure()
	return doc, err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (and more; see the log)"
	}
	return s
}
