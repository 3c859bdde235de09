package rotator_test

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"sync"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
)

// openWindow does what kpay-rotator stage does on a terminal before it
// asks for the pair.
func (h *harness) openWindow(slot string, at time.Time) string {
	h.t.Helper()
	id := inbox.NewID(at)
	if err := inbox.OpenWindow(h.inbox, inbox.Window{ID: id, Slot: slot, OpenedAt: at, OpenedBy: "alice@ops-1"}, -1, -1); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) stageFor(slot, id string, p kpay.Pair, at time.Time) {
	h.t.Helper()
	if err := inbox.Write(h.inbox, inbox.Request{ID: id, Slot: slot, Pair: p, StagedAt: at}, -1, -1); err != nil {
		h.t.Fatal(err)
	}
}

// The planned order: stage opens the rotation, then the admin regenerates
// and pastes. The rejections in between are expected: no alert, but the
// outage is measured from the first of them.
func TestRotation_PlannedWindowRaisesNoAlarmAndMeasuresTheOutage(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	id := h.openWindow("payments-live", now.Add(10*time.Second))
	h.advance("payments-live", now.Add(10*time.Second))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationOpen || rot.OpenedBy != "alice@ops-1" {
		t.Fatalf("journal after the window opened: %+v, want open, by alice", rot)
	}

	newPair := h.regenerate("payments-live")
	h.probe("payments-live", now.Add(20*time.Second))
	h.probe("payments-live", now.Add(30*time.Second))
	st := h.state("payments-live")
	if st.Health != store.HealthFailing || !st.FailingQuiet {
		t.Fatalf("rejected during the window: health %s quiet %v, want failing, quietly", st.Health, st.FailingQuiet)
	}
	if confirms, _ := h.follow.take(); len(confirms) != 0 {
		t.Errorf("confirmations asked during an open rotation: %v; the rejection is expected, none are needed", confirms)
	}
	wantKinds(t, h.kinds("payments-live"))

	doc, err := rotator.BuildStatus(h.store, h.cfg, now.Add(35*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Slots {
		if s.Name == "payments-live" && (s.Rotation == nil || s.Rotation.State != "open" || s.FailingSince == nil || !s.FailingSince.Equal(now.Add(20*time.Second).UTC())) {
			t.Errorf("status during the window: rotation %+v failing since %v; want open, failing since the first rejection", s.Rotation, s.FailingSince)
		}
	}

	h.stageFor("payments-live", id, newPair, now.Add(50*time.Second))
	h.advance("payments-live", now.Add(50*time.Second))
	rot := h.rotation("payments-live", id)
	if rot.State != store.RotationWatching || rot.Gap != 30*time.Second || !rot.OpenedAt.Equal(now.Add(10*time.Second)) {
		t.Fatalf("rotation = %+v; want watching, a 30s gap (first rejection +20s, written +50s), opened at +10s", rot)
	}
	if _, err := inbox.ReadWindow(h.inbox, "payments-live"); err == nil {
		t.Errorf("the window file outlived its rotation")
	}
	wantKinds(t, h.kinds("payments-live"), event.KeyRotated, event.KeyRecovered)
	if st := h.state("payments-live"); st.Health != store.HealthHealthy || st.FailingQuiet {
		t.Errorf("after the write: %s quiet %v, want healthy", st.Health, st.FailingQuiet)
	}
}

// What a rejection raises, by how far a rotation is under way.
func TestProbeSlot_RejectionIsClassifiedByTheRotation(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness, now time.Time)
		want  []event.Kind
	}{
		{"nothing open: unplanned revocation", func(*harness, time.Time) {}, []event.Kind{event.UnplannedRevocation}},
		{"window open: expected, no alert", func(h *harness, now time.Time) {
			h.openWindow("payments-live", now)
			h.advance("payments-live", now)
		}, nil},
		{"window file not journaled yet: expected, no alert", func(h *harness, now time.Time) {
			h.openWindow("payments-live", now)
		}, nil},
		{"window open past stall_after: closed for this, so it alerts", func(h *harness, now time.Time) {
			h.openWindow("payments-live", now.Add(-10*time.Minute))
			h.advance("payments-live", now.Add(-10*time.Minute))
			h.advance("payments-live", now)
		}, []event.Kind{event.RotationStalled, event.UnplannedRevocation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			now := time.Now()
			h.probe("payments-live", now.Add(-20*time.Minute))
			tt.setup(h, now)
			h.regenerate("payments-live")
			h.probe("payments-live", now.Add(time.Minute))
			if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(time.Minute+2*time.Second)); err != nil {
				t.Fatal(err)
			}
			if st := h.state("payments-live"); st.Health != store.HealthFailing {
				t.Fatalf("health %s, want failing", st.Health)
			}
			wantKinds(t, h.kinds("payments-live"), tt.want...)
		})
	}
}

