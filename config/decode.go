package config

import (
	"cmp"
	"fmt"
	"github.com/pelletier/go-toml/v2"
	"maps"
	"slices"
	"strings"
	"time"
)

// parser turns the decoded TOML tree into a Config, collecting problems.
//
// The tree is decoded into map[string]any and walked by hand instead of
// being decoded into structs and checked with MetaData.Undecoded: the
// struct decoder stops at the first value of the wrong type, and an
// undecoded key such as slot.max_agee does not say which [[slot]] it is
// in. Walking the tree reports every problem and names the element.
type parser struct {
	file  string     // name for messages, as the caller gave it
	base  string     // directory relative paths resolve against; "" = working directory
	src   string     // the file's text, for the line index
	index *lineIndex // key path -> line; built on first use

	probs   Problems
	secrets []inlineSecret // where the file holds a secret, for Load's mode check
}

func (p *parser) add(line int, key, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
}

// keySpec is one key a table accepts, with a value to show in messages.
type keySpec struct {
	name    string
	example string // a valid TOML value, e.g. `"90d"`
}

// schema is the set of keys one kind of table accepts.
type schema struct {
	section string // how people write the table: "[kpay]", "[[slot]]"
	keys    []keySpec
}

func (s *schema) example(k string) string {
	for _, ks := range s.keys {
		if ks.name == k {
			return ks.example
		}
	}
	return `"…"`
}

func (s *schema) has(k string) bool {
	return slices.ContainsFunc(s.keys, func(ks keySpec) bool { return ks.name == k })
}

func (s *schema) names() []string {
	out := make([]string, len(s.keys))
	for i, ks := range s.keys {
		out[i] = ks.name
	}
	return out
}

// table is one TOML table being read: its values, where it is (line index
// path), how messages name it (label), and which keys were unusable.
type table struct {
	p      *parser
	m      map[string]any
	path   []string
	label  string // "kpay", "slot[payments-live]", "slot[2]"; "" for the root
	schema *schema
	bad    map[string]bool // keys that had a problem
}

func (p *parser) newTable(m map[string]any, path []string, label string, s *schema) *table {
	if m == nil {
		m = map[string]any{}
	}
	return &table{p: p, m: m, path: path, label: label, schema: s, bad: map[string]bool{}}
}

func (t *table) has(k string) bool { _, ok := t.m[k]; return ok }

func (t *table) keyPath(k string) string {
	switch {
	case k == "":
		return t.label
	case t.label == "":
		return k
	}
	return t.label + "." + k
}

// line is the line of key k, or of the table's header when k is "" or
// has no line of its own.
func (t *table) line(k string) int {
	if k == "" {
		return t.p.lines().line(t.path...)
	}
	return t.p.lines().line(slices.Concat(t.path, []string{k})...)
}

// lines is the line index, built the first time a line is asked for:
// only problems and inline secrets need one, and a valid file of a
// thousand slots should not pay for it.
func (p *parser) lines() *lineIndex {
	if p.index == nil {
		p.index = indexLines(p.src)
	}
	return p.index
}

// problem reports a problem with key k ("" for the table itself).
func (t *table) problem(k, format string, args ...any) {
	if k != "" {
		t.bad[k] = true
	}
	t.p.add(t.line(k), t.keyPath(k), format, args...)
}

// missing reports a required key that is absent, at the table's header.
func (t *table) missing(k, why string) {
	t.bad[k] = true
	t.p.add(t.line(""), t.keyPath(k), "missing; %s needs %s (e.g. %s = %s)", t.schema.section, why, k, t.schema.example(k))
}

func (t *table) typeProblem(k string, v any, want string) {
	t.problem(k, "must be %s, not %s; e.g. %s = %s", want, typeName(v), k, t.schema.example(k))
}

// str reads a non-empty string. It never echoes the value: some strings
// (url, token, secret) are secrets.
func (t *table) str(k string) (string, bool) {
	v, ok := t.m[k]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.typeProblem(k, v, "a string")
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		t.problem(k, "is empty; set a value (e.g. %s = %s) or remove the line", k, t.schema.example(k))
		return "", false
	}
	return s, true
}

func (t *table) integer(k string) (int, bool) {
	v, ok := t.m[k]
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.typeProblem(k, v, "a whole number")
		return 0, false
	}
	return int(n), true
}

func (t *table) boolean(k string) (bool, bool) {
	v, ok := t.m[k]
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.typeProblem(k, v, "true or false")
		return false, false
	}
	return b, true
}

// duration reads a duration string (see ParseDuration).
func (t *table) duration(k string) (time.Duration, bool) {
	v, ok := t.m[k]
	if !ok {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		t.typeProblem(k, v, "a duration string")
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		t.problem(k, "%v", err)
		return 0, false
	}
	return d, true
}

