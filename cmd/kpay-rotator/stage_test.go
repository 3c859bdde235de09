package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
)

func lines(p kpay.Pair) string { return p.APIKey + "\n" + p.SecretKey.Reveal() + "\n" }

func (f *fixture) inboxDir() string { return filepath.Join(f.dir, "inbox") }

func (f *fixture) secret(id string) string {
	f.t.Helper()
	v, _, err := f.aws.Current(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func TestStage_WritesThePairAndWaitsForTheOutcome(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	newPair := f.regenerate("payments-live")

	stdout, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live", "--born", "2026-11-01")
	if code != 0 {
		t.Fatalf("stage exit %d\nstdout: %s\nstderr: %s\ndaemon: %s", code, stdout, stderr, p.log())
	}
	for _, want := range []string{"staged " + newPair.Mask(), "written: prod/payments/kpay now holds " + newPair.Mask(), "watches it until KPay rejects it"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stage output lacks %q:\n%s", want, stdout)
		}
	}
	value := f.secret("prod/payments/kpay")
	if !strings.Contains(value, newPair.APIKey) || !strings.Contains(value, "postgres://app@db/app") {
		t.Errorf("secret lost the new pair or its other field")
	}
	eventually(t, "snapshot shows the rotation", func() bool { return slotOf(f.status(), "payments-live").Rotation != nil })
	s := slotOf(f.status(), "payments-live")
	if s.Pair != newPair.Mask() || s.BornSource != "admin" || s.Born.Format(time.DateOnly) != "2026-11-01" {
		t.Errorf("slot after stage = %+v", s)
	}
	if s.Rotation == nil || (s.Rotation.State != "watching" && s.Rotation.State != "done") {
		t.Errorf("rotation in status = %+v", s.Rotation)
	}
	out, _, _ := f.cli("status")
	if !strings.Contains(out, "└ rotation") {
		t.Errorf("status table lacks the rotation line:\n%s", out)
	}
	entries, _ := os.ReadDir(f.inboxDir())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pair") {
			t.Errorf("inbox still holds %s", e.Name())
		}
	}
}

func TestStage_JSONInputAndNoWait(t *testing.T) {
	f := newFixture(t)
	f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "checkout-test").Health == "healthy" })
	newPair := f.regenerate("checkout-test")
	in := fmt.Sprintf(`{"api_key": %q, "secret_key": %q}`, newPair.APIKey, newPair.SecretKey.Reveal())
	stdout, stderr, code := f.cliIn(in, "stage", "--no-wait", "checkout-test")
	if code != 0 || !strings.Contains(stdout, "signalled") {
		t.Fatalf("stage --no-wait exit %d: %s %s", code, stdout, stderr)
	}
	eventually(t, "pair written", func() bool { return slotOf(f.status(), "checkout-test").Pair == newPair.Mask() })
}

// A pair staged by a stage that could not signal the daemon (another
// user, another pid namespace) is taken all the same: the daemon watches
// its inbox, and an idle daemon no longer looks at it on a timer.
func TestStage_PairTakenWithoutASignal(t *testing.T) {
	f := newFixture(t)
	p := f.start("--log-level", "debug")
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "checkout-test").Health == "healthy" })
	if strings.Contains(p.log(), "cannot watch the inbox") {
		t.Fatalf("the daemon does not watch its inbox:\n%s", p.log())
	}
	newPair := f.regenerate("checkout-test")
	if err := inbox.Write(f.inboxDir(), inbox.Request{ID: inbox.NewID(time.Now()), Slot: "checkout-test", Pair: newPair, StagedAt: time.Now()}, -1, -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pair written", func() bool { return slotOf(f.status(), "checkout-test").Pair == newPair.Mask() })
	// Taken on the change, not by a timer (which an idle daemon with a
	// watched inbox no longer has).
	if !strings.Contains(p.log(), "inbox changed: taking staged pairs") {
		t.Errorf("the pair was not taken on the inbox change:\n%s", p.log())
	}
}

func TestStage_DryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	newPair := f.regenerate("payments-live")
	before := f.secret("prod/payments/kpay")
	stdout, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "KPay accepts") || !strings.Contains(stdout, f.apps["payments-live"].ID) {
		t.Errorf("dry run of a good pair: exit %d\n%s%s", code, stdout, stderr)
	}
	other := f.kpay.CreateApplication("other")
	otherPair, _ := f.kpay.Pair(other.ID, kpay.Live)
	if _, stderr, code := f.cliIn(lines(otherPair), "stage", "payments-live", "--dry-run"); code != 1 || !strings.Contains(stderr, "wrong_application") {
		t.Errorf("dry run of another app's pair: exit %d\n%s", code, stderr)
	}
	if f.secret("prod/payments/kpay") != before {
		t.Error("dry run changed the secret")
	}
	if entries, _ := os.ReadDir(f.inboxDir()); len(entries) != 0 {
		t.Errorf("dry run left %d files in the inbox", len(entries))
	}
}

