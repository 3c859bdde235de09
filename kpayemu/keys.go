package kpayemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"kpay-rotator/kpay"
)

// Sizes of the random parts of KPay key material, in bytes. Real public keys
// end in 48 hex characters, real secrets are 64 hex characters.
const (
	apiKeyBytes = 24
	secretBytes = 32
)

// randomBytes fills n bytes from crypto/rand. Since Go 1.24 rand.Read never
// returns an error: it crashes the program rather than hand out weak bytes,
// so there is nothing to check.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newAPIKey(env kpay.Environment) string {
	return env.APIKeyPrefix() + hex.EncodeToString(randomBytes(apiKeyBytes))
}

// newSecretKey mints a secret in the documented sk_<env>_ form, or bare when
// prefixless, the form some real secrets have.
func newSecretKey(env kpay.Environment, prefixless bool) kpay.Secret {
	body := hex.EncodeToString(randomBytes(secretBytes))
	if prefixless {
		return kpay.NewSecret(body)
	}
	return kpay.NewSecret(env.SecretKeyPrefix() + body)
}

// newUUID returns a random (version 4) UUID, the form of KPay's
// application and company ids.
func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