// strs reads an array of non-empty strings.
func (t *table) strs(k string) ([]string, bool) {
	v, ok := t.m[k]
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.typeProblem(k, v, "an array of strings")
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok || s == "" {
			what := typeName(e)
			if ok {
				what = "empty"
			}
			t.problem(k, "element %d is %s; every element must be a non-empty string, e.g. %s = %s", i+1, what, k, t.schema.example(k))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// sub returns the table under key k; absent, it is empty. A value of
// another type is a problem and reads as empty.
func (t *table) sub(k string, s *schema) *table {
	sub := t.p.newTable(nil, []string{k}, k, s)
	v, ok := t.m[k]
	if !ok {
		return sub
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.problem(k, "must be a table, not %s; write %s on a line of its own, followed by its keys", typeName(v), s.section)
		return sub
	}
	sub.m = m
	return sub
}

// array returns the elements of the array of tables under key k, labelled
// by their 1-based position until a name is known.
func (t *table) array(k string, s *schema, noun string) []*table {
	v, ok := t.m[k]
	if !ok {
		return nil
	}
	var elems []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		elems = v
	case []any:
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				t.problem(k, "element %d must be a table, not %s; start each %s with %s", i+1, typeName(e), noun, s.section)
				return nil
			}
			elems = append(elems, m)
		}
	case map[string]any:
		t.problem(k, "[%s] declares a single table; write %s (double brackets) before each %s", k, s.section, noun)
		return nil
	default:
		t.problem(k, "must be an array of tables, not %s; start each %s with %s", typeName(v), noun, s.section)
		return nil
	}
	out := make([]*table, len(elems))
	for i, m := range elems {
		out[i] = t.p.newTable(m, []string{k, elem(i)}, fmt.Sprintf("%s[%d]", k, i+1), s)
	}
	return out
}

// unknown reports every key of t its schema does not know, in file order,
// with the likely fix: a close known key, or the table the key belongs in.
func (t *table) unknown() {
	var keys []string
	for k := range maps.Keys(t.m) {
		if !t.schema.has(k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(t.line(a), t.line(b)), cmp.Compare(a, b))
	})
	for _, k := range keys {
		t.p.add(t.line(k), t.keyPath(k), "unknown key; %s", t.unknownHint(k))
	}
}

func (t *table) unknownHint(k string) string {
	if s, ok := closest(k, t.schema.names()); ok {
		return fmt.Sprintf("did you mean %s?", display(t.schema, s))
	}
	if rel := related(k, t.schema.names()); len(rel) > 0 {
		for i, r := range rel {
			rel[i] = display(t.schema, r)
		}
		return fmt.Sprintf("did you mean %s?", orList(rel))
	}
	var homes []string
	for _, s := range allSchemas {
		if s != t.schema && s != &topSchema && s.has(k) {
			homes = append(homes, s.section)
		}
	}
	if len(homes) > 0 {
		return fmt.Sprintf("%s belongs in %s, not %s", k, strings.Join(homes, " or "), t.schema.section)
	}
	var known []string
	for _, ks := range t.schema.keys {
		known = append(known, display(t.schema, ks.name))
	}
	return fmt.Sprintf("remove it (%s takes: %s)", t.schema.section, strings.Join(known, ", "))
}

// display names a key as people write it: tables at the top level with
// their brackets.
func display(s *schema, k string) string {
	if s == &topSchema {
		for _, sub := range allSchemas {
			if strings.Trim(sub.section, "[]") == k {
				return sub.section
			}
		}
	}
	return k
}

// closest returns the candidate nearest to k when it is near enough to be
// a typo (case, '-' for '_', a letter or two).
func closest(k string, candidates []string) (string, bool) {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(norm(k), norm(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD*2 > len(k) {
		return "", false
	}
	return best, true
}

// related returns the candidates that k names in other words, when it is
// too far from any of them to be a typo: bot_token or signing_secret_file
// end in a key (token, secret_file); secret starts one (secret_id). At
// most three, or none: more would not help.
func related(k string, candidates []string) []string {
	var best string
	for _, c := range candidates {
		if strings.HasSuffix(k, "_"+c) && len(c) > len(best) {
			best = c
		}
	}
	if best != "" {
		return []string{best}
	}
	if len(k) < 3 {
		return nil
	}
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, k) || strings.HasSuffix(c, "_"+k) {
			out = append(out, c)
		}
	}
	if len(out) > 3 {
		return nil
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "a whole number"
	case float64:
		return "a fractional number"
	case bool:
		return "a boolean"
	case time.Time, toml.LocalDateTime:
		return "a date and time"
	case toml.LocalDate:
		return "a date"
	case toml.LocalTime:
		return "a time of day"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
