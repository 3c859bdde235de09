package rotator

import (
	"math"
	"time"

	"github.com/robfig/cron/v3"

	"kpay-rotator/config"
)

// How probe_schedule = "auto" paces the current pairs (DESIGN §3). They
// get a share of the request budget, the rest staying free for retired
// pairs, confirmations and hand-overs, and are probed in turn at an even
// pace rather than all at a cron tick: each slot has its own phase within
// the period, so no jitter is needed and KPay never sees a burst.
const (
	// autoShare of requests_per_minute goes to routine probes of current
	// pairs.
	autoShare = 2.0 / 3
	// autoMinPeriod: no slot is probed more often than this. With the
	// default budget (30/min) up to 20 slots get it, so a pair revoked
	// outside a rotation is seen within a minute, confirmed within
	// seconds, and reaches chat after group_wait: about 75 s.
	autoMinPeriod = time.Minute
)

// autoPeriod is the probe period of n auto-paced slots when explicit cron
// schedules already ask for explicitPerMinute requests.
func autoPeriod(n, perMinute int, explicitPerMinute float64) time.Duration {
	share := autoShare * float64(perMinute)
	avail := max(share-explicitPerMinute, share/4)
	period := time.Duration(math.Ceil(float64(n)/avail*60)) * time.Second
	return max(autoMinPeriod, period)
}

// phased fires every period at offset past each multiple of period since
// the Unix epoch, so a slot keeps its phase across restarts and reloads.
type phased struct {
	period, offset time.Duration
}

func (p phased) Next(t time.Time) time.Time {
	n := t.UnixNano() - int64(p.offset)
	k := n / int64(p.period)
	if n < 0 && n%int64(p.period) != 0 {
		k-- // floor, not truncation
	}
	return time.Unix(0, (k+1)*int64(p.period)+int64(p.offset))
}

// probeSchedules is every slot's current-pair schedule: its cron spec, or
// its place in the auto pace. jitter says whether the slot's jitter
// applies (not to auto-paced slots: their phase already spreads them).
func probeSchedules(cfg *config.Config, now time.Time) (scheds map[string]cron.Schedule, jitter map[string]bool, err error) {
	scheds, jitter = map[string]cron.Schedule{}, map[string]bool{}
	var auto []string
	var explicit float64
	for _, s := range cfg.Slots {
		if s.ProbeSchedule == config.AutoSchedule {
			auto = append(auto, s.Name)
			continue
		}
		sched, err := cron.ParseStandard(s.ProbeSchedule)
		if err != nil {
			return nil, nil, err
		}
		scheds[s.Name], jitter[s.Name] = sched, true
		explicit += perMinute(sched, now)
	}
	if len(auto) == 0 {
		return scheds, jitter, nil
	}
	period := autoPeriod(len(auto), cfg.KPay.RequestsPerMinute, explicit)
	for i, name := range auto {
		scheds[name] = phased{period: period, offset: period * time.Duration(i) / time.Duration(len(auto))}
	}
	return scheds, jitter, nil
}

// perMinute is how many times a minute sched fires, averaged over the
// hour after now.
func perMinute(sched cron.Schedule, now time.Time) float64 {
	const window = time.Hour
	n := 0
	for t := sched.Next(now); t.Before(now.Add(window)) && n < 3600; t = sched.Next(t) {
		n++
	}
	return float64(n) / window.Minutes()
}

// ProbesPerMinute is how many KPay requests a minute the probe schedules
// of cfg ask for, to compare with requests_per_minute.
func ProbesPerMinute(cfg *config.Config, now time.Time) (float64, error) {
	scheds, _, err := probeSchedules(cfg, now)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, sched := range scheds {
		if p, ok := sched.(phased); ok {
			total += float64(time.Minute) / float64(p.period)
			continue
		}
		total += perMinute(sched, now)
	}
	return total, nil
}
