package store

import (
	"encoding/json"
	"fmt"
	"time"
)

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
)

// Active reports whether the rotation still holds its slot: a slot has at
// most one rotation before written.
func (s RotationState) Active() bool {
	return s == RotationOpen || s == RotationStaged || s == RotationVerified
}

// Terminal reports whether nothing more will happen to the rotation.
func (s RotationState) Terminal() bool {
	return s == RotationDone || s == RotationRejected || s == RotationCancelled
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

// PutRotation stores r and keeps the slot's active-rotation index: a
// rotation is the slot's active one while staged or verified.
func (t *Tx) PutRotation(r Rotation) error {
	if r.ID == "" || r.Slot == "" {
		return fmt.Errorf("put rotation: id and slot are required")
	}
	if err := putJSON(t.tx.Bucket(bucketRotations), pairKey(r.Slot, r.ID), r); err != nil {
		return fmt.Errorf("put rotation %s: %w", r.ID, err)
	}
	active := t.tx.Bucket(bucketActive)
	cur := active.Get([]byte(r.Slot))
	switch {
	case r.State.Active():
		if cur != nil && string(cur) != r.ID {
			return fmt.Errorf("put rotation %s: slot %s already has active rotation %s", r.ID, r.Slot, cur)
		}
		return active.Put([]byte(r.Slot), []byte(r.ID))
	case string(cur) == r.ID:
		return active.Delete([]byte(r.Slot))
	}
	return nil
}

// Rotation returns slot's rotation with id.
func (t *Tx) Rotation(slot, id string) (Rotation, bool, error) {
	var r Rotation
	ok, err := getJSON(t.tx.Bucket(bucketRotations), pairKey(slot, id), &r)
	if err != nil {
		return r, false, fmt.Errorf("read rotation %s: %w", id, err)
	}
	return r, ok, nil
}

// ActiveRotation returns slot's staged or verified rotation, if any.
func (t *Tx) ActiveRotation(slot string) (Rotation, bool, error) {
	id := t.tx.Bucket(bucketActive).Get([]byte(slot))
	if id == nil {
		return Rotation{}, false, nil
	}
	return t.Rotation(slot, string(id))
}

// ActiveSlots lists the slots that have an active rotation, from the
// index alone: what a hand-over pass looks at, whatever the number of
// slots.
func (t *Tx) ActiveSlots() ([]string, error) {
	var out []string
	err := t.tx.Bucket(bucketActive).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out, err
}

// Rotations returns slot's rotations, newest first, up to limit (0: all).
// Keys are slot NUL id, and ids start with their UTC staging time, so key
// order within a slot is time order.
func (t *Tx) Rotations(slot string, limit int) ([]Rotation, error) {
	var out []Rotation
	prefix := pairKey(slot, "")
	c := t.tx.Bucket(bucketRotations).Cursor()
	// Seek past the slot's last key, then walk back.
	k, v := c.Seek(pairKey(slot, "\xff"))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && hasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var r Rotation
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("decode rotation %s: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}
