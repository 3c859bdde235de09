package kpay

import (
	"fmt"
	"log/slog"
)

// Masked is what every printing form of a Secret shows.
const Masked = "[REDACTED]"

// Secret holds a secret string (a KPay secret key, a webhook URL, a bot
// token). Every way Go can print it — fmt verbs, slog, encoding/json,
// encoding.TextMarshaler — yields Masked, so a Secret can be logged, wrapped
// in an error or marshalled by accident without leaking. The value is
// reachable only through Reveal, which makes each use greppable.
//
// The value sits behind a pointer: fmt cannot call String on a Secret kept
// in another struct's unexported field, and would print a string field's
// contents there, but it prints a nested pointer only as an address.
type Secret struct {
	v *string
}

// NewSecret wraps s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the secret value. Call it only where the value must leave
// the process (an HTTP header, a Secrets Manager write).
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// Equal compares two secrets without revealing either to the caller.
func (s Secret) Equal(o Secret) bool { return s.Reveal() == o.Reveal() }

// String implements fmt.Stringer.
func (s Secret) String() string { return Masked }

// GoString implements fmt.GoStringer, covering %#v.
func (s Secret) GoString() string { return Masked }

// Format covers every verb, including %x and %q, which would otherwise
// bypass String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Masked)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Masked) }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Masked), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Masked + `"`), nil }
