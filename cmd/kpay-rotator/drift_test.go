package main

import (
	"strings"
	"testing"
	"time"
)

// With drift checks off the probe path, a routine probe calls Secrets
// Manager not at all, and a pair regenerated in the dashboard and pasted
// into the console by hand is still adopted at once: the first rejection
// of the dead pair makes the daemon look at the secret. The drift
// schedule is set to once a year, and no signal is sent, so that only
// the rejection can.
func TestDrift_PasteByHandIsAdoptedAtTheRejection(t *testing.T) {
	f := newFixture(t)
	hook, secret := newHookReceiver(t)
	slot := f.shippedConfig(1, hook, secret, `probe_schedule = "@every 2s"`, `jitter = "0s"`, `drift_schedule = "0 0 1 1 *"`)[0]
	p := f.start()
	f.waitTracked(1)
	eventually(t, "healthy", func() bool { return slotOf(f.status(), slot).Health == "healthy" })

	get0, desc0, k0 := f.aws.Calls("GetSecretValue"), f.aws.Calls("DescribeSecret"), f.kpay.Counters().Total
	time.Sleep(5 * time.Second)
	if probes := f.kpay.Counters().Total - k0; probes < 2 {
		t.Fatalf("%d probes in 5 s at @every 2s", probes)
	}
	if get, desc := f.aws.Calls("GetSecretValue")-get0, f.aws.Calls("DescribeSecret")-desc0; get != 0 || desc != 0 {
		t.Errorf("routine probes called Secrets Manager: %d GetSecretValue, %d DescribeSecret; want none", get, desc)
	}

	fresh := f.regenerateLive(slot)
	f.putPair("prod/"+slot, fresh)
	eventually(t, "the pasted pair adopted and healthy", func() bool {
		s := slotOf(f.status(), slot)
		return s.Pair == fresh.Mask() && s.Health == "healthy"
	})
	log := p.log()
	if !strings.Contains(log, "event=secret_changed_externally") {
		t.Errorf("the paste was not reported as a change outside kpay-rotator:\n%s", log)
	}
	for _, bad := range []string{"event=key_failing", "event=unplanned_revocation"} {
		if strings.Contains(log, bad) {
			t.Errorf("a pair pasted at once by hand raised %s:\n%s", bad, log)
		}
	}

	// Pasted only after payments were seen failing: the next probe's
	// rejection finds it, and the gap from the first rejection is kept.
	later := f.regenerateLive(slot)
	eventually(t, "failing", func() bool { return slotOf(f.status(), slot).Health == "failing" })
	time.Sleep(1500 * time.Millisecond)
	f.putPair("prod/"+slot, later)
	eventually(t, "the late paste adopted and healthy", func() bool {
		s := slotOf(f.status(), slot)
		return s.Pair == later.Mask() && s.Health == "healthy"
	})
	if gap, err := time.ParseDuration(slotOf(f.status(), slot).CutoverGap); err != nil || gap < time.Second || gap > time.Minute {
		t.Errorf("cutover_gap %q, want the seconds from the first rejection to the paste", slotOf(f.status(), slot).CutoverGap)
	}
}
