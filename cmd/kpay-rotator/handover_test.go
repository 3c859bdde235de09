package main

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
)

// Black-box tests of the hand-over and of detection, with the shipped
// config.toml (requests_per_minute = 30, probe_schedule auto), on the built
// binary against the KPay and Secrets Manager emulators.

// appendConfig adds TOML at the end of the fixture's configuration.
func (f *fixture) appendConfig(text string) {
	f.t.Helper()
	file, err := os.OpenFile(f.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString("\n" + text + "\n"); err != nil {
		f.t.Fatal(err)
	}
}

// startShippedOneSlot runs the daemon with the shipped config and one slot,
// chat to hook, until the slot is healthy.
func startShippedOneSlot(t *testing.T) (*fixture, *proc, *hookReceiver, string) {
	f := newFixture(t)
	hook, secret := newHookReceiver(t)
	slot := f.shippedConfig(1, hook, secret)[0]
	p := f.start()
	f.waitTracked(1)
	eventually(t, "healthy", func() bool { return slotOf(f.status(), slot).Health == "healthy" })
	return f, p, hook, slot
}

func (f *fixture) waitTracked(n int) {
	f.t.Helper()
	eventually(f.t, "every slot tracked", func() bool {
		doc := f.status()
		for _, s := range doc.Slots {
			if s.Pair == "" {
				return false
			}
		}
		return doc.Source == "daemon" && len(doc.Slots) == n
	})
}

// A hand-over costs its verification and at most one probe of the pair it
// retires, and starts no probe pass, whatever the number of slots. At
// 1,000 slots the start pass is still going (the budget paces it over half
// an hour): the stage lands in the middle of it and must not wait for it.
func TestHandover_StageCostsAtMostTwoKPayRequests(t *testing.T) {
	for _, n := range []int{1, 1000} {
		t.Run(map[int]string{1: "1 slot", 1000: "1000 slots during the start pass"}[n], func(t *testing.T) {
			f := newFixture(t)
			hook, secret := newHookReceiver(t)
			slot := f.shippedConfig(n, hook, secret)[0]
			p := f.start()
			f.waitTracked(n)
			old, _ := f.kpay.Pair(f.apps[slot].ID, kpay.Live)
			eventually(t, "the start pass past "+slot, func() bool { return f.kpay.RequestsFor(old.APIKey) > 0 })
			time.Sleep(200 * time.Millisecond) // its probe recorded
			oldBefore := f.kpay.RequestsFor(old.APIKey)
			totalBefore := f.kpay.Counters().Total

			fresh := f.regenerateLive(slot)
			out, errOut, code := f.cliIn(lines(fresh), "stage", slot, "--timeout", "30s")
			if code != 0 || !strings.Contains(out, "written: prod/"+slot) {
				t.Fatalf("stage: exit %d\n%s%s", code, out, errOut)
			}
			// The retired pair is probed in the routine lane: at once when
			// the budget has room (1 slot), later during a pass that has
			// it all (1,000 slots).
			eventually(t, "the rotation written", func() bool {
				r := slotOf(f.status(), slot).Rotation
				return r != nil && (r.State == "done" || n > 1 && r.State == "watching")
			})
			time.Sleep(2 * time.Second) // room for anything the stage would have set off
			cost := f.kpay.RequestsFor(fresh.APIKey) + f.kpay.RequestsFor(old.APIKey) - oldBefore
			if cost > 2 {
				t.Errorf("stage cost %d KPay requests for its pairs, want at most 2 (verify, one retired probe)", cost)
			}
			if n == 1 && f.kpay.Counters().Total-totalBefore > 2 {
				t.Errorf("KPay saw %d requests in all during the stage, want at most 2", f.kpay.Counters().Total-totalBefore)
			}
			if strings.Contains(p.log(), "on-demand pass requested") {
				t.Errorf("stage started a probe pass:\n%s", p.log())
			}
		})
	}
}

// The planned order: stage --open, regenerate, paste. The rejections in
// between are expected: nothing critical reaches chat, status says a
// rotation is in progress, and the outage is measured from the first
// rejection.
func TestHandover_PlannedWindowRaisesNoCriticalAlert(t *testing.T) {
	f, p, hook, slot := startShippedOneSlot(t)

	out, errOut, code := f.cli("stage", slot, "--open")
	if code != 0 || !strings.Contains(out, "regenerate the pair in the KPay dashboard") {
		t.Fatalf("stage --open: exit %d\n%s%s", code, out, errOut)
	}
	eventually(t, "the window journaled", func() bool {
		r := slotOf(f.status(), slot).Rotation
		return r != nil && r.State == "open"
	})
	fresh := f.regenerateLive(slot)
	// Probes meet the dead pair: rejected twice, failing; quietly. (No
	// confirmation is spent on a rejection the rotation explains.)
	var seen time.Time
	for range 2 {
		p.signal(syscall.SIGUSR1)
		eventually(t, "a rejection", func() bool {
			last := slotOf(f.status(), slot).LastProbe
			if last == nil || last.Outcome != "rejected" || !last.At.After(seen) {
				return false
			}
			seen = last.At
			return true
		})
	}
	eventually(t, "failing", func() bool { return slotOf(f.status(), slot).Health == "failing" })
	text, _, _ := f.cli("status")
	if !strings.Contains(text, "rotation in progress, waiting for the new pair") || !strings.Contains(text, "payments failing for") {
		t.Errorf("status during the window does not say a rotation is in progress:\n%s", text)
	}
	time.Sleep(time.Second)

	out, errOut, code = f.cliIn(lines(fresh), "stage", slot)
	if code != 0 || !strings.Contains(out, "cutover gap:") {
		t.Fatalf("stage with the pair: exit %d\n%s%s", code, out, errOut)
	}
	eventually(t, "key_rotated in chat", func() bool {
		return hook.delivered()["key_rotated"] > 0 || strings.Contains(p.log(), "event=key_rotated")
	})
	time.Sleep(time.Second) // anything critical would be on its way by now
	for _, kind := range []string{"unplanned_revocation", "key_failing", "rotation_stalled"} {
		if strings.Contains(p.log(), "event="+kind) || hook.delivered()[kind] > 0 {
			t.Errorf("a planned rotation raised %s:\n%s", kind, p.log())
		}
	}
	s := slotOf(f.status(), slot)
	if s.Rotation == nil || s.Rotation.CutoverGap == "" || s.Rotation.OpenedAt == nil || s.Health != "healthy" {
		t.Errorf("after the paste: %+v, want healthy with the rotation's opening and cutover gap", s)
	}
}

// An unplanned regeneration reaches chat, as unplanned_revocation and also
// at security_notify, within 90 s with the shipped defaults and 20 slots,
// even when it happens just after the slot's probe.
func TestHandover_UnplannedRegenerationReachesChatWithinTheBound(t *testing.T) {
	f := newFixture(t)
	hook, secret := newHookReceiver(t)
	security, securitySecret := newHookReceiver(t)
	f.shippedConfig(20, hook, secret, `security_notify = ["security"]`)
	var extra strings.Builder
	f.addWebhook("security", security, securitySecret, &extra)
	f.appendConfig(extra.String())
	f.start()
	f.waitTracked(20)

	// Regenerate right after a slot's scheduled probe, the worst case: the
	// one whose probe comes next (the auto pace probes one slot every
	// 3 s), once the start pass has probed them all.
	probedAll := func() bool {
		for _, s := range f.status().Slots {
			if s.LastProbe == nil {
				return false
			}
		}
		return true
	}
	for wait := time.Now().Add(90 * time.Second); !probedAll(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("20 slots not all probed within 90 s of the start")
		}
	}
	var slot string
	var first, next time.Time
	for _, s := range f.status().Slots {
		if s.NextProbe != nil && (next.IsZero() || s.NextProbe.Before(next)) {
			slot, first, next = s.Name, s.LastProbe.At, *s.NextProbe
		}
	}
	if next.After(time.Now().Add(10 * time.Second)) {
		t.Fatalf("the next scheduled probe is at %s: the auto pace should probe one of 20 slots every 3 s", next)
	}
	eventually(t, "the scheduled probe of "+slot, func() bool { return slotOf(f.status(), slot).LastProbe.At.After(first) })
	regenerated := time.Now()
	f.regenerateLive(slot)
	deadline := regenerated.Add(90 * time.Second)
	for hook.firstArrival("unplanned_revocation").IsZero() || security.firstArrival("unplanned_revocation").IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("unplanned_revocation not in chat (ops %v, security %v) within 90 s of the regeneration",
				!hook.firstArrival("unplanned_revocation").IsZero(), !security.firstArrival("unplanned_revocation").IsZero())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("regeneration to chat: %s", hook.firstArrival("unplanned_revocation").Sub(regenerated).Round(time.Millisecond))
	body := strings.Join(hook.bodies, "\n")
	for _, want := range []string{"outside a rotation", "kpay-rotator stage " + slot, "compromise"} {
		if !strings.Contains(body, want) {
			t.Errorf("the alert lacks %q", want)
		}
	}
	if n := hook.delivered()["key_failing"]; n != 0 {
		t.Errorf("key_failing delivered %d times beside unplanned_revocation", n)
	}
}

