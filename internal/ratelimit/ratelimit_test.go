package ratelimit_test

import (
	"testing"
	"time"

	"kpay-rotator/internal/ratelimit"
)

func TestBucket_reserve(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	b := ratelimit.PerMinute(6, 2, t0) // a token every 10s, two at most

	for i := range 2 {
		if wait, ok := b.Reserve(t0, far); !ok || wait != 0 {
			t.Fatalf("burst token %d: got wait %s ok %v, want 0 true", i+1, wait, ok)
		}
	}
	// Queued reservations wait one interval more each.
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second} {
		if wait, ok := b.Reserve(t0, far); !ok || wait != want {
			t.Fatalf("queued token %d: got wait %s ok %v, want %s true", i+1, wait, ok, want)
		}
	}
	// One that would not accrue by the deadline is refused and not taken.
	if wait, ok := b.Reserve(t0, t0.Add(29*time.Second)); ok || wait != 30*time.Second {
		t.Fatalf("past deadline: got wait %s ok %v, want 30s false", wait, ok)
	}
	if wait, ok := b.Reserve(t0, t0.Add(30*time.Second)); !ok || wait != 30*time.Second {
		t.Fatalf("at deadline: got wait %s ok %v, want 30s true", wait, ok)
	}
	// Giving one back shortens the queue.
	b.Unreserve(t0)
	if wait, _ := b.Reserve(t0, far); wait != 30*time.Second {
		t.Fatalf("after unreserve: got wait %s, want 30s", wait)
	}
}

func TestBucket_refillIsCappedAndMonotonic(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	b := ratelimit.PerMinute(60, 3, t0)
	for range 3 {
		b.Reserve(t0, far)
	}
	// A clock stepping back mints nothing.
	if wait, _ := b.Reserve(t0.Add(-time.Hour), far); wait <= 0 {
		t.Fatalf("after the clock stepped back: got wait %s, want a wait", wait)
	}
	// A long idle spell refills to burst, not beyond.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if wait, _ := b.Reserve(later, later.Add(time.Hour)); wait != 0 {
			t.Fatalf("token %d after idling: got wait %s, want 0", i+1, wait)
		}
	}
	if wait, _ := b.Reserve(later, later.Add(time.Hour)); wait != time.Second {
		t.Fatalf("token past burst: got wait %s, want 1s", wait)
	}
}

func TestBucket_takeGoesIntoDebtThatLaterReservationsPay(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	b := ratelimit.PerMinute(6, 1, t0) // a token every 10s, one at most
	for range 3 {
		b.Take(t0) // never waits, even past an empty bucket
	}
	// Balance is -2: the next token accrues after three intervals.
	if wait, ok := b.Reserve(t0, far); !ok || wait != 30*time.Second {
		t.Fatalf("after three takes: got wait %s ok %v, want 30s true", wait, ok)
	}
	if _, ok := b.Reserve(t0, t0.Add(35*time.Second)); ok {
		t.Fatalf("a reservation the debt pushes past its deadline was granted")
	}
}
