package rotator_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// harness wires a Rotator to real things: the KPay emulator, the Secrets
// Manager emulator through the real SDK, a real prober and a bbolt file.
type harness struct {
	t     *testing.T
	ctx   context.Context
	kpay  *kpayemu.Server
	aws   *awstest.Emulator
	store *countingStore
	cfg   *config.Config
	rot   *rotator.Rotator
	// apps by slot name
	apps   map[string]kpayemu.Application
	inbox  string
	text   string
	follow *followRecorder
	// hold is the rotator's HoldRoutine, applied by rebuild.
	hold time.Duration
}

// countingStore counts the transactions the rotator opens.
type countingStore struct {
	store.Store
	views, updates atomic.Int64
}

func (c *countingStore) View(fn func(store.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(fn)
}

func (c *countingStore) Update(fn func(store.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(fn)
}

// transactions runs fn and returns the read and write transactions it
// opened.
func (h *harness) transactions(fn func()) (views, updates int64) {
	v0, u0 := h.store.views.Load(), h.store.updates.Load()
	fn()
	return h.store.views.Load() - v0, h.store.updates.Load() - u0
}

// followRecorder records what passes ask of the scheduler.
type followRecorder struct {
	mu       sync.Mutex
	confirms []string
	retired  []string
}

func (f *followRecorder) Confirm(slot string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirms = append(f.confirms, slot)
}

func (f *followRecorder) WatchRetired(slot string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retired = append(f.retired, slot)
}

func (f *followRecorder) take() (confirms, retired []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	confirms, retired, f.confirms, f.retired = f.confirms, f.retired, nil, nil
	return confirms, retired
}

// rebuild parses the harness configuration plus extra TOML and builds a
// fresh rotator on the same store, as a reload does.
func (h *harness) rebuild(extra string) {
	h.t.Helper()
	var err error
	h.cfg, err = config.Parse([]byte(h.text+"\n"+extra), filepath.Join(h.t.TempDir(), "config.toml"))
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	secrets, err := awssecrets.New(h.ctx, awssecrets.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.follow = &followRecorder{}
	h.rot, err = rotator.New(rotator.Options{Config: h.cfg, Store: h.store, Secrets: secrets, Prober: mustProber(h.t, h.kpay.URL), Followups: h.follow, HoldRoutine: h.hold})
	if err != nil {
		h.t.Fatal(err)
	}
}

const slotsTOML = `
[[slot]]
name = "payments-live"
environment = "live"
secret_id = "prod/payments/kpay"

[[slot]]
name = "checkout-test"
environment = "test"
secret_id = "test/checkout/kpay"
api_key_field = "PUBLIC"
secret_key_field = "SECRET"
`

func newHarness(t *testing.T, extra string) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), apps: map[string]kpayemu.Application{}}
	var err error
	h.kpay, err = kpayemu.Start(kpayemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.kpay.Close() })
	h.aws = awstest.Start()
	t.Cleanup(h.aws.Close)
	for _, kv := range h.aws.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	h.inbox = filepath.Join(t.TempDir(), "inbox")
	if err := os.MkdirAll(h.inbox, 0o700); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
