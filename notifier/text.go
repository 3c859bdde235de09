package notifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kpay-rotator/internal/textsafe"
)

// Ellipsis marks text cut to fit a platform's limit.
const Ellipsis = textsafe.Ellipsis

// OneLine makes untrusted text safe to place inside a line of a message
// (textsafe.OneLine): a newline in an event message could otherwise start a
// Markdown list, heading or quote on platforms that render them, and an
// invisible character could hide a mention.
func OneLine(s string) string { return textsafe.OneLine(s) }

// Clip cuts s to at most max bytes on a rune boundary, ending it with
// Ellipsis when anything was cut (textsafe.Clip).
func Clip(s string, max int) string { return textsafe.Clip(s, max) }

// ClipRunes cuts s to at most max runes, ending it with Ellipsis when
// anything was cut.
func ClipRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRight(s[:i], " ") + Ellipsis
		}
		n++
	}
	return s
}

// EscapeClip escapes s rune by rune with esc and keeps the result within
// max bytes, so a cut never falls inside an escape sequence (half an
// "&amp;", a backslash without its character) or inside a rune. A cut
// result ends with Ellipsis.
func EscapeClip(s string, max int, esc Escaper) string {
	var b strings.Builder
	b.Grow(min(len(s), max))
	for _, r := range s {
		b.WriteString(esc(r))
	}
	if b.Len() <= max {
		return b.String()
	}
	if max < len(Ellipsis) {
		return ""
	}
	budget := max - len(Ellipsis)
	b.Reset()
	for _, r := range s {
		e := esc(r)
		if b.Len()+len(e) > budget {
			break
		}
		b.WriteString(e)
	}
	return strings.TrimRight(b.String(), " ") + Ellipsis
}

// Escaper escapes one rune of untrusted text for a platform's markup.
type Escaper func(r rune) string

// EscapeHTML escapes '&', '<' and '>', all that HTML-like markup needs
// outside attributes to keep text from opening a tag, an entity, a link or
// a mention: Telegram's HTML, Slack's mrkdwn and Google Chat's card text.
func EscapeHTML(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return string(r)
}

// Fence is the run of backticks that opens and closes a Markdown code
// span or block holding s: longer than any run of backticks inside s, so
// none of them ends it early, and at least min long. This is how
// CommonMark (Mattermost) and Discord show a backtick in code byte for
// byte, where a backslash would show as itself.
func Fence(s string, min int) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(min, longest+1))
}

// List joins items with sep, keeping the total within max bytes: it stops
// at the first item that would not fit together with a closing line more(n)
// for the n items left out, and then appends that line. Items must already
// be escaped for the platform and should each be clipped well below max.
func List(items []string, sep string, max int, more func(n int) string) string {
	var b strings.Builder
	for i, it := range items {
		add := len(it)
		if b.Len() > 0 {
			add += len(sep)
		}
		reserve := 0
		if rest := len(items) - i - 1; rest > 0 {
			reserve = len(sep) + len(more(rest))
		}
		if b.Len()+add+reserve > max {
			m := more(len(items) - i)
			if b.Len() > 0 {
				m = sep + m
			}
			if b.Len()+len(m) <= max {
				b.WriteString(m)
			}
			return b.String()
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(it)
	}
	return b.String()
}

// MarshalJSON encodes v the way every receiver sends it: without
// encoding/json's HTML escaping, which would turn each '<', '>' and '&'
// of an already-escaped text into six bytes and eat into size limits, and
// without the trailing newline.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Elapsed renders a duration for people, to the minute once past one:
// "45s", "12m", "3h05m", "2d4h".
func Elapsed(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}
