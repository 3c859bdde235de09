package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/internal/etcdtest"
	"kpay-rotator/store"
	"kpay-rotator/store/etcdstore"
)

// fakeElector hands out the terms the test queues, or errors.
type fakeElector struct {
	results chan fakeResult
}

type fakeResult struct {
	t   term
	err error
}

func (f *fakeElector) campaign(ctx context.Context) (term, error) {
	select {
	case r := <-f.results:
		return r.t, r.err
	case <-ctx.Done():
		return term{}, ctx.Err()
	}
}

func (f *fakeElector) leader(context.Context) (string, error) { return "", nil }

// recorder is an actor that records its calls.
type recorder struct {
	mu      sync.Mutex
	calls   []string
	leadErr error
	changed chan struct{}
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) lead(term) error {
	r.add("lead")
	return r.leadErr
}

func (r *recorder) follow(lost bool) {
	if lost {
		r.add("follow lost")
	} else {
		r.add("follow")
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func newTerm(ended *int) (term, chan struct{}) {
	lost := make(chan struct{})
	return term{lost: lost, end: func(context.Context) error { *ended++; return nil }}, lost
}

func TestElect_LeadsLosesAndCampaignsAgain(t *testing.T) {
	el := &fakeElector{results: make(chan fakeResult)}
	rec := &recorder{changed: make(chan struct{}, 10)}
	var waits []time.Duration
	wait := func(ctx context.Context, d time.Duration) bool { waits = append(waits, d); return ctx.Err() == nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *term)
	go func() { done <- elect(ctx, el, rec, slog.New(slog.DiscardHandler), wait) }()

	// etcd unreachable: no role change, a retry after campaignRetry.
	el.results <- fakeResult{err: errors.New("context deadline exceeded")}
	var ended1, ended2 int
	t1, lost1 := newTerm(&ended1)
	el.results <- fakeResult{t: t1}
	<-rec.changed
	// The lease goes (a pause, a partition): follow at once, end the term.
	close(lost1)
	<-rec.changed
	t2, _ := newTerm(&ended2)
	el.results <- fakeResult{t: t2}
	<-rec.changed
	cancel()
	last := <-done

	if want := []string{"lead", "follow lost", "lead"}; !slices.Equal(rec.got(), want) {
		t.Errorf("calls = %q, want %q", rec.got(), want)
	}
	if !slices.Equal(waits, []time.Duration{campaignRetry}) {
		t.Errorf("waits = %v, want one of %v after the failed campaign", waits, campaignRetry)
	}
	if ended1 != 1 {
		t.Errorf("lost term ended %d times, want 1", ended1)
	}
	// The term held at shutdown is the caller's to end, after its passes.
	if last == nil || ended2 != 0 {
		t.Fatalf("returned term %v (ended %d times), want the held term, not ended", last, ended2)
	}
	if err := last.end(context.Background()); err != nil || ended2 != 1 {
		t.Errorf("returned term is not the held one: end gave %v, ended %d", err, ended2)
	}
}

func TestElect_GivesUpATermItCannotActOn(t *testing.T) {
	el := &fakeElector{results: make(chan fakeResult, 1)}
	rec := &recorder{changed: make(chan struct{}, 10), leadErr: errors.New("inbox: permission denied")}
	ctx, cancel := context.WithCancel(context.Background())
	wait := func(context.Context, time.Duration) bool { cancel(); return false }
	var ended int
	t1, _ := newTerm(&ended)
	el.results <- fakeResult{t: t1}
	last := elect(ctx, el, rec, slog.New(slog.DiscardHandler), wait)
	if want := []string{"lead", "follow"}; !slices.Equal(rec.got(), want) {
		t.Errorf("calls = %q, want %q", rec.got(), want)
	}
	if ended != 1 || last != nil {
		t.Errorf("term ended %d times, returned %v; want it resigned at once and nothing held", ended, last)
	}
}

// TestEtcdElector_FencesALeaderThatLostItsLease: a leader whose lease
// expired (as when it was paused past the TTL) sees its term lost, and
// its commits, still under the old term's guard, are refused once
// another daemon leads, while the new leader's go through.
func TestEtcdElector_FencesALeaderThatLostItsLease(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialStore := func() *etcdstore.DB {
		cli, err := etcdstore.Dial(etcdstore.ClientOptions{Endpoints: c.Endpoints()})
		if err != nil {
			t.Fatal(err)
		}
		db, err := etcdstore.Open(ctx, cli, etcdstore.Options{Prefix: "/fence/", CloseClient: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	write := func(db *etcdstore.DB) error {
		return db.Update(func(tx store.Tx) error { return tx.PutSlot(store.SlotState{Name: "s"}) })
	}
	dbA, dbB := dialStore(), dialStore()
	elA := &etcdElector{cli: dbA.Client(), prefix: "/fence/leader", ttl: 2 * time.Second, id: "host-a/1"}
	elB := &etcdElector{cli: dbB.Client(), prefix: "/fence/leader", ttl: 2 * time.Second, id: "host-b/2"}

	dbA.SetGuard(fenced)
	if err := write(dbA); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write before leading = %v, want ErrFenced", err)
	}
	tA, err := elA.campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dbA.SetGuard(func() []clientv3.Cmp { return tA.guard })
	if err := write(dbA); err != nil {
		t.Fatalf("write while leading = %v, want nil", err)
	}
	if id, err := elB.leader(ctx); err != nil || id != "host-a/1" {
		t.Errorf("leader seen by B = %q, %v; want host-a/1", id, err)
	}

	// The lease goes as if A froze past its TTL.
	leases, err := dbB.Client().Leases(ctx)
	if err != nil || len(leases.Leases) != 1 {
		t.Fatalf("leases = %v, %v; want A's only", leases, err)
	}
	if _, err := dbB.Client().Revoke(ctx, leases.Leases[0].ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tA.lost:
	case <-ctx.Done():
		t.Fatal("A's term was not lost after its lease was revoked")
	}
	tB, err := elB.campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tB.end(context.Background())
	dbB.SetGuard(func() []clientv3.Cmp { return tB.guard })
	if err := write(dbA); !errors.Is(err, store.ErrFenced) {
		t.Errorf("write by the old leader after B took over = %v, want ErrFenced", err)
	}
	if err := write(dbB); err != nil {
		t.Errorf("write by the new leader = %v, want nil", err)
	}
	if id, err := elA.leader(ctx); err != nil || id != "host-b/2" {
		t.Errorf("leader seen by A = %q, %v; want host-b/2", id, err)
	}
}
