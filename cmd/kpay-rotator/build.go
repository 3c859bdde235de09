package main

import (
	"fmt"
	"log/slog"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/rotator"
)

// What the daemon builds from a configuration at start and reload, built
// the same way by check-config: whatever would refuse to start is refused
// there first, in the same words.

// NewProber builds the KPay probe for k; an error is a configuration
// error.
func NewProber(k config.KPay, log *slog.Logger) (*healthcheck.Prober, error) {
	p, err := healthcheck.New(healthcheck.Options{
		BaseURL:           k.BaseURL,
		Timeout:           k.Timeout,
		RequestsPerMinute: k.RequestsPerMinute,
		Concurrency:       k.Concurrency,
		Logger:            log,
		UserAgent:         "kpay-rotator/" + versionString(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	return p, nil
}

// CheckBuild builds what the daemon builds from cfg, in the daemon's
// order (probe, receivers, schedules), and returns the first error the
// daemon would stop at. It leaves out what depends on the host rather than
// the file (the state database, the inbox, AWS credentials) and reads no
// credential (checkCredentials does).
func CheckBuild(cfg *config.Config) error {
	p, err := NewProber(cfg.KPay, nil)
	if err != nil {
		return err
	}
	p.Close()
	if _, err := buildReceivers(cfg); err != nil {
		return err
	}
	if err := rotator.CheckSchedules(cfg, time.Now()); err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	return nil
}
