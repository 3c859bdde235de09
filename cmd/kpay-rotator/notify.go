package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/notifier/receivers"
)

// secretRef turns a configured secret source into the notifier's.
func secretRef(s config.SecretSource) notifier.SecretRef {
	switch {
	case s.File != "":
		return notifier.FileSecret{Path: s.File}
	case s.Env != "":
		return notifier.EnvSecret{Name: s.Env}
	case s.Credential != "":
		return notifier.CredentialSecret{Name: s.Credential}
	case !s.Inline.IsZero():
		return notifier.InlineSecret{Value: s.Inline}
	}
	return nil
}

// buildReceivers builds every configured receiver. Credentials are read
// at send time, so a missing file is not an error here.
func buildReceivers(cfg *config.Config) ([]outbox.Receiver, error) {
	var out []outbox.Receiver
	for _, n := range cfg.Notifiers {
		r, err := receivers.Build(receiverSpec(n))
		if err != nil {
			return nil, fmt.Errorf("%w: notifier %s: %v", errConfig, n.Name, err)
		}
		every, burst := r.Rate()
		out = append(out, outbox.Receiver{
			Name: n.Name, Sender: r, Every: every, Burst: burst,
			MinSeverity: n.MinSeverity, RepeatInterval: n.RepeatInterval, GroupWait: n.GroupWait,
			MaxDeliveryAge: n.MaxDeliveryAge, Fallback: n.Fallback,
		})
	}
	return out, nil
}

func receiverSpec(n config.Notifier) receivers.Spec {
	return receivers.Spec{
		Name: n.Name, Type: n.Type, ChatID: n.ChatID,
		URL: secretRef(n.URL), Token: secretRef(n.Token), SigningSecret: secretRef(n.Secret),
	}
}

// checkCredentials reads every notifier's credentials now and checks them
// as a send would (receivers.Check).
func checkCredentials(cfg *config.Config) (warnings []string, errs []error) {
	for _, n := range cfg.Notifiers {
		w, e := receivers.Check(receiverSpec(n))
		warnings, errs = append(warnings, w...), append(errs, e...)
	}
	return warnings, errs
}

// routes sends a slot's events to its notify list, and security events
// (a possible compromise) to its security_notify list too.
func routes(cfg *config.Config) func(event.Event) []string {
	return func(e event.Event) []string {
		s, ok := cfg.Slot(e.Slot)
		if !ok {
			return nil
		}
		if e.Kind.Security() && len(s.SecurityNotify) > 0 {
			return append(slices.Clone(s.Notify), s.SecurityNotify...)
		}
		return s.Notify
	}
}

func cmdNotifyTest(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet("notify-test", "[NAME] [flags]", `
Send a test message through one notifier (or every one) exactly as the
daemon would — same rendering, credentials and classification — and print
each platform's answer. Exits 0 when every message was accepted.

Run it as the daemon's user on the daemon's host so it reads the same
credential files; credentials passed by systemd (LoadCredential=) are only
visible inside the service: run it there with
  systemd-run -P --property=LoadCredential=... kpay-rotator notify-test NAME
or check them through the running daemon's log.`, e.stderr)
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
			return usageError{msg: fmt.Sprintf("notify-test: unknown notifier %q; %s has: %s", name, cfg.Path, notifierNames(cfg))}
		}
	}
	if len(cfg.Notifiers) == 0 {
		return fmt.Errorf("%s has no [[notifier]]; add one (see the commented config.toml)", cfg.Path)
	}
	if _, running, _ := runningDaemon(cfg); running {
		if err := notifyTestViaDaemon(ctx, e, cfg, name); err == nil || !errors.Is(err, errNoHTTP) {
			return err
		}
	}
	results, err := sendTests(ctx, cfg, name)
	if err != nil {
		return err
	}
	return printTests(e.stdout, results)
}

// sendTests sends a test message through every receiver of cfg, or only
// the one called name, exactly as the daemon would send an alert.
func sendTests(ctx context.Context, cfg *config.Config, name string) ([]notifyTestResult, error) {
	rcvs, err := buildReceivers(cfg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var out []notifyTestResult
	for _, r := range rcvs {
		if name != "" && r.Name != name {
			continue
		}
		ev := event.New(event.NotificationTest, time.Now(), "", fmt.Sprintf("Test message from kpay-rotator on %s to notifier %s: if you can read this, alerts reach you.", host, r.Name))
		ev.Action = "nothing to do"
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res := r.Sender.Send(ctx, notifier.Alert{ID: testID(), Events: []event.Event{ev}, Test: true})
		cancel()
		out = append(out, notifyTestResult{Notifier: r.Name, Delivered: res.Delivered, Retry: res.Retry, Status: res.Status, Detail: res.Detail})
	}
	return out, nil
}

// printTests prints each platform's answer and fails when any notifier did
// not accept its test message.
func printTests(w io.Writer, results []notifyTestResult) error {
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

func testID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tst_" + hex.EncodeToString(b[:])
}

// errNoHTTP: the daemon runs but its HTTP endpoint did not answer.
var errNoHTTP = errors.New("the daemon's HTTP endpoint did not answer")

// notifyTestViaDaemon asks the running daemon to send the test: it holds
// the service's credentials (LoadCredential=), which this shell may not.
func notifyTestViaDaemon(ctx context.Context, e *env, cfg *config.Config, name string) error {
	base, err := daemonURL(cfg)
	if err != nil {
		return errNoHTTP
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/notify-test?name="+url.QueryEscape(name), nil)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return errNoHTTP
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the daemon refused the test: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var results []notifyTestResult
	if err := json.NewDecoder(resp.Body).Decode(&results); err != nil {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	fmt.Fprintln(e.stdout, "sent through the running daemon:")
	return printTests(e.stdout, results)
}
