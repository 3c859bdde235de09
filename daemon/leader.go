package daemon

// Leadership with backend = "etcd": every daemon campaigns, and only the
// leader schedules, probes, rotates and delivers alerts, so KPay's
// request budget and the alerts are the cluster's, not each host's.
// Every commit the leader makes is conditional on its election key still
// being the one it created (fencing): a daemon that was paused or cut off
// past its lease can never write once another leads.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Roles a daemon reports in /readyz, /metrics and its status.
const (
	roleLeader   = "leader"
	roleFollower = "follower"
)

// campaignRetry spaces campaigns that failed (etcd unreachable, no
// quorum): often enough to take over soon after etcd returns.
const campaignRetry = time.Second

// abandonWait bounds how long a daemon that lost leadership waits for its
// passes to see their context cancelled: they can no longer commit
// anyway (the guard), so it does not wait for them to finish.
const abandonWait = time.Second

// term is one spell of leadership.
type term struct {
	// lost closes when leadership is lost: the lease expired or was
	// revoked, so another daemon may lead already.
	lost <-chan struct{}
	// guard holds only while the term lasts; every commit carries it.
	guard []clientv3.Cmp
	// end resigns and releases the lease, so another daemon takes over at
	// once instead of after the lease's TTL.
	end func(context.Context) error
}

// elector campaigns for leadership.
type elector interface {
	// campaign blocks until this daemon leads or ctx ends.
	campaign(ctx context.Context) (term, error)
	// leader is the identity of the daemon that leads ("" when none).
	leader(ctx context.Context) (string, error)
}

// actor is what leadership turns on and off.
type actor interface {
	// lead starts acting under t; an error gives the term up.
	lead(t term) error
	// follow stops acting at once; lost says the lease was lost rather
	// than given up.
	follow(lost bool)
}

// elect campaigns until ctx ends, leading whenever elected and following
// otherwise. It returns the term still held when ctx ended, if any, for
// the caller to end once the work it guards has stopped: resigning first
// would let another daemon act while this one still finishes its passes.
// wait sleeps for d unless ctx ends first (false then).
func elect(ctx context.Context, el elector, a actor, log *slog.Logger, wait func(context.Context, time.Duration) bool) *term {
	for {
		t, err := el.campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("cannot campaign for leadership in etcd; following, retrying", "err", err)
			if !wait(ctx, campaignRetry) {
				return nil
			}
			continue
		}
		if err := a.lead(t); err != nil {
			log.Error("elected leader but cannot act; giving leadership up", "err", err)
			a.follow(false)
			endTerm(t, log)
			if !wait(ctx, campaignRetry) {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return &t
		case <-t.lost:
			a.follow(true)
			log.Error("lost leadership: the etcd lease expired (this daemon was paused, cut off from etcd, or etcd lost quorum); stopped probing and alerting, its writes are refused; campaigning again")
			endTerm(t, log)
		}
	}
}

func endTerm(t term, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := t.end(ctx); err != nil {
		log.Debug("cannot resign leadership; another daemon leads when the lease expires", "err", err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fenced is the guard of a daemon that does not lead: a comparison no key
// passes (an existing key's create revision is never negative, a missing
// key's is 0), so every commit is refused with store.ErrFenced.
func fenced() []clientv3.Cmp {
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(fenceKey), "=", -1)}
}

const fenceKey = "kpay-rotator-not-leading"

// etcdElector campaigns through concurrency.Election on prefix, with a
// lease of ttl; id is the value the leader's key holds.
type etcdElector struct {
	cli    *clientv3.Client
	prefix string
	ttl    time.Duration
	id     string
}

func (e *etcdElector) campaign(ctx context.Context) (term, error) {
	ttl := int(e.ttl / time.Second)
	// The lease is granted here, under a deadline, rather than by
	// NewSession, which waits as long as its context lives when etcd is
	// unreachable.
	gctx, cancel := context.WithTimeout(ctx, e.ttl)
	lease, err := e.cli.Grant(gctx, int64(ttl))
	cancel()
	if err != nil {
		return term{}, fmt.Errorf("grant a lease: %w", err)
	}
	// The session outlives ctx: its keep-alives must go on while the
	// daemon stops, and Close must still be able to revoke the lease.
	s, err := concurrency.NewSession(e.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(ttl))
	if err != nil {
		return term{}, fmt.Errorf("open a session: %w", err)
	}
	el := concurrency.NewElection(s, e.prefix)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.Done(): // the lease went while waiting: campaign anew
			cancel()
		case <-cctx.Done():
		}
	}()
	err = el.Campaign(cctx, e.id)
	cancel()
	if err == nil {
		select {
		case <-s.Done():
			err = errors.New("the lease expired while campaigning")
		default:
		}
	}
	if err != nil {
		_ = s.Close()
		return term{}, fmt.Errorf("campaign: %w", err)
	}
	key, rev := el.Key(), el.Rev()
	return term{
		lost:  s.Done(),
		guard: []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", rev)},
		end: func(ctx context.Context) error {
			return errors.Join(el.Resign(ctx), s.Close())
		},
	}, nil
}