// A staged pair Secrets Manager will not take yet: the old pair's
// rejection is expected (rotation_stalled speaks for the outage).
func TestProbeSlot_RejectionWhileAStagedPairWaitsIsExpected(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Status: 500, Code: "InternalServiceError", Count: 100})
	newPair := h.regenerate("payments-live")
	h.stage("payments-live", newPair, now.Add(time.Second))
	h.advance("payments-live", now.Add(time.Second))
	h.probe("payments-live", now.Add(10*time.Second))
	h.probe("payments-live", now.Add(20*time.Second))
	if st := h.state("payments-live"); st.Health != store.HealthFailing || !st.FailingQuiet {
		t.Fatalf("health %s quiet %v, want failing, quietly", st.Health, st.FailingQuiet)
	}
	wantKinds(t, h.kinds("payments-live"))
}

// A window nobody fills alerts once past stall_after, saying whether
// payments are failing; cancelling it closes the alert, and the failure it
// hid is then reported as key_failing (planned, but abandoned).
func TestRotation_WindowStallsThenIsCancelled(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	id := h.openWindow("payments-live", now)
	h.advance("payments-live", now)
	h.regenerate("payments-live")
	h.probe("payments-live", now.Add(30*time.Second))
	h.probe("payments-live", now.Add(40*time.Second))
	h.advance("payments-live", now.Add(119*time.Second))
	wantKinds(t, h.kinds("payments-live"))

	h.advance("payments-live", now.Add(2*time.Minute))
	h.advance("payments-live", now.Add(3*time.Minute)) // once only
	wantKinds(t, h.kinds("payments-live"), event.RotationStalled)
	stall := h.events()[len(h.events())-1]
	for _, want := range []string{"open for 2m", "alice@ops-1", "no new pair", "payments using secret prod/payments/kpay are failing"} {
		if !strings.Contains(stall.Message, want) {
			t.Errorf("stall message %q lacks %q", stall.Message, want)
		}
	}
	if !strings.Contains(stall.Action, "kpay-rotator stage --cancel payments-live") || stall.Condition != "rotation" {
		t.Errorf("stall event %+v: want the cancel command and the rotation condition", stall)
	}

	if err := inbox.CloseWindow(h.inbox, "payments-live"); err != nil {
		t.Fatal(err)
	}
	h.advance("payments-live", now.Add(4*time.Minute))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationCancelled {
		t.Fatalf("rotation after stage gave up: %s, want cancelled", rot.State)
	}
	if confirms, _ := h.follow.take(); len(confirms) != 1 {
		t.Errorf("cancelling asked for %d confirmations, want 1 (to report a pair regenerated meanwhile)", len(confirms))
	}
	h.probe("payments-live", now.Add(4*time.Minute+2*time.Second))
	wantKinds(t, h.kinds("payments-live"), event.RotationStalled, event.RotationCancelled, event.KeyFailing)
	evs := h.events()
	if c := evs[len(evs)-2]; len(c.Resolves) != 1 || c.Resolves[0] != "rotation" {
		t.Errorf("rotation_cancelled resolves %v, want [rotation]", c.Resolves)
	}
}

