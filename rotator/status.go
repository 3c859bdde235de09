package rotator

import (
	"time"

	"kpay-rotator/config"
	"kpay-rotator/store"
)

// Status is the document `status` prints and the daemon publishes: one
// entry per configured slot. It holds masks and fingerprints only.
type Status struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Source is "daemon" when a running daemon wrote it, "database" when
	// read straight from a state database no daemon holds.
	Source string `json:"source"`
	PID    int    `json:"pid,omitempty"`
	// ReloadError is why the last reload was refused (the daemon runs the
	// previous configuration); empty when it worked.
	ReloadError string `json:"reload_error,omitempty"`
	// StateError says the state database cannot be written (a full
	// disk): what the daemon learns meanwhile is not recorded.
	StateError string       `json:"state_error,omitempty"`
	ConfigPath string       `json:"config_path,omitempty"`
	Slots      []SlotStatus `json:"slots"`
}

// SlotStatus is one slot's line.
type SlotStatus struct {
	Name        string `json:"name"`
	Environment string `json:"environment"`
	SecretID    string `json:"secret_id"`

	Pair        string     `json:"pair,omitempty"`
	Fingerprint string     `json:"fingerprint,omitempty"`
	Born        *time.Time `json:"born,omitempty"`
	BornSource  string     `json:"born_source,omitempty"`
	AgeSeconds  int64      `json:"age_seconds,omitempty"`
	Age         string     `json:"age,omitempty"`
	AgeState    string     `json:"age_state,omitempty"`

	Health      string     `json:"health"`
	HealthSince *time.Time `json:"health_since,omitempty"`
	// FailingSince is the first of the rejections in a row of the current
	// pair: from then on, payments using it fail.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// CutoverGap is how long payments could not authenticate before the
	// current pair was in the secret, when an outage preceded it.
	CutoverGap string `json:"cutover_gap,omitempty"`

	LastProbe *store.ProbeRecord `json:"last_probe,omitempty"`
	NextProbe *time.Time         `json:"next_probe,omitempty"`

	ApplicationID string `json:"application_id,omitempty"`
	SourceError   string `json:"source_error,omitempty"`
	// SourceState is "missing" (deleted, or scheduled for deletion) or
	// "unreadable" while the secret cannot be read; the health beside it
	// is that of the last pair read.
	SourceState string `json:"source_state,omitempty"`
	// FieldsLost names the fields a change made outside kpay-rotator
	// dropped (FieldsLostFrom is the last version that had them).
	FieldsLost     []string `json:"fields_lost,omitempty"`
	FieldsLostFrom string   `json:"fields_lost_from,omitempty"`
	// SecretsManagerRotation is the Lambda of Secrets Manager's own
	// rotation when it is enabled for the secret; stage refuses the slot
	// unless it sets allow_secrets_manager_rotation.
	SecretsManagerRotation string `json:"secrets_manager_rotation,omitempty"`

	Retired []RetiredStatus `json:"retired,omitempty"`
	// Rotation is the slot's latest rotation: in flight, or finished in
	// the last week.
	Rotation *RotationStatus `json:"rotation,omitempty"`
}

// RotationStatus is one rotation as status shows it.
type RotationStatus struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	NewPair    string     `json:"new_pair,omitempty"`
	OldPair    string     `json:"old_pair,omitempty"`
	OpenedAt   *time.Time `json:"opened_at,omitempty"` // set for every rotation
	OpenedBy   string     `json:"opened_by,omitempty"`
	StagedAt   *time.Time `json:"staged_at,omitempty"`
	WrittenAt  *time.Time `json:"written_at,omitempty"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	RejectedAt *time.Time `json:"rejected_at,omitempty"`
	VersionID  string     `json:"version_id,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	Attempts   int        `json:"write_attempts,omitempty"`
	CutoverGap string     `json:"cutover_gap,omitempty"`
}

