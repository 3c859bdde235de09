package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every Problems error, so callers can
// map any configuration problem to one exit code without inspecting it.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a configuration file: where it is, which
// key, what is wrong and how to fix it.
type Problem struct {
	File    string // file name as given to Load or Parse; may be empty
	Line    int    // 1-based; 0 when no line is known
	Key     string // key path, e.g. slot[payments-live].probe_schedule
	Message string
}

// String renders the problem as "file:line: key: message", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one file. It is the error Parse and
// Load return, so check-config can print all of them at once instead of
// making the operator fix one, rerun, and discover the next.
type Problems []Problem

// Error lists the problems one per line, in file order.
func (ps Problems) Error() string {
	if len(ps) == 0 {
		return ErrInvalid.Error()
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (ps Problems) Is(target error) bool { return target == ErrInvalid }

// sort orders problems by line; problems found at the same line keep the
// order they were found in, which follows the file.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}
