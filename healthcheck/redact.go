package healthcheck

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"kpay-rotator/internal/textsafe"

	"kpay-rotator/kpay"
)

// redactor removes one pair's key values from text before it reaches a
// Result or a log line. Nothing KPay documents echoes a key, but an error
// page, a proxy or a future message might, and a transport error quotes
// whatever it was given; the probe cannot know, so everything passes
// through here.
type redactor struct {
	needles []string // longest first, so a value is removed before its parts
}

// minBodyNeedle is the shortest prefix-less key body worth redacting on its
// own. Real bodies are 48 or 64 hex characters; much shorter strings would
// start removing ordinary words.
const minBodyNeedle = 16

func newRedactor(p kpay.Pair) redactor {
	var r redactor
	add := func(s string) {
		if s != "" && !slices.Contains(r.needles, s) {
			r.needles = append(r.needles, s)
		}
	}
	for _, k := range []string{p.APIKey, p.SecretKey.Reveal()} {
		add(k)
		// A server echoing a key may drop its prefix; remove the body
		// alone too.
		for _, prefix := range []string{
			kpay.Test.APIKeyPrefix(), kpay.Live.APIKeyPrefix(),
			kpay.Test.SecretKeyPrefix(), kpay.Live.SecretKeyPrefix(),
		} {
			if body, ok := strings.CutPrefix(k, prefix); ok && len(body) >= minBodyNeedle {
				add(body)
			}
		}
	}
	slices.SortFunc(r.needles, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return r
}

// clean makes untrusted text fit for one line of a log or an alert:
// invalid UTF-8 and invisible format characters (bidi overrides,
// zero-width spaces) are dropped, runs of control characters and spaces
// become one space, the pair's values are removed, and the result is cut
// to limit bytes. The order matters: removal of invisible characters first,
// so a key split by one is still found; truncation last, so it cannot cut
// a key into a prefix that no longer matches.
func (r redactor) clean(s string, limit int) string {
	s = textsafe.OneLine(s)
	s = r.redact(s)
	return truncate(s, limit)
}

// redact replaces every occurrence of the pair's values, in any letter
// case (hex may come back upper-cased), with kpay.Masked.
func (r redactor) redact(s string) string {
	for _, n := range r.needles {
		s = textsafe.ReplaceFold(s, n, kpay.Masked)
	}
	return s
}

// truncate cuts s to at most limit bytes on a rune boundary.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + ellipsis
}
