package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"kpay-rotator/config"
	"kpay-rotator/daemon"
)

func cmdNotifyTest(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "notify-test", "[NAME] [flags]", `
Send a test message through one notifier (or every one) exactly as the
daemon would — same rendering, credentials and classification — and print
each platform's answer. Exits 0 when every message was accepted.

Run it as the daemon's user on the daemon's host so it reads the same
credential files; credentials passed by systemd (LoadCredential=) are only
visible inside the service: run it there with
  systemd-run -P --property=LoadCredential=... kpay-rotator notify-test NAME
or check them through the running daemon's log.`)
	name, err := parseOptionalArg(fs, args, "NAME")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if name != "" {
		if _, ok := cfg.Notifier(name); !ok {
			return usageError{cmd: "notify-test", msg: fmt.Sprintf("notify-test: unknown notifier %q; %s has: %s", name, cfg.Path, notifierNames(cfg))}
		}
	}
	if len(cfg.Notifiers) == 0 {
		return fmt.Errorf("%s has no [[notifier]]; add one (see the commented config.toml)", cfg.Path)
	}
	if _, running, _ := daemon.Find(cfg); running {
		results, err := daemon.NotifyTestViaDaemon(ctx, cfg, name)
		if err == nil {
			fmt.Fprintln(e.stdout, "sent through the running daemon:")
			return printTests(e.stdout, results)
		}
		if !errors.Is(err, daemon.ErrNoHTTP) {
			return err
		}
	}
	results, err := daemon.SendTests(ctx, cfg, name)
	if err != nil {
		return err
	}
	return printTests(e.stdout, results)
}

// printTests prints each platform's answer and fails when any notifier did
// not accept its test message.
func printTests(w io.Writer, results []daemon.NotifyTestResult) error {
	failed := 0
	for _, r := range results {
		if r.Delivered {
			fmt.Fprintf(w, "%s: delivered (HTTP %d) %s\n", r.Notifier, r.Status, r.Detail)
			continue
		}
		failed++
		if r.Status == 0 {
			// Nothing reached the platform: a local credential problem,
			// or the network.
			fmt.Fprintf(w, "%s: not sent: %s (the daemon keeps such alerts and retries them)\n", r.Notifier, r.Detail)
			continue
		}
		verdict := "refused, not retryable: fix the notifier's configuration"
		if r.Retry {
			verdict = "failed, retryable (the daemon would retry)"
		}
		fmt.Fprintf(w, "%s: %s: HTTP %d %s\n", r.Notifier, verdict, r.Status, r.Detail)
	}
	if failed > 0 {
		return fmt.Errorf("%d notifier(s) did not accept the test message", failed)
	}
	return nil
}

func notifierNames(cfg *config.Config) string {
	var names []string
	for _, n := range cfg.Notifiers {
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return "no notifiers"
	}
	return fmt.Sprint(names)
}
