package healthcheck

import (
	"strings"
	"testing"

	"kpay-rotator/kpay"
)

func TestRedactor_clean(t *testing.T) {
	pair := kpay.Pair{
		APIKey:    "kpay_test_" + strings.Repeat("0a1b", 12),
		SecretKey: kpay.NewSecret("sk_test_" + strings.Repeat("9f8e", 16)),
	}
	api, secret := pair.APIKey, pair.SecretKey.Reveal()
	apiBody, secretBody := strings.TrimPrefix(api, "kpay_test_"), strings.TrimPrefix(secret, "sk_test_")
	red := newRedactor(pair)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", "Invalid API credentials", "Invalid API credentials"},
		{"api key", "bad key " + api + ".", "bad key [REDACTED]."},
		{"secret", secret + secret, "[REDACTED][REDACTED]"},
		{"upper case", strings.ToUpper(secret), "[REDACTED]"},
		{"body without prefix", "key=" + apiBody + " secret=" + secretBody, "key=[REDACTED] secret=[REDACTED]"},
		{"split by an invisible character", api[:20] + "\u200b" + api[20:], "[REDACTED]"},
		{"split by a newline is not rejoined", api[:20] + "\n" + api[20:], api[:20] + " " + api[20:]},
		{"controls and spaces collapse", "  a\r\n\tb  \x00 c ", "a b c"},
		{"invalid UTF-8 dropped", "a\xffb", "ab"},
		{"bidi override dropped", "abc\u202edef", "abcdef"},
		{"non-ASCII kept", "Clé invalide", "Clé invalide"},
	} {
		if got := red.Clean(tt.in, 500); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRedactor_redactsBeforeTruncating(t *testing.T) {
	pair := kpay.Pair{APIKey: "kpay_live_" + strings.Repeat("c", 48), SecretKey: kpay.NewSecret(strings.Repeat("d", 64))}
	// The key straddles the cut: truncating first would leave a prefix
	// of it that no longer matches.
	in := strings.Repeat("x", 180) + pair.APIKey
	got := newRedactor(pair).Clean(in, 200)
	if strings.Contains(got, "cccccc") {
		t.Errorf("got %q: a piece of the key survived the cut", got)
	}
}
