package rotator

import (
	"fmt"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/store"
)

// degradedRecovery is the transient rate (an exponentially weighted share
// of recent probes, each weighing 1 − transientDecay) under which a
// degraded pair counts as recovered. A flapping KPay (a third to a half
// of its answers failing) stays degraded, one alert: recovery needs some
// twenty good answers in a row, which such a KPay gives about once in a
// thousand probes. A pair over a blip recovers after about thirteen.
const (
	degradedRecovery = 0.05
	transientDecay   = 0.9
)

// healthStep applies one probe result of the current pair to st (DESIGN
// §3) and returns the event kind the change raises, if any.
//
//   - a rejection (401, other environment, other application) counts
//     towards failure_threshold; at the threshold the pair is failing;
//   - a transient or unexpected answer counts towards degraded with the
//     same threshold, but never moves a failing pair: only KPay accepting
//     the pair can end an outage;
//   - one good probe recovers a failing pair; a degraded one recovers once
//     the recent transient rate is low again, so a flapping KPay says
//     degraded once and recovered once, not at every flap.
func healthStep(st *store.SlotState, res healthcheck.Result, threshold int, now time.Time) (event.Kind, bool) {
	if threshold < 1 {
		threshold = 1
	}
	prev := st.Health
	transient := res.Outcome == healthcheck.Transient || res.Outcome == healthcheck.Unexpected
	st.TransientRate *= transientDecay
	if transient {
		st.TransientRate += 1 - transientDecay
	}
	switch {
	case res.Outcome == healthcheck.Healthy:
		st.Rejections, st.Transients = 0, 0
		st.FirstRejectedAt = time.Time{}
		if prev != store.HealthDegraded || st.TransientRate < degradedRecovery {
			st.Health = store.HealthHealthy
		}
	case res.Outcome.IsRejection():
		if st.Rejections == 0 {
			st.FirstRejectedAt = now
		}
		st.Rejections++
		st.Transients = 0
		if st.Rejections >= threshold {
			st.Health = store.HealthFailing
		}
	default: // Transient, Unexpected
		st.Transients++
		if st.Transients >= threshold && prev != store.HealthFailing {
			st.Health = store.HealthDegraded
		}
	}
	if st.Health == "" {
		st.Health = store.HealthUnknown
	}
	if st.Health == prev {
		return "", false
	}
	st.HealthSince = now
	switch st.Health {
	case store.HealthFailing:
		return event.KeyFailing, true
	case store.HealthDegraded:
		return event.KeyDegraded, true
	case store.HealthHealthy:
		if prev == store.HealthFailing || prev == store.HealthDegraded {
			return event.KeyRecovered, true
		}
	}
	return "", false
}

// ageState is the age band of a pair born at born.
func ageState(born, now time.Time, maxAge, warnBefore time.Duration) store.AgeState {
	age := now.Sub(born)
	switch {
	case age >= maxAge:
		return store.AgeOverdue
	case age >= maxAge-warnBefore:
		return store.AgeDue
	}
	return store.AgeFresh
}

// ageStep moves st.Age to the band for born and returns the event kind when
// the pair entered a worse band. Going back to fresh (a new pair) raises
// nothing here: the rotation or drift event says it.
func ageStep(st *store.SlotState, born, now time.Time, maxAge, warnBefore time.Duration) (event.Kind, bool) {
	prev := st.Age
	st.Age = ageState(born, now, maxAge, warnBefore)
	if st.Age == prev || ageRank(st.Age) < ageRank(prev) {
		return "", false
	}
	switch st.Age {
	case store.AgeDue:
		return event.KeyDue, true
	case store.AgeOverdue:
		return event.KeyOverdue, true
	}
	return "", false
}

func ageRank(a store.AgeState) int {
	switch a {
	case store.AgeDue:
		return 1
	case store.AgeOverdue:
		return 2
	}
	return 0
}

// FormatAge renders an age for people: days once past two days, else hours
// and minutes, else seconds.
func FormatAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// FormatGap renders a cutover gap: to the 10 ms below a second (a
// hand-over made in the planned order takes a fraction of one), to the
// tenth of a second below a minute, else to the second.
func FormatGap(d time.Duration) string {
	switch {
	case d < time.Second:
		return max(d, 0).Round(10 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
