package store

import (
	"encoding/json"
	"time"
)

// Health is the current pair's health, from probes (DESIGN §3).
type Health string

// Health states.
const (
	HealthUnknown  Health = "unknown"
	HealthHealthy  Health = "healthy"
	HealthDegraded Health = "degraded"
	HealthFailing  Health = "failing"
)

// AgeState is the current pair's age band (DESIGN §3).
type AgeState string

// Age states.
const (
	AgeFresh   AgeState = "fresh"
	AgeDue     AgeState = "due"
	AgeOverdue AgeState = "overdue"
)

// PairRole is where a pair stands in its slot's life.
type PairRole string

// Pair roles. A retired pair is still accepted by KPay, as far as is
// known, and watched; a revoked one is rejected (rotation complete); an
// unwatched one was retired and given up on before KPay rejected it (it
// still worked past retired_watch, could not be probed, or newer retired
// pairs took its place), so nothing probes it any more.
const (
	RoleCurrent   PairRole = "current"
	RoleRetired   PairRole = "retired"
	RoleRevoked   PairRole = "revoked"
	RoleUnwatched PairRole = "unwatched"
)

// Ended reports whether a pair in role r is done with: revoked or
// unwatched, never to be probed again unless it comes back as current.
func (r PairRole) Ended() bool { return r == RoleRevoked || r == RoleUnwatched }

// BornSource says where a pair's born time came from, so status can say how
// much to trust an age.
type BornSource string

// Born sources, most trustworthy first.
const (
	BornAdmin          BornSource = "admin"           // given by the admin when adopting the pair
	BornSecretsManager BornSource = "secrets_manager" // CreatedDate of the version that first carried it
	BornFirstSeen      BornSource = "first_seen"      // the daemon saw it first at that time
)

// SlotState is everything the daemon knows about a slot right now.
type SlotState struct {
	Name        string `json:"name"`
	Environment string `json:"environment"`
	SecretID    string `json:"secret_id"`

	// Current is the fingerprint of the pair the secret holds now; empty
	// until the secret has been read once.
	Current   string `json:"current,omitempty"`
	VersionID string `json:"version_id,omitempty"`

	// Learned from the first good probe (or configured) and checked after.
	ApplicationID   string `json:"application_id,omitempty"`
	ApplicationName string `json:"application_name,omitempty"`
	CompanyID       string `json:"company_id,omitempty"`

	Health Health   `json:"health"`
	Age    AgeState `json:"age"`
	// Rejections and Transients count consecutive probe outcomes, for the
	// failure_threshold hysteresis.
	Rejections int `json:"rejections"`
	Transients int `json:"transients"`
	// TransientRate is the recent share of transient answers, weighted
	// towards the latest: a degraded pair recovers when it is low again.
	TransientRate float64 `json:"transient_rate,omitempty"`
	// HealthSince is when Health last changed.
	HealthSince time.Time `json:"health_since,omitzero"`
	// FirstRejectedAt is the first rejection of the current pair in the
	// present run of rejections (start of a possible outage window).
	FirstRejectedAt time.Time `json:"first_rejected_at,omitzero"`

	// FailingQuiet: the pair became failing while a rotation was open or
	// a pair staged, so the failure was expected and not alerted. Should
	// the rotation end without replacing the pair, the next probe raises
	// key_failing after all.
	FailingQuiet bool `json:"failing_quiet,omitempty"`
	// PlannedOutage: the present run of rejections began while a rotation
	// was open, so it is never an unplanned revocation.
	PlannedOutage bool `json:"planned_outage,omitempty"`
	// Unresolved: a failing or degraded alert was raised for a pair since
	// replaced outside the daemon; the new pair's first good probe says
	// key_recovered.
	Unresolved bool `json:"unresolved,omitempty"`

	LastProbe *ProbeRecord `json:"last_probe,omitempty"`
	NextProbe time.Time    `json:"next_probe,omitzero"`

	// SourceError is why the secret could not be read or parsed, if it
	// could not on the last attempt; empty when it could.
	SourceError   string    `json:"source_error,omitempty"`
	SourceErrorAt time.Time `json:"source_error_at,omitzero"`
	// SourceReason is the kind of that failure ("missing", "denied",
	// "not_json", ...): stable, unlike the text, which carries request ids
	// and ports. An event is said when it changes.
	SourceReason string `json:"source_reason,omitempty"`

	// FieldNames lists the field names of version VersionID (names only,
	// never values), as Names encodes them; empty until read. A later
	// version made outside kpay-rotator that lacks one lost it.
	FieldNames string `json:"field_names,omitempty"`
	// FieldsLost lists the fields such a change dropped that no version
	// holds again yet, FieldsLostFrom the last version that had them.
	FieldsLost     string `json:"fields_lost,omitempty"`
	FieldsLostFrom string `json:"fields_lost_from,omitempty"`
	// SMRotation is the Lambda of Secrets Manager's own rotation while
	// DescribeSecret says it is enabled for the secret; empty when not.
	SMRotation string `json:"sm_rotation,omitempty"`

	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Names encodes a list of names for SlotState (a JSON array: names may
// hold any character, and the state must stay comparable with ==).
func Names(names []string) string {
	if len(names) == 0 {
		return ""
	}
	b, _ := json.Marshal(names)
	return string(b)
}

// ParseNames decodes what Names encoded.
func ParseNames(s string) []string {
	var names []string
	if s != "" {
		_ = json.Unmarshal([]byte(s), &names)
	}
	return names
}

// PairRecord is one pair a slot has held, keyed by fingerprint.
type PairRecord struct {
	Slot        string `json:"slot"`
	Fingerprint string `json:"fingerprint"`
	// Mask is the public key shown to people (kpay_live_…9f2c).
	Mask        string `json:"mask"`
	Environment string `json:"environment"`

	Born       time.Time  `json:"born"`
	BornSource BornSource `json:"born_source"`
	// VersionID is the Secrets Manager version that first carried the
	// pair; it lets the daemon fetch a retired pair's value again to probe
	// it without ever storing the value here.
	VersionID string    `json:"version_id,omitempty"`
	FirstSeen time.Time `json:"first_seen"`

	Role         PairRole  `json:"role"`
	RetiredAt    time.Time `json:"retired_at,omitzero"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	LastAccepted time.Time `json:"last_accepted,omitzero"`
	// StillValidAt is when old_key_still_valid was last raised.
	StillValidAt time.Time `json:"still_valid_at,omitzero"`
	// UnwatchedAt is when the retired pair was given up (RoleUnwatched).
	UnwatchedAt time.Time `json:"unwatched_at,omitzero"`
	// OutageStart is the first rejection of the pair this one replaced,
	// zero when none was seen; CutoverGap is how long payments could not
	// authenticate from then until this pair was in the secret (written by
	// kpay-rotator, or its version's CreatedDate when pasted by hand).
	OutageStart time.Time     `json:"outage_start,omitzero"`
	CutoverGap  time.Duration `json:"cutover_gap,omitempty"`
}

// ProbeRecord is one probe of one pair.
type ProbeRecord struct {
	At       time.Time     `json:"at"`
	Outcome  string        `json:"outcome"`
	Status   int           `json:"status,omitempty"`
	Latency  time.Duration `json:"latency"`
	Attempts int           `json:"attempts,omitempty"`
	Detail   string        `json:"detail,omitempty"`
}
