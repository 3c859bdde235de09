package etcdstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/event"
	"kpay-rotator/internal/etcdtest"
	"kpay-rotator/store"
	"kpay-rotator/store/etcdstore"
)

// BenchmarkStateSize reports what 1,000 slots keep in etcd at the default
// retention, in its steady state: per slot its state, a current and a
// retired pair with 20 probes each and a finished rotation; 10,000 events
// in the log. "logical" is the keys and values; "db" is etcd's database
// file after compacting the history and defragmenting (what a member
// holds for it); "db-before-compaction" is with every revision written
// on the way. b.N is ignored.
//
//	go test -run '^$' -bench StateSize -benchtime 1x ./store/etcdstore
func BenchmarkStateSize(b *testing.B) {
	c := etcdtest.Start(b, 1)
	cli := dial(b, c)
	s := open(b, cli, etcdstore.Options{Prefix: "/size/"})
	const slots, perUpdate = 1000, 50
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	fp := func(i, j int) string { return fmt.Sprintf("%064x", i*10+j) }
	for base := 0; base < slots; base += perUpdate {
		if err := s.Update(func(tx store.Tx) error {
			for i := base; i < base+perUpdate; i++ {
				name := fmt.Sprintf("slot-%04d", i)
				last := store.ProbeRecord{At: t0, Outcome: "healthy", Status: 200, Latency: 180 * time.Millisecond, Attempts: 1}
				st := store.SlotState{Name: name, Environment: "live", SecretID: "prod/" + name + "/kpay", Current: fp(i, 1),
					VersionID: "a1b2c3d4-5678-90ab-cdef-1234567890ab", ApplicationID: "3f0c9a62-1b7e-4c55-9d3a-6a1f2e8b7c10",
					ApplicationName: name, CompanyID: "c0ffee00-1b7e-4c55-9d3a-6a1f2e8b7c10", Health: store.HealthHealthy,
					Age: store.AgeFresh, HealthSince: t0, LastProbe: &last, NextProbe: t0.Add(time.Minute),
					FieldNames: store.Names([]string{"KPAY_API_KEY", "KPAY_SECRET_KEY", "DATABASE_URL"}), UpdatedAt: t0}
				errs := []error{tx.PutSlot(st)}
				for j, role := range []store.PairRole{store.RoleRetired, store.RoleCurrent} {
					errs = append(errs, tx.PutPair(store.PairRecord{Slot: name, Fingerprint: fp(i, j), Mask: "kpay_live_…9f2c",
						Environment: "live", Born: t0, BornSource: store.BornAdmin, VersionID: "a1b2c3d4-5678-90ab-cdef-1234567890ab",
						FirstSeen: t0, Role: role, LastAccepted: t0}))
				}
				errs = append(errs, tx.PutRotation(store.Rotation{ID: "20261128T100000Z-" + name, Slot: name, State: store.RotationDone,
					NewFingerprint: fp(i, 1), NewMask: "kpay_live_…9f2c", OldFingerprint: fp(i, 0), OldMask: "kpay_live_…1a2b",
					Token: strings.Repeat("t", 36), VersionID: "a1b2c3d4-5678-90ab-cdef-1234567890ab", OpenedAt: t0, StagedAt: t0,
					VerifiedAt: t0, WrittenAt: t0, DoneAt: t0, OpenedBy: "ops@host"}))
				for _, e := range errs {
					if e != nil {
						return e
					}
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	// Probe history: 20 per pair, one group commit of 50 probes per
	// Update, as the daemon writes them.
	for round := range store.DefaultProbeHistory {
		for base := 0; base < slots; base += perUpdate / 2 {
			if err := s.Update(func(tx store.Tx) error {
				for i := base; i < base+perUpdate/2; i++ {
					for j := range 2 {
						p := store.ProbeRecord{At: t0.Add(time.Duration(round) * time.Minute), Outcome: "healthy", Status: 200, Latency: 180 * time.Millisecond, Attempts: 1}
						if err := tx.RecordProbe(fmt.Sprintf("slot-%04d", i), fp(i, j), p); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for base := 0; base < store.DefaultEvents; base += 100 {
		if err := s.Update(func(tx store.Tx) error {
			for i := base; i < base+100; i++ {
				name := fmt.Sprintf("slot-%04d", i%slots)
				e := event.New(event.KeyFailing, t0, name, name+": KPay rejects the current pair kpay_live_…9f2c (401: invalid API key); payments using prod/"+name+"/kpay fail since 2026-01-01 10:00:00 UTC")
				e.Action = "generate a new pair in the KPay dashboard, then kpay-rotator stage " + name
				e.Fingerprint, e.Fields = fp(i, 1), map[string]string{"outcome": "rejected", "status": "401"}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}

	ctx := context.Background()
	var logical, keys int64
	for from := "/size/"; ; {
		resp, err := cli.Get(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd("/size/")), clientv3.WithLimit(1000))
		if err != nil {
			b.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			logical += int64(len(kv.Key) + len(kv.Value))
		}
		keys += int64(len(resp.Kvs))
		if !resp.More {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	ep := c.Endpoints()[0]
	st, err := cli.Status(ctx, ep)
	if err != nil {
		b.Fatal(err)
	}
	before := st.DbSize
	if _, err := cli.Compact(ctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		b.Fatal(err)
	}
	if _, err := cli.Defragment(ctx, ep); err != nil {
		b.Fatal(err)
	}
	if st, err = cli.Status(ctx, ep); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(keys), "keys")
	b.ReportMetric(float64(logical)/(1<<20), "logical-MiB")
	b.ReportMetric(float64(st.DbSize)/(1<<20), "db-MiB")
	b.ReportMetric(float64(before)/(1<<20), "db-before-compaction-MiB")
}