// A pair pasted into Secrets Manager by hand after an outage has its
// cutover gap measured too: first rejection to the version's creation.
func TestProbeSlot_ManualPasteRecordsTheCutoverGap(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now.Add(-time.Hour))
	newPair := h.regenerate("payments-live")
	firstRejection := time.Now().Add(-40 * time.Second)
	h.probe("payments-live", firstRejection)
	h.putPair("payments-live", newPair) // CreatedDate: now, by the emulator's clock
	h.probe("payments-live", time.Now().Add(time.Second))

	var drift event.Event
	for _, e := range h.events() {
		if e.Kind == event.SecretChangedExternally {
			drift = e
		}
	}
	gap, err := time.ParseDuration(drift.Fields["cutover_gap"])
	if err != nil || gap < 39*time.Second || gap > 45*time.Second {
		t.Fatalf("secret_changed_externally cutover_gap %q, want about 40s (first rejection to the paste)", drift.Fields["cutover_gap"])
	}
	if rec := h.pair("payments-live", newPair.Fingerprint()); rec.CutoverGap.Round(100*time.Millisecond) != gap {
		t.Errorf("pair record gap %s, want %s", rec.CutoverGap, gap)
	}
	if st := h.state("payments-live"); st.Health != store.HealthHealthy {
		t.Errorf("after the paste: %s, want healthy", st.Health)
	}
}

// Thousands of probes of a flapping KPay (30 % 5xx, 10 % timeouts, some
// 429): slots may turn degraded, never failing, and no confirmation is
// spent (only a rejection asks for one).
func TestProbeSlot_FlappingKPayNeverFails(t *testing.T) {
	h := newHarness(t, "")
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	// A fake clock for the prober: each probe is minutes after the last,
	// so neither the budget nor the cooldown after timeouts (at most 2
	// minutes) holds the next one back; only the attempt timeouts take
	// real time.
	p, err := healthcheck.New(healthcheck.Options{BaseURL: h.kpay.URL, Timeout: 120 * time.Millisecond, AttemptTimeout: 60 * time.Millisecond,
		MaxAttempts: 1, RequestsPerMinute: 6, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	secrets, _ := awssecrets.New(h.ctx, awssecrets.Options{})
	h.rot, err = rotator.New(rotator.Options{Config: h.cfg, Store: h.store, Secrets: secrets, Prober: p, Followups: h.follow})
	if err != nil {
		t.Fatal(err)
	}
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultStatus, Status: 503, Probability: 0.3})
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultHang, Probability: 0.15})
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultRateLimit, RetryAfter: time.Second, Probability: 0.1})
	const probes = 1500
	degraded := false
	for i := range probes {
		mu.Lock()
		clock = clock.Add(3 * time.Minute)
		mu.Unlock()
		if err := h.rot.ProbeSlot(h.ctx, "payments-live", now()); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		st := h.state("payments-live")
		if st.Health == store.HealthFailing {
			t.Fatalf("probe %d: failing on a flapping KPay (last probe %+v)", i, st.LastProbe)
		}
		degraded = degraded || st.Health == store.HealthDegraded
	}
	c := h.kpay.Counters()
	if c.Faults < probes/4 || !degraded {
		t.Fatalf("%d of %d requests faulted (degraded seen: %v); the run did not flap", c.Faults, c.Total, degraded)
	}
	if confirms, _ := h.follow.take(); len(confirms) != 0 {
		t.Errorf("%d confirmations asked by transient answers, want none", len(confirms))
	}
	degradedEvents := 0
	for _, k := range h.kinds("payments-live") {
		if k == event.KeyFailing || k == event.UnplannedRevocation {
			t.Fatalf("a flapping KPay raised %s", k)
		}
		if k == event.KeyDegraded {
			degradedEvents++
		}
	}
	// Degraded once (or, between long calm stretches, a very few times):
	// not at every flap.
	if degradedEvents > 3 {
		t.Errorf("key_degraded raised %d times over %d flapping probes, want at most a few", degradedEvents, probes)
	}
	t.Logf("%d probes, %d requests faulted, by status %v", probes, c.Faults, c.ByStatus)
}

