package config

import (
	"reflect"
	"testing"
	"time"

	"kpay-rotator/store"
)

func TestParse_DefaultsInheritance(t *testing.T) {
	const day = 24 * time.Hour
	notifiers := src(
		`[[notifier]]`,
		`name = "ops"`,
		`type = "slack"`,
		`url_file = "/run/credentials/kpay-rotator.service/ops"`,
		`[[notifier]]`,
		`name = "pager"`,
		`type = "webhook"`,
		`url_credential = "pager"`,
		`secret_credential = "pager-secret"`,
	)
	builtin := Slot{
		Name: "a", Environment: "live", SecretID: "s",
		APIKeyField: "KPAY_API_KEY", SecretKeyField: "KPAY_SECRET_KEY",
		MaxAge: 90 * day, WarnBefore: 14 * day, RevokeGrace: 24 * time.Hour, Jitter: 30 * time.Second,
		StallAfter:    2 * time.Minute,
		ProbeSchedule: AutoSchedule, RetiredSchedule: "* * * * *", DriftSchedule: "@hourly",
		FailureThreshold: 2,
		RetiredWatch:     7 * day, RetiredWatchMax: 3,
	}
	with := func(f func(*Slot)) Slot { s := builtin; f(&s); return s }

	tests := []struct {
		name     string
		defaults string // body of [defaults]
		slot     string // extra keys of the slot
		want     Slot
	}{
		{"built-ins", "", "", builtin},
		{"[defaults] overrides built-ins", src(
			`max_age = "60d"`,
			`warn_before = "7d"`,
			`probe_schedule = "*/10 * * * *"`,
			`retired_schedule = "*/2 * * * *"`,
			`drift_schedule = "*/30 * * * *"`,
			`failure_threshold = 3`,
			`revoke_grace = "2d"`,
			`jitter = "1m"`,
			`stall_after = "5m"`,
			`notify = ["ops"]`,
			`security_notify = ["pager"]`,
		), "", with(func(s *Slot) {
			s.MaxAge, s.WarnBefore, s.RevokeGrace, s.Jitter = 60*day, 7*day, 2*day, time.Minute
			s.RetiredWatch = 14 * day // 7 times revoke_grace
			s.StallAfter = 5 * time.Minute
			s.ProbeSchedule, s.RetiredSchedule, s.DriftSchedule = "*/10 * * * *", "*/2 * * * *", "*/30 * * * *"
			s.FailureThreshold = 3
			s.Notify = []string{"ops"}
			s.SecurityNotify = []string{"pager"}
		})},
		{"slot's security_notify overrides [defaults]'", src(`security_notify = ["ops"]`), src(`security_notify = ["pager"]`), with(func(s *Slot) {
			s.SecurityNotify = []string{"pager"}
		})},
		{"auto schedule written out", src(`probe_schedule = "auto"`), "", builtin},
		{"slot overrides [defaults]", src(
			`max_age = "60d"`,
			`failure_threshold = 3`,
			`notify = ["ops"]`,
		), src(
			`max_age = "30d"`,
			`failure_threshold = 1`,
			`notify = ["pager", "ops"]`,
			`jitter = "0s"`,
		), with(func(s *Slot) {
			s.MaxAge, s.Jitter = 30*day, 0
			s.FailureThreshold = 1
			s.Notify = []string{"pager", "ops"}
		})},
		{"slot overrides built-ins where [defaults] is silent", src(`warn_before = "10d"`), src(
			`revoke_grace = "1h"`,
			`probe_schedule = "@hourly"`,
		), with(func(s *Slot) {
			s.WarnBefore, s.RevokeGrace = 10*day, time.Hour
			s.ProbeSchedule = "@hourly"
		})},
		{"retired_watch and retired_watch_max inherited", src(
			`retired_watch = "10d"`,
			`retired_watch_max = 5`,
		), "", with(func(s *Slot) {
			s.RetiredWatch, s.RetiredWatchMax = 10*day, 5
		})},
		{"retired_watch follows the slot's revoke_grace", src(`revoke_grace = "2d"`), src(`revoke_grace = "3d"`), with(func(s *Slot) {
			s.RevokeGrace, s.RetiredWatch = 3*day, 21*day
		})},
		{"a long revoke_grace alone raises the default retired_watch", src(`revoke_grace = "30d"`), "", with(func(s *Slot) {
			s.RevokeGrace, s.RetiredWatch = 30*day, 210*day
		})},
		{"retired_watch set in [defaults] is kept whatever the grace", src(`retired_watch = "30d"`), src(`revoke_grace = "3d"`), with(func(s *Slot) {
			s.RevokeGrace, s.RetiredWatch = 3*day, 30*day
		})},
		{"slot may notify no one", src(`notify = ["ops"]`), src(`notify = []`), with(func(s *Slot) {
			s.Notify = []string{}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := notifiers + "[defaults]\n" + tt.defaults + src(
				`[[slot]]`,
				`name = "a"`,
				`environment = "live"`,
				`secret_id = "s"`,
			) + tt.slot
			c, err := Parse([]byte(in), "config.toml")
			if err != nil {
				t.Fatalf("got error:\n%v", err)
			}
			got := c.Slots[0]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParse_DefaultsNotShared(t *testing.T) {
	// Each slot gets its own copy of the inherited notify list.
	c, err := Parse([]byte(src(
		`[[notifier]]`,
		`name = "ops"`,
		`type = "slack"`,
		`url_file = "/x"`,
		`[defaults]`,
		`notify = ["ops"]`,
		`[[slot]]`,
		`name = "a"`,
		`environment = "live"`,
		`secret_id = "s"`,
		`[[slot]]`,
		`name = "b"`,
		`environment = "live"`,
		`secret_id = "t"`,
	)), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Slots[0].Notify[0] = "changed"
	if c.Slots[1].Notify[0] != "ops" {
		t.Errorf("slots share their notify list")
	}
}

func TestParse_Retention(t *testing.T) {
	const day = 24 * time.Hour
	builtin := Retention{MaxEvents: 10_000, MaxEventAge: 365 * day, ProbeHistory: 20, MaxProbeAge: 30 * day,
		MaxRevokedPairs: 10, MaxRevokedPairAge: 90 * day}
	tests := []struct {
		name  string
		table string // body of [retention]
		want  Retention
	}{
		{"built-ins", "", builtin},
		{"every key set", src(
			`max_events = 500`,
			`max_event_age = "30d"`,
			`probe_history = 20`,
			`max_probe_age = "2d"`,
			`max_revoked_pairs = 2`,
			`max_revoked_pair_age = "7d"`,
		), Retention{MaxEvents: 500, MaxEventAge: 30 * day, ProbeHistory: 20, MaxProbeAge: 2 * day, MaxRevokedPairs: 2, MaxRevokedPairAge: 7 * day}},
		{"one key set, the rest built-in", `max_events = 50000`, func() Retention { r := builtin; r.MaxEvents = 50_000; return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("[retention]\n"+tt.table+"\n"), "config.toml")
			if err != nil {
				t.Fatalf("got error:\n%v", err)
			}
			if c.Retention != tt.want {
				t.Errorf("got  %+v\nwant %+v", c.Retention, tt.want)
			}
			got := c.Retention.Store()
			if want := (store.Retention{Events: tt.want.MaxEvents, EventAge: tt.want.MaxEventAge, ProbeHistory: tt.want.ProbeHistory, ProbeAge: tt.want.MaxProbeAge}); got != want {
				t.Errorf("Store() = %+v, want %+v", got, want)
			}
		})
	}
}