[daemon]
inbox_dir = %q
[kpay]
base_url = %q
timeout = "5s"
requests_per_minute = 100
[defaults]
revoke_grace = "24h"
%s
%s`, h.inbox, h.kpay.URL, extra, slotsTOML)
	h.text = text
	db, err := bboltstore.Open(filepath.Join(t.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.store = &countingStore{Store: db}
	t.Cleanup(func() { h.store.Close() })
	h.rebuild("")
	for _, s := range h.cfg.Slots {
		app := h.kpay.CreateApplication(s.Name + "-app")
		h.apps[s.Name] = app
		pair, _ := h.kpay.Pair(app.ID, s.Environment)
		h.putPair(s.Name, pair)
	}
	return h
}

func (h *harness) slot(name string) config.Slot {
	s, ok := h.cfg.Slot(name)
	if !ok {
		h.t.Fatalf("no slot %s", name)
	}
	return s
}

// putPair writes pair into the slot's secret as an outside writer would,
// keeping an unrelated field to show it is never the daemon's business.
func (h *harness) putPair(slot string, pair kpay.Pair) string {
	h.t.Helper()
	s := h.slot(slot)
	vid, err := h.aws.PutJSON(h.ctx, s.SecretID, fmt.Sprintf(`{%q:%q,%q:%q,"DATABASE_URL":"postgres://x"}`,
		s.APIKeyField, pair.APIKey, s.SecretKeyField, pair.SecretKey.Reveal()))
	if err != nil {
		h.t.Fatal(err)
	}
	return vid
}

// look is a look at the slot's secret without a probe (the drift
// schedule, start, SIGUSR1): how a change made outside kpay-rotator that
// KPay does not reject is seen.
func (h *harness) look(slot string, now time.Time) {
	h.t.Helper()
	if err := h.rot.TrackSlot(h.ctx, slot, now); err != nil {
		h.t.Fatalf("TrackSlot(%s): %v", slot, err)
	}
}

func (h *harness) probe(slot string, now time.Time) {
	h.t.Helper()
	if err := h.rot.ProbeSlot(h.ctx, slot, now); err != nil {
		h.t.Fatalf("ProbeSlot(%s): %v", slot, err)
	}
}

func (h *harness) state(slot string) store.SlotState {
	h.t.Helper()
	var st store.SlotState
	_ = h.store.View(func(tx store.Tx) error {
		st, _, _ = tx.Slot(slot)
		return nil
	})
	return st
}

func (h *harness) pair(slot, fp string) store.PairRecord {
	var p store.PairRecord
	_ = h.store.View(func(tx store.Tx) error {
		p, _, _ = tx.Pair(slot, fp)
		return nil
	})
	return p
}

func (h *harness) events() []event.Event {
	var evs []event.Event
	_ = h.store.View(func(tx store.Tx) error {
		evs, _ = tx.Events(0, 0)
		return nil
	})
	return evs
}

func (h *harness) kinds(slot string) []event.Kind {
	var out []event.Kind
	for _, e := range h.events() {
		if e.Slot == slot {
			out = append(out, e.Kind)
		}
	}
	return out
}

func wantKinds(t *testing.T, got []event.Kind, want ...event.Kind) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestProbeSlot_TracksAndDatesPair(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	h.probe("checkout-test", now)
	for _, name := range []string{"payments-live", "checkout-test"} {
		st := h.state(name)
		if st.Health != store.HealthHealthy || st.Age != store.AgeFresh {
			t.Errorf("%s: state = %s/%s, want healthy/fresh (last probe %+v)", name, st.Health, st.Age, st.LastProbe)
		}
		if st.ApplicationID != h.apps[name].ID {
			t.Errorf("%s: learned application id %q, want %q", name, st.ApplicationID, h.apps[name].ID)
		}
		p := h.pair(name, st.Current)
		if p.BornSource != store.BornSecretsManager || p.Born.IsZero() || p.Born.After(now) {
			t.Errorf("%s: born %v (%s), want the secret version's CreatedDate", name, p.Born, p.BornSource)
		}
		if !strings.HasPrefix(p.Mask, "kpay_"+h.slot(name).Environment.APIKeyPrefix()[5:]) || !strings.Contains(p.Mask, "…") {
			t.Errorf("%s: mask %q", name, p.Mask)
		}
		wantKinds(t, h.kinds(name))
	}
}

func TestProbeSlot_RegeneratedPairTurnsFailingAfterThreshold(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	if _, err := h.kpay.Regenerate(h.apps["payments-live"].ID, kpay.Live); err != nil {
		t.Fatal(err)
	}
	h.probe("payments-live", now.Add(time.Minute))
	if st := h.state("payments-live"); st.Health != store.HealthHealthy || st.Rejections != 1 {
		t.Fatalf("after one rejection: %s with %d rejections, want still healthy with 1", st.Health, st.Rejections)
	}
	// The first rejection asks for a confirmation within seconds, in the
	// hand-over lane, rather than waiting for the next scheduled probe.
	if confirms, _ := h.follow.take(); len(confirms) != 1 || confirms[0] != "payments-live" {
		t.Fatalf("confirmations asked after one rejection: %v, want [payments-live]", confirms)
	}
	if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(time.Minute+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := h.state("payments-live")
	if st.Health != store.HealthFailing || !st.FirstRejectedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after the confirmation: %s since %s, want failing since the first rejection", st.Health, st.FirstRejectedAt)
	}
	if confirms, _ := h.follow.take(); len(confirms) != 0 {
		t.Errorf("confirmations asked once failing: %v, want none", confirms)
	}
	// Nobody opened a rotation: an unplanned revocation, not a late paste.
	wantKinds(t, h.kinds("payments-live"), event.UnplannedRevocation)
	e := h.events()[0]
	for _, want := range []string{"HTTP 401", "no rotation is open", "outside a rotation", "prod/payments/kpay"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("unplanned_revocation message %q lacks %q", e.Message, want)
		}
	}
	if e.Severity != event.Critical || !strings.Contains(e.Action, "kpay-rotator stage payments-live") || !strings.Contains(e.Action, "compromise") ||
		e.Fields["failing_since"] != now.Add(time.Minute).UTC().Format(time.RFC3339) {
		t.Errorf("unplanned_revocation event = %+v; want critical, the stage command, the compromise hint and failing_since", e)
	}
	// The other slot is untouched.
	h.probe("checkout-test", now.Add(2*time.Minute))
	if st := h.state("checkout-test"); st.Health != store.HealthHealthy {
		t.Errorf("checkout-test = %s, want healthy", st.Health)
	}
}

func TestProbeSlot_DriftAdoptsNewPairAndWatchesOld(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	old := h.state("payments-live").Current

	app := h.apps["payments-live"].ID
	newPair, err := h.kpay.Regenerate(app, kpay.Live)
	if err != nil {
		t.Fatal(err)
	}
	vid := h.putPair("payments-live", newPair)
	h.probe("payments-live", now.Add(time.Minute))

	st := h.state("payments-live")
	if st.Current != newPair.Fingerprint() || st.VersionID != vid || st.Health != store.HealthHealthy {
		t.Fatalf("after drift: current %s version %s health %s; want the new pair, healthy", st.Current, st.VersionID, st.Health)
	}
	if p := h.pair("payments-live", old); p.Role != store.RoleRetired {
		t.Fatalf("old pair role = %s, want retired", p.Role)
	}
	wantKinds(t, h.kinds("payments-live"), event.SecretChangedExternally)

	// Regeneration killed the old pair, so the first retired probe sees it
	// revoked: rotation complete.
	if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if p := h.pair("payments-live", old); p.Role != store.RoleRevoked {
		t.Fatalf("old pair role = %s, want revoked", p.Role)
	}
	wantKinds(t, h.kinds("payments-live"), event.SecretChangedExternally, event.OldKeyRevoked)
}

func TestProbeRetired_StillValidPastGraceWarnsAndRepeats(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	// Someone puts another application's live pair in the secret: the old
	// pair stays valid at KPay, the new one is of the wrong application.
	other := h.kpay.CreateApplication("other")
	otherPair, _ := h.kpay.Pair(other.ID, kpay.Live)
	h.putPair("payments-live", otherPair)
	h.look("payments-live", now.Add(time.Minute)) // KPay still takes the old pair: seen at a look
	h.probe("payments-live", now.Add(time.Minute))
	h.probe("payments-live", now.Add(2*time.Minute))
	if st := h.state("payments-live"); st.Health != store.HealthFailing || st.LastProbe.Outcome != string(healthcheck.WrongApplication) {
		t.Fatalf("slot holding another app's pair: %s (%+v), want failing wrong_application", st.Health, st.LastProbe)
	}
	for _, at := range []time.Duration{time.Hour, 25 * time.Hour, 26 * time.Hour, 50 * time.Hour} {
		if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(time.Minute+at)); err != nil {
			t.Fatal(err)
		}
	}
	// Warned once past 24h grace, once more a grace period later.
	wantKinds(t, h.kinds("payments-live"), event.SecretChangedExternally, event.KeyFailing, event.OldKeyStillValid, event.OldKeyStillValid)
}

func TestProbeSlot_AgeBandsFollowTheClock(t *testing.T) {
	h := newHarness(t, `max_age = "90d"
