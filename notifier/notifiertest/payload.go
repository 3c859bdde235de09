package notifiertest

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Texts decodes a JSON body and returns every string value in it, keys
// excluded: what a platform may render.
func Texts(t testing.TB, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not valid JSON: %v\n%.500s", err, body)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// CheckBody fails unless body is valid JSON of at most max bytes and
// every string in it is valid UTF-8 without U+FFFD, the mark of a rune cut
// in half and repaired by the decoder.
func CheckBody(t testing.TB, body []byte, max int) {
	t.Helper()
	if len(body) > max {
		t.Errorf("body is %d bytes, over the limit of %d", len(body), max)
	}
	if !json.Valid(body) {
		t.Fatalf("body is not valid JSON: %.500s", body)
	}
	for _, s := range Texts(t, body) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			t.Errorf("a string in the body has a broken rune: %.200q", s)
		}
	}
}

// AssertAbsent fails if any of texts contains any of raw.
func AssertAbsent(t testing.TB, texts []string, raw ...string) {
	t.Helper()
	for _, s := range texts {
		for _, r := range raw {
			if strings.Contains(s, r) {
				t.Errorf("rendered text keeps %q intact: %.300q", r, s)
			}
		}
	}
}

// AssertPresent fails unless some text contains each of want.
func AssertPresent(t testing.TB, texts []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, s := range texts {
			if strings.Contains(s, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no rendered text contains %q", w)
		}
	}
}
