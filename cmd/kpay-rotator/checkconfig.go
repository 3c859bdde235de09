package main

import (
	"context"
	"errors"
	"fmt"

	"kpay-rotator/daemon"
)

func cmdCheckConfig(_ context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "check-config", "[--config FILE]", `
Validate a configuration file: syntax, unknown keys, durations, cron
schedules, names, URLs and file permissions; build the probe, receivers
and schedules as the daemon would; and read every notifier's credential
files to check them as a send would (https unless loopback, token and
signing-secret formats). Prints every problem with its file and
line, and exits 78 if there is any; exits 0 and prints a summary
otherwise. A systemd credential or environment variable it cannot see
from here is a warning. systemd runs it before starting the daemon
(ExecStartPre).`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{cmd: "check-config", msg: fmt.Sprintf("check-config takes no arguments (got %q); use --config FILE", fs.Arg(0))}
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if err := daemon.CheckBuild(cfg); err != nil {
		return err
	}
	warnings, errs := daemon.CheckCredentials(cfg)
	sw, se := daemon.CheckStore(cfg)
	warnings, errs = append(warnings, sw...), append(errs, se...)
	for _, w := range warnings {
		e.warnf("warning: %s", w)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s: %v", daemon.ErrConfig, cfg.Path, errors.Join(errs...))
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d slots, %d notifiers)\n", cfg.Path, len(cfg.Slots), len(cfg.Notifiers))
	return nil
}
