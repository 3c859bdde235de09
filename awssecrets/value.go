package awssecrets

import (
	"bytes"
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
