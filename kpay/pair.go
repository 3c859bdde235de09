package kpay

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Environment is the KPay environment a pair belongs to.
type Environment string

// The two KPay environments. The X-API-Key prefix selects one.
const (
	Test Environment = "test"
	Live Environment = "live"
)

// ParseEnvironment accepts "test" or "live" (any case).
func ParseEnvironment(s string) (Environment, error) {
	switch Environment(strings.ToLower(strings.TrimSpace(s))) {
	case Test:
		return Test, nil
	case Live:
		return Live, nil
	}
	return "", fmt.Errorf("environment %q is not one of: test, live", s)
}

// APIKeyPrefix is the X-API-Key prefix of e.
func (e Environment) APIKeyPrefix() string { return "kpay_" + string(e) + "_" }

// SecretKeyPrefix is the optional X-Secret-Key prefix of e.
func (e Environment) SecretKeyPrefix() string { return "sk_" + string(e) + "_" }

// Reported reports whether the environment string KPay answers on
// /payments/me names e. KPay documents TEST and PRODUCTION; some clients
// have seen LIVE, which is accepted as an alias of PRODUCTION.
func (e Environment) Reported(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TEST":
		return e == Test
	case "PRODUCTION", "LIVE":
		return e == Live
	}
	return false
}

// EnvironmentOfAPIKey derives the environment from the X-API-Key prefix,
// the only source KPay documents for it.
func EnvironmentOfAPIKey(apiKey string) (Environment, bool) {
	switch {
	case strings.HasPrefix(apiKey, Test.APIKeyPrefix()):
		return Test, true
	case strings.HasPrefix(apiKey, Live.APIKeyPrefix()):
		return Live, true
	}
	return "", false
}

// Pair is one KPay credential: the public X-API-Key and the secret
// X-Secret-Key. The public key is not secret to KPay, but it still names an
// account, so every printing form of a Pair shows only its mask.
type Pair struct {
	APIKey    string
	SecretKey Secret
}

// Fingerprint identifies a pair without revealing it: the first 16 bytes
// of SHA-256 over a domain-separated encoding of both halves, in hex. Both
// halves carry at least 192 bits of entropy in real pairs, so the digest
// cannot be reversed; it is what bbolt stores instead of values.
func (p Pair) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("kpay-rotator/pair/v1\x00"))
	h.Write([]byte(p.APIKey))
	h.Write([]byte{0})
	h.Write([]byte(p.SecretKey.Reveal()))
	return "fp_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Mask renders the pair for people: the public key's prefix and last four
// characters, e.g. kpay_live_…9f2c.
func (p Pair) Mask() string { return MaskAPIKey(p.APIKey) }

// MaskAPIKey masks a public key as Pair.Mask does.
func MaskAPIKey(k string) string {
	prefix := ""
	if env, ok := EnvironmentOfAPIKey(k); ok {
		prefix = env.APIKeyPrefix()
	}
	rest := k[len(prefix):]
	if len(rest) < 12 {
		// Too short to show a tail without giving most of it away.
		return prefix + "…"
	}
	return prefix + "…" + rest[len(rest)-4:]
}

// IsZero reports whether both halves are empty.
func (p Pair) IsZero() bool { return p.APIKey == "" && p.SecretKey.IsZero() }

// Equal reports whether p and o are the same pair.
func (p Pair) Equal(o Pair) bool { return p.APIKey == o.APIKey && p.SecretKey.Equal(o.SecretKey) }

// String implements fmt.Stringer.
func (p Pair) String() string { return p.Mask() }

// GoString implements fmt.GoStringer.
func (p Pair) GoString() string { return p.Mask() }

// Format covers every fmt verb.
func (p Pair) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.Mask())) }

// LogValue implements slog.LogValuer.
func (p Pair) LogValue() slog.Value { return slog.StringValue(p.Mask()) }

// MarshalText implements encoding.TextMarshaler.
func (p Pair) MarshalText() ([]byte, error) { return []byte(p.Mask()), nil }

// Format problems a pair can have. Each names what is wrong; the caller adds
// which slot and what to do.
var (
	ErrEmptyAPIKey      = errors.New("the public key (X-API-Key) is empty")
	ErrEmptySecretKey   = errors.New("the secret key (X-Secret-Key) is empty")
	ErrAPIKeyPrefix     = errors.New("the public key does not start with kpay_test_ or kpay_live_")
	ErrWrongEnvironment = errors.New("the pair belongs to the other environment")
	ErrMixedPrefixes    = errors.New("the secret key's sk_ prefix names the other environment than the public key")
	ErrBadCharacters    = errors.New("the key contains characters KPay never issues (only letters, digits, '_' and '-' are possible)")
	ErrBadLength        = errors.New("the key length is implausible")
)

// Limits on key lengths. Real public keys are 58 characters and real
// secrets 64 hex characters (optionally behind sk_<env>_); the bounds leave
// room for format changes while refusing truncated pastes and junk.
const (
	minKeyBody = 16
	maxKeyLen  = 256
)

// Check runs the local format checks of DESIGN §4 step 1 against the
// environment the slot expects. It never contacts KPay. A secret without an
// sk_ prefix passes: some real secrets carry none.
func (p Pair) Check(want Environment) error {
	if p.APIKey == "" {
		return ErrEmptyAPIKey
	}
	if p.SecretKey.IsZero() {
		return ErrEmptySecretKey
	}
	var errs []error
	for _, k := range []string{p.APIKey, p.SecretKey.Reveal()} {
		if !plausibleChars(k) {
			errs = append(errs, ErrBadCharacters)
			break
		}
	}
	env, ok := EnvironmentOfAPIKey(p.APIKey)
	switch {
	case !ok:
		errs = append(errs, ErrAPIKeyPrefix)
	case env != want:
		errs = append(errs, fmt.Errorf("%w: the public key is a %s key, the slot is %s", ErrWrongEnvironment, env, want))
	}
	if ok {
		other := Live
		if env == Live {
			other = Test
		}
		if strings.HasPrefix(p.SecretKey.Reveal(), other.SecretKeyPrefix()) {
			errs = append(errs, ErrMixedPrefixes)
		}
		if len(p.APIKey)-len(env.APIKeyPrefix()) < minKeyBody || len(p.APIKey) > maxKeyLen {
			errs = append(errs, fmt.Errorf("%w: the public key has %d characters", ErrBadLength, len(p.APIKey)))
		}
	}
	if sk := p.SecretKey.Reveal(); len(strings.TrimPrefix(strings.TrimPrefix(sk, "sk_test_"), "sk_live_")) < minKeyBody || len(sk) > maxKeyLen {
		errs = append(errs, fmt.Errorf("%w: the secret key has %d characters", ErrBadLength, len(sk)))
	}
	return errors.Join(errs...)
}

// HasSecretPrefix reports whether the secret carries an sk_ prefix. Callers
// warn (never reject) when it does not.
func (p Pair) HasSecretPrefix() bool {
	sk := p.SecretKey.Reveal()
	return strings.HasPrefix(sk, "sk_test_") || strings.HasPrefix(sk, "sk_live_")
}

func plausibleChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// IsApplicationID reports whether s has the shape of a KPay application
// id: a UUID, 8-4-4-4-12 hex digits, in either case.
func IsApplicationID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