warn_before = "14d"`)
	now := time.Now()
	const day = 24 * time.Hour
	for _, d := range []time.Duration{0, 75 * day, 77 * day, 80 * day, 91 * day, 95 * day} {
		h.probe("checkout-test", now.Add(d))
	}
	if st := h.state("checkout-test"); st.Age != store.AgeOverdue {
		t.Errorf("age = %s, want overdue", st.Age)
	}
	wantKinds(t, h.kinds("checkout-test"), event.KeyDue, event.KeyOverdue)
}

func TestProbeSlot_UnreadableSecretIsSlotStateNotCrash(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	s := h.slot("payments-live")
	if _, err := h.aws.PutJSON(h.ctx, s.SecretID, `not json `+strings.Repeat("x", 40)); err != nil {
		t.Fatal(err)
	}
	h.probe("payments-live", now)
	h.probe("payments-live", now.Add(time.Minute))
	st := h.state("payments-live")
	if !strings.Contains(st.SourceError, "not a JSON object") || !strings.Contains(st.SourceError, s.SecretID) {
		t.Errorf("source error = %q", st.SourceError)
	}
	// The same reason twice raises one event.
	wantKinds(t, h.kinds("payments-live"), event.SecretUnreadable)
	if e := h.events()[0]; !strings.Contains(e.Action, "KPAY_API_KEY") {
		t.Errorf("action %q does not name the fields", e.Action)
	}
	// The other slot carries on.
	h.probe("checkout-test", now)
	if st := h.state("checkout-test"); st.Health != store.HealthHealthy {
		t.Errorf("checkout-test = %s", st.Health)
	}
	// Fixing the secret resolves it.
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
	h.putPair("payments-live", pair)
	h.probe("payments-live", now.Add(2*time.Minute))
	wantKinds(t, h.kinds("payments-live"), event.SecretUnreadable, event.SecretReadable)
	if st := h.state("payments-live"); st.SourceError != "" || st.Health != store.HealthHealthy {
		t.Errorf("after fix: %q %s", st.SourceError, st.Health)
	}
}

func TestProbeSlot_SourceErrorsNameTheFix(t *testing.T) {
	tests := []struct {
		name   string
		fault  *awstest.Fault
		value  string
		secret string
		want   string
	}{
		{name: "missing secret", secret: "does/not/exist", want: "does not exist"},
		{name: "access denied", fault: &awstest.Fault{Op: "GetSecretValue", Status: 400, Code: "AccessDeniedException"}, want: "secretsmanager:GetSecretValue"},
		{name: "missing field", value: `{"KPAY_API_KEY":"kpay_live_abc"}`, want: `"KPAY_SECRET_KEY" (absent)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			s := h.slot("payments-live")
			if tt.fault != nil {
				h.aws.Inject(*tt.fault)
			}
			if tt.value != "" {
				if _, err := h.aws.PutJSON(h.ctx, s.SecretID, tt.value); err != nil {
					t.Fatal(err)
				}
			}
			if tt.secret != "" {
				s.SecretID = tt.secret
				h.cfg.Slots[0].SecretID = tt.secret
				rebuilt, err := rotator.New(rotator.Options{Config: h.cfg, Store: h.store, Secrets: mustSecrets(t), Prober: mustProber(t, h.kpay.URL)})
				if err != nil {
					t.Fatal(err)
				}
				h.rot = rebuilt
			}
			h.probe("payments-live", time.Now())
			st := h.state("payments-live")
			if !strings.Contains(st.SourceError, tt.want) {
				t.Errorf("source error = %q, want it to mention %q", st.SourceError, tt.want)
			}
			if st.Health != store.HealthUnknown {
				t.Errorf("health = %s, want unknown (nothing probed)", st.Health)
			}
		})
	}
}

