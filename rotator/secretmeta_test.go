package rotator_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/store"
)

// pairJSON is a value holding pair in slot's fields plus extra raw JSON
// members ("" for none).
func (h *harness) pairJSON(slot string, pair kpay.Pair, extra string) string {
	s := h.slot(slot)
	v := fmt.Sprintf(`{%q:%q,%q:%q`, s.APIKeyField, pair.APIKey, s.SecretKeyField, pair.SecretKey.Reveal())
	if extra != "" {
		v += "," + extra
	}
	return v + "}"
}

func (h *harness) put(slot, value string) string {
	h.t.Helper()
	vid, err := h.aws.PutJSON(h.ctx, h.slot(slot).SecretID, value)
	if err != nil {
		h.t.Fatal(err)
	}
	return vid
}

func eventsOf(h *harness, k event.Kind) []event.Event {
	var out []event.Event
	for _, e := range h.events() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// A change made outside the daemon that drops fields is said by name, with
// both versions, until a version holds them again; values never appear.
func TestTrack_FieldsLostByAChangeOutside(t *testing.T) {
	const extras = `"DATABASE_URL":"postgres://canary-db","REDIS_URL":"redis://canary-redis","FEATURE":true`
	for _, tc := range []struct {
		name     string
		newPair  bool   // the change also puts a new pair (regenerated)
		after    string // extra members of the changed version
		wantLost []string
	}{
		{"paste drops one field", false, `"REDIS_URL":"redis://canary-redis","FEATURE":true`, []string{"DATABASE_URL"}},
		{"paste of the pair alone drops every other field", false, "", []string{"DATABASE_URL", "FEATURE", "REDIS_URL"}},
		{"a new pair pasted alone", true, "", []string{"DATABASE_URL", "FEATURE", "REDIS_URL"}},
		{"adding a field loses nothing", false, extras + `,"NEW":"x"`, nil},
		{"reordering loses nothing", false, `"FEATURE":true,"REDIS_URL":"redis://canary-redis","DATABASE_URL":"postgres://canary-db"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			now := time.Now()
			pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, "live")
			v1 := h.put("payments-live", h.pairJSON("payments-live", pair, extras))
			h.look("payments-live", now)
			if st := h.state("payments-live"); st.FieldsLost != "" {
				t.Fatalf("fields lost before any change: %s", st.FieldsLost)
			}
			if tc.newPair {
				pair = h.regenerate("payments-live")
			}
			v2 := h.put("payments-live", h.pairJSON("payments-live", pair, tc.after))
			h.look("payments-live", now.Add(time.Minute))
			h.look("payments-live", now.Add(2*time.Minute)) // said once, not per pass

			lost := eventsOf(h, event.SecretFieldsLost)
			st := h.state("payments-live")
			if tc.wantLost == nil {
				if len(lost) != 0 || st.FieldsLost != "" {
					t.Fatalf("fields lost reported: %d events, state %q", len(lost), st.FieldsLost)
				}
				return
			}
			if len(lost) != 1 {
				t.Fatalf("%d secret_fields_lost events, want 1 (kinds %v)", len(lost), h.kinds("payments-live"))
			}
			e := lost[0]
			if e.Severity != event.Critical || e.Condition != "fields" {
				t.Errorf("severity %s condition %q, want critical, fields", e.Severity, e.Condition)
			}
			if e.Fields["fields"] != strings.Join(tc.wantLost, ",") || e.Fields["version_id"] != v2 || e.Fields["previous_version"] != v1 {
				t.Errorf("event fields = %v, want fields %v, version %s, previous %s", e.Fields, tc.wantLost, v2, v1)
			}
			for _, name := range tc.wantLost {
				if !strings.Contains(e.Message, name) {
					t.Errorf("message does not name %s: %s", name, e.Message)
				}
			}
			if !strings.Contains(e.Action, "kpay-rotator repair payments-live --from "+v1) {
				t.Errorf("action %q does not give the repair command", e.Action)
			}
			for _, ev := range h.events() {
				all := ev.Message + ev.Action + fmt.Sprint(ev.Fields)
				if strings.Contains(all, "canary") || strings.Contains(all, pair.SecretKey.Reveal()) {
					t.Fatalf("a value reached event %s: %s", ev.Kind, all)
				}
			}
			if got := store.ParseNames(st.FieldsLost); !slices.Equal(got, tc.wantLost) || st.FieldsLostFrom != v1 {
				t.Errorf("state fields lost %v from %s, want %v from %s", got, st.FieldsLostFrom, tc.wantLost, v1)
			}

			// Putting them back (as repair does) resolves the condition.
			h.put("payments-live", h.pairJSON("payments-live", pair, extras))
			h.look("payments-live", now.Add(3*time.Minute))
			restored := eventsOf(h, event.SecretFieldsRestored)
			if len(restored) != 1 || !slices.Contains(restored[0].Resolves, "fields") {
				t.Fatalf("restored events %+v, want one resolving fields", restored)
			}
			if st := h.state("payments-live"); st.FieldsLost != "" || st.FieldsLostFrom != "" {
				t.Errorf("state after restore: lost %q from %q", st.FieldsLost, st.FieldsLostFrom)
			}
		})
	}
}

// A partial restore keeps the condition for what is still missing; a
// second loss while one is open is said again, naming everything missing.
func TestTrack_FieldsLostPartlyRestoredThenLostAgain(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, "live")
	v1 := h.put("payments-live", h.pairJSON("payments-live", pair, `"A":1,"B":2,"C":3`))
	h.look("payments-live", now)
	h.put("payments-live", h.pairJSON("payments-live", pair, `"C":3`))
	h.look("payments-live", now.Add(time.Minute))
	h.put("payments-live", h.pairJSON("payments-live", pair, `"A":1,"C":3`))
	h.look("payments-live", now.Add(2*time.Minute))
	if st := h.state("payments-live"); st.FieldsLost != store.Names([]string{"B"}) || st.FieldsLostFrom != v1 {
		t.Fatalf("after a partial restore: lost %s from %s, want [B] from %s", st.FieldsLost, st.FieldsLostFrom, v1)
	}
	if n := len(eventsOf(h, event.SecretFieldsRestored)); n != 0 {
		t.Errorf("a partial restore said restored (%d)", n)
	}
	h.put("payments-live", h.pairJSON("payments-live", pair, `"A":1`))
	h.look("payments-live", now.Add(3*time.Minute))
	lost := eventsOf(h, event.SecretFieldsLost)
	if len(lost) != 2 || lost[1].Fields["fields"] != "B,C" {
		t.Fatalf("second loss: %d events, last fields %v, want B,C", len(lost), lost[len(lost)-1].Fields)
	}
}

// The daemon's own rotation keeps every field and is never taken for a
// loss.
func TestRotation_OwnWriteLosesNoFields(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.look("payments-live", now)
	newPair := h.regenerate("payments-live")
	h.stage("payments-live", newPair, now.Add(time.Minute))
	h.advance("payments-live", now.Add(time.Minute))
	h.look("payments-live", now.Add(2*time.Minute))
	h.put("payments-live", h.pairJSON("payments-live", newPair, `"DATABASE_URL":"postgres://x","EXTRA":1`))
	h.look("payments-live", now.Add(3*time.Minute))
	if n := len(eventsOf(h, event.SecretFieldsLost)); n != 0 {
		t.Errorf("%d secret_fields_lost around the daemon's own write", n)
	}
	if st := h.state("payments-live"); !slices.Contains(store.ParseNames(st.FieldNames), "EXTRA") {
		t.Errorf("field names not refreshed after the write: %s", st.FieldNames)
	}
}

// Secrets Manager's own rotation on the secret is said at track time, and
// a staged pair is refused unless the slot opts in.
func TestTrack_SecretsManagerRotationEnabled(t *testing.T) {
	const lambda = "arn:aws:lambda:eu-west-1:123456789012:function:rotate-kpay"
	const slot = "checkout-test" // last in the config: rebuild's extra TOML lands in it
	h := newHarness(t, "")
	now := time.Now()
	h.aws.SetRotation(h.slot(slot).SecretID, lambda)
	gets := h.aws.Calls("GetSecretValue")
	h.probe(slot, now) // nothing known yet: the probe looks first
	h.look(slot, now.Add(time.Minute))
	h.probe("payments-live", now.Add(time.Minute))
	on := eventsOf(h, event.SecretsManagerRotationOn)
	if len(on) != 1 || on[0].Slot != slot || on[0].Severity != event.Warning || !strings.Contains(on[0].Message, lambda) ||
		!strings.Contains(on[0].Action, "cancel-rotate-secret --secret-id test/checkout/kpay") || !strings.Contains(on[0].Action, "allow_secrets_manager_rotation") {
		t.Fatalf("rotation-enabled events %+v, want one warning naming the Lambda and both ways out", on)
	}
	if st := h.state(slot); st.SMRotation != lambda {
		t.Errorf("state SMRotation = %q", st.SMRotation)
	}
	// Each look is one DescribeSecret (which also says whether the
	// rotation is on); the value is read only when the version is new.
	if calls := h.aws.Calls("DescribeSecret"); calls != 3 {
		t.Errorf("DescribeSecret called %d times for 3 looks, want 3", calls)
	}
	if calls := h.aws.Calls("GetSecretValue") - gets; calls != 2 {
		t.Errorf("GetSecretValue called %d times for 2 slots and 3 looks at unchanged secrets, want 2", calls)
	}

	newPair := h.regenerate(slot)
	id := h.stage(slot, newPair, now.Add(2*time.Minute))
	h.advance(slot, now.Add(2*time.Minute))
	if rot := h.rotation(slot, id); rot.State != store.RotationRejected || !strings.Contains(rot.Reason, "Secrets Manager rotation enabled") {
		t.Fatalf("rotation %s %q, want rejected for Secrets Manager rotation", rot.State, rot.Reason)
	}
	if strings.Contains(h.secretValue(slot), newPair.APIKey) {
		t.Fatal("the pair was written despite the Lambda")
	}

	// Opting in lets the same pair through.
	h.rebuild("allow_secrets_manager_rotation = true")
	id = h.stage(slot, newPair, now.Add(3*time.Minute))
	h.advance(slot, now.Add(3*time.Minute))
	if rot := h.rotation(slot, id); rot.State == store.RotationRejected || !strings.Contains(h.secretValue(slot), newPair.APIKey) {
		t.Fatalf("after opting in: rotation %s %q", rot.State, rot.Reason)
	}

	// Turned off, it resolves at the next look (a new configuration).
	h.aws.SetRotation(h.slot(slot).SecretID, "")
	h.rebuild("")
	h.look(slot, now.Add(4*time.Minute))
	off := eventsOf(h, event.SecretsManagerRotationOff)
	if len(off) != 1 || !slices.Contains(off[0].Resolves, "sm_rotation") {
		t.Fatalf("rotation-disabled events %+v, want one resolving sm_rotation", off)
	}
	if st := h.state(slot); st.SMRotation != "" {
		t.Errorf("state SMRotation = %q after it was turned off", st.SMRotation)
	}
}

// An admin's word that the fields were removed on purpose ends the loss
// for the version it names; said for an older version, it is dropped.
func TestTrack_FieldsLostAccepted(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, "live")
	h.put("payments-live", h.pairJSON("payments-live", pair, `"A":1`))
	h.look("payments-live", now)
	v2 := h.put("payments-live", h.pairJSON("payments-live", pair, ""))
	h.look("payments-live", now.Add(time.Minute))

	if err := inbox.WriteAcceptance(h.inbox, inbox.Acceptance{Slot: "payments-live", VersionID: "older", By: "root@host"}, -1, -1); err != nil {
		t.Fatal(err)
	}
	h.look("payments-live", now.Add(2*time.Minute))
	if st := h.state("payments-live"); st.FieldsLost == "" {
		t.Fatal("an acceptance for another version ended the loss")
	}
	if _, err := inbox.ReadAcceptance(h.inbox, "payments-live"); err == nil {
		t.Error("a stale acceptance was left in the inbox")
	}

	if err := inbox.WriteAcceptance(h.inbox, inbox.Acceptance{Slot: "payments-live", VersionID: v2, By: "root@host"}, -1, -1); err != nil {
		t.Fatal(err)
	}
	h.look("payments-live", now.Add(3*time.Minute))
	acc := eventsOf(h, event.SecretFieldsAccepted)
	if len(acc) != 1 || !slices.Contains(acc[0].Resolves, "fields") || !strings.Contains(acc[0].Message, "root@host") || !strings.Contains(acc[0].Message, `"A"`) {
		t.Fatalf("accepted events %+v", acc)
	}
	if st := h.state("payments-live"); st.FieldsLost != "" {
		t.Errorf("still lost after acceptance: %s", st.FieldsLost)
	}
	// The next change is judged against the accepted version.
	h.put("payments-live", h.pairJSON("payments-live", pair, `"B":2`))
	h.look("payments-live", now.Add(4*time.Minute))
	if n := len(eventsOf(h, event.SecretFieldsLost)); n != 1 {
		t.Errorf("%d losses after adding a field to the accepted version, want still 1", n)
	}
}
