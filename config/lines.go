package config

import (
	"strconv"
	"strings"
)

// lineIndex maps key paths to the line that defines them.
//
// BurntSushi/toml keeps key positions private, so semantic problems found
// after decoding would otherwise carry no line. The index is built by a
// light scan of the same text: table headers ([t], [[t]] with a running
// element count), `key =` lines, and enough of the value syntax (strings,
// multi-line strings, brackets, comments) to skip continuation lines. It
// runs only on text the TOML parser accepted, so it need not diagnose
// anything; on input it does not understand it records less, and lookups
// fall back to the enclosing table.
//
// A path is a list of keys; an element of an array of tables is the
// segment elem(i), so ("slot", elem(1), "probe_schedule") is the
// probe_schedule of the second [[slot]].
type lineIndex struct {
	lines map[string]int
}

// elem is the path segment of the i-th (0-based) element of an array. The
// leading NUL keeps it apart from real keys, which would need an escape
// to hold one.
func elem(i int) string { return "\x00" + strconv.Itoa(i) }

func pathKey(path []string) string { return strings.Join(path, "\x01") }

// line returns the line of path, or of its nearest ancestor that has one,
// or 0.
func (ix *lineIndex) line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := ix.lines[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 0
}

// record sets the line of path and, where not yet known, of its parents
// (implicitly created by dotted keys and headers).
func (ix *lineIndex) record(path []string, line int) {
	ix.lines[pathKey(path)] = line
	for n := len(path) - 1; n > 0; n-- {
		k := pathKey(path[:n])
		if _, ok := ix.lines[k]; !ok {
			ix.lines[k] = line
		}
	}
}

func indexLines(src string) *lineIndex {
	ix := &lineIndex{lines: make(map[string]int)}
	arrays := make(map[string]int) // resolved array path -> elements seen
	var table []string
	var val valueScanner
	for i, text := range strings.Split(strings.TrimPrefix(src, "\ufeff"), "\n") {
		line := i + 1
		if val.open() {
			val.scan(text)
			continue
		}
		s := strings.TrimLeft(text, " \t")
		switch {
		case s == "" || s[0] == '#' || s[0] == '\r':
		case strings.HasPrefix(s, "[["):
			if keys, _ := parseKey(s[2:], "]]"); keys != nil {
				table = resolveHeader(keys, true, arrays, ix, line)
			}
		case s[0] == '[':
			if keys, _ := parseKey(s[1:], "]"); keys != nil {
				table = resolveHeader(keys, false, arrays, ix, line)
			}
		default:
			keys, rest := parseKey(s, "=")
			if keys == nil {
				continue
			}
			path := append(append([]string(nil), table...), keys...)
			ix.record(path, line)
			val.scan(rest)
		}
	}
	return ix
}

// resolveHeader turns the keys of a table header into a path, inserting the
// current element of every array of tables on the way (a [slot.x] header
// belongs to the latest [[slot]]), records its line and returns it.
func resolveHeader(keys []string, isArray bool, arrays map[string]int, ix *lineIndex, line int) []string {
	var path []string
	for i, k := range keys {
		path = append(path, k)
		key := pathKey(path)
		if isArray && i == len(keys)-1 {
			arrays[key]++
			if _, ok := ix.lines[key]; !ok {
				ix.lines[key] = line
			}
			path = append(path, elem(arrays[key]-1))
		} else if n, ok := arrays[key]; ok {
			path = append(path, elem(n-1))
		}
	}
	ix.record(path, line)
	return path
}

// parseKey reads a dotted key (bare, "basic" or 'literal' parts) up to
// term and returns its parts and the text after term, or nil.
func parseKey(s, term string) ([]string, string) {
	var keys []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, ""
		}
		var k string
		switch s[0] {
		case '"':
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, ""
			}
			k = s[1:end]
			if u, err := strconv.Unquote(s[:end+1]); err == nil {
				k = u
			}
			s = s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, ""
			}
			k = s[1 : end+1]
			s = s[end+2:]
		default:
			end := strings.IndexAny(s, " \t.=]#\"'")
			if end <= 0 {
				return nil, ""
			}
			k, s = s[:end], s[end:]
		}
		keys = append(keys, k)
		s = strings.TrimLeft(s, " \t")
		switch {
		case strings.HasPrefix(s, "."):
			s = s[1:]
		case strings.HasPrefix(s, term):
			return keys, s[len(term):]
		default:
			return nil, ""
		}
	}
}

// valueScanner follows a value across lines: an open multi-line string or
// an unclosed array or inline table means the next line continues it.
type valueScanner struct {
	ml    string // delimiter of the open multi-line string, or ""
	depth int    // unclosed [ and {
}

func (v *valueScanner) open() bool { return v.ml != "" || v.depth > 0 }

func (v *valueScanner) scan(s string) {
	for i := 0; i < len(s); {
		if v.ml != "" {
			switch {
			case v.ml == `"""` && s[i] == '\\':
				i += 2
			case strings.HasPrefix(s[i:], v.ml):
				// Up to two more quotes right before the closing
				// delimiter belong to the string.
				i += 3
				for extra := 0; extra < 2 && i < len(s) && s[i] == v.ml[0]; extra++ {
					i++
				}
				v.ml = ""
			default:
				i++
			}
			continue
		}
		switch c := s[i]; c {
		case '#':
			return
		case '"', '\'':
			if q := strings.Repeat(string(c), 3); strings.HasPrefix(s[i:], q) {
				v.ml = q
				i += 3
				continue
			}
			i++
			for i < len(s) && s[i] != c {
				if c == '"' && s[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case '[', '{':
			v.depth++
			i++
		case ']', '}':
			if v.depth > 0 {
				v.depth--
			}
			i++
		default:
			i++
		}
	}
}
