package rotator_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/rotator"
)

// CheckSchedules refuses what NewScheduler refuses, in the same words,
// without a rotator: check-config runs it.
func TestCheckSchedules_refusesAsNewSchedulerDoes(t *testing.T) {
	h := newHarness(t, "")
	if err := rotator.CheckSchedules(h.cfg, time.Now()); err != nil {
		t.Fatalf("the harness schedules: %v", err)
	}
	secrets, err := awssecrets.New(h.ctx, awssecrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name           string
		probe, retired string
		wantPrefix     string
	}{
		{"probe", "every now and then", "* * * * *", "probe_schedule: "},
		{"retired", "@hourly", "every now and then", `slot payments-live: retired_schedule "every now and then": `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Parse refuses these; a Config built by hand does not.
			bad := *h.cfg
			bad.Slots = slices.Clone(h.cfg.Slots)
			bad.Slots[0].ProbeSchedule, bad.Slots[0].RetiredSchedule = tt.probe, tt.retired
			checkErr := rotator.CheckSchedules(&bad, time.Now())
			rot, err := rotator.New(rotator.Options{Config: &bad, Store: h.store, Secrets: secrets, Prober: mustProber(t, h.kpay.URL)})
			if err != nil {
				t.Fatal(err)
			}
			_, startErr := rotator.NewScheduler(rot, rotator.SchedulerOptions{})
			if checkErr == nil || startErr == nil || checkErr.Error() != startErr.Error() {
				t.Fatalf("CheckSchedules: %v\nNewScheduler:   %v\nwant the same error", checkErr, startErr)
			}
			if got := checkErr.Error(); !strings.HasPrefix(got, tt.wantPrefix) {
				t.Errorf("got %q, want it to start with %q", got, tt.wantPrefix)
			}
		})
	}
}
