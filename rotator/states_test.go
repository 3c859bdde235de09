package rotator

import (
	"slices"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/store"
)

func TestHealthStep(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	res := func(o healthcheck.Outcome) healthcheck.Result { return healthcheck.Result{Outcome: o, At: now} }
	tests := []struct {
		name       string
		start      store.SlotState
		threshold  int
		outcomes   []healthcheck.Outcome
		wantHealth store.Health
		wantKinds  []event.Kind
	}{
		{"first good probe", store.SlotState{Health: store.HealthUnknown}, 2,
			[]healthcheck.Outcome{healthcheck.Healthy}, store.HealthHealthy, nil},
		{"one rejection is not failing", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected}, store.HealthHealthy, nil},
		{"rejections reach threshold", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Rejected}, store.HealthFailing, []event.Kind{event.KeyFailing}},
		{"threshold one fails at once", store.SlotState{Health: store.HealthHealthy}, 1,
			[]healthcheck.Outcome{healthcheck.WrongEnvironment}, store.HealthFailing, []event.Kind{event.KeyFailing}},
		{"wrong application counts as rejection", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.WrongApplication, healthcheck.WrongApplication}, store.HealthFailing, []event.Kind{event.KeyFailing}},
		{"good probe resets the count", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Healthy, healthcheck.Rejected}, store.HealthHealthy, nil},
		{"transient between rejections keeps the count", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Transient, healthcheck.Rejected}, store.HealthFailing, []event.Kind{event.KeyFailing}},
		{"transients degrade", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Transient, healthcheck.Transient, healthcheck.Transient}, store.HealthDegraded, []event.Kind{event.KeyDegraded}},
		{"unexpected 403 degrades, never fails", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Unexpected, healthcheck.Unexpected, healthcheck.Unexpected}, store.HealthDegraded, []event.Kind{event.KeyDegraded}},
		{"transient never ends an outage", store.SlotState{Health: store.HealthFailing, Rejections: 3}, 2,
			[]healthcheck.Outcome{healthcheck.Transient, healthcheck.Transient, healthcheck.Transient}, store.HealthFailing, nil},
		{"one good probe recovers failing", store.SlotState{Health: store.HealthFailing, Rejections: 3}, 2,
			[]healthcheck.Outcome{healthcheck.Healthy}, store.HealthHealthy, []event.Kind{event.KeyRecovered}},
		{"a degraded pair recovers once the flapping has calmed", store.SlotState{Health: store.HealthDegraded, Transients: 5, TransientRate: 0.5}, 2,
			slices.Repeat([]healthcheck.Outcome{healthcheck.Healthy}, 25),
			store.HealthHealthy, []event.Kind{event.KeyRecovered}},
		{"a degraded pair is not recovered by a short calm", store.SlotState{Health: store.HealthDegraded, Transients: 5, TransientRate: 0.5}, 2,
			slices.Repeat([]healthcheck.Outcome{healthcheck.Healthy}, 10),
			store.HealthDegraded, nil},
		{"a blip recovers after a dozen good probes", store.SlotState{Health: store.HealthHealthy}, 2,
			append([]healthcheck.Outcome{healthcheck.Transient, healthcheck.Transient}, slices.Repeat([]healthcheck.Outcome{healthcheck.Healthy}, 14)...),
			store.HealthHealthy, []event.Kind{event.KeyDegraded, event.KeyRecovered}},
		{"one good probe does not end degraded", store.SlotState{Health: store.HealthDegraded, Transients: 5, TransientRate: 0.5}, 2,
			[]healthcheck.Outcome{healthcheck.Healthy}, store.HealthDegraded, nil},
		{"flapping says degraded once", store.SlotState{Health: store.HealthHealthy}, 2,
			[]healthcheck.Outcome{healthcheck.Transient, healthcheck.Transient, healthcheck.Healthy, healthcheck.Healthy, healthcheck.Transient,
				healthcheck.Healthy, healthcheck.Transient, healthcheck.Transient, healthcheck.Healthy, healthcheck.Healthy, healthcheck.Transient},
			store.HealthDegraded, []event.Kind{event.KeyDegraded}},
		{"a failing pair recovers at one good probe, whatever the flapping", store.SlotState{Health: store.HealthFailing, Rejections: 3, TransientRate: 0.9}, 2,
			[]healthcheck.Outcome{healthcheck.Healthy}, store.HealthHealthy, []event.Kind{event.KeyRecovered}},
		{"degraded then rejected fails", store.SlotState{Health: store.HealthDegraded, Transients: 5}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Rejected}, store.HealthFailing, []event.Kind{event.KeyFailing}},
		{"failing stays failing without repeat event", store.SlotState{Health: store.HealthFailing, Rejections: 2}, 2,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Rejected}, store.HealthFailing, nil},
		{"unknown then rejected below threshold stays unknown", store.SlotState{Health: store.HealthUnknown}, 3,
			[]healthcheck.Outcome{healthcheck.Rejected, healthcheck.Rejected}, store.HealthUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.start
			var kinds []event.Kind
			for _, o := range tt.outcomes {
				if k, ok := healthStep(&st, res(o), tt.threshold, now); ok {
					kinds = append(kinds, k)
				}
			}
			if st.Health != tt.wantHealth {
				t.Errorf("health = %s, want %s", st.Health, tt.wantHealth)
			}
			if len(kinds) != len(tt.wantKinds) {
				t.Fatalf("events = %v, want %v", kinds, tt.wantKinds)
			}
			for i := range kinds {
				if kinds[i] != tt.wantKinds[i] {
					t.Errorf("event %d = %s, want %s", i, kinds[i], tt.wantKinds[i])
				}
			}
		})
	}
}

