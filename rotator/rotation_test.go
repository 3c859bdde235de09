package rotator_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/event"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
	"kpay-rotator/store"
)

func (h *harness) stage(slot string, p kpay.Pair, at time.Time) string {
	h.t.Helper()
	id := inbox.NewID(at)
	if err := inbox.Write(h.inbox, inbox.Request{ID: id, Slot: slot, Pair: p, StagedAt: at}, -1, -1); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) advance(slot string, at time.Time) {
	h.t.Helper()
	if err := h.rot.AdvanceRotation(h.ctx, slot, at); err != nil {
		h.t.Fatalf("AdvanceRotation: %v", err)
	}
}

func (h *harness) rotation(slot, id string) store.Rotation {
	var r store.Rotation
	_ = h.store.View(func(tx store.Tx) error {
		r, _, _ = tx.Rotation(slot, id)
		return nil
	})
	return r
}

func (h *harness) secretValue(slot string) string {
	v, _, err := h.aws.Current(h.ctx, h.slot(slot).SecretID)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func inboxEmpty(t *testing.T, dir, slot string) {
	t.Helper()
	if _, err := os.Stat(inbox.RequestPath(dir, slot)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged pair still in the inbox (stat err %v)", err)
	}
}

func TestRotation_DashboardRegenerationEndToEnd(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	oldFP := h.state("payments-live").Current

	// The admin regenerates: the old pair dies; probes notice.
	newPair := h.regenerate("payments-live")
	h.probe("payments-live", now.Add(time.Minute))
	h.probe("payments-live", now.Add(2*time.Minute))
	if st := h.state("payments-live"); st.Health != store.HealthFailing {
		t.Fatalf("health = %s, want failing", st.Health)
	}
	if e := h.events()[len(h.events())-1]; e.Kind != event.UnplannedRevocation || !strings.Contains(e.Message, "no rotation is open") {
		t.Errorf("last event %s %q, want unplanned_revocation saying no rotation is open", e.Kind, e.Message)
	}

	id := h.stage("payments-live", newPair, now.Add(3*time.Minute))
	h.advance("payments-live", now.Add(3*time.Minute))

	rot := h.rotation("payments-live", id)
	if rot.State != store.RotationWatching || rot.VersionID == "" || rot.OldFingerprint != oldFP {
		t.Fatalf("rotation = %+v, want watching the old pair", rot)
	}
	if rot.Gap != 2*time.Minute {
		t.Errorf("cutover gap = %v, want 2m (first rejection at +1m, written at +3m)", rot.Gap)
	}
	value := h.secretValue("payments-live")
	if !strings.Contains(value, newPair.APIKey) || !strings.Contains(value, `"DATABASE_URL":"postgres://x"`) {
		t.Errorf("secret after rotation lost the new pair or another field")
	}
	inboxEmpty(t, h.inbox, "payments-live")
	res, err := inbox.ReadResult(h.inbox, "payments-live")
	if err != nil || res.ID != id || res.Outcome != inbox.Written || res.VersionID != rot.VersionID || res.Gap != "2m0s" {
		t.Errorf("result = %+v, %v", res, err)
	}
	st := h.state("payments-live")
	if st.Current != newPair.Fingerprint() || st.Health != store.HealthHealthy {
		t.Errorf("slot after rotation: current %s health %s", st.Current, st.Health)
	}
	// The daemon's own write is not drift.
	h.probe("payments-live", now.Add(4*time.Minute))
	// The old pair is dead: the retired probe completes the rotation.
	if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rot := h.rotation("payments-live", id); rot.State != store.RotationDone {
		t.Errorf("rotation state = %s, want done", rot.State)
	}
	wantKinds(t, h.kinds("payments-live"), event.UnplannedRevocation, event.KeyRotated, event.KeyRecovered, event.OldKeyRevoked)
	if _, retired := h.follow.take(); len(retired) != 1 {
		t.Errorf("the write asked for %d probes of the retired pair, want 1", len(retired))
	}
	for _, e := range h.events() {
		if e.Kind == event.KeyRotated && e.Fields["cutover_gap"] != "2m0s" {
			t.Errorf("key_rotated fields = %v, want cutover_gap 2m0s", e.Fields)
		}
	}
}

func (h *harness) regenerate(slot string) kpay.Pair {
	h.t.Helper()
	p, err := h.kpay.Regenerate(h.apps[slot].ID, h.slot(slot).Environment)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestRotation_BadPairsAreRejectedWithNothingWritten(t *testing.T) {
	type setup func(h *harness) kpay.Pair
	tests := []struct {
		name   string
		slot   string
		pair   setup
		reason string
	}{
		{"live pair in a test slot", "checkout-test", func(h *harness) kpay.Pair {
			p, _ := h.kpay.Pair(h.apps["checkout-test"].ID, kpay.Live)
			return p
		}, "other environment"},
		{"test pair in a live slot", "payments-live", func(h *harness) kpay.Pair {
			p, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Test)
			return p
		}, "other environment"},
		{"mixed prefixes", "payments-live", func(h *harness) kpay.Pair {
			live, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
			test, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Test)
			return kpay.Pair{APIKey: live.APIKey, SecretKey: test.SecretKey}
		}, "sk_ prefix"},
		{"another application's pair", "payments-live", func(h *harness) kpay.Pair {
			other := h.kpay.CreateApplication("other")
			p, _ := h.kpay.Pair(other.ID, kpay.Live)
			return p
		}, "belongs to KPay application"},
		{"an already dead pair", "payments-live", func(h *harness) kpay.Pair {
			p := h.regenerate("payments-live")
			h.regenerate("payments-live")
			return p
		}, "KPay rejects the new pair"},
		{"control characters", "payments-live", func(h *harness) kpay.Pair {
			p, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
			return kpay.Pair{APIKey: p.APIKey, SecretKey: kpay.NewSecret(p.SecretKey.Reveal()[:20] + "\x1b[31m" + p.SecretKey.Reveal()[20:])}
		}, "characters KPay never issues"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			now := time.Now()
			h.probe(tt.slot, now)
			before := h.secretValue(tt.slot)
			puts := h.aws.Calls("PutSecretValue")
			id := h.stage(tt.slot, tt.pair(h), now)
			h.advance(tt.slot, now.Add(time.Second))

			rot := h.rotation(tt.slot, id)
			if rot.State != store.RotationRejected || !strings.Contains(rot.Reason, tt.reason) {
				t.Fatalf("rotation = %s %q, want rejected mentioning %q", rot.State, rot.Reason, tt.reason)
			}
			if n := h.aws.Calls("PutSecretValue") - puts; n != 0 {
				t.Errorf("%d writes to Secrets Manager for a rejected pair", n)
			}
			if h.secretValue(tt.slot) != before {
				t.Error("secret changed")
			}
			inboxEmpty(t, h.inbox, tt.slot)
			res, err := inbox.ReadResult(h.inbox, tt.slot)
			if err != nil || res.ID != id || res.Outcome != inbox.Rejected || res.Reason != rot.Reason {
				t.Errorf("result = %+v, %v", res, err)
			}
			kinds := h.kinds(tt.slot)
			if len(kinds) == 0 || kinds[len(kinds)-1] != event.RotationRejected {
				t.Errorf("events = %v, want rotation_rejected last", kinds)
			}
		})
	}
}

