package notifier

import (
	"kpay-rotator/internal/textsafe"
	"kpay-rotator/kpay"
)

// Redactor removes a receiver's loaded secrets from text before it
// becomes a Result.Detail or an error. Chat platforms put the credential
// in the URL, Go's *url.Error quotes the whole URL, and a hostile or
// confused server may echo any of it back, escaped or not; so every string
// leaving a receiver passes through here, whatever produced it. It is
// textsafe.Redactor, the one the KPay probe uses too, taking kpay.Secrets
// and cutting to MaxDetail.
type Redactor struct{ r textsafe.Redactor }

// NewRedactor returns a Redactor for secrets. A secret that parses as a
// URL also has its path, its query and their longer pieces removed
// (textsafe.Redactor.AddCredential).
func NewRedactor(secrets ...kpay.Secret) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secret values, e.g. a URL built from a token.
func (r *Redactor) Add(secrets ...kpay.Secret) {
	for _, s := range secrets {
		r.r.AddCredential(s.Reveal())
	}
}

// inner is nil for a nil Redactor, which removes nothing.
func (r *Redactor) inner() *textsafe.Redactor {
	if r == nil {
		return nil
	}
	return &r.r
}

// Redact replaces every secret form in s, in any ASCII letter case
// (percent-escapes come back as %2f or %2F), with kpay.Masked.
func (r *Redactor) Redact(s string) string { return r.inner().Redact(s) }

// MaxDetail bounds Result.Detail: one readable line for a log or a status
// page, not a response body.
const MaxDetail = 400

// Line makes untrusted text (a response body, a transport error) fit for
// Result.Detail: one line, secrets removed, at most MaxDetail bytes
// (textsafe.Redactor.Clean).
func (r *Redactor) Line(s string) string { return r.inner().Clean(s, MaxDetail) }
