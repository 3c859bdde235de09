package main

import (
	"context"
	"fmt"
)

func cmdCheckConfig(_ context.Context, e *env, args []string) error {
	fs, c := newFlagSet("check-config", "[--config FILE]", `
Validate a configuration file: syntax, unknown keys, durations, cron
schedules, names, URLs and file permissions. Prints every problem with its
file and line, and exits 78 if there is any; exits 0 and prints a summary
otherwise. systemd runs it before starting the daemon (ExecStartPre).`, e.stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{msg: fmt.Sprintf("check-config takes no arguments (got %q); use --config FILE", fs.Arg(0))}
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d slots, %d notifiers)\n", cfg.Path, len(cfg.Slots), len(cfg.Notifiers))
	return nil
}