// The pair the secret already holds, staged again, is a mistake and not a
// rotation: refused, with nothing journaled and no alert.
func TestRotation_TheCurrentPairAgainIsRefused(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	current, _ := h.kpay.Pair(h.apps["payments-live"].ID, kpay.Live)
	requests := h.kpay.Counters().Total
	id := h.stage("payments-live", current, now)
	h.advance("payments-live", now.Add(time.Second))
	if rot := h.rotation("payments-live", id); rot.ID != "" {
		t.Errorf("a refused pair was journaled: %+v", rot)
	}
	inboxEmpty(t, h.inbox, "payments-live")
	res, err := inbox.ReadResult(h.inbox, "payments-live")
	if err != nil || res.ID != id || res.Outcome != inbox.Refused || !strings.Contains(res.Reason, "already holds") {
		t.Errorf("result = %+v, %v; want refused, already holds", res, err)
	}
	if n := h.kpay.Counters().Total - requests; n != 0 {
		t.Errorf("refusing cost %d KPay requests, want 0", n)
	}
	wantKinds(t, h.kinds("payments-live"))
}

func TestRotation_GarbageInboxFileIsRejectedAndRemoved(t *testing.T) {
	h := newHarness(t, "")
	path := inbox.RequestPath(h.inbox, "payments-live")
	if err := os.WriteFile(path, []byte("kpay_live_x\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.advance("payments-live", time.Now())
	inboxEmpty(t, h.inbox, "payments-live")
	wantKinds(t, h.kinds("payments-live"), event.RotationRejected)
	if res, err := inbox.ReadResult(h.inbox, "payments-live"); err != nil || res.Outcome != inbox.Rejected || !strings.Contains(res.Reason, "malformed") {
		t.Errorf("result = %+v, %v", res, err)
	}
}

func TestRotation_KPayDownKeepsThePairStaged(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	newPair := h.regenerate("payments-live")
	h.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultStatus, Status: 503})
	id := h.stage("payments-live", newPair, now)
	h.advance("payments-live", now)
	if rot := h.rotation("payments-live", id); rot.State != store.RotationStaged || rot.LastError == "" {
		t.Fatalf("with KPay down: %s (%q), want staged with an error", rot.State, rot.LastError)
	}
	if _, err := os.Stat(inbox.RequestPath(h.inbox, "payments-live")); err != nil {
		t.Fatalf("staged pair dropped while KPay was down: %v", err)
	}
	h.kpay.ClearFaults()
	h.advance("payments-live", now.Add(time.Minute))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Errorf("after KPay is back: %s, want watching", rot.State)
	}
}

