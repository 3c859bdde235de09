package awssecrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"kpay-rotator/kpay"
)

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

// Token derives a ClientRequestToken (a version id, UUID-shaped) from
// seed: the same seed always names the same version, so a write repeated
// after a lost answer cannot make a second one.
func Token(seed string) string {
	h := sha256.Sum256([]byte(seed))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// NewValue is a fresh secret value holding only the pair.
func NewValue(apiKeyField, secretKeyField string, pair kpay.Pair) (kpay.Secret, error) {
	return encodeWithPair(map[string]json.RawMessage{}, apiKeyField, secretKeyField, pair)
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

// Put writes value as a new AWSCURRENT version of secretID with
// ClientRequestToken token, so that repeating the call after a crash or a
// lost answer cannot create a second version (AWS returns the existing one
// for the same token and value). Returns the new version id.
func (c *Client) Put(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: PutSecretValue took too long"))
	defer cancel()
	out, err := c.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		SecretString:       aws.String(value.Reveal()),
		ClientRequestToken: aws.String(token),
	})
	if err != nil {
		return "", c.classify("PutSecretValue", secretID, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Create creates secretID holding value, its first version taking token.
func (c *Client) Create(ctx context.Context, secretID string, value kpay.Secret, token string) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.callTimeout, errors.New("secretsmanager: CreateSecret took too long"))
	defer cancel()
	out, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(secretID),
		SecretString:       aws.String(value.Reveal()),
		ClientRequestToken: aws.String(token),
		Description:        aws.String("KPay key pair managed by kpay-rotator"),
	})
	if err != nil {
		return "", c.classify("CreateSecret", secretID, err)
	}
	return aws.ToString(out.VersionId), nil
}
