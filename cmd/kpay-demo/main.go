// Command kpay-demo runs kpay-rotator end to end on this machine with no
// AWS account and no KPay key: it starts the KPay sandbox emulator and the
// in-process Secrets Manager emulator on loopback, builds the real
// kpay-rotator binary, runs it against them, and walks through what the
// daemon does. The emulators live in this program only; the kpay-rotator
// binary it runs is the production one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	rotatorBin := flag.String("rotator", "", "use this kpay-rotator binary instead of building ./cmd/kpay-rotator")
	keep := flag.Bool("keep", false, "keep the demo's temporary directory (config, state database) for inspection")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: go run ./cmd/kpay-demo [flags]

Runs kpay-rotator against local emulators of KPay and AWS Secrets Manager
and shows, in under a minute: pairs tracked, dated and probed; a pair
regenerated in the (emulated) dashboard turning failing; the new pair
written to Secrets Manager by hand and adopted, the old one confirmed dead;
a pair ageing into due and overdue; a configuration reload; a clean stop.

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeoutCause(ctx, 3*time.Minute, errors.New("demo took longer than 3 minutes"))
	defer cancel()
	if err := run(ctx, *rotatorBin, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "\nkpay-demo: %v\n", err)
		os.Exit(1)
	}
}