func TestProbeSlot_PairOfOtherEnvironmentFailsWithoutCallingKPay(t *testing.T) {
	h := newHarness(t, `failure_threshold = 1`)
	testPair, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Test)
	h.putPair("payments-live", testPair)
	before := h.kpay.Counters().Total
	h.probe("payments-live", time.Now())
	st := h.state("payments-live")
	if st.Health != store.HealthFailing || st.LastProbe.Outcome != string(healthcheck.WrongEnvironment) {
		t.Errorf("state = %s/%+v, want failing wrong_environment", st.Health, st.LastProbe)
	}
	if got := h.kpay.Counters().Total - before; got != 0 {
		t.Errorf("KPay saw %d requests for a pair that fails local checks, want 0", got)
	}
}

func TestProbeSlot_TransientFaultsDegradeThenRecover(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("checkout-test", now)
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultStatus, Status: 503})
	h.probe("checkout-test", now.Add(time.Minute))
	h.probe("checkout-test", now.Add(2*time.Minute))
	if st := h.state("checkout-test"); st.Health != store.HealthDegraded {
		t.Fatalf("after 503s: %s, want degraded", st.Health)
	}
	h.kpay.ClearFaults()
	// One good answer after a blip is not yet recovery (a flapping KPay
	// would say degraded and recovered at every flap); a few are.
	h.probe("checkout-test", now.Add(3*time.Minute))
	wantKinds(t, h.kinds("checkout-test"), event.KeyDegraded)
	for i := 4; i < 40 && h.state("checkout-test").Health == store.HealthDegraded; i++ {
		h.probe("checkout-test", now.Add(time.Duration(i)*time.Minute))
	}
	wantKinds(t, h.kinds("checkout-test"), event.KeyDegraded, event.KeyRecovered)
}

