package textsafe_test

import (
	"testing"

	"kpay-rotator/internal/textsafe"
)

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":               "plain text",
		"two\nlines\r\n and\ttabs": "two lines and tabs",
		"  padded  ":               "padded",
		"zero\u200bwidth split":    "zerowidth split",
		"bidi \u202eoverride":      "bidi override",
		"bad utf8 \xff here":       "bad utf8 here",
		"":                         "",
		"control\x00\x07chars":     "control chars",
	} {
		if got := textsafe.OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplaceFold(t *testing.T) {
	for _, tt := range []struct{ s, old, want string }{
		{"key abcDEF and ABCdef", "abcdef", "key X and X"},
		{"nothing", "abc", "nothing"},
		{"abcabc", "abc", "XX"},
		{"", "abc", ""},
		{"ab", "abc", "ab"},
	} {
		if got := textsafe.ReplaceFold(tt.s, tt.old, "X"); got != tt.want {
			t.Errorf("ReplaceFold(%q, %q) = %q, want %q", tt.s, tt.old, got, tt.want)
		}
	}
}
