package kpayemu

import (
	"crypto/subtle"
	"net/http"

	"kpay-rotator/kpay"
)

// The authentication headers. net/http canonicalizes incoming header names,
// so the lower-case forms some clients send match too.
const (
	headerAPIKey    = "X-API-Key"
	headerSecretKey = "X-Secret-Key"
)

// messageInvalidCredentials is KPay's documented 401 message.
const messageInvalidCredentials = "Invalid API credentials"

// authenticate resolves the request's pair. Every failure gets the same
// answer, as on KPay: a missing header, an unknown or replaced key, a secret
// of another application or of the other environment all read
// "Invalid API credentials". The reason is logged for whoever debugs a test.
func (s *Server) authenticate(r *http.Request) (identity, bool) {
	apiKey, secret := r.Header.Get(headerAPIKey), r.Header.Get(headerSecretKey)
	if apiKey == "" || secret == "" {
		s.log.Debug("credentials rejected", "reason", "missing header", "key", kpay.MaskAPIKey(apiKey))
		return identity{}, false
	}
	// The public key is looked up in a map: it names an account but is not
	// a secret, so how long the lookup takes gives nothing away. The secret
	// is compared in constant time.
	id, want, ok := s.reg.lookup(apiKey)
	if !ok {
		s.log.Debug("credentials rejected", "reason", "unknown public key", "key", kpay.MaskAPIKey(apiKey))
		return identity{}, false
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want.Reveal())) != 1 {
		s.log.Debug("credentials rejected", "reason", "secret does not match", "key", kpay.MaskAPIKey(apiKey))
		return identity{}, false
	}
	return id, true
}

func writeUnauthorized(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, messageInvalidCredentials)
}
