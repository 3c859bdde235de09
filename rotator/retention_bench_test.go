package rotator_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// BenchmarkBuildStatus_AfterManyEvents measures the state of 1,000 slots
// after 100,000 events, with the default retention and with none: the
// database file's size, and a status built from it read-only, as
// `kpay-rotator status` does when no daemon runs.
//
//	go test -run '^$' -bench BuildStatus_AfterManyEvents -benchtime 20x ./rotator
//
// Each event comes with two probes of its slot's current pair (200 per
// pair in all, a probe every 8 h or so), dated 30 s apart over 35 days.
// Every slot holds its current pair and old ones: one (a slot rotated
// once), 13 (the most the retired-pair rule leaves with the defaults: 3
// watched, 10 records of pairs done with), or 50 (what piles up without
// it).
func BenchmarkBuildStatus_AfterManyEvents(b *testing.B) {
	const slots, events = 1000, 100_000
	forever := time.Duration(math.MaxInt64)
	none := store.Retention{Events: math.MaxInt, EventAge: forever, ProbeHistory: math.MaxInt, ProbeAge: forever}
	for _, c := range []struct {
		name string
		keep store.Retention
		old  int
	}{
		{"retention=default/old_pairs=1", store.Retention{}, 1},
		{"retention=default/old_pairs=13", store.Retention{}, 13},
		{"retention=none/old_pairs=1", none, 1},
		{"retention=none/old_pairs=50", none, 50},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), bboltstore.FileName)
			now := fillState(b, path, c.keep, slots, c.old, events)
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			cfg := slotsConfig(b, slots)
			st, err := bboltstore.Open(path, bboltstore.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var kept int
			_ = st.View(func(tx store.Tx) error {
				evs, err := tx.Events(0, 0)
				kept = len(evs)
				return err
			})
			for b.Loop() {
				doc, err := rotator.BuildStatus(st, cfg, now, nil)
				if err != nil || len(doc.Slots) != slots || doc.Slots[slots-1].Pair == "" {
					b.Fatalf("status: %v (%d slots)", err, len(doc.Slots))
				}
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
			b.ReportMetric(float64(kept), "events_kept")
		})
	}
}

// fillState writes what a daemon of n slots, each with its current pair
// and old revoked ones, has written after events events, 100 to a
// transaction, and returns the time of the last.
func fillState(b *testing.B, path string, keep store.Retention, n, old, events int) time.Time {
	b.Helper()
	db, err := bboltstore.Open(path, bboltstore.Options{Retention: keep})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	name := func(i int) string { return fmt.Sprintf("slot-%04d", i) }
	fp := func(i int, gen string) string { return fmt.Sprintf("%064x", i) + gen }
	if err := db.Update(func(tx store.Tx) error {
		for i := range n {
			cur := store.PairRecord{Slot: name(i), Fingerprint: fp(i, "b"), Mask: "kpay_live_…9f2c", Environment: "live",
				Born: at, BornSource: store.BornSecretsManager, VersionID: "v2", FirstSeen: at, Role: store.RoleCurrent, LastAccepted: at}
			for k := range old {
				seen := at.Add(-time.Duration(k+1) * 90 * 24 * time.Hour)
				if err := tx.PutPair(store.PairRecord{Slot: name(i), Fingerprint: fp(i, fmt.Sprintf("a%02d", k)), Mask: "kpay_live_…11aa", Environment: "live",
					Born: seen, BornSource: store.BornSecretsManager, VersionID: "v1", FirstSeen: seen,
					Role: store.RoleRevoked, RetiredAt: seen.Add(90 * 24 * time.Hour), RevokedAt: seen.Add(90*24*time.Hour + time.Minute)}); err != nil {
					return err
				}
			}
			for _, err := range []error{tx.PutPair(cur), tx.PutSlot(store.SlotState{
				Name: name(i), Environment: "live", SecretID: "prod/" + name(i), Current: cur.Fingerprint, VersionID: "v2",
				Health: store.HealthHealthy, Age: store.AgeFresh, HealthSince: at,
			})} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for done := 0; done < events; {
		if err := db.Update(func(tx store.Tx) error {
			for range 100 {
				i := done % n
				e := event.New(event.KeyDegraded, at, name(i), name(i)+": KPay probes of pair kpay_live_…9f2c keep failing without rejecting it (HTTP 503); the pair itself may be fine")
				e.Environment, e.SecretID, e.Pair, e.Fingerprint, e.Condition = "live", "prod/"+name(i), "kpay_live_…9f2c", fp(i, "b"), "health"
				e.Action = "check KPay's status and this host's network; nothing to change on the key yet"
				e.Fields = map[string]string{"outcome": "transient", "age": "41d", "status": "503"}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
				for k := range 2 {
					p := store.ProbeRecord{At: at.Add(time.Duration(k) * time.Second), Outcome: "transient", Status: 503, Latency: 120 * time.Millisecond, Attempts: 3,
						Detail: "KPay answered 503: service unavailable"}
					if err := tx.RecordProbe(name(i), fp(i, "b"), p); err != nil {
						return err
					}
				}
				done++
				at = at.Add(30 * time.Second)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return at
}

func slotsConfig(b *testing.B, n int) *config.Config {
	b.Helper()
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, "[[slot]]\nname = \"slot-%04d\"\nenvironment = \"live\"\nsecret_id = \"prod/slot-%04d\"\n", i, i)
	}
	cfg, err := config.Parse([]byte(s.String()), filepath.Join(b.TempDir(), "config.toml"))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}