func (e *etcdElector) leader(ctx context.Context) (string, error) {
	resp, err := e.cli.Get(ctx, e.prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("read the leader from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// identity names this daemon in the election: the host and the process,
// so an admin knows where the leader runs.
func identity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// lead is the daemon's actor side: it starts the generation under t's
// guard (a new one if the current one ran already).
func (d *Daemon) lead(t term) error {
	d.actMu.Lock()
	defer d.actMu.Unlock()
	gen := d.current()
	if gen.used() {
		ng, err := d.build(context.Background(), gen.cfg, gen)
		if err != nil {
			return err
		}
		d.swap(ng)
		gen = ng
	}
	guard := t.guard
	d.guard(func() []clientv3.Cmp { return guard })
	d.acting.Store(true)
	d.metrics.leading(true)
	d.log.Info("leading: this daemon now probes, rotates and delivers alerts", "id", d.id)
	gen.start()
	gen.sched.RotateNow()
	d.markDirty()
	return nil
}

// follow stops acting at once: commits are refused first, then the
// passes and deliveries are cancelled, without waiting for them long.
func (d *Daemon) follow(lost bool) {
	d.guard(fenced)
	d.actMu.Lock()
	defer d.actMu.Unlock()
	if !d.acting.Swap(false) {
		return
	}
	d.metrics.leading(false)
	gen := d.current()
	ctx, cancel := context.WithTimeout(context.Background(), abandonWait)
	defer cancel()
	if err := gen.abandon(ctx); err != nil {
		d.log.Warn("passes still running after leadership ended; their writes are refused", "err", err)
	}
	if !lost {
		d.log.Info("following: another daemon probes, rotates and delivers alerts")
	}
	// Build the next generation now, so that leading again is quick.
	ng, err := d.build(context.Background(), gen.cfg, gen)
	if err != nil {
		d.log.Error("cannot prepare to lead again; will retry when elected", "err", err)
		return
	}
	d.swap(ng)
	d.markDirty()
}

func (d *Daemon) swap(g *generation) {
	d.mu.Lock()
	d.gen = g
	d.mu.Unlock()
}

// whileActing runs fn on the running generation if this daemon acts; a
// follower says who does instead.
func (d *Daemon) whileActing(fn func(*generation)) {
	d.actMu.Lock()
	defer d.actMu.Unlock()
	if !d.acting.Load() {
		d.log.Info("this daemon follows: the leader probes and takes staged pairs", "leader", d.leaderID())
		return
	}
	fn(d.current())
}

// role is "leader" while this daemon acts (always, with bbolt), else
// "follower".
func (d *Daemon) role() string {
	if d.acting.Load() {
		return roleLeader
	}
	return roleFollower
}

// leaderID is who leads: the holder of the election key with etcd (""
// when none does or etcd cannot say); "" with bbolt, where nothing is
// elected.
func (d *Daemon) leaderID() string {
	if d.election == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	id, err := d.election.leader(ctx)
	if err != nil {
		d.log.Debug("cannot read who leads", "err", err)
	}
	return id
}