func TestRotation_WriteFailuresRetryThenStallThenSucceed(t *testing.T) {
	h := newHarness(t, `stall_after = "1m"`)
	now := time.Now()
	h.probe("payments-live", now)
	newPair := h.regenerate("payments-live")
	h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Status: 400, Code: "AccessDeniedException"})
	id := h.stage("payments-live", newPair, now)
	for _, at := range []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 3 * time.Minute} {
		h.advance("payments-live", now.Add(at))
	}
	rot := h.rotation("payments-live", id)
	if rot.State != store.RotationVerified || rot.WriteAttempts < 3 || !strings.Contains(rot.LastError, "secretsmanager:PutSecretValue") {
		t.Fatalf("rotation = %s after %d attempts (%q)", rot.State, rot.WriteAttempts, rot.LastError)
	}
	stalled := 0
	for _, e := range h.events() {
		if e.Kind == event.RotationStalled {
			stalled++
			if !strings.Contains(e.Action, "secretsmanager:PutSecretValue") {
				t.Errorf("rotation_stalled action %q does not name the IAM action", e.Action)
			}
		}
	}
	if stalled != 1 {
		t.Errorf("rotation_stalled raised %d times, want 1", stalled)
	}
	h.aws.ClearFaults()
	h.advance("payments-live", now.Add(10*time.Minute))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Errorf("after IAM fixed: %s, want watching", rot.State)
	}
}

func TestRotation_MissingSecret(t *testing.T) {
	for _, create := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "create_if_missing"}[create], func(t *testing.T) {
			extra := ""
			if create {
				extra = "create_if_missing = true"
			}
			h := newHarness(t, "")
			// A third slot whose secret does not exist yet.
			app := h.kpay.CreateApplication("new")
			pair, _ := h.kpay.Pair(app.ID, kpay.Live)
			// Its application is known only from the config: nothing has
			// answered for it yet.
			h.rebuild(`[[slot]]
name = "new-live"
environment = "live"
secret_id = "prod/new/kpay"
application_id = "` + app.ID + `"
` + extra)
			id := h.stage("new-live", pair, time.Now())
			h.advance("new-live", time.Now())
			rot := h.rotation("new-live", id)
			if !create {
				if rot.State != store.RotationVerified || !strings.Contains(rot.LastError, "create_if_missing = true") {
					t.Errorf("rotation = %s %q", rot.State, rot.LastError)
				}
				return
			}
			if rot.State != store.RotationDone {
				t.Fatalf("rotation = %s %q, want done (nothing to retire)", rot.State, rot.LastError)
			}
			if v := h.secretValue("new-live"); !strings.Contains(v, pair.APIKey) {
				t.Error("created secret lacks the pair")
			}
		})
	}
}