// A pair pasted into Secrets Manager by hand ends the outage too, and its
// cutover gap is measured: first rejection to the new version.
func TestHandover_ManualPasteRecordsItsCutoverGap(t *testing.T) {
	f, p, _, slot := startShippedOneSlot(t)
	fresh := f.regenerateLive(slot)
	p.signal(syscall.SIGUSR1)
	eventually(t, "failing", func() bool { return slotOf(f.status(), slot).Health == "failing" })
	time.Sleep(1500 * time.Millisecond)
	f.putPair("prod/"+slot, fresh)
	p.signal(syscall.SIGUSR1)
	eventually(t, "the pasted pair adopted and healthy", func() bool {
		s := slotOf(f.status(), slot)
		return s.Pair == fresh.Mask() && s.Health == "healthy"
	})
	s := slotOf(f.status(), slot)
	gap, err := time.ParseDuration(s.CutoverGap)
	if err != nil || gap < time.Second || gap > time.Minute {
		t.Errorf("status cutover_gap %q, want the seconds from the first rejection to the paste", s.CutoverGap)
	}
	if !strings.Contains(p.log(), "event=secret_changed_externally") || !strings.Contains(p.log(), "cutover_gap=") {
		t.Errorf("the drift event lacks the cutover gap:\n%s", p.log())
	}
}

