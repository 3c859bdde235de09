// Package event defines what kpay-rotator says happened: the event kinds of
// DESIGN §5, their severities, and the Event record that is appended to the
// store, logged, and (through the notifier) delivered to people.
//
// An Event carries only masked pairs and fingerprints, never a secret.
package event

import (
	"fmt"
	"log/slog"
	"time"
)

// Kind names what happened.
type Kind string

// The event kinds of DESIGN §5.
const (
	KeyDue                  Kind = "key_due"
	KeyOverdue              Kind = "key_overdue"
	KeyFailing              Kind = "key_failing"
	KeyDegraded             Kind = "key_degraded"
	KeyRecovered            Kind = "key_recovered"
	RotationRejected        Kind = "rotation_rejected"
	KeyRotated              Kind = "key_rotated"
	OldKeyRevoked           Kind = "old_key_revoked"
	OldKeyStillValid        Kind = "old_key_still_valid"
	SecretChangedExternally Kind = "secret_changed_externally"
	RotationStalled         Kind = "rotation_stalled"
	// UnplannedRevocation: KPay rejects the current pair (401) while no
	// rotation is open and nothing is staged: someone regenerated or
	// revoked it outside a rotation, perhaps after a leak.
	UnplannedRevocation Kind = "unplanned_revocation"
	// RotationCancelled: a rotation window closed without a new pair.
	RotationCancelled Kind = "rotation_cancelled"
	// OldKeyUnwatched: a retired pair is given up before KPay rejected it
	// (still accepted past retired_watch, never probed in that time, or
	// pushed out by newer retired pairs): nothing will say when it dies.
	OldKeyUnwatched Kind = "old_key_unwatched"
	// SecretUnreadable is raised when a slot's secret cannot be read or
	// parsed (missing, access denied, not JSON, fields missing). DESIGN §5
	// does not list it; an ops engineer still needs to hear about it.
	SecretUnreadable Kind = "secret_unreadable"
	// SecretReadable resolves SecretUnreadable and SecretMissing.
	SecretReadable Kind = "secret_readable"
	// SecretMissing: the slot's secret is deleted, or scheduled for
	// deletion; services cannot read their pair.
	SecretMissing Kind = "secret_missing"
	// SecretFieldsLost: a change made outside kpay-rotator dropped fields
	// the previous version had (names only); SecretFieldsRestored
	// resolves it once a version holds them again.
	SecretFieldsLost     Kind = "secret_fields_lost"
	SecretFieldsRestored Kind = "secret_fields_restored"
	// SecretFieldsAccepted resolves it too: an admin said the fields
	// were removed on purpose (kpay-rotator repair --accept).
	SecretFieldsAccepted Kind = "secret_fields_accepted"
	// SecretsManagerRotationOn: the secret also has Secrets Manager's
	// own rotation (a Lambda) enabled, which would overwrite the pair
	// kpay-rotator writes; SecretsManagerRotationOff resolves it.
	SecretsManagerRotationOn  Kind = "secrets_manager_rotation_enabled"
	SecretsManagerRotationOff Kind = "secrets_manager_rotation_disabled"
	// NotifierFailing: a chat receiver keeps failing; said through the
	// others. NotifierRecovered resolves it.
	NotifierFailing   Kind = "notifier_failing"
	NotifierRecovered Kind = "notifier_recovered"
	// NotificationExpired: an alert could not be delivered within
	// max_delivery_age and was given up (or handed to the fallback).
	NotificationExpired Kind = "notification_expired"
	// NotificationTest is the message of kpay-rotator notify-test.
	NotificationTest Kind = "notification_test"
)

// Severity orders events for routing (min_severity) and presentation.
type Severity int

// Severities, lowest first. Resolved sits with info for routing: a resolved
// message is sent to every receiver that saw the condition.
const (
	Info Severity = iota
	Resolved
	Warning
	Critical
)

