package notifier

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"kpay-rotator/internal/textsafe"

	"kpay-rotator/kpay"
)

// Redactor removes a receiver's loaded secrets from text before it
// becomes a Result.Detail or an error. Chat platforms put the credential
// in the URL, Go's *url.Error quotes the whole URL, and a hostile or
// confused server may echo any of it back, escaped or not; so every string
// leaving a receiver passes through here, whatever produced it.
type Redactor struct {
	needles []string // longest first, so a value goes before its parts
}

// minPiece is the shortest URL path segment or query value removed on its
// own. Webhook tokens are 24 to 70 characters; shorter pieces are words
// like "services" or "sendMessage" whose removal would only hide where a
// failure happened.
const minPiece = 16

// NewRedactor returns a Redactor for secrets. A secret that parses as a
// URL also has its path, its query and their longer pieces removed, so
// that an error quoting only the path (a 404 page, a proxy log line) still
// gives nothing away.
func NewRedactor(secrets ...kpay.Secret) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.add(s.Reveal())
	}
	return r
}

// Add registers more secret values, e.g. a URL built from a token.
func (r *Redactor) Add(secrets ...kpay.Secret) {
	for _, s := range secrets {
		r.add(s.Reveal())
	}
}

func (r *Redactor) add(v string) {
	if v == "" {
		return
	}
	r.addForms(v)
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return
	}
	for _, p := range []string{u.Path, u.EscapedPath(), u.RawQuery, u.Fragment} {
		if p != "" && p != "/" {
			r.addForms(p)
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= minPiece {
			r.addForms(seg)
		}
	}
	for _, vs := range u.Query() {
		for _, qv := range vs {
			if len(qv) >= minPiece {
				r.addForms(qv)
			}
		}
	}
	if p, ok := u.User.Password(); ok && p != "" {
		r.addForms(p)
	}
}

// addForms adds v as written, URL-escaped both ways, and with JSON's
// optional escaping of '/', the forms in which a server or a library is
// likely to repeat it.
func (r *Redactor) addForms(v string) {
	for _, f := range []string{v, url.PathEscape(v), url.QueryEscape(v), strings.ReplaceAll(v, "/", `\/`)} {
		if !slices.Contains(r.needles, f) {
			r.needles = append(r.needles, f)
		}
	}
	r.sort()
}

func (r *Redactor) sort() {
	slices.SortFunc(r.needles, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

// Redact replaces every secret form in s, in any ASCII letter case
// (percent-escapes come back as %2f or %2F), with kpay.Masked.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	for _, n := range r.needles {
		s = textsafe.ReplaceFold(s, n, kpay.Masked)
	}
	return s
}

// MaxDetail bounds Result.Detail: one readable line for a log or a status
// page, not a response body.
const MaxDetail = 400

// Line makes untrusted text (a response body, a transport error) fit for
// Result.Detail: one line, secrets removed, at most MaxDetail bytes. The
// order matters: invisible characters go first so a secret split by one is
// still found, and the cut comes last so it cannot leave a fragment of a
// secret that no longer matches.
func (r *Redactor) Line(s string) string {
	return Clip(r.Redact(OneLine(s)), MaxDetail)
}
