package main

import (
	"context"
	"fmt"
	"time"

	"kpay-rotator/daemon"
)

func cmdRotate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "rotate", "[SLOT] [flags]", `
Signal the running daemon (SIGUSR1) to take staged pairs, look at every
slot's secret (a change made outside kpay-rotator is seen at once) and
probe every slot now; 'systemctl kill -s USR1 --kill-who=main kpay-rotator' does the
same. With SLOT, wait until that slot's probe after the signal is recorded
and print its state.`)
	noWait := fs.Bool("no-wait", false, "return once the daemon is signalled")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for SLOT's probe")
	slot, err := parseOptionalArg(fs, args, "SLOT")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if _, ok := cfg.Slot(slot); slot != "" && !ok {
		return unknownSlot("rotate", slot, cfg)
	}
	pid, running, err := daemon.Find(cfg)
	if err != nil {
		return err
	}
	if !running {
		return fmt.Errorf("the daemon is not running (start it: systemctl start kpay-rotator); staged pairs are taken when it starts")
	}
	signalled := time.Now()
	if err := daemon.Signal(pid, daemon.SigRotate); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "signalled the daemon (pid %d): taking staged pairs, looking at every secret and probing every slot\n", pid)
	if slot == "" || *noWait {
		return nil
	}
	deadline := time.Now().Add(*timeout)
	for {
		doc, err := daemon.ReadStatus(cfg, time.Now())
		if err == nil {
			if s := slotOf(doc, slot); s.LastProbe != nil && s.LastProbe.At.After(signalled) {
				fmt.Fprintf(e.stdout, "%s: %s, %s; pair %s, age %s\n", slot, s.Health, s.AgeState, s.Pair, s.Age)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no probe of %s recorded within %s; the daemon may be busy: kpay-rotator status", slot, *timeout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