func TestProbeAll_OneBadSlotNeverStopsTheOthers(t *testing.T) {
	h := newHarness(t, "")
	if _, err := h.aws.PutJSON(h.ctx, h.slot("payments-live").SecretID, `[]`); err != nil {
		t.Fatal(err)
	}
	if err := h.rot.ProbeAll(h.ctx, time.Now, 4); err != nil {
		t.Fatalf("ProbeAll: %v", err)
	}
	if st := h.state("checkout-test"); st.Health != store.HealthHealthy {
		t.Errorf("checkout-test = %s, want healthy", st.Health)
	}
	if st := h.state("payments-live"); st.SourceError == "" {
		t.Errorf("payments-live has no source error")
	}
}

func TestBuildStatus_ShowsMaskedPairsOnly(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	doc, err := rotator.BuildStatus(h.store, h.cfg, now.Add(time.Hour), func(string) time.Time { return now.Add(2 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Slots) != 2 {
		t.Fatalf("%d slots, want 2", len(doc.Slots))
	}
	s := doc.Slots[0]
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
	if s.Pair != pair.Mask() || s.Health != "healthy" || s.Age != "1h00m" || s.NextProbe == nil {
		t.Errorf("slot status = %+v", s)
	}
	if doc.Slots[1].Health != "unknown" || doc.Slots[1].Pair != "" {
		t.Errorf("never-probed slot = %+v", doc.Slots[1])
	}
}

func TestProbeSlot_UnknownSlot(t *testing.T) {
	h := newHarness(t, "")
	err := h.rot.ProbeSlot(h.ctx, "nope", time.Now())
	if err == nil || !strings.Contains(err.Error(), `unknown slot "nope"`) {
		t.Errorf("err = %v", err)
	}
}

func mustSecrets(t *testing.T) *awssecrets.Client {
	c, err := awssecrets.New(context.Background(), awssecrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustProber(t *testing.T, url string) *healthcheck.Prober {
	p, err := healthcheck.New(healthcheck.Options{BaseURL: url, MaxAttempts: 1, RequestsPerMinute: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
