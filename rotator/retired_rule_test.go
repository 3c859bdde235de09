package rotator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"kpay-rotator/store"
)

func TestPlanRetired(t *testing.T) {
	const day = 24 * time.Hour
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rules := retiredRules{watchFor: 7 * day, watchMax: 3, keepEnded: 2, endedUntil: 90 * day}
	retired := func(fp string, ago time.Duration) store.PairRecord {
		return store.PairRecord{Slot: "a", Fingerprint: fp, Role: store.RoleRetired, RetiredAt: now.Add(-ago), FirstSeen: now.Add(-ago - day)}
	}
	revoked := func(fp string, ago time.Duration) store.PairRecord {
		return store.PairRecord{Slot: "a", Fingerprint: fp, Role: store.RoleRevoked, RetiredAt: now.Add(-ago - day), RevokedAt: now.Add(-ago)}
	}
	unwatched := func(fp string, ago time.Duration) store.PairRecord {
		return store.PairRecord{Slot: "a", Fingerprint: fp, Role: store.RoleUnwatched, RetiredAt: now.Add(-ago - 7*day), UnwatchedAt: now.Add(-ago)}
	}
	current := store.PairRecord{Slot: "a", Fingerprint: "cur", Role: store.RoleCurrent}

	tests := []struct {
		name    string
		pairs   []store.PairRecord
		current string
		rules   retiredRules
		watch   []string
		unwatch []string // fingerprint:reason
		forget  []string
	}{
		{"nothing retired", []store.PairRecord{current}, "cur", rules, nil, nil, nil},
		{"a fresh retired pair is watched", []store.PairRecord{current, retired("r1", time.Hour)}, "cur", rules,
			[]string{"r1"}, nil, nil},
		{"watched until just before retired_watch", []store.PairRecord{retired("r1", 7*day-time.Second)}, "", rules,
			[]string{"r1"}, nil, nil},
		{"given up at retired_watch", []store.PairRecord{retired("r1", 7*day)}, "", rules,
			nil, []string{"r1:retired_watch"}, nil},
		{"the newest retired_watch_max are watched, older ones given up", []store.PairRecord{
			retired("r5", 5*day), retired("r1", time.Hour), retired("r4", 4*day), retired("r2", 2*day), retired("r3", 3*day),
		}, "", rules, []string{"r1", "r2", "r3"}, []string{"r4:retired_watch_max", "r5:retired_watch_max"}, nil},
		{"an expired pair beyond the cap says it expired", []store.PairRecord{
			retired("r1", time.Hour), retired("r2", 2*day), retired("r3", 3*day), retired("old", 8*day),
		}, "", rules, []string{"r1", "r2", "r3"}, []string{"old:retired_watch"}, nil},
		{"retired_watch_max 1", []store.PairRecord{retired("r2", 2*day), retired("r1", day)}, "",
			retiredRules{watchFor: 7 * day, watchMax: 1, keepEnded: 2, endedUntil: 90 * day},
			[]string{"r1"}, []string{"r2:retired_watch_max"}, nil},
		{"ended pairs kept within both bounds", []store.PairRecord{revoked("v1", day), unwatched("u1", 89*day)}, "", rules,
			nil, nil, nil},
		{"ended pairs forgotten past max_revoked_pair_age", []store.PairRecord{revoked("v1", 90*day), unwatched("u1", 100*day), revoked("v2", 3*day)}, "", rules,
			nil, nil, []string{"v1", "u1"}},
		{"ended pairs beyond max_revoked_pairs forgotten, oldest first", []store.PairRecord{
			revoked("v3", 3*day), unwatched("u1", day), revoked("v2", 2*day), revoked("v4", 4*day),
		}, "", rules, nil, nil, []string{"v3", "v4"}},
		{"the slot's current pair is never touched, whatever its record says", []store.PairRecord{
			revoked("cur", 200*day), retired("back", 30*day),
		}, "back", rules, nil, nil, []string{"cur"}},
		{"the current pair by fingerprint", []store.PairRecord{revoked("cur", 200*day)}, "cur", rules, nil, nil, nil},
		{"undated ended record is forgotten", []store.PairRecord{{Slot: "a", Fingerprint: "x", Role: store.RoleRevoked}}, "", rules,
			nil, nil, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planRetired(tt.pairs, tt.current, tt.rules, now)
			var watch, unwatch, forget []string
			for _, p := range plan.watch {
				watch = append(watch, p.Fingerprint)
			}
			for _, u := range plan.unwatch {
				unwatch = append(unwatch, fmt.Sprintf("%s:%s", u.pair.Fingerprint, u.reason))
			}
			for _, p := range plan.forget {
				forget = append(forget, p.Fingerprint)
			}
			if !slices.Equal(watch, tt.watch) || !slices.Equal(unwatch, tt.unwatch) || !slices.Equal(forget, tt.forget) {
				t.Errorf("watch %v, unwatch %v, forget %v\nwant  %v, unwatch %v, forget %v", watch, unwatch, forget, tt.watch, tt.unwatch, tt.forget)
			}
			if plan.tidies() != (len(tt.unwatch)+len(tt.forget) > 0) {
				t.Errorf("tidies() = %v with unwatch %v, forget %v", plan.tidies(), unwatch, forget)
			}
		})
	}
}

// One pass forgets a bounded number of records; a backlog goes pass by
// pass.
func TestPlanRetired_ForgetsABoundedNumberPerPass(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var pairs []store.PairRecord
	for i := range 3 * maxForget {
		pairs = append(pairs, store.PairRecord{Slot: "a", Fingerprint: fmt.Sprint("v", i), Role: store.RoleRevoked, RevokedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	plan := planRetired(pairs, "", retiredRules{watchFor: time.Hour, watchMax: 1, keepEnded: 10, endedUntil: 1000 * time.Hour}, now)
	if len(plan.forget) != maxForget {
		t.Fatalf("forget %d records, want %d", len(plan.forget), maxForget)
	}
	if fp := plan.forget[0].Fingerprint; fp != "v10" {
		t.Errorf("forgets from %s on, want from v10 (the newest past the 10 kept)", fp)
	}
}
