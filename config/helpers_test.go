package config

import (
	"errors"
	"strings"
	"testing"
)

// src joins lines with "\n", so that a case's line numbers can be read off
// its position in the list.
func src(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// want is one expected problem: its line, key path and a fragment of its
// message.
type want struct {
	line int
	key  string
	frag string
}

// problemsOf asserts err is a Problems error and returns it.
func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want problems")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(err, ErrInvalid) = false for %v", err)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %T, want Problems", err)
	}
	return ps
}

// checkProblems asserts ps holds exactly the wanted problems, in order.
func checkProblems(t *testing.T, ps Problems, wants []want) {
	t.Helper()
	if len(ps) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(wants), ps)
	}
	for i, w := range wants {
		p := ps[i]
		if p.Line != w.line || p.Key != w.key || !strings.Contains(p.Message, w.frag) {
			t.Errorf("problem %d:\ngot  line %d key %q: %s\nwant line %d key %q containing %q", i, p.Line, p.Key, p.Message, w.line, w.key, w.frag)
		}
	}
}
