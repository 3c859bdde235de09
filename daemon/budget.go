package daemon

import (
	"log/slog"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/rotator"
)

// warnBudget warns when the probe schedules ask for more KPay requests a
// minute than the request budget allows: the excess probes would be
// skipped, and KPay's 100/min is shared with production traffic. The
// auto pace fits by construction; explicit cron schedules may not.
func warnBudget(log *slog.Logger, cfg *config.Config, now time.Time) {
	perMinute, err := rotator.ProbesPerMinute(cfg, now)
	if err != nil {
		return // validated already
	}
	if perMinute > float64(cfg.KPay.RequestsPerMinute) {
		log.Warn("probe schedules need more KPay requests than the budget allows; some probes will be skipped: use probe_schedule = \"auto\", lengthen probe_schedule or raise [kpay] requests_per_minute (KPay allows ~100/min shared with production)",
			"needed_per_minute", int(perMinute+0.5), "budget_per_minute", cfg.KPay.RequestsPerMinute, "slots", len(cfg.Slots))
	}
}