// RetiredStatus is a previous pair still watched, or recently revoked or
// given up (unwatched).
type RetiredStatus struct {
	Pair         string     `json:"pair"`
	Fingerprint  string     `json:"fingerprint"`
	Role         string     `json:"role"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	UnwatchedAt  *time.Time `json:"unwatched_at,omitempty"`
	LastAccepted *time.Time `json:"last_accepted,omitempty"`
}

// revokedShown is how long a revoked or unwatched pair, or a finished
// rotation, stays in status; the configuration keeps their records at
// least that long.
const revokedShown = config.RevokedShown

// BuildStatus assembles the status of every slot in cfg from the store.
// next, when not nil, gives each slot's next scheduled probe. A daemon
// serves it through a StatusCache instead, which reads a slot again only
// when it changed.
func BuildStatus(st store.Store, cfg *config.Config, now time.Time, next func(slot string) time.Time) (Status, error) {
	out := Status{GeneratedAt: now.UTC(), ConfigPath: cfg.Path, Slots: make([]SlotStatus, 0, len(cfg.Slots))}
	err := st.View(func(tx store.Tx) error {
		for _, s := range cfg.Slots {
			ss, _, err := readSlotStatus(tx, s, now)
			if err != nil {
				return err
			}
			out.Slots = append(out.Slots, ss.at(now, next))
		}
		return nil
	})
	return out, err
}

// readSlotStatus reads slot s's line at now. until is when the line
// changes without a commit (a revoked pair or a finished rotation leaves
// it); zero if never. Ages and the next probe, which move with the clock,
// are at's to fill in.
func readSlotStatus(tx store.Tx, s config.Slot, now time.Time) (ss SlotStatus, until time.Time, err error) {
	ss = SlotStatus{Name: s.Name, Environment: string(s.Environment), SecretID: s.SecretID, Health: string(store.HealthUnknown)}
	state, ok, err := tx.Slot(s.Name)
	if err != nil || !ok {
		return ss, until, err
	}
	ss.Health = string(state.Health)
	ss.HealthSince = timePtr(state.HealthSince)
	if state.Rejections > 0 {
		ss.FailingSince = timePtr(state.FirstRejectedAt)
	}
	ss.LastProbe = state.LastProbe
	ss.ApplicationID = state.ApplicationID
	ss.SourceError = state.SourceError
	switch {
	case state.SourceReason == "missing" || state.SourceReason == "deleted":
		ss.SourceState = "missing"
	case state.SourceError != "":
		ss.SourceState = "unreadable"
	}
	ss.AgeState = string(state.Age)
	ss.FieldsLost, ss.FieldsLostFrom = store.ParseNames(state.FieldsLost), state.FieldsLostFrom
	ss.SecretsManagerRotation = state.SMRotation
	pairs, err := tx.Pairs(s.Name)
	if err != nil {
		return ss, until, err
	}
	for _, p := range pairs {
		switch {
		case p.Fingerprint == state.Current:
			ss.Pair, ss.Fingerprint = p.Mask, p.Fingerprint
			ss.Born, ss.BornSource = timePtr(p.Born), string(p.BornSource)
			if !p.OutageStart.IsZero() {
				ss.CutoverGap = FormatGap(p.CutoverGap)
			}
		case p.Role == store.RoleRetired || p.Role == store.RoleRevoked && now.Sub(p.RevokedAt) < revokedShown ||
			p.Role == store.RoleUnwatched && now.Sub(p.UnwatchedAt) < revokedShown:
			ss.Retired = append(ss.Retired, RetiredStatus{
				Pair: p.Mask, Fingerprint: p.Fingerprint, Role: string(p.Role),
				RetiredAt: timePtr(p.RetiredAt), RevokedAt: timePtr(p.RevokedAt), UnwatchedAt: timePtr(p.UnwatchedAt),
				LastAccepted: timePtr(p.LastAccepted),
			})
			switch p.Role {
			case store.RoleRevoked:
				until = earlier(until, p.RevokedAt.Add(revokedShown))
			case store.RoleUnwatched:
				until = earlier(until, p.UnwatchedAt.Add(revokedShown))
			}
		}
	}
	rots, err := tx.Rotations(s.Name, 1)
	if err != nil {
		return ss, until, err
	}
	if len(rots) == 1 && (!rots[0].State.Terminal() || now.Sub(rots[0].Began()) < revokedShown) {
		ss.Rotation = rotationStatus(rots[0])
		if rots[0].State.Terminal() {
			until = earlier(until, rots[0].Began().Add(revokedShown))
		}
	}
	return ss, until, nil
}

// at is ss as of now: the current pair's age and the next probe.
func (ss SlotStatus) at(now time.Time, next func(slot string) time.Time) SlotStatus {
	if ss.Born != nil {
		age := now.Sub(*ss.Born)
		ss.AgeSeconds, ss.Age = int64(age/time.Second), FormatAge(age)
	}
	if next != nil {
		if t := next(ss.Name); !t.IsZero() {
			ss.NextProbe = timePtr(t)
		}
	}
	return ss
}

// earlier is the earlier of a and b, zero meaning never.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func rotationStatus(r store.Rotation) *RotationStatus {
	rs := &RotationStatus{
		ID: r.ID, State: string(r.State), NewPair: r.NewMask, OldPair: r.OldMask,
		OpenedAt: timePtr(r.Began()), OpenedBy: r.OpenedBy,
		StagedAt: timePtr(r.StagedAt), WrittenAt: timePtr(r.WrittenAt), DoneAt: timePtr(r.DoneAt), RejectedAt: timePtr(r.RejectedAt),
		VersionID: r.VersionID, Reason: r.Reason, LastError: r.LastError, Attempts: r.WriteAttempts,
	}
	if !r.OutageStart.IsZero() {
		rs.CutoverGap = FormatGap(r.Gap)
	}
	return rs
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
