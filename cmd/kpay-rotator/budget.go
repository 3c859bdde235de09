package main

import (
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"kpay-rotator/config"
)

// warnBudget estimates the KPay requests per minute the schedules ask for
// and warns when they exceed the request budget: the excess probes would be
// skipped, and KPay's 100/min is shared with production traffic.
func warnBudget(log *slog.Logger, cfg *config.Config, now time.Time) {
	const window = time.Hour
	var perHour float64
	for _, s := range cfg.Slots {
		sched, err := cron.ParseStandard(s.ProbeSchedule)
		if err != nil {
			continue // validated already
		}
		n := 0
		for t := sched.Next(now); t.Before(now.Add(window)) && n < 3600; t = sched.Next(t) {
			n++
		}
		perHour += float64(n)
	}
	perMinute := perHour / 60
	if perMinute > float64(cfg.KPay.RequestsPerMinute) {
		log.Warn("probe schedules need more KPay requests than the budget allows; some probes will be skipped: lengthen probe_schedule or raise [kpay] requests_per_minute (KPay allows ~100/min shared with production)",
			"needed_per_minute", int(perMinute+0.5), "budget_per_minute", cfg.KPay.RequestsPerMinute, "slots", len(cfg.Slots))
	}
}
