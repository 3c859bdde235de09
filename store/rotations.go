package store

import "time"

// RotationState is a step of the rotation journal (DESIGN §4).
type RotationState string

// Rotation steps. Every step is idempotent; a restarted daemon resumes a
// rotation at its recorded step.
const (
	RotationOpen     RotationState = "open"     // stage opened the window; the admin is regenerating the pair
	RotationStaged   RotationState = "staged"   // a pair arrived in the inbox
	RotationVerified RotationState = "verified" // local checks and the KPay probe passed
	RotationWritten  RotationState = "written"  // the pair is in Secrets Manager, read back
	RotationWatching RotationState = "watching" // the previous pair is probed until KPay rejects it
	RotationDone     RotationState = "done"     // the previous pair is revoked
	RotationRejected RotationState = "rejected" // a check failed; nothing was written
	// RotationCancelled: the window closed without a pair (stage was
	// interrupted, or the secret was changed by hand meanwhile).
	RotationCancelled RotationState = "cancelled"
	// RotationUnconfirmed: the new pair was written, but the previous one
	// was given up (unwatched) before KPay rejected it, so whether the
	// rotation is complete is not known.
	RotationUnconfirmed RotationState = "unconfirmed"
)

// Active reports whether the rotation still holds its slot: a slot has at
// most one rotation before written.
func (s RotationState) Active() bool {
	return s == RotationOpen || s == RotationStaged || s == RotationVerified
}

// Terminal reports whether nothing more will happen to the rotation.
func (s RotationState) Terminal() bool {
	return s == RotationDone || s == RotationRejected || s == RotationCancelled || s == RotationUnconfirmed
}

// Rotation is one journal record: timestamps and fingerprints only.
type Rotation struct {
	ID    string        `json:"id"`
	Slot  string        `json:"slot"`
	State RotationState `json:"state"`

	NewFingerprint string `json:"new_fingerprint"`
	NewMask        string `json:"new_mask"`
	OldFingerprint string `json:"old_fingerprint,omitempty"`
	OldMask        string `json:"old_mask,omitempty"`

	// Born is the admin-given creation date of the new pair (--born).
	Born time.Time `json:"born,omitzero"`
	// Application is the KPay application the admin confirmed for the
	// new pair (--application), for a slot whose own is not known.
	Application string `json:"application,omitempty"`
	// Token is the ClientRequestToken of the write, derived from the ID
	// and stored before the call, so a retry after a crash can never make
	// a second version.
	Token     string `json:"token"`
	VersionID string `json:"version_id,omitempty"`

	// OpenedAt is when stage opened the rotation window, before the admin
	// regenerated the pair (the same as StagedAt when the pair came at
	// once, from a pipe); OpenedBy is who ran stage (user@host).
	OpenedAt time.Time `json:"opened_at,omitzero"`
	OpenedBy string    `json:"opened_by,omitempty"`
	// StagedAt is when the pair arrived; zero while the window is open.
	StagedAt   time.Time `json:"staged_at,omitzero"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	WrittenAt  time.Time `json:"written_at,omitzero"`
	DoneAt     time.Time `json:"done_at,omitzero"`
	RejectedAt time.Time `json:"rejected_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`

	// Write attempts that failed, the last failure, and when the stall
	// alert went out.
	WriteAttempts int       `json:"write_attempts,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	StalledAt     time.Time `json:"stalled_at,omitzero"`

	// OutageStart is the first rejection of the previous pair seen before
	// the new one was written; Gap = WrittenAt - OutageStart is the
	// cutover gap, the time payments could not authenticate.
	OutageStart time.Time     `json:"outage_start,omitzero"`
	Gap         time.Duration `json:"cutover_gap,omitempty"`
}

// Began is when the rotation started: its window opened, or (journals
// written before windows existed) its pair was staged.
func (r Rotation) Began() time.Time {
	if !r.OpenedAt.IsZero() {
		return r.OpenedAt
	}
	return r.StagedAt
}