// A pair pasted into stage after its rotation was cancelled meanwhile (by
// a stall, a paste by hand, stage --cancel elsewhere) is still taken: it
// is the pair the admin just regenerated.
func TestRotation_PairForACancelledWindowIsStillTaken(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	id := h.openWindow("payments-live", now)
	h.advance("payments-live", now)
	if err := inbox.CloseWindow(h.inbox, "payments-live"); err != nil {
		t.Fatal(err)
	}
	h.advance("payments-live", now.Add(time.Second)) // cancelled
	fresh := h.regenerate("payments-live")
	h.stageFor("payments-live", id, fresh, now.Add(2*time.Second))
	h.advance("payments-live", now.Add(2*time.Second))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Fatalf("rotation = %s, want watching: the late pair must be written", rot.State)
	}
	inboxEmpty(t, h.inbox, "payments-live")
	if !strings.Contains(h.secretValue("payments-live"), fresh.APIKey) {
		t.Error("the pair pasted after the cancellation is not in the secret")
	}
}

// Rejections that began during a rotation are planned, even when the
// rotation is cancelled before they reach the threshold.
func TestProbeSlot_RejectionsBegunInARotationAreNeverUnplanned(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	h.openWindow("payments-live", now)
	h.advance("payments-live", now)
	h.regenerate("payments-live")
	h.probe("payments-live", now.Add(10*time.Second)) // one rejection, in the window
	if err := inbox.CloseWindow(h.inbox, "payments-live"); err != nil {
		t.Fatal(err)
	}
	h.advance("payments-live", now.Add(20*time.Second)) // cancelled; asks to confirm
	if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(22*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantKinds(t, h.kinds("payments-live"), event.RotationCancelled, event.KeyFailing)
	if e := h.events()[len(h.events())-1]; !strings.Contains(e.Message, "during a rotation") {
		t.Errorf("key_failing message %q does not say the rotation ran out", e.Message)
	}
}

// A failure kept quiet during a rotation is said once the rotation ends,
// on the next rejection; never on a transient answer.
func TestProbeSlot_QuietFailureIsSaidOnARejectionOnly(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	h.openWindow("payments-live", now)
	h.advance("payments-live", now)
	h.regenerate("payments-live")
	h.probe("payments-live", now.Add(10*time.Second))
	h.probe("payments-live", now.Add(20*time.Second))
	if st := h.state("payments-live"); !st.FailingQuiet {
		t.Fatal("the failure during the window is not quiet")
	}
	if err := inbox.CloseWindow(h.inbox, "payments-live"); err != nil {
		t.Fatal(err)
	}
	h.advance("payments-live", now.Add(30*time.Second))
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultStatus, Status: 503, Count: 1})
	h.probe("payments-live", now.Add(40*time.Second))
	wantKinds(t, h.kinds("payments-live"), event.RotationCancelled)
	h.probe("payments-live", now.Add(50*time.Second))
	wantKinds(t, h.kinds("payments-live"), event.RotationCancelled, event.KeyFailing)
	if e := h.events()[len(h.events())-1]; e.Fields["status"] != "401" {
		t.Errorf("key_failing fields %v, want the 401 that said it", e.Fields)
	}
}

// A pair pasted by hand over a failing one is judged on its own: a bad
// paste turns failing and alerts, a good one closes the alert.
func TestProbeSlot_PastedPairIsJudgedOnItsOwn(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	fresh := h.regenerate("payments-live")
	h.probe("payments-live", now.Add(10*time.Second))
	if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(12*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantKinds(t, h.kinds("payments-live"), event.UnplannedRevocation)

	// A typo'd paste: KPay rejects it too, which is news.
	typo := kpay.Pair{APIKey: fresh.APIKey, SecretKey: kpay.NewSecret(fresh.SecretKey.Reveal()[:20] + "0000" + fresh.SecretKey.Reveal()[24:])}
	h.putPair("payments-live", typo)
	h.probe("payments-live", now.Add(20*time.Second))
	if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(22*time.Second)); err != nil {
		t.Fatal(err)
	}
	kinds := h.kinds("payments-live")
	if last := kinds[len(kinds)-1]; last != event.UnplannedRevocation && last != event.KeyFailing {
		t.Fatalf("a rejected paste raised %v, want a failing alert for it", kinds)
	}
	// The right pair: recovered.
	h.putPair("payments-live", fresh)
	h.probe("payments-live", now.Add(30*time.Second))
	kinds = h.kinds("payments-live")
	if kinds[len(kinds)-1] != event.KeyRecovered {
		t.Errorf("events %v, want key_recovered once the pasted pair works", kinds)
	}
}