func TestStage_BadInput(t *testing.T) {
	f := newFixture(t)
	f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	current, _ := f.kpay.Pair(f.apps["payments-live"].ID, kpay.Live)
	testPair, _ := f.kpay.Pair(f.apps["payments-live"].ID, kpay.Test)
	before := f.secret("prod/payments/kpay")
	tests := []struct {
		name  string
		slot  string
		input string
		code  int
		want  string
	}{
		{"empty input", "payments-live", "", 1, "no input"},
		{"one half missing", "payments-live", current.APIKey + "\n", 1, "only one line"},
		{"three lines", "payments-live", "a\nb\nc\n", 1, "3 lines"},
		{"swapped lines", "payments-live", current.SecretKey.Reveal() + "\n" + current.APIKey + "\n", 1, "swapped"},
		{"garbage", "payments-live", "hello\nworld\n", 1, "fails the local checks"},
		{"control characters", "payments-live", current.APIKey + "\n" + current.SecretKey.Reveal()[:12] + "\x07" + current.SecretKey.Reveal()[12:] + "\n", 1, "characters KPay never issues"},
		{"one megabyte", "payments-live", strings.Repeat("a", 1<<20), 1, "larger than 64 KiB"},
		{"json missing secret", "payments-live", `{"api_key":"` + current.APIKey + `"}`, 1, "no secret_key"},
		{"json unknown field", "payments-live", `{"api_key":"a","secret_key":"b","x":1}`, 1, "not an object with only api_key and secret_key"},
		{"test pair in a live slot", "payments-live", lines(testPair), 1, "other environment"},
		{"the current pair again", "payments-live", lines(current), 1, "already holds"},
		{"unknown slot", "payments-lvie", lines(current), 2, `unknown slot "payments-lvie"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := f.cliIn(tt.input, "stage", tt.slot)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s%s", code, tt.code, tt.want, stdout, stderr)
			}
			if tt.code != 0 && tt.name != "unknown slot" && !strings.Contains(stderr, "nothing was staged") {
				t.Errorf("error does not say nothing was staged: %s", stderr)
			}
			for _, secret := range []string{current.SecretKey.Reveal(), testPair.SecretKey.Reveal()} {
				if strings.Contains(stdout+stderr, secret) {
					t.Error("output leaks the secret")
				}
			}
		})
	}
	if f.secret("prod/payments/kpay") != before {
		t.Error("bad input changed the secret")
	}
	if entries, _ := os.ReadDir(f.inboxDir()); len(entries) != 0 {
		t.Errorf("bad input left %d files in the inbox", len(entries))
	}
}

func TestStage_SecondStageWhileInFlight(t *testing.T) {
	f := newFixture(t)
	// No daemon: the first stage stays in flight.
	first := f.regenerate("payments-live")
	if _, stderr, code := f.cliIn(lines(first), "stage", "payments-live"); code != 1 || !strings.Contains(stderr, "daemon is not running") || !strings.Contains(stderr, "do not stage it again") {
		t.Fatalf("stage with the daemon down: exit %d: %s", code, stderr)
	}
	second := f.regenerate("payments-live")
	if _, stderr, code := f.cliIn(lines(second), "stage", "payments-live"); code != 1 || !strings.Contains(stderr, "already staged") {
		t.Errorf("second stage: exit %d: %s", code, stderr)
	}
	req, err := inbox.Read(f.inboxDir(), "payments-live")
	if err != nil || !req.Pair.Equal(first) {
		t.Fatalf("the staged pair is not the first one (err %v)", err)
	}
	// Nothing lost: the daemon takes it when it starts. (first was killed by
	// the second regeneration, so it is rejected — with that reason.)
	p := f.start()
	eventually(t, "staged pair taken", func() bool {
		s := slotOf(f.status(), "payments-live")
		return s.Rotation != nil && s.Rotation.State == "rejected"
	})
	if r := slotOf(f.status(), "payments-live").Rotation; !strings.Contains(r.Reason, "KPay rejects the new pair") {
		t.Errorf("rejection reason = %q", r.Reason)
	}
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)
}

func TestStage_DaemonDownThenStartWritesIt(t *testing.T) {
	f := newFixture(t)
	newPair := f.regenerate("checkout-test")
	// The daemon never ran, so only the admin can say which KPay
	// application the slot belongs to (its old pair is already dead).
	if _, _, code := f.cliIn(lines(newPair), "stage", "checkout-test", "--application", f.apps["checkout-test"].ID); code != 1 {
		t.Fatalf("stage with daemon down: exit %d, want 1", code)
	}
	f.start()
	eventually(t, "written on start", func() bool { return strings.Contains(f.secret("test/checkout/kpay"), newPair.APIKey) })
	// The outcome is published just after the write lands.
	eventually(t, "outcome published", func() bool {
		res, err := inbox.ReadResult(f.inboxDir(), "checkout-test")
		return err == nil && res.Outcome == inbox.Written
	})
}

func TestRotate_SignalsAndWaitsForTheSlot(t *testing.T) {
	f := newFixture(t)
	if _, stderr, code := f.cli("rotate"); code != 1 || !strings.Contains(stderr, "not running") {
		t.Errorf("rotate with no daemon: exit %d %s", code, stderr)
	}
	f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	f.regenerate("payments-live")
	stdout, stderr, code := f.cli("rotate", "payments-live")
	if code != 0 || !strings.Contains(stdout, "signalled the daemon") || !strings.Contains(stdout, "payments-live: healthy") {
		// one rejection is below failure_threshold: still healthy
		t.Errorf("rotate SLOT: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := f.cli("rotate", "nope"); code != 2 || !strings.Contains(stderr, `unknown slot "nope"`) {
		t.Errorf("rotate unknown slot: exit %d %s", code, stderr)
	}
}
