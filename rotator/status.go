package rotator

import (
	"time"

	"kpay-rotator/config"
	"kpay-rotator/store"
)

// StatusSchemaVersion is Status.SchemaVersion: docs/status.schema.json
// describes it. A change that removes or retypes a key, or gives one a
// new meaning, takes the next number; adding a key does too, since the
// schema refuses keys it does not list.
const StatusSchemaVersion = 1

// Status is the document `status` prints and the daemon publishes: one
// entry per configured slot. It holds masks and fingerprints only. Every
// key is always present (no omitempty): "", 0, null or [] when there is
// nothing to say, so a script reads the same keys whether the daemon or
// the database answered.
type Status struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	// Source is "daemon" when a running daemon wrote it, "database" when
	// read straight from a state database no daemon holds, "config" when
	// there is no database yet.
	Source string `json:"source"`
	PID    int    `json:"pid"`
	// Role is the daemon's, with Source "daemon": "leader" (it probes,
	// rotates and alerts; always with bbolt) or "follower"; else "".
	Role string `json:"role"`
	// Leader names the daemon that leads an etcd cluster (host/pid),
	// when known; "" with bbolt.
	Leader string `json:"leader"`
	// ReloadError is why the last reload was refused (the daemon runs the
	// previous configuration); empty when it worked.
	ReloadError string `json:"reload_error"`
	// StateError says the state database cannot be written (a full
	// disk): what the daemon learns meanwhile is not recorded.
	StateError string       `json:"state_error"`
	ConfigPath string       `json:"config_path"`
	Slots      []SlotStatus `json:"slots"`
}

// SlotStatus is one slot's line.
type SlotStatus struct {
	Name        string `json:"name"`
	Environment string `json:"environment"`
	SecretID    string `json:"secret_id"`

	Pair        string     `json:"pair"`
	Fingerprint string     `json:"fingerprint"`
	Born        *time.Time `json:"born"`
	BornSource  string     `json:"born_source"`
	AgeSeconds  int64      `json:"age_seconds"`
	Age         string     `json:"age"`
	AgeState    string     `json:"age_state"`

	Health      string     `json:"health"`
	HealthSince *time.Time `json:"health_since"`
	// FailingSince is the first of the rejections in a row of the current
	// pair: from then on, payments using it fail.
	FailingSince *time.Time `json:"failing_since"`
	// CutoverGap is how long payments could not authenticate before the
	// current pair was in the secret, when an outage preceded it.
	CutoverGap string `json:"cutover_gap"`

	LastProbe *ProbeStatus `json:"last_probe"`
	NextProbe *time.Time   `json:"next_probe"`

	ApplicationID string `json:"application_id"`
	SourceError   string `json:"source_error"`
	// SourceState is "missing" (deleted, or scheduled for deletion) or
	// "unreadable" while the secret cannot be read; the health beside it
	// is that of the last pair read.
	SourceState string `json:"source_state"`
	// FieldsLost names the fields a change made outside kpay-rotator
	// dropped (FieldsLostFrom is the last version that had them).
	FieldsLost     []string `json:"fields_lost"`
	FieldsLostFrom string   `json:"fields_lost_from"`
	// SecretsManagerRotation is the Lambda of Secrets Manager's own
	// rotation when it is enabled for the secret; stage refuses the slot
	// unless it sets allow_secrets_manager_rotation.
	SecretsManagerRotation string `json:"secrets_manager_rotation"`

	Retired []RetiredStatus `json:"retired"`
	// Rotation is the slot's latest rotation: in flight, or finished in
	// the last week.
	Rotation *RotationStatus `json:"rotation"`
}

// ProbeStatus is the last probe of a slot's current pair.
type ProbeStatus struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	// Status is KPay's HTTP status; 0 when none came (a timeout).
	Status int `json:"status"`
	// Latency is the last attempt's, in nanoseconds.
	Latency  time.Duration `json:"latency"`
	Attempts int           `json:"attempts"`
	Detail   string        `json:"detail"`
}

func probeStatus(p *store.ProbeRecord) *ProbeStatus {
	if p == nil {
		return nil
	}
	return &ProbeStatus{At: p.At.UTC(), Outcome: p.Outcome, Status: p.Status, Latency: p.Latency, Attempts: p.Attempts, Detail: p.Detail}
}

// NewStatus is the document's envelope for cfg at now, without slots.
func NewStatus(cfg *config.Config, now time.Time) Status {
	return Status{SchemaVersion: StatusSchemaVersion, GeneratedAt: now.UTC(), ConfigPath: cfg.Path, Slots: make([]SlotStatus, 0, len(cfg.Slots))}
}

// NewSlotStatus is slot s's line before anything is known of it.
func NewSlotStatus(s config.Slot) SlotStatus {
	return SlotStatus{Name: s.Name, Environment: string(s.Environment), SecretID: s.SecretID, Health: string(store.HealthUnknown),
		FieldsLost: []string{}, Retired: []RetiredStatus{}}
}

// RotationStatus is one rotation as status shows it.
type RotationStatus struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	NewPair    string     `json:"new_pair"`
	OldPair    string     `json:"old_pair"`
	OpenedAt   *time.Time `json:"opened_at"` // set for every rotation
	OpenedBy   string     `json:"opened_by"`
	StagedAt   *time.Time `json:"staged_at"`
	WrittenAt  *time.Time `json:"written_at"`
	DoneAt     *time.Time `json:"done_at"`
	RejectedAt *time.Time `json:"rejected_at"`
	VersionID  string     `json:"version_id"`
	Reason     string     `json:"reason"`
	LastError  string     `json:"last_error"`
	Attempts   int        `json:"write_attempts"`
	CutoverGap string     `json:"cutover_gap"`
}

// RetiredStatus is a previous pair still watched, or recently revoked or
// given up (unwatched).
type RetiredStatus struct {
	Pair         string     `json:"pair"`
	Fingerprint  string     `json:"fingerprint"`
	Role         string     `json:"role"`
	RetiredAt    *time.Time `json:"retired_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	UnwatchedAt  *time.Time `json:"unwatched_at"`
	LastAccepted *time.Time `json:"last_accepted"`
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
	out := NewStatus(cfg, now)
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
	ss = NewSlotStatus(s)
	state, ok, err := tx.Slot(s.Name)
	if err != nil || !ok {
		return ss, until, err
	}
	ss.Health = string(state.Health)
	ss.HealthSince = timePtr(state.HealthSince)
	if state.Rejections > 0 {
		ss.FailingSince = timePtr(state.FirstRejectedAt)
	}
	ss.LastProbe = probeStatus(state.LastProbe)
	ss.ApplicationID = state.ApplicationID
	ss.SourceError = state.SourceError
	switch {
	case state.SourceReason == "missing" || state.SourceReason == "deleted":
		ss.SourceState = "missing"
	case state.SourceError != "":
		ss.SourceState = "unreadable"
	}
	ss.AgeState = string(state.Age)
	if lost := store.ParseNames(state.FieldsLost); lost != nil {
		ss.FieldsLost = lost
	}
	ss.FieldsLostFrom = state.FieldsLostFrom
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
