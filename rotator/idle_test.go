package rotator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// noSecrets answers every Secrets Manager call with an error: these tests
// never get as far as a secret.
type noSecrets struct{}

var errNoSecrets = errors.New("no Secrets Manager in this test")

func (noSecrets) Current(context.Context, string) (secretdoc.Version, error) {
	return secretdoc.Version{}, errNoSecrets
}
func (noSecrets) Version(context.Context, string, string) (secretdoc.Version, error) {
	return secretdoc.Version{}, errNoSecrets
}
func (noSecrets) History(context.Context, string) ([]secretdoc.VersionInfo, error) {
	return nil, errNoSecrets
}
func (noSecrets) Describe(context.Context, string) (secretdoc.Description, error) {
	return secretdoc.Description{}, errNoSecrets
}
func (noSecrets) Put(context.Context, string, kpay.Secret, string) (string, error) {
	return "", errNoSecrets
}
func (noSecrets) Create(context.Context, string, kpay.Secret, string) (string, error) {
	return "", errNoSecrets
}

type noProber struct{}

func (noProber) Probe(context.Context, kpay.Pair, healthcheck.Expect) healthcheck.Result {
	return healthcheck.Result{Outcome: healthcheck.Transient}
}
func (noProber) ProbeUrgent(context.Context, kpay.Pair, healthcheck.Expect) healthcheck.Result {
	return healthcheck.Result{Outcome: healthcheck.Transient}
}

// idleRig is a scheduler over n slots probed hourly, retired pairs on
// the shipped "* * * * *", with a clock the test sets.
type idleRig struct {
	s     *Scheduler
	r     *Rotator
	st    store.Store
	inbox string
	clock atomic.Int64 // unix nanoseconds; the scheduler's loop reads it
}

func (rig *idleRig) now() time.Time     { return time.Unix(0, rig.clock.Load()).UTC() }
func (rig *idleRig) setNow(t time.Time) { rig.clock.Store(t.UnixNano()) }

