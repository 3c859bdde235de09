package store

import "time"

// Retention bounds what a store keeps of the event log and of each pair's
// probe history, so the state reaches a steady size whatever the number of
// slots and however long the daemon runs.
//
// Backends enforce it as they write, a little at a time: AppendEvent and
// RecordProbe each drop at most PruneStep of the oldest records past it.
// No transaction sweeps the whole log, and a log over its bound (the bound
// was lowered, or the state predates retention) shrinks by PruneStep-1
// records per append until it fits.
//
// Ages count back from the record being written, not from a clock: every
// backend prunes alike without one, tests need no clock to reach an age,
// and in the daemon the record's time is the time of the write.
//
// Zero fields take the defaults below, which bound the state to a few
// megabytes of history whatever the number of slots.
type Retention struct {
	// Events is how many of the newest events the log keeps.
	Events int
	// EventAge: an event dated more than EventAge before the one being
	// appended is dropped.
	EventAge time.Duration
	// ProbeHistory is how many of its newest probes each pair keeps.
	ProbeHistory int
	// ProbeAge: a probe dated more than ProbeAge before the one being
	// recorded for the same pair is dropped.
	ProbeAge time.Duration
}

// Default retention. The event log is history for people (chat and the
// journal have had each event already; the outbox holds what it still
// delivers by value), so a year of it, or 10,000 events at a busy host
// (about 8 MiB), is plenty. Probe history is for forensics only (a slot's
// state carries its last probe and its transient rate): a pair's last 20
// answers, within a month, fit in about one 4 KiB page, so 10,000 slots
// keep some 40 MiB of it; 100 took five pages each.
const (
	DefaultEvents       = 10_000
	DefaultEventAge     = 365 * 24 * time.Hour
	DefaultProbeHistory = 20
	DefaultProbeAge     = 30 * 24 * time.Hour
)

// PruneStep is the most records one AppendEvent or RecordProbe drops: in
// the steady state one write drops about one record; more is a backlog,
// worked off a step at a time.
const PruneStep = 64

// WithDefaults returns r with its zero (or negative) fields set to the
// defaults.
func (r Retention) WithDefaults() Retention {
	if r.Events <= 0 {
		r.Events = DefaultEvents
	}
	if r.EventAge <= 0 {
		r.EventAge = DefaultEventAge
	}
	if r.ProbeHistory <= 0 {
		r.ProbeHistory = DefaultProbeHistory
	}
	if r.ProbeAge <= 0 {
		r.ProbeAge = DefaultProbeAge
	}
	return r
}