// A stage that opens a new window over an older one replaces it.
func TestRotation_ANewerWindowReplacesTheOlder(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	first := h.openWindow("payments-live", now)
	h.advance("payments-live", now)
	second := h.openWindow("payments-live", now.Add(time.Second))
	h.advance("payments-live", now.Add(time.Second))
	if a, b := h.rotation("payments-live", first), h.rotation("payments-live", second); a.State != store.RotationCancelled || b.State != store.RotationOpen {
		t.Fatalf("first %s, second %s; want cancelled, open", a.State, b.State)
	}
	if w, err := inbox.ReadWindow(h.inbox, "payments-live"); err != nil || w.ID != second {
		t.Errorf("window file %+v, %v; want the second's", w, err)
	}
}

// Only KPay's own answer proves a pair alive or dead: a 403 page from a
// WAF in front of KPay says nothing about a retired pair, KPay's 403 does
// (DESIGN §3), and an HTML 401 never rejects a current or staged pair.
func TestProbe_OnlyKPayShapedAnswersAreVerdicts(t *testing.T) {
	t.Run("retired pair", func(t *testing.T) {
		h := newHarness(t, "")
		now := time.Now()
		h.probe("payments-live", now)
		other := h.kpay.CreateApplication("other")
		otherPair, _ := h.kpay.Pair(other.ID, kpay.Live)
		h.putPair("payments-live", otherPair) // the old pair stays valid
		h.look("payments-live", now.Add(time.Minute))
		old := h.events()[0].Fields["previous_pair"]
		h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultNonJSON, Status: 403, Count: 1})
		if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(25*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, k := range h.kinds("payments-live") {
			if k == event.OldKeyStillValid {
				t.Fatalf("a WAF's 403 page made %s 'still valid'", old)
			}
		}
		h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultForbidden, Count: 1})
		if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(26*time.Hour)); err != nil {
			t.Fatal(err)
		}
		kinds := h.kinds("payments-live")
		if kinds[len(kinds)-1] != event.OldKeyStillValid {
			t.Errorf("KPay's own 403 did not count as proof of life: %v", kinds)
		}
	})
	t.Run("current pair", func(t *testing.T) {
		h := newHarness(t, "")
		now := time.Now()
		h.probe("payments-live", now)
		h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultNonJSON, Status: 401, Count: 2})
		h.probe("payments-live", now.Add(time.Minute))
		h.probe("payments-live", now.Add(2*time.Minute))
		if st := h.state("payments-live"); st.Health == store.HealthFailing || st.Rejections != 0 {
			t.Errorf("HTML 401s counted as rejections: %s, %d rejections", st.Health, st.Rejections)
		}
	})
	t.Run("staged pair", func(t *testing.T) {
		h := newHarness(t, "")
		now := time.Now()
		h.probe("payments-live", now)
		fresh := h.regenerate("payments-live")
		h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultNonJSON, Status: 401, APIKey: fresh.APIKey, Count: 1})
		id := h.stage("payments-live", fresh, now)
		h.advance("payments-live", now)
		if rot := h.rotation("payments-live", id); rot.State != store.RotationStaged {
			t.Fatalf("a staged pair met an HTML 401: %s, want still staged", rot.State)
		}
		h.advance("payments-live", now.Add(time.Minute)) // past the back-off
		if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
			t.Errorf("after KPay answered: %s, want written and watching", rot.State)
		}
	})
}