func TestHealthStep_FirstRejectionOpensTheWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	st := store.SlotState{Health: store.HealthHealthy}
	healthStep(&st, healthcheck.Result{Outcome: healthcheck.Rejected, At: t0}, 2, t0)
	healthStep(&st, healthcheck.Result{Outcome: healthcheck.Rejected, At: t0.Add(5 * time.Minute)}, 2, t0.Add(5*time.Minute))
	if !st.FirstRejectedAt.Equal(t0) {
		t.Errorf("FirstRejectedAt = %v, want %v", st.FirstRejectedAt, t0)
	}
	healthStep(&st, healthcheck.Result{Outcome: healthcheck.Healthy, At: t0.Add(time.Hour)}, 2, t0.Add(time.Hour))
	if !st.FirstRejectedAt.IsZero() {
		t.Errorf("FirstRejectedAt not cleared on recovery: %v", st.FirstRejectedAt)
	}
}

func TestAgeStep(t *testing.T) {
	born := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	maxAge, warn := 90*day, 14*day
	tests := []struct {
		name     string
		prev     store.AgeState
		age      time.Duration
		want     store.AgeState
		wantKind event.Kind
	}{
		{"new and fresh", "", 10 * day, store.AgeFresh, ""},
		{"just before due", store.AgeFresh, 76*day - time.Second, store.AgeFresh, ""},
		{"due at max_age-warn_before", store.AgeFresh, 76 * day, store.AgeDue, event.KeyDue},
		{"due stays due quietly", store.AgeDue, 80 * day, store.AgeDue, ""},
		{"overdue at max_age", store.AgeDue, 90 * day, store.AgeOverdue, event.KeyOverdue},
		{"adopted already overdue", "", 200 * day, store.AgeOverdue, event.KeyOverdue},
		{"adopted already due", "", 77 * day, store.AgeDue, event.KeyDue},
		{"fresh from fresh says nothing", store.AgeFresh, day, store.AgeFresh, ""},
		{"back to fresh says nothing", store.AgeOverdue, day, store.AgeFresh, ""},
		{"born in the future is fresh", "", -day, store.AgeFresh, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.SlotState{Age: tt.prev}
			k, ok := ageStep(&st, born, born.Add(tt.age), maxAge, warn)
			if st.Age != tt.want {
				t.Errorf("age = %s, want %s", st.Age, tt.want)
			}
			if ok != (tt.wantKind != "") || k != tt.wantKind {
				t.Errorf("event = %q (%v), want %q", k, ok, tt.wantKind)
			}
		})
	}
}

func TestFormatAge(t *testing.T) {
	tests := map[time.Duration]string{
		-time.Hour:                  "0s",
		59 * time.Second:            "59s",
		42 * time.Minute:            "42m",
		25*time.Hour + time.Minute:  "25h01m",
		48 * time.Hour:              "2d",
		91*24*time.Hour + time.Hour: "91d",
	}
	for d, want := range tests {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}
