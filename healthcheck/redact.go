package healthcheck

import (
	"strings"

	"kpay-rotator/internal/textsafe"
	"kpay-rotator/kpay"
)

// minBodyNeedle is the shortest prefix-less key body worth redacting on its
// own. Real bodies are 48 or 64 hex characters; much shorter strings would
// start removing ordinary words.
const minBodyNeedle = 16

// newRedactor returns the redactor for one pair's key values, through
// which every text the probe returns or logs passes. Nothing KPay
// documents echoes a key, but an error page, a proxy or a future message
// might, and a transport error quotes whatever it was given.
func newRedactor(p kpay.Pair) *textsafe.Redactor {
	r := &textsafe.Redactor{}
	for _, k := range []string{p.APIKey, p.SecretKey.Reveal()} {
		r.Add(k)
		// A server echoing a key may drop its prefix; remove the body
		// alone too.
		for _, prefix := range []string{
			kpay.Test.APIKeyPrefix(), kpay.Live.APIKeyPrefix(),
			kpay.Test.SecretKeyPrefix(), kpay.Live.SecretKeyPrefix(),
		} {
			if body, ok := strings.CutPrefix(k, prefix); ok && len(body) >= minBodyNeedle {
				r.Add(body)
			}
		}
	}
	return r
}