var severityNames = [...]string{"info", "resolved", "warning", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity parses a severity name.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q is not one of: info, resolved, warning, critical", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

var severities = map[Kind]Severity{
	KeyDue:                    Warning,
	KeyOverdue:                Critical,
	KeyFailing:                Critical,
	KeyDegraded:               Warning,
	KeyRecovered:              Resolved,
	RotationRejected:          Critical,
	KeyRotated:                Info,
	OldKeyRevoked:             Info,
	OldKeyStillValid:          Warning,
	OldKeyUnwatched:           Warning,
	SecretChangedExternally:   Info,
	RotationStalled:           Critical,
	UnplannedRevocation:       Critical,
	RotationCancelled:         Info,
	SecretUnreadable:          Critical,
	SecretReadable:            Resolved,
	SecretMissing:             Critical,
	SecretFieldsLost:          Critical,
	SecretFieldsRestored:      Resolved,
	SecretFieldsAccepted:      Resolved,
	SecretsManagerRotationOn:  Warning,
	SecretsManagerRotationOff: Resolved,
	NotifierFailing:           Critical,
	NotifierRecovered:         Resolved,
	NotificationExpired:       Warning,
	NotificationTest:          Info,
}

// Severity is the severity DESIGN §5 gives k.
func (k Kind) Severity() Severity {
	if s, ok := severities[k]; ok {
		return s
	}
	return Warning
}

// Security reports whether k may mean a compromise: such events also go
// to the slot's security_notify receivers.
func (k Kind) Security() bool { return k == UnplannedRevocation }

// Kinds lists every known kind.
func Kinds() []Kind {
	out := make([]Kind, 0, len(severities))
	for k := range severities {
		out = append(out, k)
	}
	return out
}

// Event is one thing that happened to a slot.
type Event struct {
	// ID is stable for the event's life: deliveries use it for
	// deduplication (Standard Webhooks webhook-id). Assigned by the store.
	ID string `json:"id"`
	// Seq orders events; assigned by the store.
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Kind     Kind      `json:"kind"`
	Severity Severity  `json:"severity"`
	Slot     string    `json:"slot,omitempty"`
	// Environment is "test" or "live".
	Environment string `json:"environment,omitempty"`
	// Pair is the masked public key (kpay_live_…9f2c), never a value.
	Pair        string `json:"pair,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	SecretID    string `json:"secret_id,omitempty"`
	// Message says what happened, in one sentence.
	Message string `json:"message"`
	// Action says what a person should do next, as a command where there
	// is one. Empty when nothing is needed.
	Action string `json:"action,omitempty"`
	// Condition names the ongoing condition this event raises or resolves
	// ("health", "age", "source", "retired:<fingerprint>", "rotation"),
	// so alerting can repeat an active condition and send one resolved
	// message when it clears. Empty for one-off events.
	Condition string `json:"condition,omitempty"`
	// Resolves lists the conditions of the same slot this event clears
	// (key_recovered clears "health", key_rotated "age" and "rotation"),
	// so a resolved message goes wherever the condition was raised.
	Resolves []string `json:"resolves,omitempty"`
	// Fields carries kind-specific facts (age, cutover gap, reason).
	Fields map[string]string `json:"fields,omitempty"`
}

// New returns an event of kind k with its DESIGN severity.
func New(k Kind, at time.Time, slot, message string) Event {
	return Event{Kind: k, Severity: k.Severity(), At: at.UTC(), Slot: slot, Message: message}
}

// LogAttrs renders the event as slog attributes.
func (e Event) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("event", string(e.Kind)),
		slog.String("severity", e.Severity.String()),
	}
	if e.Slot != "" {
		attrs = append(attrs, slog.String("slot", e.Slot))
	}
	if e.Pair != "" {
		attrs = append(attrs, slog.String("pair", e.Pair))
	}
	if e.Action != "" {
		attrs = append(attrs, slog.String("action", e.Action))
	}
	for k, v := range e.Fields {
		attrs = append(attrs, slog.String(k, v))
	}
	return attrs
}
