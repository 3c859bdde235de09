package main

import (
	"context"
	"strings"
	"testing"

	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
)

// pasteAlone puts pair alone into the secret, as a console paste that
// forgets the other fields does.
func (f *fixture) pasteAlone(secretID string, p kpay.Pair) string {
	f.t.Helper()
	v, err := f.aws.PutJSON(context.Background(), secretID, `{"KPAY_API_KEY":"`+p.APIKey+`","KPAY_SECRET_KEY":"`+p.SecretKey.Reveal()+`"}`)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) versions(secretID string) int {
	f.t.Helper()
	n, err := f.aws.VersionCount(context.Background(), secretID)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// A paste that drops DATABASE_URL is reported by the daemon; repair puts
// the field back from the version that had it, the pair untouched, once.
func TestRepair_PutsBackFieldsAPasteDropped(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	f.waitTracked(2)
	const slot, secretID = "payments-live", "prod/payments/kpay"
	_, before, err := f.aws.Current(context.Background(), secretID)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := f.kpay.Pair(f.apps[slot].ID, kpay.Live)
	f.pasteAlone(secretID, pair)
	if _, errOut, code := f.cli("rotate", slot); code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, errOut)
	}
	eventually(t, "status names the lost field", func() bool {
		s := slotOf(f.status(), slot)
		return len(s.FieldsLost) == 1 && s.FieldsLost[0] == "DATABASE_URL" && s.FieldsLostFrom == before
	})
	p.waitLog("event=secret_fields_lost")
	if out, _, _ := f.cli("status"); !strings.Contains(out, "kpay-rotator repair payments-live --from "+before) {
		t.Errorf("status does not give the repair command:\n%s", out)
	}

	n := f.versions(secretID)
	out, errOut, code := f.cli("repair", slot, "--dry-run")
	if code != 0 || !strings.Contains(out, "would copy DATABASE_URL from version "+before) || !strings.Contains(out, "nothing was written") {
		t.Fatalf("repair --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if f.versions(secretID) != n {
		t.Fatal("--dry-run wrote a version")
	}
	out, errOut, code = f.cli("repair", slot, "--from", before)
	if code != 0 || !strings.Contains(out, "repaired:") || !strings.Contains(out, "DATABASE_URL") {
		t.Fatalf("repair: exit %d\n%s%s", code, out, errOut)
	}
	value, _, _ := f.aws.Current(context.Background(), secretID)
	if !strings.Contains(value, `"DATABASE_URL":"postgres://app@db/app"`) || !strings.Contains(value, pair.SecretKey.Reveal()) {
		t.Errorf("repaired value lacks the field or the pair")
	}
	if strings.Contains(out+errOut, "postgres://") || strings.Contains(out+errOut, pair.SecretKey.Reveal()) {
		t.Error("repair printed a value")
	}
	// Again: nothing left to do, nothing written.
	n = f.versions(secretID)
	if out, _, code := f.cli("repair", slot, "--from", before); code != 0 || !strings.Contains(out, "nothing to repair") {
		t.Errorf("second repair: exit %d %s", code, out)
	}
	if f.versions(secretID) != n {
		t.Error("a repair with nothing to do wrote a version")
	}
	f.cli("rotate", slot)
	eventually(t, "the loss resolved", func() bool { return len(slotOf(f.status(), slot).FieldsLost) == 0 })
	p.waitLog("event=secret_fields_restored")
	if strings.Contains(p.log(), "postgres://") {
		t.Error("a field value reached the log")
	}
}

// repair refuses what it cannot do right, and writes nothing.
func TestRepair_Refusals(t *testing.T) {
	f := newFixture(t)
	const slot, secretID = "payments-live", "prod/payments/kpay"
	pair, _ := f.kpay.Pair(f.apps[slot].ID, kpay.Live)
	f.pasteAlone(secretID, pair)
	n := f.versions(secretID)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"the earlier version lacks the field", []string{"repair", slot, "--field", "REDIS_URL"}, exitFail, "lacks REDIS_URL"},
		{"half of the pair", []string{"repair", slot, "--field", "KPAY_SECRET_KEY"}, exitUsage, "half of the pair"},
		{"unknown slot", []string{"repair", "nope"}, exitUsage, "unknown slot"},
		{"no such version", []string{"repair", slot, "--from", "00000000-0000-4000-8000-000000000000"}, exitFail, "read the version to copy from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := f.cli(tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	// A rotation in flight: its write would race the repair's.
	if err := prepareStageInbox(f.inboxDir()); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Write(f.inboxDir(), inbox.Request{ID: "rot_x", Slot: slot, Pair: pair}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := f.cli("repair", slot); code != exitFail || !strings.Contains(errOut, "a pair is staged") {
		t.Errorf("repair during a rotation: exit %d\n%s%s", code, out, errOut)
	}
	if f.versions(secretID) != n {
		t.Error("a refused repair wrote a version")
	}
}

// stage refuses a secret that Secrets Manager also rotates, before the
// admin regenerates anything, unless the slot opts in.
func TestStage_RefusesASecretSecretsManagerRotates(t *testing.T) {
	f := newFixture(t)
	const lambda = "arn:aws:lambda:eu-west-1:123456789012:function:rotate-kpay"
	f.aws.SetRotation("prod/payments/kpay", lambda)
	p := f.start()
	f.waitTracked(2)
	eventually(t, "status shows the rotation", func() bool {
		return slotOf(f.status(), "payments-live").SecretsManagerRotation == lambda
	})
	p.waitLog("event=secrets_manager_rotation_enabled")
	out, errOut, code := f.cli("stage", "payments-live", "--open")
	if code != exitFail || !strings.Contains(errOut, "Secrets Manager rotation enabled") || !strings.Contains(errOut, "do not regenerate yet") {
		t.Fatalf("stage --open: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := inbox.ReadWindow(f.inboxDir(), "payments-live"); err == nil {
		t.Error("a rotation window was opened")
	}
	// The other slot is not affected.
	if _, errOut, code := f.cli("stage", "checkout-test", "--open"); code != 0 {
		t.Errorf("stage --open of a slot without the Lambda: exit %d %s", code, errOut)
	}
}

// Fields removed on purpose: repair --accept ends the alert and writes
// nothing to the secret.
func TestRepair_AcceptEndsTheAlert(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	f.waitTracked(2)
	const slot, secretID = "payments-live", "prod/payments/kpay"
	pair, _ := f.kpay.Pair(f.apps[slot].ID, kpay.Live)
	f.pasteAlone(secretID, pair)
	f.cli("rotate", slot)
	eventually(t, "the loss reported", func() bool { return len(slotOf(f.status(), slot).FieldsLost) == 1 })
	n := f.versions(secretID)
	if _, _, code := f.cli("repair", slot, "--accept", "--dry-run"); code != exitUsage {
		t.Errorf("--accept with --dry-run: exit %d, want 2", code)
	}
	out, errOut, code := f.cli("repair", slot, "--accept")
	if code != 0 || !strings.Contains(out, "accepted:") {
		t.Fatalf("repair --accept: exit %d\n%s%s", code, out, errOut)
	}
	f.cli("rotate", slot)
	eventually(t, "the loss ended", func() bool { return len(slotOf(f.status(), slot).FieldsLost) == 0 })
	p.waitLog("event=secret_fields_accepted")
	if f.versions(secretID) != n {
		t.Error("--accept wrote to the secret")
	}
}
