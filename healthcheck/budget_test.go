package healthcheck

import (
	"testing"
	"time"
)

func TestBucket_reserve(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	b := newBucket(6, 2, t0) // a token every 10s, two at most

	for i := range 2 {
		if wait, ok := b.reserve(t0, far); !ok || wait != 0 {
			t.Fatalf("burst token %d: got wait %s ok %v, want 0 true", i+1, wait, ok)
		}
	}
	// Queued reservations wait one interval more each.
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second} {
		if wait, ok := b.reserve(t0, far); !ok || wait != want {
			t.Fatalf("queued token %d: got wait %s ok %v, want %s true", i+1, wait, ok, want)
		}
	}
	// One that would not accrue by the deadline is refused and not taken.
	if wait, ok := b.reserve(t0, t0.Add(29*time.Second)); ok || wait != 30*time.Second {
		t.Fatalf("past deadline: got wait %s ok %v, want 30s false", wait, ok)
	}
	if wait, ok := b.reserve(t0, t0.Add(30*time.Second)); !ok || wait != 30*time.Second {
		t.Fatalf("at deadline: got wait %s ok %v, want 30s true", wait, ok)
	}
	// Giving one back shortens the queue.
	b.unreserve(t0)
	if wait, _ := b.reserve(t0, far); wait != 30*time.Second {
		t.Fatalf("after unreserve: got wait %s, want 30s", wait)
	}
}

func TestBucket_refillIsCappedAndMonotonic(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	b := newBucket(60, 3, t0)
	for range 3 {
		b.reserve(t0, far)
	}
	// A clock stepping back mints nothing.
	if wait, _ := b.reserve(t0.Add(-time.Hour), far); wait <= 0 {
		t.Fatalf("after the clock stepped back: got wait %s, want a wait", wait)
	}
	// A long idle spell refills to burst, not beyond.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if wait, _ := b.reserve(later, later.Add(time.Hour)); wait != 0 {
			t.Fatalf("token %d after idling: got wait %s, want 0", i+1, wait)
		}
	}
	if wait, _ := b.reserve(later, later.Add(time.Hour)); wait != time.Second {
		t.Fatalf("token past burst: got wait %s, want 1s", wait)
	}
}

func TestCooldown(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var c cooldown
	for i, want := range []time.Duration{2, 4, 8, 16, 32, 64, 120, 120} {
		strikes, pause := c.strike(t0)
		if strikes != i+1 || pause != want*time.Second {
			t.Fatalf("strike %d: got %d, %s; want %d, %s", i+1, strikes, pause, i+1, want*time.Second)
		}
	}
	if wait, _ := c.remaining(t0.Add(100 * time.Second)); wait != 20*time.Second {
		t.Fatalf("remaining: got %s, want 20s", wait)
	}
	// Strikes outlive the pause: silence across probes keeps counting.
	if _, pause := c.strike(t0.Add(time.Hour)); pause != cooldownCap {
		t.Fatalf("strike after the pause ended: got %s, want %s", pause, cooldownCap)
	}
	c.answered(t0, 0)
	if wait, strikes := c.remaining(t0); wait != 0 || strikes != 0 {
		t.Fatalf("after an answer: got %s, %d strikes; want none", wait, strikes)
	}
	c.answered(t0, 10*time.Minute)
	if wait, _ := c.remaining(t0); wait != cooldownCap {
		t.Fatalf("Retry-After 10m: got %s, want the %s cap", wait, cooldownCap)
	}
	c.answered(t0, time.Second) // a shorter ask does not shorten the hold
	if wait, _ := c.remaining(t0); wait != cooldownCap {
		t.Fatalf("after a shorter Retry-After: got %s, want %s", wait, cooldownCap)
	}
}
