package config

import (
	"slices"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// Built-in defaults (DESIGN §7), used where the file sets nothing.
const (
	defaultStateDir = "/var/lib/kpay-rotator"
	defaultInboxDir = "/run/kpay-rotator/inbox"
	defaultListen   = "127.0.0.1:9477"

	// The store's own defaults: one number for the config, the store and
	// the documentation.
	defaultMaxEvents    = store.DefaultEvents
	defaultMaxEventAge  = store.DefaultEventAge
	defaultProbeHistory = store.DefaultProbeHistory
	defaultMaxProbeAge  = store.DefaultProbeAge
	// A slot rotated every max_age keeps a handful of pairs a year; ten
	// records and 90 days are enough to tell a pair pasted back from a
	// new one, and bound what a slot rotated in a loop can leave.
	defaultMaxRevokedPairs   = 10
	defaultMaxRevokedPairAge = 90 * 24 * time.Hour

	defaultBaseURL = "https://admin.kpay.site"
	defaultTimeout = 10 * time.Second
	// KPay allows about 100 requests a minute, shared with the production
	// traffic that uses the same pairs (DESIGN §3): the daemon takes 30.
	defaultRequestsPerMinute = 30
	maxRequestsPerMinute     = 100
	defaultConcurrency       = 4
	// Secrets Manager answers DescribeSecret at about 40 a second per
	// account (its quota, shared with every other caller): 8 in flight
	// reads 10,000 slots in minutes without crowding the others out.
	defaultAWSConcurrency = 8
	maxAWSConcurrency     = 64

	defaultAPIKeyField    = "KPAY_API_KEY"
	defaultSecretKeyField = "KPAY_SECRET_KEY"

	defaultMinSeverity    = event.Warning
	defaultRepeatInterval = 4 * time.Hour
	// Alerts of one incident (a shared outage fails many slots) arrive
	// within seconds of each other; 10s groups them without delaying a
	// lone critical alert much.
	defaultGroupWait = 10 * time.Second
	// An alert a day old is history, not news: past this the outbox stops
	// retrying it.
	defaultMaxDeliveryAge = 24 * time.Hour
)

// AutoSchedule is the probe_schedule that lets the daemon choose: every
// slot probed at an even pace that fits the request budget (at least once
// a minute), so a pair revoked outside a rotation is reported within
// about a minute and a half with up to 20 slots (DESIGN §3).
const AutoSchedule = "auto"

// inheritable holds the slot settings [defaults] may set for every slot.
type inheritable struct {
	MaxAge, WarnBefore, RevokeGrace, Jitter time.Duration
	StallAfter                              time.Duration
	// RetiredWatch is zero until set: its default follows revoke_grace
	// (retiredWatchFor).
	RetiredWatch                   time.Duration
	RetiredWatchMax                int
	ProbeSchedule, RetiredSchedule string
	DriftSchedule                  string
	FailureThreshold               int
	Notify, SecurityNotify         []string
}

// Retired pairs are given up after retired_watch, by default seven times
// revoke_grace: old_key_still_valid has said so about six times by then,
// and a pair still accepted that long was not regenerated and will not be
// by waiting. At least a week, so a short grace still gives people days.
const (
	retiredWatchGraces = 7
	minRetiredWatch    = 7 * 24 * time.Hour
	// Three: the pair a rotation just retired, the one before it (a
	// rotation redone at once), and one pasted by hand between them.
	defaultRetiredWatchMax = 3
)

// retiredWatchFor is the retired_watch a slot gets when nothing sets it.
func retiredWatchFor(revokeGrace time.Duration) time.Duration {
	return max(minRetiredWatch, retiredWatchGraces*revokeGrace)
}

var builtinDefaults = inheritable{
	MaxAge:      90 * 24 * time.Hour,
	WarnBefore:  14 * 24 * time.Hour,
	RevokeGrace: 24 * time.Hour,
	Jitter:      30 * time.Second,
	// Dashboard regeneration kills the old pair at once, so a rotation
	// that cannot be written is a payments outage: alert quickly.
	StallAfter:      2 * time.Minute,
	ProbeSchedule:   AutoSchedule,
	RetiredSchedule: "* * * * *",
	// A change made outside kpay-rotator that breaks the pair is seen at
	// once (its rejection triggers a look); the rest can wait an hour,
	// which keeps Secrets Manager at about 24 calls a slot a day.
	DriftSchedule:    "@hourly",
	FailureThreshold: 2,
	RetiredWatchMax:  defaultRetiredWatchMax,
	// No built-in notifier: alerts go only where the file says.
	Notify: nil,
	// Security events (unplanned_revocation) go to notify and, when set,
	// these too.
	SecurityNotify: nil,
}

// layer is one level of inheritance: built-ins, then [defaults], then a
// [[slot]]. It remembers where each value came from, for messages, and
// which values were set but unusable, so that a bad [defaults] value is
// reported once and not again for every slot that inherits it. Both are
// read through the chain of layers rather than copied into each: a
// thousand slots must not build a thousand maps.
type layer struct {
	inheritable
	t    *table // nil for the built-ins
	base *layer
	from string // what base is called in messages ("[defaults]")
}

func builtinLayer() layer {
	return layer{inheritable: builtinDefaults}
}

// invalid reports whether k was set, here or where it is inherited from,
// to a value that could not be used.
func (l *layer) invalid(k string) bool {
	for ; l != nil; l = l.base {
		if l.t != nil && l.t.has(k) {
			return l.t.bad[k]
		}
	}
	return false
}

// origin says where k's value comes from: "" when set in this layer's
// table, else e.g. "from [defaults]" or "built-in default".
func (l *layer) origin(k string) string {
	if l.t != nil && l.t.has(k) {
		return ""
	}
	if l.base == nil {
		return "built-in default"
	}
	if o := l.base.origin(k); o != "" {
		return o
	}
	return "from " + l.from
}

// overlay reads the inheritable keys of t on top of base, checking each
// value and then warn_before against max_age. from names base for
// messages ("[defaults]").
func (p *parser) overlay(t *table, base layer, from string) layer {
	l := layer{inheritable: base.inheritable, t: t, base: &base, from: from}
	l.Notify = slices.Clone(base.Notify)
	l.SecurityNotify = slices.Clone(base.SecurityNotify)

	if d, ok := t.duration("max_age"); ok {
		if d <= 0 {
			t.problem("max_age", "must be longer than zero; e.g. max_age = \"90d\"")
		} else {
			l.MaxAge = d
		}
	}
	if d, ok := t.duration("warn_before"); ok {
		l.WarnBefore = d
	}
	if d, ok := t.duration("revoke_grace"); ok {
		l.RevokeGrace = d
	}
	if d, ok := t.duration("retired_watch"); ok {
		if d <= 0 {
			t.problem("retired_watch", "must be longer than zero; e.g. retired_watch = \"7d\", or remove it for the default (%d times revoke_grace, at least %s)", retiredWatchGraces, formatDuration(minRetiredWatch))
		} else {
			l.RetiredWatch = d
		}
	}
	if n, ok := t.integer("retired_watch_max"); ok {
		if n < 1 {
			t.problem("retired_watch_max", "is %d; at least 1 retired pair per slot must be watched, or no rotation is ever seen complete; e.g. retired_watch_max = %d", n, defaultRetiredWatchMax)
		} else {
			l.RetiredWatchMax = n
		}
	}
	if d, ok := t.duration("jitter"); ok {
		l.Jitter = d
	}
	if d, ok := t.duration("stall_after"); ok {
		if d <= 0 {
			t.problem("stall_after", "must be longer than zero; e.g. stall_after = \"2m\"")
		} else {
			l.StallAfter = d
		}
	}
	if s, ok := t.schedule("probe_schedule"); ok {
		l.ProbeSchedule = s
	}
	if s, ok := t.schedule("retired_schedule"); ok {
		l.RetiredSchedule = s
	}
	if s, ok := t.schedule("drift_schedule"); ok {
		l.DriftSchedule = s
	}
	if n, ok := t.integer("failure_threshold"); ok {
		if n < 1 {
			t.problem("failure_threshold", "is %d; it must be at least 1 (consecutive rejections before a pair is marked failing); e.g. failure_threshold = 2", n)
		} else {
			l.FailureThreshold = n
		}
	}
	for _, k := range []string{"notify", "security_notify"} {
		names, ok := t.strs(k)
		if !ok {
			continue
		}
		if dup, ok := firstDuplicate(names); ok {
			t.problem(k, "names %q twice; list each notifier once", dup)
			continue
		}
		if k == "notify" {
			l.Notify = names
		} else {
			l.SecurityNotify = names
		}
	}

	// Checked after inheritance, where either side was set: a slot that
	// sets only max_age = "7d" still gets the 14d warn_before.
	if (t.has("max_age") || t.has("warn_before")) && !l.invalid("max_age") && !l.invalid("warn_before") && l.WarnBefore >= l.MaxAge {
		k := "warn_before"
		if !t.has(k) {
			k = "max_age"
		}
		t.problem(k, "warn_before (%s%s) must be shorter than max_age (%s%s), or every pair is due as soon as it is made; lower warn_before or raise max_age",
			formatDuration(l.WarnBefore), l.note("warn_before"), formatDuration(l.MaxAge), l.note("max_age"))
	}
	// Also after inheritance: a slot that raises revoke_grace past the
	// retired_watch of [defaults] would give pairs up before warning.
	if (t.has("retired_watch") || t.has("revoke_grace")) && l.RetiredWatch > 0 &&
		!l.invalid("retired_watch") && !l.invalid("revoke_grace") && l.RetiredWatch <= l.RevokeGrace {
		k := "retired_watch"
		if !t.has(k) {
			k = "revoke_grace"
		}
		t.problem(k, "retired_watch (%s%s) must be longer than revoke_grace (%s%s), or a retired pair that still works is given up before old_key_still_valid warns about it; raise retired_watch, or remove it for the default (%d times revoke_grace, at least %s)",
			formatDuration(l.RetiredWatch), l.note("retired_watch"), formatDuration(l.RevokeGrace), l.note("revoke_grace"), retiredWatchGraces, formatDuration(minRetiredWatch))
	}
	return l
}

func (l layer) note(k string) string {
	if o := l.origin(k); o != "" {
		return ", " + o
	}
	return ""
}

func firstDuplicate(names []string) (string, bool) {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return n, true
		}
		seen[n] = true
	}
	return "", false
}
