// Package storetest is the conformance suite of the store contract: every
// backend's tests call Run with a way to open a fresh store, and pass the
// same cases (litestream runs one suite against every replica client).
//
// The cases use only store.Store and store.Tx. Assertions run outside
// transactions where they can: a case reads what it needs in a View and
// checks it afterwards, so a failing case never leaves a transaction open
// in a backend that cannot recover from runtime.Goexit.
package storetest

import (
	"slices"
	"testing"
	"time"

	"kpay-rotator/store"
)

// Opener opens a fresh, empty store for one subtest with retention r (zero
// fields: the defaults) and registers its Close with t.Cleanup. It fails t
// itself if the store cannot be opened.
type Opener func(t *testing.T, r store.Retention) store.Store

// defaults is the retention of cases that do not test it.
var defaults = store.Retention{}

// t0 dates the cases' records.
var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// testCase is one contract case; it opens its own store.
type testCase struct {
	name string
	run  func(t *testing.T, open Opener)
}

// Run runs every contract case against stores made by open, each case in
// its own subtest with its own store.
func Run(t *testing.T, open Opener) {
	t.Helper()
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Slots", slotCases},
		{"Pairs", pairCases},
		{"Probes", probeCases},
		{"Events", eventCases},
		{"Retention", retentionCases},
		{"Rotations", rotationCases},
		{"Outbox", outboxCases},
		{"Alerts", alertCases},
		{"Receivers", receiverCases},
		{"Tx", txCases},
		{"Records", recordCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, open) })
			}
		})
	}
}

// write runs fn in one Update and fails t if it returns an error.
func write(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// read runs fn in a View and returns what it read, failing t on an error.
func read[T any](t *testing.T, s store.Store, fn func(store.Tx) (T, error)) T {
	t.Helper()
	var v T
	err := s.View(func(tx store.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v
}

// found is a lookup's result: the value and whether the store had one.
type found[T any] struct {
	v  T
	ok bool
}

// lookup runs a (value, ok, error) read in a View.
func lookup[T any](t *testing.T, s store.Store, fn func(store.Tx) (T, bool, error)) (T, bool) {
	t.Helper()
	f := read(t, s, func(tx store.Tx) (found[T], error) {
		v, ok, err := fn(tx)
		return found[T]{v, ok}, err
	})
	return f.v, f.ok
}

// sorted returns a sorted copy of names, for lists whose order the
// contract leaves open.
func sorted(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return out
}