func newIdleRig(t *testing.T, n int, changes <-chan struct{}) *idleRig {
	t.Helper()
	rig := &idleRig{inbox: t.TempDir()}
	rig.setNow(time.Date(2026, 12, 1, 12, 0, 30, 0, time.UTC))
	var src strings.Builder
	fmt.Fprintf(&src, "[daemon]\nstate_dir = %q\ninbox_dir = %q\n[defaults]\nprobe_schedule = \"0 * * * *\"\njitter = \"0s\"\n", t.TempDir(), rig.inbox)
	for i := range n {
		fmt.Fprintf(&src, "[[slot]]\nname = \"slot-%04d\"\nenvironment = \"live\"\nsecret_id = \"prod/slot-%04d\"\n", i, i)
	}
	cfg, err := config.Parse([]byte(src.String()), filepath.Join(t.TempDir(), "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rig.st = st
	rig.r, err = New(Options{Config: cfg, Store: st, Secrets: noSecrets{}, Prober: noProber{}})
	if err != nil {
		t.Fatal(err)
	}
	rig.s, err = NewScheduler(rig.r, SchedulerOptions{Now: rig.now, InboxChanges: changes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rig.s.Stop(context.Background()) })
	return rig
}

// minute steps the timetable through the minute after the rig's clock,
// as its loop would, without running the jobs: how many times the loop
// wakes and how many jobs it starts.
func (rig *idleRig) minute() (wakes, jobs int) {
	end := rig.now().Add(time.Minute)
	for {
		next := rig.s.tt.peek()
		if next.IsZero() || next.After(end) {
			return wakes, jobs
		}
		due, _ := rig.s.tt.due(next)
		wakes, jobs = wakes+1, jobs+len(due)
		rig.setNow(next)
	}
}

// retirePair records a retired pair of slot, through the rotator's commit.
func (rig *idleRig) retirePair(t *testing.T, slot string) {
	t.Helper()
	err := rig.r.commit(&change{slot: slot, pairs: []store.PairRecord{{Slot: slot, Fingerprint: "old-" + slot, Mask: "kpay_live_…old",
		Role: store.RoleRetired, RetiredAt: rig.now(), VersionID: "v-old"}}})
	if err != nil {
		t.Fatal(err)
	}
}

// Between scheduled probes an idle daemon's scheduler wakes for nothing:
// not for the inbox (watched), not for rotations (none in flight), not for
// retired probes of slots that have no retired pair. A slot with one is
// probed on its retired_schedule: one wake, one job.
func TestScheduler_IdleMinuteWakesOnlyForDueWork(t *testing.T) {
	rig := newIdleRig(t, 1000, make(chan struct{}))
	rig.retirePair(t, "slot-0007")
	// What the start pass does: every slot's retired pairs looked at once,
	// and one rotation pass.
	for _, s := range rig.r.cfg.Slots {
		if err := rig.r.ProbeRetired(context.Background(), s.Name, rig.now()); err != nil {
			t.Fatal(err)
		}
	}
	rig.s.advance()

	if wakes, jobs := rig.minute(); wakes != 1 || jobs != 1 {
		t.Errorf("idle minute: %d wakes starting %d jobs, want 1 wake for the one slot with a retired pair", wakes, jobs)
	}
	// Then one a minute, until the hourly probes and the hourly look at
	// the secrets (one job for every slot: drift_schedule) share 13:00
	// with it: 1,002 jobs, still one wake.
	for rig.now().Before(time.Date(2026, 12, 1, 12, 59, 0, 0, time.UTC)) {
		rig.minute()
	}
	if wakes, jobs := rig.minute(); wakes != 1 || jobs != 1002 {
		t.Errorf("minute to 13:00: %d wakes, %d jobs; want 1 wake, 1,002 jobs", wakes, jobs)
	}
}

// A slot's retired probes run only while it has retired pairs: the scan
// at start arms the slots that have some, a commit that retires one arms
// its slot, a probe that finds none disarms it, and a commit that lands
// while a probe was looking is not lost to that probe's "none".
func TestScheduler_RetiredProbesFollowRetiredPairs(t *testing.T) {
	rig := newIdleRig(t, 2, make(chan struct{}))
	const slot, other = "slot-0001", "slot-0000"
	armedFor := func(name string) bool { return !rig.s.tt.nextOf(rig.s.retired[name]).IsZero() }
	armed := func() bool { return armedFor(slot) }
	rig.s.armRetired()
	if armed() || armedFor(other) {
		t.Fatal("the start scan armed a slot with no retired pair")
	}
	rig.retirePair(t, slot)
	if !armed() {
		t.Fatal("not watched after a commit retired a pair")
	}
	rig.s.tt.disarm(rig.s.retired[slot]) // as a restart leaves it
	rig.s.armRetired()
	if !armed() || armedFor(other) {
		t.Fatalf("start scan: slot with a retired pair armed %v, slot without %v; want true, false", armed(), armedFor(other))
	}
	rig.s.tt.arm(rig.s.retired[other])
	if err := rig.r.ProbeRetired(context.Background(), other, rig.now()); err != nil {
		t.Fatal(err)
	}
	if armedFor(other) {
		t.Fatal("still watched after a probe found no retired pair")
	}

	look := rig.r.watch.look(slot) // a probe looks...
	rig.retirePair(t, slot)        // ...a rotation retires a pair meanwhile...
	rig.r.watch.clear(slot, look)  // ...and the probe reports what it saw
	if !armed() {
		t.Error("a stale \"no retired pair\" disarmed a slot that has one")
	}
}

// The rotation pass keeps its 5-s tick only while it has work: always
// when the inbox is not watched; while a window or pair is in the inbox
// or a rotation is journaled as in flight when it is.
func TestScheduler_RotationTickOnlyWhileInFlight(t *testing.T) {
	for _, tt := range []struct {
		name    string
		watched bool
	}{{"watched", true}, {"not watched", false}} {
		t.Run(tt.name, func(t *testing.T) {
			var changes chan struct{}
			if tt.watched {
				changes = make(chan struct{})
			}
			rig := newIdleRig(t, 2, changes)
			armed := func() bool { return !rig.s.tt.nextOf(rig.s.rotations).IsZero() }
			rig.s.rearmRotations()
			if got := armed(); got != !tt.watched {
				t.Errorf("empty inbox: tick armed %v, want %v", got, !tt.watched)
			}
			if err := inbox.OpenWindow(rig.inbox, inbox.Window{ID: "rot_x", Slot: "slot-0000", OpenedAt: rig.now()}, -1, -1); err != nil {
				t.Fatal(err)
			}
			rig.s.rearmRotations()
			if !armed() {
				t.Error("window open: tick not armed")
			}
			if err := inbox.CloseWindow(rig.inbox, "slot-0000"); err != nil {
				t.Fatal(err)
			}
			if err := rig.st.Update(func(tx store.Tx) error {
				return tx.PutRotation(store.Rotation{ID: "rot_y", Slot: "slot-0001", State: store.RotationVerified})
			}); err != nil {
				t.Fatal(err)
			}
			rig.s.rearmRotations()
			if !armed() {
				t.Error("a verified rotation (a write to retry): tick not armed")
			}
		})
	}
}

// A change the inbox watch reports runs a rotation pass at once, which
// then keeps the tick while the window it found is open; the watch
// ending puts the tick back for good.
func TestScheduler_InboxChangesRunAPass(t *testing.T) {
	changes := make(chan struct{}, 1)
	rig := newIdleRig(t, 2, changes)
	armed := func() bool { return !rig.s.tt.nextOf(rig.s.rotations).IsZero() }
	rig.s.rearmRotations()
	rig.s.Start()
	if armed() {
		t.Fatal("tick armed on an idle daemon with a watched inbox")
	}
	if err := inbox.OpenWindow(rig.inbox, inbox.Window{ID: "rot_x", Slot: "slot-0000", OpenedAt: rig.now()}, -1, -1); err != nil {
		t.Fatal(err)
	}
	changes <- struct{}{}
	waitFor(t, "a pass on the change, arming the tick", armed)

	// The window closes; the pass that sees it ends the rotation.
	if err := inbox.CloseWindow(rig.inbox, "slot-0000"); err != nil {
		t.Fatal(err)
	}
	rig.s.advance()
	if armed() {
		t.Fatal("tick still armed once the rotation ended")
	}
	close(changes)
	waitFor(t, "the tick back once the watch ended", armed)
}

// Next is the timetable's own next run of the slot's probe: it moves when
// the probe is dispatched, and costs no schedule computation.
func TestScheduler_NextFollowsTheTimetable(t *testing.T) {
	rig := newIdleRig(t, 2, make(chan struct{}))
	want := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	if got := rig.s.Next("slot-0000"); !got.Equal(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	rig.s.tt.due(want)
	if got := rig.s.Next("slot-0000"); !got.Equal(want.Add(time.Hour)) {
		t.Errorf("Next after the 13:00 probe = %v, want %v", got, want.Add(time.Hour))
	}
	if got := rig.s.Next("no-such-slot"); !got.IsZero() {
		t.Errorf("Next of an unknown slot = %v, want zero", got)
	}
}

// The scheduler answers liveness checks while its loop runs, and not once
// stopped; LastBeat says when it last did.
func TestScheduler_AliveWhileTheLoopRuns(t *testing.T) {
	rig := newIdleRig(t, 1, make(chan struct{}))
	rig.s.Start()
	rig.setNow(rig.now().Add(time.Hour))
	if !rig.s.Alive(10 * time.Second) {
		t.Fatal("a running scheduler does not answer")
	}
	if got := rig.s.LastBeat(); !got.Equal(rig.now()) {
		t.Errorf("LastBeat = %v, want the answer's time %v", got, rig.now())
	}
	if err := rig.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rig.s.Alive(10 * time.Millisecond) {
		t.Error("a stopped scheduler answers")
	}
}

// due hands out exactly the entries due, each once, reschedules them,
// and never the disarmed ones.
func TestTimetable_DueTakesOnlyWhatIsDue(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tt := newTimetable(func() time.Time { return now }, nil)
	var ran []string
	job := func(name string) cron.Job { return cron.FuncJob(func() { ran = append(ran, name) }) }
	tt.add(cron.Every(10*time.Second), job("10s"), true)
	tt.add(cron.Every(time.Minute), job("1m"), true)
	off := tt.add(cron.Every(time.Second), job("off"), false)
	gone := tt.add(cron.Every(5*time.Second), job("gone"), true)
	tt.disarm(gone)

	jobs, next := tt.due(now.Add(9 * time.Second))
	if len(jobs) != 0 || !next.Equal(now.Add(10*time.Second)) {
		t.Fatalf("at 9s: %d jobs, next %v; want none, next at 10s", len(jobs), next)
	}
	jobs, next = tt.due(now.Add(time.Minute))
	for _, j := range jobs {
		j.Run()
	}
	if got := strings.Join(ran, ","); got != "10s,1m" && got != "1m,10s" {
		t.Errorf("at 1m ran %q, want 10s and 1m once each", got)
	}
	if !next.Equal(now.Add(70 * time.Second)) {
		t.Errorf("next after 1m = %v, want 1m10s (rescheduled from now, not caught up)", next)
	}
	if !tt.nextOf(off).IsZero() || !tt.nextOf(gone).IsZero() {
		t.Error("a disarmed entry has a next run")
	}
	now = now.Add(time.Minute)
	tt.arm(off)
	if jobs, _ := tt.due(now.Add(time.Second)); len(jobs) != 1 {
		t.Errorf("armed entry: %d jobs at its time, want 1", len(jobs))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
