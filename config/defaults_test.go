package config

import (
	"reflect"
	"testing"
	"time"
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