func TestRotation_VanishedInboxFile(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	newPair := h.regenerate("payments-live")
	h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Status: 500, Code: "InternalServiceError"})
	id := h.stage("payments-live", newPair, now)
	h.advance("payments-live", now)
	if rot := h.rotation("payments-live", id); rot.State != store.RotationVerified {
		t.Fatalf("state = %s, want verified", rot.State)
	}
	// A reboot clears the tmpfs inbox.
	if err := inbox.Remove(h.inbox, "payments-live"); err != nil {
		t.Fatal(err)
	}
	h.aws.ClearFaults()
	h.advance("payments-live", now.Add(time.Hour))
	rot := h.rotation("payments-live", id)
	if rot.State != store.RotationRejected || !strings.Contains(rot.Reason, "stage it again") {
		t.Errorf("rotation = %s %q, want rejected asking to stage again", rot.State, rot.Reason)
	}
	kinds := h.kinds("payments-live")
	if kinds[len(kinds)-1] != event.RotationRejected {
		t.Errorf("events = %v", kinds)
	}
}

func TestRotation_WriteThatLandedBeforeACrashIsNotRepeated(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	newPair := h.regenerate("payments-live")
	h.aws.Inject(awstest.Fault{Op: "PutSecretValue", Status: 500, Code: "InternalServiceError"})
	id := h.stage("payments-live", newPair, now)
	h.advance("payments-live", now)
	h.aws.ClearFaults()
	// The put lands but the daemon dies before recording it: simulate by
	// writing the same value outside, then resuming.
	h.putPair("payments-live", newPair)
	puts := h.aws.Calls("PutSecretValue")
	h.probe("payments-live", now.Add(time.Hour)) // a scheduled pass resumes it
	if n := h.aws.Calls("PutSecretValue") - puts; n != 0 {
		t.Errorf("%d more puts after the write had landed, want 0", n)
	}
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Errorf("rotation = %s, want watching", rot.State)
	}
	for _, k := range h.kinds("payments-live") {
		if k == event.SecretChangedExternally {
			t.Error("the daemon's own write was taken for drift")
		}
	}
}

func TestRotation_SecondStageWhileInFlightIsRefused(t *testing.T) {
	h := newHarness(t, "")
	newPair := h.regenerate("payments-live")
	h.stage("payments-live", newPair, time.Now())
	err := inbox.Write(h.inbox, inbox.Request{ID: inbox.NewID(time.Now()), Slot: "payments-live", Pair: newPair}, -1, -1)
	if !errors.Is(err, inbox.ErrAlreadyStaged) {
		t.Errorf("second stage = %v, want ErrAlreadyStaged", err)
	}
}

// TestRotation_CarriesItsStateThroughAPass counts the store's transactions:
// a hand-over reads the slot once (besides the pass's look at the journal)
// and commits twice (verified, written); a routine probe reads twice (its
// tracking half and its verdict) and commits at most once.
func TestRotation_CarriesItsStateThroughAPass(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)

	views, updates := h.transactions(func() { h.probe("payments-live", now.Add(time.Minute)) })
	if views > 2 || updates > 1 {
		t.Errorf("a routine probe opened %d read and %d write transactions, want at most 2 and 1", views, updates)
	}

	id := h.stage("payments-live", h.regenerate("payments-live"), now.Add(2*time.Minute))
	views, updates = h.transactions(func() {
		if err := h.rot.AdvanceRotations(h.ctx, func() time.Time { return now.Add(2 * time.Minute) }); err != nil {
			t.Fatal(err)
		}
	})
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Fatalf("rotation %s is %s, want watching", id, rot.State)
	}
	if views > 2 || updates != 2 {
		t.Errorf("a hand-over opened %d read and %d write transactions, want at most 2 and exactly 2", views, updates)
	}
}
