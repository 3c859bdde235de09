package secretdoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"kpay-rotator/kpay"
)

// Pair extracts the KPay pair from the version's JSON value. Errors name the
// secret and the fields, never the value: a JSON syntax error's text quotes
// the offending character, so only its offset is reported.
func (v Version) Pair(apiKeyField, secretKeyField string) (kpay.Pair, error) {
	fields, err := v.Fields()
	if err != nil {
		return kpay.Pair{}, err
	}
	var missing []string
	get := func(name string) string {
		raw, ok := fields[name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q (absent)", name))
			return ""
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			missing = append(missing, fmt.Sprintf("%q (not a non-empty string)", name))
			return ""
		}
		return s
	}
	pair := kpay.Pair{APIKey: get(apiKeyField), SecretKey: kpay.NewSecret(get(secretKeyField))}
	if len(missing) > 0 {
		return kpay.Pair{}, fmt.Errorf("%w: secret %q (version %s) lacks field %v; put the public key in %q and the secret key in %q, or set api_key_field/secret_key_field for this slot",
			ErrMissingField, v.SecretID, v.VersionID, missing, apiKeyField, secretKeyField)
	}
	return pair, nil
}

// FieldNames lists the names of the value's JSON fields, sorted: what a
// change that drops fields is told by, without keeping any value.
func (v Version) FieldNames() ([]string, error) {
	fields, err := v.Fields()
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(fields)), nil
}

// Fields decodes the value as a JSON object, keeping every field raw so a
// write can put back exactly what it did not change.
func (v Version) Fields() (map[string]json.RawMessage, error) {
	raw := []byte(v.Value.Reveal())
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		where := ""
		if se, ok := err.(*json.SyntaxError); ok {
			where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
		}
		return nil, fmt.Errorf("%w: secret %q (version %s)%s; store the pair as a JSON object such as {\"KPAY_API_KEY\": \"kpay_live_…\", \"KPAY_SECRET_KEY\": \"…\"}",
			ErrNotJSON, v.SecretID, v.VersionID, where)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: secret %q (version %s) has data after the JSON object", ErrNotJSON, v.SecretID, v.VersionID)
	}
	return fields, nil
}

// WithPair returns the version's value with the two key fields replaced by
// pair and every other field kept byte for byte.
func (v Version) WithPair(apiKeyField, secretKeyField string, pair kpay.Pair) (kpay.Secret, error) {
	fields, err := v.Fields()
	if err != nil {
		return kpay.Secret{}, err
	}
	return encodeWithPair(fields, apiKeyField, secretKeyField, pair)
}

// WithFields returns the version's value with the named fields added,
// copied byte for byte from src; every field it has stays as it is. A
// name src lacks is an error naming it.
func (v Version) WithFields(src Version, names []string) (kpay.Secret, error) {
	fields, err := v.Fields()
	if err != nil {
		return kpay.Secret{}, err
	}
	from, err := src.Fields()
	if err != nil {
		return kpay.Secret{}, err
	}
	for _, n := range names {
		raw, ok := from[n]
		if !ok {
			return kpay.Secret{}, fmt.Errorf("%w: version %s of secret %q has no field %q to copy", ErrMissingField, src.VersionID, src.SecretID, n)
		}
		fields[n] = raw
	}
	out, err := marshalNoEscape(fields)
	if err != nil {
		return kpay.Secret{}, fmt.Errorf("encode secret value: %w", err)
	}
	return kpay.NewSecret(string(out)), nil
}

// NewValue is a fresh secret value holding only the pair.
func NewValue(apiKeyField, secretKeyField string, pair kpay.Pair) (kpay.Secret, error) {
	return encodeWithPair(map[string]json.RawMessage{}, apiKeyField, secretKeyField, pair)
}

// Token derives a write's request token (a version id, UUID-shaped, as
// Secrets Manager's ClientRequestToken wants) from seed: the same seed
// always names the same version, so a write repeated after a lost answer
// cannot make a second one.
func Token(seed string) string {
	h := sha256.Sum256([]byte(seed))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func encodeWithPair(fields map[string]json.RawMessage, apiKeyField, secretKeyField string, pair kpay.Pair) (kpay.Secret, error) {
	for name, value := range map[string]string{apiKeyField: pair.APIKey, secretKeyField: pair.SecretKey.Reveal()} {
		raw, err := marshalNoEscape(value)
		if err != nil {
			return kpay.Secret{}, fmt.Errorf("encode field %s: %w", name, err)
		}
		fields[name] = raw
	}
	// Other fields stay as raw JSON; the object's key order is sorted,
	// which JSON consumers never depend on.
	out, err := marshalNoEscape(fields)
	if err != nil {
		return kpay.Secret{}, fmt.Errorf("encode secret value: %w", err)
	}
	return kpay.NewSecret(string(out)), nil
}

// marshalNoEscape marshals without turning <, > and & into \u escapes, so
// fields the daemon does not own keep their bytes.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
