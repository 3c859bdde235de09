// Command kpay-sandbox runs the KPay sandbox emulator (package kpayemu) on a
// local port, for demos and black-box tests of kpay-rotator. It is a test
// emulator, never a real KPay: every key it prints is its own fake.
//
// main only turns signals into a context and maps the result to an exit
// code; run does the work so a test can drive it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kpay-rotator/internal/credurl"
	"kpay-rotator/kpayemu"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// shutdownTimeout bounds the wait for requests in flight on SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// Once the first signal has started a graceful stop, restore the
	// default handling so a second signal ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `kpay-sandbox runs a KPay API emulator for tests and demos of kpay-rotator.

It is a TEST EMULATOR, NEVER A REAL KPay. The keys it prints are fakes that
only this process accepts; never put a real KPay key into it, and never point
production at it.

It serves, on --listen:
  GET  /api/v1/payments/me          X-API-Key + X-Secret-Key → 200 or 401
  GET  /api/v1/payments/balance     authenticated
  GET  /api/public/platform-info    public, with a maintenance flag
  /_emulator/...                    the emulator's own admin API (not KPay):
    POST /_emulator/applications {"name":"shop"}         create (prints both pairs)
    GET  /_emulator/applications
    POST /_emulator/applications/{id}/regenerate?environment=test|live
    POST /_emulator/applications/{id}/revoke?environment=test|live
    POST /_emulator/faults {"kind":"status","status":503,"count":2}
         kinds: latency, status, rate_limit, hang, reset, non_json, forbidden
    DELETE /_emulator/faults
    GET  /_emulator/counters

With --apps N it creates N applications at start and prints each on stdout as
one JSON line: id, name, company, base URL and the test and live pairs.
It stops gracefully on SIGINT or SIGTERM; a second signal stops it at once.

Usage: kpay-sandbox [flags]

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kpay-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8099", "`address` to listen on (port 0 picks a free one)")
	apps := fs.Int("apps", 0, "create `N` applications at start and print them on stdout, one JSON line each")
	rpm := fs.Int("requests-per-minute", 0, "answer 429 once a key makes more than `N` requests in a sliding minute (KPay's default is 100); 0 = no limit")
	prefixless := fs.Bool("prefixless-secrets", false, "mint secrets as 64 bare hex characters instead of sk_test_/sk_live_ + 64 hex")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error; keys are only ever logged masked")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "Try: kpay-sandbox --help")
		return exitUsage
	}
	var level slog.Level
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *apps < 0:
		return usageError(stderr, "--apps must not be negative")
	case *rpm < 0:
		return usageError(stderr, "--requests-per-minute must not be negative")
	case level.UnmarshalText([]byte(*logLevel)) != nil:
		return usageError(stderr, fmt.Sprintf("--log-level %q: use debug, info, warn or error", *logLevel))
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if host, _, err := net.SplitHostPort(*listen); err == nil {
		if !credurl.IsLoopback(host) {
			log.Warn("listening beyond loopback: the /_emulator/ admin API has no authentication", "listen", *listen)
		}
	}
	srv, err := kpayemu.StartOn(*listen, kpayemu.Options{Logger: log, RequestsPerMinute: *rpm, PrefixlessSecrets: *prefixless})
	if err != nil {
		fmt.Fprintf(stderr, "kpay-sandbox: %v\n", err)
		return exitFail
	}
	if err := printApplications(stdout, srv, *apps); err != nil {
		_ = srv.Close()
		fmt.Fprintf(stderr, "kpay-sandbox: %v\n", err)
		return exitFail
	}

	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		fmt.Fprintf(stderr, "kpay-sandbox: shutdown: %v\n", err)
		return exitFail
	}
	return exitOK
}

// appLine is one line of --apps output.
type appLine struct {
	BaseURL string `json:"baseUrl"`
	kpayemu.ApplicationKeys
}

// printApplications creates n applications and prints each as one line.
// Printing the fake keys in clear is the point: a demo or a black-box test
// reads them from here.
func printApplications(w io.Writer, srv *kpayemu.Server, n int) error {
	enc := json.NewEncoder(w)
	for i := range n {
		app := srv.CreateApplication(fmt.Sprintf("Sandbox application %d", i+1))
		keys, _ := srv.ApplicationKeys(app.ID)
		if err := enc.Encode(appLine{BaseURL: srv.URL, ApplicationKeys: keys}); err != nil {
			return fmt.Errorf("print application: %w", err)
		}
	}
	return nil
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "kpay-sandbox: %s\nTry: kpay-sandbox --help\n", msg)
	return exitUsage
}
