package textsafe_test

import (
	"strings"
	"testing"
	"unicode/utf8"

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

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 10, "abcdefg…"},
		{"hello world", 8, "hello…"},
		{"ééééééé", 8, "éé…"},  // never cut inside a rune
		{"ключключ", 7, "кл…"}, // 2-byte runes: 4 bytes of text + 3 of ellipsis
		{"abc", 2, ""},
	} {
		got := textsafe.Clip(tt.in, tt.max)
		if got != tt.want || len(got) > tt.max || !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d): got %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// A nil Redactor, as a caller without secrets passes, only cleans.
func TestRedactor_nilRemovesNothing(t *testing.T) {
	var r *textsafe.Redactor
	if got := r.Clean("a\nb "+strings.Repeat("x", 20), 10); got != "a b xxx…" {
		t.Errorf("got %q, want %q", got, "a b xxx…")
	}
}

// Values are removed longest first: a value registered after a piece of
// it still goes whole.
func TestRedactor_longestFirst(t *testing.T) {
	var r textsafe.Redactor
	r.Add("abcdefghijklmnop")
	r.AddCredential("https://h.example/abcdefghijklmnop-and-more")
	if got := r.Redact("see https://h.example/abcdefghijklmnop-and-more"); got != "see [REDACTED]" {
		t.Errorf("got %q, want %q", got, "see [REDACTED]")
	}
}