// Another application's pair pasted by hand: the alert says payments go
// to that application (they do not fail), points at the previous version,
// and never tells anyone to revoke the slot's own, still working pair.
func TestProbeSlot_AnotherApplicationsPairPastedByHand(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	other := h.kpay.CreateApplication("Someone else")
	otherPair, _ := h.kpay.Pair(other.ID, kpay.Live)
	h.putPair("payments-live", otherPair)
	h.look("payments-live", now.Add(time.Minute)) // KPay still takes the old pair: seen at a look
	h.probe("payments-live", now.Add(time.Minute))
	if err := h.rot.ConfirmSlot(h.ctx, "payments-live", now.Add(time.Minute+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	var failing event.Event
	for _, e := range h.events() {
		if e.Kind == event.KeyFailing {
			failing = e
		}
	}
	for _, want := range []string{"belongs to another KPay application", other.ID, "now go to that application"} {
		if !strings.Contains(failing.Message, want) {
			t.Errorf("key_failing message %q lacks %q", failing.Message, want)
		}
	}
	if strings.Contains(failing.Message, " fail") || !strings.Contains(failing.Action, "update-secret-version-stage") {
		t.Errorf("key_failing says payments fail, or does not say how to put the previous version back: %q / %q", failing.Message, failing.Action)
	}
	if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e := h.events()[len(h.events())-1]
	if e.Kind != event.OldKeyStillValid || strings.Contains(e.Action, "revoke the old pair") || !strings.Contains(e.Action, "do not revoke") {
		t.Errorf("about the slot's own pair: %s, action %q; want old_key_still_valid that says not to revoke it", e.Kind, e.Action)
	}
}

// A deleted secret is its own state and event, with the step that brings
// it back; it resolves when the secret is readable again. One outage of
// Secrets Manager is one event, whatever its changing error text.
func TestProbeSlot_MissingSecretAndStableReasons(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	sm := h.aws.Client()
	id := aws.String(h.slot("payments-live").SecretID)
	if _, err := sm.DeleteSecret(h.ctx, &secretsmanager.DeleteSecretInput{SecretId: id, RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	h.look("payments-live", now.Add(time.Minute))
	h.look("payments-live", now.Add(2*time.Minute)) // said once
	wantKinds(t, h.kinds("payments-live"), event.SecretMissing)
	e := h.events()[len(h.events())-1]
	if !strings.Contains(e.Action, "aws secretsmanager restore-secret --secret-id prod/payments/kpay") || e.Severity != event.Critical {
		t.Errorf("secret_missing: %s %q, want critical with restore-secret", e.Severity, e.Action)
	}
	doc, _ := rotator.BuildStatus(h.store, h.cfg, now.Add(2*time.Minute), nil)
	if doc.Slots[0].SourceState != "missing" {
		t.Errorf("status source_state %q, want missing", doc.Slots[0].SourceState)
	}
	// Deleted for good: the same condition, a new reason and a new step.
	if _, err := sm.DeleteSecret(h.ctx, &secretsmanager.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	h.look("payments-live", now.Add(3*time.Minute))
	wantKinds(t, h.kinds("payments-live"), event.SecretMissing, event.SecretMissing)
	if e := h.events()[len(h.events())-1]; !strings.Contains(e.Action, "recreate") {
		t.Errorf("after a delete without recovery: action %q, want recreate", e.Action)
	}
	// Back (the emulator has no restore-secret: recreated with its pair).
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
	h.putPair("payments-live", pair)
	h.look("payments-live", now.Add(4*time.Minute))
	wantKinds(t, h.kinds("payments-live"), event.SecretMissing, event.SecretMissing, event.SecretReadable)

	// Five failing passes (the SDK retries each read), each with its own
	// request ids in the text.
	h.aws.Inject(awstest.Fault{Op: "GetSecretValue", Status: 500, Code: "InternalServiceError"})
	h.aws.Inject(awstest.Fault{Op: "DescribeSecret", Status: 500, Code: "InternalServiceError"})
	defer h.aws.ClearFaults()
	for i := range 5 {
		h.look("payments-live", now.Add(time.Duration(5+i)*time.Minute))
	}
	wantKinds(t, h.kinds("payments-live"), event.SecretMissing, event.SecretMissing, event.SecretReadable, event.SecretUnreadable)
}

// Two slots keep their pairs in one secret (different fields). Rotating
// both at once must keep both new pairs: each write starts from the
// other's result, never from the same old value.
func TestRotation_TwoSlotsInOneSecretKeepBothPairs(t *testing.T) {
	h := newHarness(t, "")
	h.rebuild(`
[[slot]]
name = "payments-live-b"
environment = "live"
secret_id = "prod/payments/kpay"
api_key_field = "B_KEY"
secret_key_field = "B_SECRET"
`)
	a, b := h.kpay.CreateApplication("a"), h.kpay.CreateApplication("b")
	h.apps["payments-live"], h.apps["payments-live-b"] = a, b
	pa, _ := h.kpay.Pair(a.ID, kpay.Live)
	pb, _ := h.kpay.Pair(b.ID, kpay.Live)
	if _, err := h.aws.PutJSON(h.ctx, "prod/payments/kpay", fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q,"B_KEY":%q,"B_SECRET":%q}`,
		pa.APIKey, pa.SecretKey.Reveal(), pb.APIKey, pb.SecretKey.Reveal())); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h.probe("payments-live", now)
	h.probe("payments-live-b", now)
	newA, newB := h.regenerate("payments-live"), h.regenerate("payments-live-b")
	h.stage("payments-live", newA, now)
	h.stage("payments-live-b", newB, now)

	// A's write is held at the emulator; B's rotation starts meanwhile.
	release := make(chan struct{})
	held := make(chan struct{})
	h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Count: 1, Hook: func() { close(held); <-release }})
	done := make(chan error, 2)
	go func() { done <- h.rot.AdvanceRotation(h.ctx, "payments-live", now.Add(time.Second)) }()
	<-held
	go func() { done <- h.rot.AdvanceRotation(h.ctx, "payments-live-b", now.Add(time.Second)) }()
	time.Sleep(200 * time.Millisecond) // room for B to race A, were it allowed to
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	value, _, err := h.aws.Current(h.ctx, "prod/payments/kpay")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]kpay.Pair{"A": newA, "B": newB} {
		if !strings.Contains(value, p.APIKey) || !strings.Contains(value, p.SecretKey.Reveal()) {
			t.Errorf("slot %s's new pair is not in the shared secret after both rotations", name)
		}
	}
}

// Writes whose outcome the daemon could not see: it must recognise its
// own version, finish the rotation once, and say what happened, never
// loop on a token Secrets Manager refuses for good, never take its own
// write for someone else's.
func TestRotation_WritesWhoseAnswerWasLostOrOverwritten(t *testing.T) {
	setup := func(t *testing.T) (*harness, kpay.Pair, string, time.Time) {
		h := newHarness(t, "")
		now := time.Now()
		h.probe("payments-live", now)
		fresh := h.regenerate("payments-live")
		h.probe("payments-live", now.Add(time.Second)) // the outage starts
		id := h.stage("payments-live", fresh, now.Add(10*time.Second))
		return h, fresh, id, now
	}
	other := func(h *harness) kpay.Pair {
		app := h.kpay.CreateApplication("other")
		p, _ := h.kpay.Pair(app.ID, kpay.Live)
		return p
	}
	t.Run("answer lost, then a pass reads the secret", func(t *testing.T) {
		h, _, id, now := setup(t)
		h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Landed: true, Status: 500, Code: "InternalServiceError", Count: 3})
		h.advance("payments-live", now.Add(10*time.Second)) // the SDK's three attempts all "fail"
		h.probe("payments-live", now.Add(11*time.Second))   // within the retry back-off
		rot := h.rotation("payments-live", id)
		if rot.State != store.RotationWatching || rot.OldFingerprint == "" || rot.OutageStart.IsZero() {
			t.Fatalf("rotation = %s, old %q, outage %v; want watching the old pair with the gap measured", rot.State, rot.OldFingerprint, rot.OutageStart)
		}
		wantKinds(t, h.kinds("payments-live"), event.KeyRotated) // not secret_changed_externally
	})
	t.Run("someone writes between the put and the read-back", func(t *testing.T) {
		h, _, id, now := setup(t)
		theirs := other(h)
		h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Landed: true, Count: 1, Hook: func() { h.putPair("payments-live", theirs) }})
		h.advance("payments-live", now.Add(10*time.Second))
		rot := h.rotation("payments-live", id)
		if rot.State != store.RotationWatching || rot.VersionID != rot.Token {
			t.Fatalf("rotation = %s version %q, want done with its own version %s", rot.State, rot.VersionID, rot.Token)
		}
		var rotated event.Event
		for _, e := range h.events() {
			if e.Kind == event.KeyRotated {
				rotated = e
			}
		}
		if !strings.Contains(rotated.Message, "someone else wrote the secret again") {
			t.Errorf("key_rotated %q does not say what happened (events %v)", rotated.Message, h.kinds("payments-live"))
		}
		puts := h.aws.Calls("PutSecretValue")
		h.probe("payments-live", now.Add(20*time.Second)) // adopts theirs
		if n := h.aws.Calls("PutSecretValue") - puts; n != 0 {
			t.Errorf("%d more writes after the rotation was done", n)
		}
		if st := h.state("payments-live"); st.Current != theirs.Fingerprint() {
			t.Errorf("the pass did not adopt what the secret holds now")
		}
	})
	t.Run("answer lost, someone writes, the daemon retries", func(t *testing.T) {
		h, _, id, now := setup(t)
		theirs := other(h)
		h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Landed: true, Status: 500, Code: "InternalServiceError", Count: 3})
		h.advance("payments-live", now.Add(10*time.Second))
		h.putPair("payments-live", theirs)
		h.advance("payments-live", now.Add(time.Minute)) // past the back-off
		if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching || rot.VersionID != rot.Token {
			t.Fatalf("rotation = %s version %q (last error %q); want written as its own version, no loop", rot.State, rot.VersionID, rot.LastError)
		}
	})
}

// A slot whose application nothing knows (no application_id, its pair
// dead from the start) takes no pair of an arbitrary application: only
// one the admin confirmed with --application.
func TestRotation_UnknownApplicationNeedsTheAdminsWord(t *testing.T) {
	h := newHarness(t, "")
	app := h.kpay.CreateApplication("fresh")
	dead, _ := h.kpay.Pair(app.ID, kpay.Live)
	h.rebuild("[[slot]]\nname = \"fresh-live\"\nenvironment = \"live\"\nsecret_id = \"prod/fresh/kpay\"\n")
	h.apps["fresh-live"] = app
	h.putPair("fresh-live", dead)
	fresh := h.regenerate("fresh-live") // the pair in the secret never worked
	now := time.Now()
	h.probe("fresh-live", now)

	id := h.stage("fresh-live", fresh, now)
	h.advance("fresh-live", now)
	rot := h.rotation("fresh-live", id)
	if rot.State != store.RotationRejected || !strings.Contains(rot.Reason, "--application "+app.ID) {
		t.Fatalf("rotation = %s %q, want rejected, asking for --application %s", rot.State, rot.Reason, app.ID)
	}
	other := h.kpay.CreateApplication("other")
	otherPair, _ := h.kpay.Pair(other.ID, kpay.Live)
	for _, tt := range []struct {
		pair  kpay.Pair
		app   string
		state store.RotationState
	}{
		{otherPair, app.ID, store.RotationRejected}, // confirmed app, pair of another
		{fresh, app.ID, store.RotationWatching},
	} {
		id := inbox.NewID(now)
		if err := inbox.Write(h.inbox, inbox.Request{ID: id, Slot: "fresh-live", Pair: tt.pair, StagedAt: now, Application: tt.app}, -1, -1); err != nil {
			t.Fatal(err)
		}
		h.advance("fresh-live", now)
		if rot := h.rotation("fresh-live", id); rot.State != tt.state {
			t.Errorf("pair of %s confirmed as %s: %s %q, want %s", tt.pair.Mask(), tt.app, rot.State, rot.Reason, tt.state)
		}
	}
}