// A flapping KPay (30 % 5xx, 10 % timeouts, some 429) degrades slots at
// worst: never a false key_failing or unplanned_revocation.
func TestHandover_FlappingKPayRaisesNoKeyFailing(t *testing.T) {
	f := newFixture(t)
	hook, secret := newHookReceiver(t)
	f.shippedConfig(10, hook, secret)
	// A short KPay timeout so the timeouts come round quickly; the shipped
	// budget and schedule otherwise.
	text, _ := os.ReadFile(f.cfgPath)
	if err := os.WriteFile(f.cfgPath, []byte(strings.Replace(string(text), `timeout = "10s"`, `timeout = "1s"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultStatus, Status: 503, Probability: 0.3})
	f.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultHang, Probability: 0.15})
	f.kpay.Inject(kpayemu.Fault{Kind: kpayemu.FaultRateLimit, RetryAfter: time.Second, Probability: 0.1})
	p := f.start()
	f.waitTracked(10)
	// Probe on demand until KPay has flapped at least 6 times (the
	// budget and the pauses after timeouts set the pace).
	for deadline := time.Now().Add(2 * time.Minute); f.kpay.Counters().Faults < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests met a fault in 2 minutes; the run did not flap", f.kpay.Counters().Faults)
		}
		p.signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second) // the last confirmations, if any, land
	c := f.kpay.Counters()
	t.Logf("%d requests, %d faulted, by status %v", c.Total, c.Faults, c.ByStatus)
	for _, kind := range []string{"key_failing", "unplanned_revocation"} {
		if strings.Contains(p.log(), "event="+kind) {
			t.Errorf("a flapping KPay raised %s", kind)
		}
	}
	// At most one degraded and one recovered per slot: not one per flap.
	for _, kind := range []string{"key_degraded", "key_recovered"} {
		if n := strings.Count(p.log(), "event="+kind); n > 10 {
			t.Errorf("%s raised %d times for 10 slots", kind, n)
		}
	}
	doc := f.status()
	for _, s := range doc.Slots {
		if s.Health == "failing" {
			b, _ := json.Marshal(s)
			t.Errorf("slot failing on a flapping KPay: %s", b)
		}
	}
}
