package config

import (
	"strings"
	"testing"
)

func TestParse_Rules(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		wants []want
	}{
		// TOML syntax.
		{"syntax error keeps the toml line", src(
			`[kpay]`,
			`timeout = "10s"`,
			`concurrency = `,
		), []want{{3, "", "TOML syntax error"}}},
		{"duplicate key is a syntax error", src(
			`[kpay]`,
			`timeout = "10s"`,
			`timeout = "20s"`,
		), []want{{3, "", "key timeout is already defined"}}},

		{"syntax error on a url line does not echo the secret", src(
			`[[notifier]]`,
			`name = "ops"`,
			`url = "https://hooks.slack.com/services/canary-5ecret\u12"`,
		), []want{{3, "", "not shown: a webhook URL is a secret"}}},

		// Unknown keys.
		{"unknown slot key with suggestion", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`max_agee = "1d"`,
		), []want{{5, "slot[a].max_agee", "unknown key; did you mean max_age?"}}},
		{"unknown key in unnamed slot uses its position", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`[[slot]]`,
			`environment = "live"`,
			`secret_id = "t"`,
			`probe_shedule = "* * * * *"`,
		), []want{
			{5, "slot[2].name", "missing"},
			{8, "slot[2].probe_shedule", "did you mean probe_schedule?"},
		}},
		{"unknown top-level table suggests [[slot]]", src(
			`[[slots]]`,
			`name = "a"`,
		), []want{{1, "slots", "did you mean [[slot]]?"}}},
		{"key in the wrong table says where it belongs", src(
			`[daemon]`,
			`timeout = "10s"`,
		), []want{{2, "daemon.timeout", "timeout belongs in [kpay], not [daemon]"}}},
		{"top-level key that belongs in a table", src(
			`base_url = "https://admin.kpay.site"`,
		), []want{{1, "base_url", "belongs in [kpay]"}}},
		{"unknown key without a near match lists the table's keys", src(
			`[aws]`,
			`profile = "prod"`,
		), []want{{2, "aws.profile", "remove it ([aws] takes: region, endpoint, concurrency)"}}},
		{"unknown sub-table of a slot", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`[slot.limits]`,
			`x = 1`,
		), []want{{5, "slot[a].limits", "unknown key"}}},
		{"unknown notifier key", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`channel = "#ops"`,
		), []want{{5, "notifier[ops].channel", "unknown key"}}},

		// Wrong shapes and types.
		{"table given as a value", src(
			`daemon = "x"`,
		), []want{{1, "daemon", "must be a table, not a string; write [daemon]"}}},
		{"[slot] instead of [[slot]]", src(
			`[slot]`,
			`name = "a"`,
		), []want{{1, "slot", "write [[slot]] (double brackets)"}}},
		{"array of non-tables", src(
			`slot = [1]`,
		), []want{{1, "slot", "element 1 must be a table"}}},
		{"integer as string", src(
			`[defaults]`,
			`failure_threshold = "2"`,
		), []want{{2, "defaults.failure_threshold", "must be a whole number, not a string; e.g. failure_threshold = 2"}}},
		{"float as integer", src(
			`[kpay]`,
			`concurrency = 2.5`,
		), []want{{2, "kpay.concurrency", "must be a whole number, not a fractional number"}}},
		{"bool as string", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`create_if_missing = "yes"`,
		), []want{{5, "slot[a].create_if_missing", "must be true or false"}}},
		{"duration as integer", src(
			`[defaults]`,
			`max_age = 90`,
		), []want{{2, "defaults.max_age", `must be a duration string, not a whole number; e.g. max_age = "90d"`}}},
		{"notify as string", src(
			`[defaults]`,
			`notify = "ops"`,
		), []want{{2, "defaults.notify", `must be an array of strings, not a string; e.g. notify = ["ops"]`}}},
		{"notify with a non-string", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`[defaults]`,
			`notify = ["ops", 1]`,
		), []want{{6, "defaults.notify", "element 2 is a whole number"}}},
		{"empty string", src(
			`[daemon]`,
			`state_dir = ""`,
		), []want{{2, "daemon.state_dir", "is empty"}}},
		{"wrong type of name keeps the position label", src(
			`[[slot]]`,
			`name = 7`,
			`environment = "live"`,
			`secret_id = "s"`,
		), []want{{2, "slot[1].name", "must be a string, not a whole number"}}},

		// Durations.
		{"bad duration unit", src(
			`[defaults]`,
			`revoke_grace = "1w"`,
		), []want{{2, "defaults.revoke_grace", `use whole numbers with the units d, h, m, s`}}},
		{"fractional duration", src(
			`[kpay]`,
			`timeout = "1.5s"`,
		), []want{{2, "kpay.timeout", `duration "1.5s" is not valid`}}},
		{"negative jitter", src(
			`[defaults]`,
			`jitter = "-1s"`,
		), []want{{2, "defaults.jitter", "is negative"}}},
		{"zero timeout", src(
			`[kpay]`,
			`timeout = "0s"`,
		), []want{{2, "kpay.timeout", "must be longer than zero"}}},
		{"zero max_age", src(
			`[defaults]`,
			`max_age = "0d"`,
		), []want{{2, "defaults.max_age", "must be longer than zero"}}},

		// Cron.
		{"cron with four fields", src(
			`[[slot]]`,
			`name = "payments-live"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`probe_schedule = "*/5 * * *"`,
		), []want{{5, "slot[payments-live].probe_schedule", "expected exactly 5 fields, found 4"}}},
		{"cron out of range", src(
			`[defaults]`,
			`retired_schedule = "61 * * * *"`,
		), []want{{2, "defaults.retired_schedule", "above maximum"}}},
		{"drift_schedule is a cron spec, not auto", src(
			`[defaults]`,
			`drift_schedule = "auto"`,
		), []want{{2, "defaults.drift_schedule", `e.g. drift_schedule = "@hourly"`}}},
		{"aws concurrency out of range", src(
			`[aws]`,
			`concurrency = 0`,
		), []want{{2, "aws.concurrency", "it must be 1 to 64"}}},
		{"cron six fields (seconds) rejected", src(
			`[defaults]`,
			`probe_schedule = "0 */5 * * * *"`,
		), []want{{2, "defaults.probe_schedule", "found 6"}}},
		{"cron bad @every", src(
			`[defaults]`,
			`probe_schedule = "@every 1d"`,
		), []want{{2, "defaults.probe_schedule", "invalid cron spec"}}},
		{"cron TZ without schedule does not panic", src(
			`[defaults]`,
			`probe_schedule = "TZ=UTC"`,
		), []want{{2, "defaults.probe_schedule", "TZ= prefix"}}},

		// Required keys.
		{"slot missing everything", src(
			`[[slot]]`,
			`max_age = "30d"`,
		), []want{
			{1, "slot[1].name", "missing; [[slot]] needs a name"},
			{1, "slot[1].environment", "missing"},
			{1, "slot[1].secret_id", "missing"},
		}},
		{"notifier missing name and type", src(
			`[[notifier]]`,
			`url_file = "/x"`,
		), []want{
			{1, "notifier[1].name", "missing"},
			{1, "notifier[1].type", "missing"},
		}},

		// Names.
		{"slot name not usable on a command line", src(
			`[[slot]]`,
			`name = "Payments Live"`,
			`environment = "live"`,
			`secret_id = "s"`,
		), []want{{2, "slot[1].name", `cannot be used as a slot name: it appears on command lines and in file names, so use 1 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit, e.g. "payments-live"`}}},
		{"slot name too long", src(
			`[[slot]]`,
			`name = "`+strings.Repeat("a", 64)+`"`,
			`environment = "live"`,
			`secret_id = "s"`,
		), []want{{2, "slot[1].name", "1 to 63 characters"}}},
		{"duplicate slot names point to both lines", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s1"`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "test"`,
			`secret_id = "s2"`,
		), []want{{6, "slot[a].name", `duplicate slot name "a": also used by the [[slot]] at line 2`}}},
		{"duplicate notifier names point to both lines", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`[[notifier]]`,
			`name = "ops"`,
			`type = "discord"`,
			`url_file = "/b"`,
		), []want{{6, "notifier[ops].name", `duplicate notifier name "ops": also used by the [[notifier]] at line 2`}}},
		{"slot notify names an unknown notifier", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`notify = ["opps"]`,
		), []want{{9, "slot[a].notify", `names notifier "opps", which is not defined; did you mean "ops"?`}}},
		{"security_notify names an unknown notifier", src(
			`[[notifier]]`,
			`name = "security"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`[defaults]`,
			`security_notify = ["securty", "security", "security"]`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`security_notify = ["sec"]`,
		), []want{
			{6, "defaults.security_notify", `names "security" twice`},
			{11, "slot[a].security_notify", `names notifier "sec", which is not defined`},
		}},
		{"probe_schedule auto is not a cron spec elsewhere", src(
			`[defaults]`,
			`retired_schedule = "auto"`,
		), []want{{2, "defaults.retired_schedule", `invalid cron spec "auto"`}}},
		{"defaults notify names an unknown notifier, reported once", src(
			`[defaults]`,
			`notify = [`,
			`  "pager",`,
			`]`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
		), []want{{2, "defaults.notify", `names notifier "pager", which is not defined; add a [[notifier]] with name = "pager"`}}},
		{"notify lists a notifier twice", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`[defaults]`,
			`notify = ["ops", "ops"]`,
		), []want{{6, "defaults.notify", `names "ops" twice`}}},

		// KPay.
		{"base_url plain http to a remote host", src(
			`[kpay]`,
			`base_url = "http://admin.kpay.site"`,
		), []want{{2, "kpay.base_url", "use https"}}},
		{"base_url without scheme", src(
			`[kpay]`,
			`base_url = "admin.kpay.site"`,
		), []want{{2, "kpay.base_url", "must start with https://"}}},
		{"base_url with a query", src(
			`[kpay]`,
			`base_url = "https://admin.kpay.site/?x=1"`,
		), []want{{2, "kpay.base_url", "must not have a query"}}},
		{"base_url with credentials", src(
			`[kpay]`,
			`base_url = "https://u:p@admin.kpay.site"`,
		), []want{{2, "kpay.base_url", "must not contain a user name or password"}}},
		{"base_url without host", src(
			`[kpay]`,
			`base_url = "https://"`,
		), []want{{2, "kpay.base_url", "has no host"}}},
		{"requests_per_minute above KPay's limit", src(
			`[kpay]`,
			`requests_per_minute = 101`,
		), []want{{2, "kpay.requests_per_minute", "must be 1 to 100"}}},
		{"requests_per_minute zero", src(
			`[kpay]`,
			`requests_per_minute = 0`,
		), []want{{2, "kpay.requests_per_minute", "must be 1 to 100"}}},
		{"concurrency zero", src(
			`[kpay]`,
			`concurrency = 0`,
		), []want{{2, "kpay.concurrency", "at least 1"}}},

		// AWS.
		{"endpoint plain http to a remote host", src(
			`[aws]`,
			`endpoint = "http://localstack:4566"`,
		), []want{{2, "aws.endpoint", "use https"}}},
		{"bad region", src(
			`[aws]`,
			`region = "Ireland"`,
		), []want{{2, "aws.region", "not an AWS region name"}}},

		// Daemon.
		{"listen without port", src(
			`[daemon]`,
			`listen = "127.0.0.1"`,
		), []want{{2, "daemon.listen", "is not host:port"}}},
		{"listen with bad port", src(
			`[daemon]`,
			`listen = "127.0.0.1:99999"`,
		), []want{{2, "daemon.listen", "no valid port"}}},
		{"listen with bad host", src(
			`[daemon]`,
			`listen = "bad host:80"`,
		), []want{{2, "daemon.listen", "no valid host"}}},
		{"inbox in the state dir", src(
			`[daemon]`,
			`state_dir = "/var/lib/k"`,
			`inbox_dir = "/var/lib/k/"`,
		), []want{{3, "daemon.inbox_dir", "keep the inbox apart"}}},

		// Slot values.
		{"bad environment", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "prod"`,
			`secret_id = "s"`,
		), []want{{3, "slot[a].environment", `write environment = "live"`}}},
		{"bad secret name", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "prod payments"`,
		), []want{{4, "slot[a].secret_id", "not a Secrets Manager secret name"}}},
		{"bad secret ARN", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "arn:aws:s3:::bucket"`,
		), []want{{4, "slot[a].secret_id", "not a Secrets Manager secret ARN"}}},
		{"application_id not a UUID", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`application_id = "app-123"`,
		), []want{{5, "slot[a].application_id", "is not a UUID"}}},
		{"same field for both halves", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`api_key_field = "KEY"`,
			`secret_key_field = "KEY"`,
		), []want{{6, "slot[a].secret_key_field", `both "KEY"`}}},
		{"two slots on the same fields of one secret", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`[[slot]]`,
			`name = "b"`,
			`environment = "test"`,
			`secret_id = "s"`,
		), []want{{8, "slot[b].secret_id", `slot[a] (line 4) also keeps its pair in field "KPAY_API_KEY" of secret "s"`}}},
		{"failure_threshold zero", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`failure_threshold = 0`,
		), []want{{5, "slot[a].failure_threshold", "at least 1"}}},
		{"warn_before equal to max_age in a slot", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`max_age = "30d"`,
			`warn_before = "30d"`,
		), []want{{6, "slot[a].warn_before", "warn_before (30d) must be shorter than max_age (30d)"}}},
		{"slot max_age below the inherited warn_before", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`max_age = "7d"`,
		), []want{{5, "slot[a].max_age", "warn_before (14d, built-in default) must be shorter than max_age (7d)"}}},
		// Retired pairs: how long and how many are watched.
		{"retired_watch not longer than revoke_grace", src(
			`[defaults]`,
			`retired_watch = "12h"`,
		), []want{{2, "defaults.retired_watch", "retired_watch (12h) must be longer than revoke_grace (1d, built-in default), or a retired pair that still works is given up before old_key_still_valid warns"}}},
		{"slot revoke_grace past the retired_watch of [defaults]", src(
			`[defaults]`,
			`retired_watch = "7d"`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`revoke_grace = "10d"`,
		), []want{{7, "slot[a].revoke_grace", "retired_watch (7d, from [defaults]) must be longer than revoke_grace (10d)"}}},
		{"retired_watch zero", src(
			`[defaults]`,
			`retired_watch = "0s"`,
		), []want{{2, "defaults.retired_watch", "must be longer than zero"}}},
		{"retired_watch_max zero", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`retired_watch_max = 0`,
		), []want{{5, "slot[a].retired_watch_max", "at least 1 retired pair per slot must be watched"}}},

		// [retention].
		{"retention counts below one", src(
			`[retention]`,
			`max_events = 0`,
			`probe_history = -1`,
			`max_revoked_pairs = 0`,
		), []want{
			{2, "retention.max_events", "is 0; keep at least 1 of the events; e.g. max_events = 10000"},
			{3, "retention.probe_history", "is -1; keep at least 1 of the probes of each pair"},
			{4, "retention.max_revoked_pairs", "is 0; keep at least 1"},
		}},
		{"retention ages", src(
			`[retention]`,
			`max_event_age = "0s"`,
			`max_probe_age = "1 month"`,
			`max_revoked_pair_age = "3d"`,
		), []want{
			{2, "retention.max_event_age", `must be longer than zero; e.g. max_event_age = "365d"`},
			{3, "retention.max_probe_age", "is not valid"},
			{4, "retention.max_revoked_pair_age", `is 3d; status shows a revoked pair for 7d, so keep its record at least that long; e.g. max_revoked_pair_age = "90d"`},
		}},
		{"retention wrong type and unknown key", src(
			`[retention]`,
			`max_events = "10000"`,
			`max_event = 5`,
		), []want{
			{2, "retention.max_events", "must be a whole number, not a string"},
			{3, "retention.max_event", "did you mean max_events?"},
		}},
		{"retention key in [daemon] says where it belongs", src(
			`[daemon]`,
			`probe_history = 10`,
		), []want{{2, "daemon.probe_history", "probe_history belongs in [retention], not [daemon]"}}},

		{"slot max_age below warn_before from [defaults]", src(
			`[defaults]`,
			`warn_before = "20d"`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`max_age = "20d"`,
		), []want{{7, "slot[a].max_age", "warn_before (20d, from [defaults]) must be shorter"}}},
		{"bad [defaults] warn_before is reported once, not per slot", src(
			`[defaults]`,
			`warn_before = "100d"`,
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`[[slot]]`,
			`name = "b"`,
			`environment = "live"`,
			`secret_id = "t"`,
		), []want{{2, "defaults.warn_before", "warn_before (100d) must be shorter than max_age (90d, built-in default)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "config.toml")
			ps := problemsOf(t, err)
			checkProblems(t, ps, tt.wants)
			for _, p := range ps {
				if p.File != "config.toml" {
					t.Errorf("got File %q, want config.toml", p.File)
				}
				if strings.Contains(p.String(), "canary-5ecret") {
					t.Errorf("problem leaks the secret: %s", p)
				}
			}
		})
	}
}

func TestParse_Accepts(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(t *testing.T, c *Config)
	}{
		{"empty file gives built-in defaults", "", func(t *testing.T, c *Config) {
			if c.Daemon != (Daemon{"/var/lib/kpay-rotator", "/run/kpay-rotator/inbox", "127.0.0.1:9477"}) {
				t.Errorf("got %+v", c.Daemon)
			}
			if c.KPay.BaseURL != "https://admin.kpay.site" || c.KPay.Timeout.String() != "10s" || c.KPay.RequestsPerMinute != 30 || c.KPay.Concurrency != 4 {
				t.Errorf("got %+v", c.KPay)
			}
			if c.AWS != (AWS{Concurrency: 8}) || len(c.Slots) != 0 || len(c.Notifiers) != 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{"http to loopback, trailing slash stripped", src(
			`[kpay]`,
			`base_url = "http://127.0.0.1:8080/sandbox/"`,
			`[aws]`,
			`endpoint = "http://[::1]:4566/"`,
		), func(t *testing.T, c *Config) {
			if c.KPay.BaseURL != "http://127.0.0.1:8080/sandbox" {
				t.Errorf("got base_url %q, want http://127.0.0.1:8080/sandbox", c.KPay.BaseURL)
			}
			if c.AWS.Endpoint != "http://[::1]:4566" {
				t.Errorf("got endpoint %q, want http://[::1]:4566", c.AWS.Endpoint)
			}
		}},
		{"http to localhost and 127.x", src(
			`[kpay]`,
			`base_url = "HTTP://LocalHost:1"`,
			`[aws]`,
			`endpoint = "http://127.0.0.53:1"`,
		), func(t *testing.T, c *Config) {
			if c.KPay.BaseURL != "http://LocalHost:1" {
				t.Errorf("got %q", c.KPay.BaseURL)
			}
		}},
		{"http to localhost. is loopback, as the probe and the receivers have it", src(
			`[kpay]`,
			`base_url = "http://localhost.:8080"`,
			`[[notifier]]`,
			`name = "local"`,
			`type = "mattermost"`,
			`url = "http://localhost.:8065/hooks/x"`,
		), func(t *testing.T, c *Config) {
			if c.KPay.BaseURL != "http://localhost.:8080" {
				t.Errorf("got %q", c.KPay.BaseURL)
			}
		}},
		{"listen forms", src(
			`[daemon]`,
			`listen = "[::1]:0"`,
		), func(t *testing.T, c *Config) {
			if c.Daemon.Listen != "[::1]:0" {
				t.Errorf("got %q", c.Daemon.Listen)
			}
		}},
		{"slot with ARN, upper-case UUID and descriptors", src(
			`[[slot]]`,
			`name = "pay.v2_live-1"`,
			`environment = "live"`,
			`secret_id = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/pay-AbCdEf"`,
			`application_id = "3F0C9A62-1B7E-4C55-9D3A-6A1F2E8B7C10"`,
			`probe_schedule = "@every 10m"`,
			`retired_schedule = "@hourly"`,
			`create_if_missing = true`,
		), func(t *testing.T, c *Config) {
			s, ok := c.Slot("pay.v2_live-1")
			if !ok {
				t.Fatal("slot not found")
			}
			if s.ApplicationID != "3f0c9a62-1b7e-4c55-9d3a-6a1f2e8b7c10" || !s.CreateIfMissing || s.ProbeSchedule != "@every 10m" {
				t.Errorf("got %+v", s)
			}
		}},
		{"notifier with inline url", src(
			`[[notifier]]`,
			`name = "chat"`,
			`type = "slack"`,
			`url = "https://hooks.slack.com/services/T0/B0/x"`,
			`min_severity = "critical"`,
			`repeat_interval = "1d12h"`,
		), func(t *testing.T, c *Config) {
			n, ok := c.Notifier("chat")
			if !ok {
				t.Fatal("notifier not found")
			}
			if n.URL.Inline.Reveal() != "https://hooks.slack.com/services/T0/B0/x" || n.MinSeverity.String() != "critical" || n.RepeatInterval.Hours() != 36 {
				t.Errorf("got %+v", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "config.toml")
			if err != nil {
				t.Fatalf("got error:\n%v", err)
			}
			tt.check(t, c)
		})
	}
}
