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

	"kpay-rotator/event"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// TestCrash_KillDashNineAtEveryRotationStep kills the daemon (SIGKILL, from
// a failpoint compiled into a test build) at each step of a rotation,
// restarts it, and checks the outcome is exactly as if nothing happened.
func TestCrash_KillDashNineAtEveryRotationStep(t *testing.T) {
	points := []string{rotator.FailAfterStaged, rotator.FailAfterVerified, rotator.FailBeforePut, rotator.FailAfterPut, rotator.FailBeforeInboxDrop}
	const runs = 2
	for _, point := range points {
		for run := 1; run <= runs; run++ {
			t.Run(fmt.Sprintf("%s/%d", point, run), func(t *testing.T) { crashAt(t, point) })
		}
	}
}

func crashAt(t *testing.T, point string) {
	ctx := context.Background()
	f := newFixture(t)
	const secretID = "prod/payments/kpay"
	p := f.startBin(failBinPath, []string{"KPAY_ROTATOR_FAILPOINTS=" + point})
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	versions, err := f.aws.VersionCount(ctx, secretID)
	if err != nil {
		t.Fatal(err)
	}
	newPair := f.regenerate("payments-live")
	if _, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live", "--no-wait"); code != 0 {
		t.Fatalf("stage: exit %d: %s", code, stderr)
	}
	p.wait(20 * time.Second)
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("daemon did not die at %s by SIGKILL: %v\n%s", point, p.cmd.ProcessState, p.log())
	}

	// Restart without the failpoint: the rotation must finish.
	p2 := f.start()
	eventually(t, "rotation finished", func() bool {
		s := slotOf(f.status(), "payments-live")
		return s.Pair == newPair.Mask() && s.Rotation != nil && s.Rotation.State == "done"
	})
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(10 * time.Second); code != 0 {
		t.Fatalf("restarted daemon exit %d", code)
	}

	after, err := f.aws.VersionCount(ctx, secretID)
	if err != nil {
		t.Fatal(err)
	}
	if after != versions+1 {
		t.Errorf("secret has %d versions, want %d: exactly one new version", after, versions+1)
	}
	value := f.secret(secretID)
	if !strings.Contains(value, newPair.APIKey) || !strings.Contains(value, newPair.SecretKey.Reveal()) || !strings.Contains(value, `"DATABASE_URL":"postgres://app@db/app"`) {
		t.Errorf("secret does not hold the new pair with its other field intact")
	}
	entries, _ := os.ReadDir(f.inboxDir())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pair") {
			t.Errorf("inbox still holds %s", e.Name())
		}
	}
	st, err := bboltstore.Open(filepath.Join(f.stateDir(), bboltstore.FileName), bboltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[event.Kind]int{}
	_ = st.View(func(tx store.Tx) error {
		evs, _ := tx.Events(0, 0)
		for _, e := range evs {
			seen[e.Kind]++
		}
		rots, _ := tx.Rotations("payments-live", 0)
		if len(rots) != 1 || rots[0].State != store.RotationDone {
			t.Errorf("journal = %+v, want one rotation, done", rots)
		}
		return nil
	})
	for _, k := range []event.Kind{event.KeyRotated, event.OldKeyRevoked} {
		if seen[k] < 1 {
			t.Errorf("event %s missing after a crash at %s (events %v)", k, point, seen)
		}
	}
	if seen[event.SecretChangedExternally] > 0 || seen[event.RotationRejected] > 0 {
		t.Errorf("crash at %s produced %v", point, seen)
	}
}
