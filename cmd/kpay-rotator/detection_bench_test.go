package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkDetection measures, with the shipped config.toml, how soon a
// pair regenerated outside a rotation is reported: from KPay's first
// rejection to unplanned_revocation being raised, and from the
// regeneration to the message reaching chat. Each round waits a random
// part of the probe period (one minute with the shipped defaults at up to
// 20 slots), regenerates a random slot, then pastes the new pair by hand to
// close the outage. b.N is ignored.
//
//	go test -run '^$' -bench Detection -benchtime 1x ./cmd/kpay-rotator
func BenchmarkDetection(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("slots=%d", n), func(b *testing.B) { detection(b, n, 5) })
	}
}

func detection(b *testing.B, n, rounds int) {
	f := newFixture(b)
	hook, secret := newHookReceiver(b)
	slots := f.shippedConfig(n, hook, secret)
	f.start()
	f.waitTracked(n)
	var confirm, chat []time.Duration
	for round := range rounds {
		slot := slots[rand.IntN(len(slots))]
		time.Sleep(rand.N(time.Minute)) // a random point of the pace
		seen := len(hook.arrivalsOf("unplanned_revocation"))
		regenerated := time.Now()
		fresh := f.regenerateLive(slot)
		for len(hook.arrivalsOf("unplanned_revocation")) == seen {
			if time.Since(regenerated) > 3*time.Minute {
				b.Fatalf("round %d: no unplanned_revocation in chat 3 minutes after the regeneration of %s", round, slot)
			}
			time.Sleep(20 * time.Millisecond)
		}
		chat = append(chat, hook.arrivalsOf("unplanned_revocation")[seen].Sub(regenerated))
		s := slotOf(f.status(), slot)
		if s.FailingSince == nil || s.HealthSince == nil {
			b.Fatalf("round %d: status of %s lacks failing_since or health_since: %+v", round, slot, s)
		}
		confirm = append(confirm, s.HealthSince.Sub(*s.FailingSince))
		// Close the outage by hand, and wait until the slot is healthy.
		f.putPair("prod/"+slot, fresh)
		deadline := time.Now().Add(3 * time.Minute)
		for slotOf(f.status(), slot).Health != "healthy" {
			if time.Now().After(deadline) {
				b.Fatalf("round %d: %s not healthy again 3 minutes after the paste", round, slot)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	report := func(name string, d []time.Duration) {
		s := slices.Clone(d)
		slices.Sort(s)
		b.ReportMetric(s[len(s)/2].Seconds(), name+"-p50-s")
		b.ReportMetric(s[len(s)-1].Seconds(), name+"-max-s")
		fmt.Fprintf(os.Stderr, "slots=%d %-34s p50 %6.1f s  max %6.1f s  (n=%d)\n", n, name, s[len(s)/2].Seconds(), s[len(s)-1].Seconds(), len(s))
	}
	report("first-rejection-to-alert", confirm)
	report("regeneration-to-chat", chat)
}
