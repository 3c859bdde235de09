package textsafe

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"kpay-rotator/kpay"
)

// Redactor removes secret values from text before it is shown: a KPay
// pair's keys in a probe result, a receiver's webhook URL or bot token in
// a delivery result. Nothing may be trusted not to repeat a secret (a
// transport error quotes its URL, a hostile or confused server echoes what
// it was sent), so every such string passes through one. The zero value
// and a nil *Redactor remove nothing.
type Redactor struct {
	needles []string // longest first, so a value goes before its parts
}

// minPiece is the shortest URL path segment or query value removed on its
// own. Webhook tokens are 24 to 70 characters; shorter pieces are words
// like "services" or "sendMessage" whose removal would only hide where a
// failure happened.
const minPiece = 16

// Add registers values to remove as they are written.
func (r *Redactor) Add(values ...string) {
	for _, v := range values {
		r.add(v)
	}
	r.sort()
}

// AddCredential registers credentials that may come back in another form:
// URL-escaped, with JSON's optional escaping of '/', and, for a URL, its
// path, query, fragment, password and their longer pieces, so that an
// error quoting only the path (a 404 page, a proxy log line) still gives
// nothing away.
func (r *Redactor) AddCredential(values ...string) {
	for _, v := range values {
		r.addCredential(v)
	}
	r.sort()
}

func (r *Redactor) addCredential(v string) {
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
		r.add(f)
	}
}

func (r *Redactor) add(v string) {
	if v != "" && !slices.Contains(r.needles, v) {
		r.needles = append(r.needles, v)
	}
}

func (r *Redactor) sort() {
	slices.SortFunc(r.needles, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

// Redact replaces every registered value in s, in any ASCII letter case
// (hex keys come back upper-cased, percent-escapes as %2f or %2F), with
// kpay.Masked.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	for _, n := range r.needles {
		s = ReplaceFold(s, n, kpay.Masked)
	}
	return s
}

// Clean makes untrusted text fit for one line of a log, a result or an
// alert: OneLine, the registered values removed, at most limit bytes. The
// order matters: invisible characters go first, so a secret split by one
// is still found; the cut comes last, so it cannot leave a prefix of a
// secret that no longer matches.
func (r *Redactor) Clean(s string, limit int) string {
	return Clip(r.Redact(OneLine(s)), limit)
}

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Clip cuts s to at most max bytes on a rune boundary, ending it with
// Ellipsis when anything was cut. Byte limits are used throughout because
// a byte count is never smaller than the rune or UTF-16 count platforms
// measure in, so a text within a byte limit is within theirs.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max < len(Ellipsis) {
		return ""
	}
	cut := max - len(Ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + Ellipsis
}
