package notifier_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"kpay-rotator/notifier"
)

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                      "plain",
		"  two\n\nlines\t ":          "two lines",
		"bidi \u202eevil\u202c here": "bidi evil here",
		"zero\u200bwidth":            "zerowidth",
		"bad \xff utf8":              "bad utf8",
		"ctrl\x00\x07char":           "ctrl char",
		"ключ 🔑":                     "ключ 🔑",
	} {
		if got := notifier.OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClipRunes(t *testing.T) {
	if got := notifier.ClipRunes("ключключ", 4); got != "клю…" {
		t.Errorf("ClipRunes = %q", got)
	}
}

var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// TestEscapeClip_neverSplits cuts escaped text at every length and checks
// each result: within the limit, valid UTF-8, and every '&' the start of
// a whole entity.
func TestEscapeClip_neverSplits(t *testing.T) {
	in := strings.Repeat("a<&>ключ🔑", 20)
	full := notifier.EscapeClip(in, 1<<20, notifier.EscapeHTML)
	for max := 0; max <= len(full)+1; max++ {
		got := notifier.EscapeClip(in, max, notifier.EscapeHTML)
		if len(got) > max || !utf8.ValidString(got) {
			t.Fatalf("max %d: got %q (%d bytes)", max, got, len(got))
		}
		if n := strings.Count(got, "&"); n != len(entity.FindAllString(got, -1)) {
			t.Fatalf("max %d: a cut entity in %q", max, got)
		}
		if max >= len(full) && got != full {
			t.Fatalf("max %d: got %q, want it whole", max, got)
		}
		if max < len(full) && max >= 3 && !strings.HasSuffix(got, notifier.Ellipsis) {
			t.Fatalf("max %d: a cut without an ellipsis: %q", max, got)
		}
	}
}

func TestList(t *testing.T) {
	items := []string{"aaaa", "bbbb", "cccc", "dddd"}
	more := func(n int) string { return "+" + strings.Repeat("x", n) }
	for _, tt := range []struct {
		max  int
		want string
	}{
		{100, "aaaa\nbbbb\ncccc\ndddd"},
		{19, "aaaa\nbbbb\ncccc\ndddd"},
		{18, "aaaa\nbbbb\ncccc\n+x"},
		{14, "aaaa\nbbbb\n+xx"},
		{13, "aaaa\nbbbb\n+xx"},
		{9, "aaaa\n+xxx"},
		{5, "+xxxx"},
		{4, ""}, // not even the closing line fits
	} {
		got := notifier.List(items, "\n", tt.max, more)
		if got != tt.want || len(got) > tt.max {
			t.Errorf("List(max %d) = %q, want %q", tt.max, got, tt.want)
		}
	}
}

func TestMarshalJSON_noHTMLEscaping(t *testing.T) {
	b, err := notifier.MarshalJSON(map[string]string{"t": "<&>"})
	if err != nil || string(b) != `{"t":"<&>"}` {
		t.Errorf("got %s, %v", b, err)
	}
}
