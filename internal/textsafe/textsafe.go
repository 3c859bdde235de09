// Package textsafe makes untrusted text (KPay answers, chat platform
// replies, transport errors) safe to log and show: one line, no invisible
// characters, secrets removed. Shared by the KPay probe and the chat
// receivers so both clean text the same way.
package textsafe

import (
	"strings"
	"unicode"
)

// OneLine drops invalid UTF-8 and invisible format characters (bidi
// overrides that reorder what a reader sees, zero-width characters that
// hide a mention or split a secret), and turns every run of control
// characters and spaces into one space.
func OneLine(s string) string {
	if plainASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	pendingSpace := false
	for _, c := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsControl(c) || unicode.IsSpace(c):
			pendingSpace = true
		case unicode.Is(unicode.Cf, c):
			// Invisible: deleting it cannot join two words a reader
			// would have seen apart.
		default:
			if pendingSpace && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pendingSpace = false
			b.WriteRune(c)
		}
	}
	return b.String()
}

// plainASCII reports whether OneLine would return s unchanged: printable
// ASCII without leading, trailing or doubled spaces, which most text is,
// so the copy is skipped.
func plainASCII(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || (c == ' ' && s[i+1] == ' ') {
			return false
		}
	}
	return true
}

// ReplaceFold replaces every occurrence of old in s, ignoring ASCII letter
// case (hex keys may come back upper-cased), with repl.
func ReplaceFold(s, old, repl string) string {
	i := indexFold(s, old)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[i+len(old):]
		i = indexFold(s, old)
	}
	b.WriteString(s)
	return b.String()
}

// indexFold is strings.Index ignoring ASCII letter case, which is exact
// for the ASCII keys, tokens and URLs it looks for.
func indexFold(s, sub string) int {
	n := len(sub)
	if n == 0 || n > len(s) {
		return -1
	}
	first := lowerASCII(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
