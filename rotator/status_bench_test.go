package rotator_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// statusBench is n slots in a bbolt file, as a daemon that has probed
// them all holds them: a current pair with its last probe each, and a
// revoked previous pair for every tenth.
type statusBench struct {
	cfg   *config.Config
	st    store.Store
	sched *rotator.Scheduler
	now   time.Time
}

func newStatusBench(b *testing.B, n int, probeSchedule string) *statusBench {
	b.Helper()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var src strings.Builder
	fmt.Fprintf(&src, "[daemon]\nstate_dir = %q\ninbox_dir = %q\n[defaults]\nprobe_schedule = %q\n", b.TempDir(), b.TempDir(), probeSchedule)
	for i := range n {
		fmt.Fprintf(&src, "[[slot]]\nname = \"slot-%05d\"\nenvironment = \"live\"\nsecret_id = \"prod/slot-%05d\"\n", i, i)
	}
	cfg, err := config.Parse([]byte(src.String()), filepath.Join(b.TempDir(), "config.toml"))
	if err != nil {
		b.Fatal(err)
	}
	st, err := bboltstore.Open(filepath.Join(b.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	err = st.Update(func(tx store.Tx) error {
		for i, s := range cfg.Slots {
			fp := fmt.Sprintf("fp-%05d", i)
			probe := store.ProbeRecord{At: now.Add(-time.Minute), Outcome: "healthy", Status: 200, Latency: 40 * time.Millisecond, Attempts: 1}
			if err := tx.PutPair(store.PairRecord{Slot: s.Name, Fingerprint: fp, Mask: "kpay_live_…" + fp[3:], Environment: "live",
				Born: now.Add(-40 * 24 * time.Hour), BornSource: "created_date", VersionID: "v-" + fp, FirstSeen: now.Add(-40 * 24 * time.Hour), Role: store.RoleCurrent}); err != nil {
				return err
			}
			if i%10 == 0 {
				if err := tx.PutPair(store.PairRecord{Slot: s.Name, Fingerprint: "old-" + fp, Mask: "kpay_live_…old", Environment: "live",
					Born: now.Add(-130 * 24 * time.Hour), Role: store.RoleRevoked, RetiredAt: now.Add(-41 * 24 * time.Hour), RevokedAt: now.Add(-3 * 24 * time.Hour)}); err != nil {
					return err
				}
			}
			if err := tx.RecordProbe(s.Name, fp, probe); err != nil {
				return err
			}
			if err := tx.PutSlot(store.SlotState{Name: s.Name, Environment: "live", SecretID: s.SecretID, Current: fp, VersionID: "v-" + fp,
				Health: store.HealthHealthy, Age: store.AgeFresh, HealthSince: now.Add(-time.Hour), LastProbe: &probe}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	secrets, err := awssecrets.New(context.Background(), awssecrets.Options{Region: "eu-west-1"})
	if err != nil {
		b.Fatal(err)
	}
	prober, err := healthcheck.New(healthcheck.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(prober.Close)
	rot, err := rotator.New(rotator.Options{Config: cfg, Store: st, Secrets: secrets, Prober: prober})
	if err != nil {
		b.Fatal(err)
	}
	sched, err := rotator.NewScheduler(rot, rotator.SchedulerOptions{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	return &statusBench{cfg: cfg, st: st, sched: sched, now: now}
}

// BenchmarkBuildStatus builds the whole status document from the store,
// next probe times included, as the daemon did for every /v1/status, at
// 1,000 and 10,000 slots (explicit cron and auto-paced schedules).
//
//	go test -run '^$' -bench BuildStatus -benchmem ./rotator
func BenchmarkBuildStatus(b *testing.B) {
	for _, sched := range []string{"*/5 * * * *", "auto"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("schedule=%s/slots=%d", strings.ReplaceAll(sched, " ", "_"), n), func(b *testing.B) {
				sb := newStatusBench(b, n, sched)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := rotator.BuildStatus(sb.st, sb.cfg, sb.now, sb.sched.Next); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStatusCache is the daemon's /v1/status since the cache: a
// request with nothing committed since the last one (a burst, or
// `rotate` polling), one after a commit to one slot, and one after a
// reload (every line read again), at 1,000 and 10,000 slots.
//
//	go test -run '^$' -bench StatusCache -benchmem ./rotator
func BenchmarkStatusCache(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		sb := newStatusBench(b, n, "auto")
		for _, tt := range []struct {
			name       string
			invalidate string
			all        bool
		}{{"unchanged", "", false}, {"one-slot-committed", "slot-00007", false}, {"reloaded", "", true}} {
			b.Run(fmt.Sprintf("%s/slots=%d", tt.name, n), func(b *testing.B) {
				var c rotator.StatusCache
				if _, err := c.Status(sb.st, sb.cfg, sb.now, sb.sched.Next); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					switch {
					case tt.all:
						c.Invalidate("")
					case tt.invalidate != "":
						c.Invalidate(tt.invalidate)
					}
					if _, err := c.Status(sb.st, sb.cfg, sb.now, sb.sched.Next); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
