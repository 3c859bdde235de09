package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
)

// maxInput bounds what stage reads: a pair is about 130 bytes.
const maxInput = 64 << 10

func cmdStage(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet("stage", "SLOT [flags] < pair", `
Hand over a pair an admin generated in the KPay dashboard. On a terminal it
prompts for the public key and the secret key without echo; otherwise it
reads stdin: two lines (public key, then secret key), or JSON
{"api_key": "kpay_live_…", "secret_key": "…"}.

The pair is checked locally (prefixes, environment, format), written to the
inbox with mode 0600, and the daemon is signalled. The daemon verifies it
against KPay (same environment and application as the slot), writes it into
the slot's secret keeping every other field, and watches the old pair until
KPay rejects it. stage waits for that outcome and exits 0 when the pair is
written, 1 when it was rejected (with the reason) or is still pending.`, e.stderr)
	noWait := fs.Bool("no-wait", false, "return once the pair is staged and the daemon signalled")
	dryRun := fs.Bool("dry-run", false, "verify the pair (local checks and KPay) and stop: nothing is staged or written")
	bornFlag := fs.String("born", "", "when the pair was created (YYYY-MM-DD or RFC 3339), if known, so its age starts there")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the outcome")
	slotName, err := parseWithArg(fs, args, "SLOT")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	slot, ok := cfg.Slot(slotName)
	if !ok {
		return usageError{msg: fmt.Sprintf("stage: unknown slot %q; %s has: %s", slotName, cfg.Path, slotNames(cfg))}
	}
	born, err := parseBorn(*bornFlag, time.Now())
	if err != nil {
		return err
	}
	pair, err := readPair(e, slot)
	if err != nil {
		return fmt.Errorf("stage %s: %w; nothing was staged", slot.Name, err)
	}
	if err := pair.Check(slot.Environment); err != nil {
		return fmt.Errorf("stage %s: the pair fails the local checks, nothing was staged:\n  %s", slot.Name, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	if !pair.HasSecretPrefix() {
		fmt.Fprintf(e.stderr, "note: the secret key has no sk_%s_ prefix; some real KPay secrets have none, so it is accepted\n", slot.Environment)
	}
	// The daemon repeats this check; doing it here too answers at once. A
	// daemon still starting has no status yet: leave the check to it.
	doc, _ := readStatus(cfg, time.Now())
	current := slotOf(doc, slot.Name)
	if current.Fingerprint != "" && current.Fingerprint == pair.Fingerprint() {
		return fmt.Errorf("stage %s: this is the pair %s already holds; generate a new pair in the dashboard; nothing was staged", slot.Name, slot.SecretID)
	}
	if *dryRun {
		return dryRunVerify(ctx, e, cfg, slot, pair, current.ApplicationID)
	}

	pid, running, err := runningDaemon(cfg)
	if err != nil {
		return err
	}
	now := time.Now()
	req := inbox.Request{ID: inbox.NewID(now), Slot: slot.Name, Pair: pair, Born: born, StagedAt: now}
	if err := stageRequest(cfg.Daemon.InboxDir, req); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staged %s for %s (rotation %s)\n", pair.Mask(), slot.Name, req.ID)
	if !running {
		return fmt.Errorf("the daemon is not running: the pair stays staged in %s and is taken when the daemon starts (systemctl start kpay-rotator); do not stage it again", cfg.Daemon.InboxDir)
	}
	signalled := true
	if err := signalDaemon(pid); err != nil {
		// The daemon also looks at the inbox every few seconds.
		fmt.Fprintf(e.stderr, "warning: %v; the daemon will still find the pair within seconds\n", err)
		signalled = false
	}
	if *noWait {
		if signalled {
			fmt.Fprintf(e.stdout, "the daemon (pid %d) was signalled; follow it with: kpay-rotator status\n", pid)
		} else {
			fmt.Fprintln(e.stdout, "the daemon takes it on its next inbox check (every 5 s); follow it with: kpay-rotator status")
		}
		return nil
	}
	return waitOutcome(ctx, e, cfg, slot, req.ID, *timeout)
}

func slotNames(cfg *config.Config) string {
	names := make([]string, 0, len(cfg.Slots))
	for _, s := range cfg.Slots {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return "no slots"
	}
	return strings.Join(names, ", ")
}

func parseBorn(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
	}
	switch {
	case err != nil:
		return time.Time{}, usageError{msg: fmt.Sprintf("--born %q: use a date (2026-09-01) or RFC 3339 time (2026-09-01T10:00:00Z)", s)}
	case t.After(now):
		return time.Time{}, usageError{msg: fmt.Sprintf("--born %s is in the future", s)}
	case t.Year() < 2015:
		return time.Time{}, usageError{msg: fmt.Sprintf("--born %s is before KPay existed", s)}
	}
	return t.UTC(), nil
}

// readPair reads the pair from the terminal (no echo) or stdin.
func readPair(e *env, slot config.Slot) (kpay.Pair, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPair(f, e.stderr, slot)
	}
	data, err := io.ReadAll(io.LimitReader(e.stdin, maxInput+1))
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read stdin: %w", err)
	}
	if len(data) > maxInput {
		return kpay.Pair{}, fmt.Errorf("the input is larger than %d KiB; expected two lines (public key, secret key) or a small JSON object", maxInput>>10)
	}
	return parsePair(data)
}

func promptPair(f *os.File, w io.Writer, slot config.Slot) (kpay.Pair, error) {
	fmt.Fprintf(w, "Public key for %s (%s…, input hidden): ", slot.Name, slot.Environment.APIKeyPrefix())
	api, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read public key: %w", err)
	}
	fmt.Fprintf(w, "Secret key for %s (input hidden): ", slot.Name)
	sk, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read secret key: %w", err)
	}
	return kpay.Pair{APIKey: strings.TrimSpace(string(api)), SecretKey: kpay.NewSecret(strings.TrimSpace(string(sk)))}, nil
}

// parsePair accepts two lines or a JSON object. Errors never quote the
// input: it holds a secret.
func parsePair(data []byte) (kpay.Pair, error) {
	text := strings.TrimSpace(string(data))
	const want = `two lines (public key, then secret key) or JSON {"api_key": "kpay_…", "secret_key": "…"}`
	if text == "" {
		return kpay.Pair{}, fmt.Errorf("no input: pipe %s, or run on a terminal to be prompted", want)
	}
	if strings.HasPrefix(text, "{") {
		var in struct {
			APIKey    *string `json:"api_key"`
			SecretKey *string `json:"secret_key"`
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(text)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || dec.More() {
			return kpay.Pair{}, fmt.Errorf("the input starts like JSON but is not an object with only api_key and secret_key; expected %s", want)
		}
		switch {
		case in.APIKey == nil || *in.APIKey == "":
			return kpay.Pair{}, fmt.Errorf("the JSON has no api_key (the public key)")
		case in.SecretKey == nil || *in.SecretKey == "":
			return kpay.Pair{}, fmt.Errorf("the JSON has no secret_key")
		}
		return kpay.Pair{APIKey: *in.APIKey, SecretKey: kpay.NewSecret(*in.SecretKey)}, nil
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	switch {
	case len(lines) == 1:
		return kpay.Pair{}, fmt.Errorf("only one line: expected %s", want)
	case len(lines) != 2:
		return kpay.Pair{}, fmt.Errorf("%d lines: expected %s", len(lines), want)
	case strings.HasPrefix(lines[1], "kpay_") && !strings.HasPrefix(lines[0], "kpay_"):
		return kpay.Pair{}, fmt.Errorf("the lines are swapped: the public key (kpay_…) comes first, then the secret key")
	}
	return kpay.Pair{APIKey: lines[0], SecretKey: kpay.NewSecret(lines[1])}, nil
}

// stageRequest writes the request, handing the file to the inbox's owner
// when root stages for a daemon running as its own user.
func stageRequest(dir string, req inbox.Request) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		parent, perr := os.Stat(filepath.Dir(dir))
		if perr != nil {
			return fmt.Errorf("inbox %s does not exist and neither does its parent; start the daemon once (it creates the inbox) or create it: install -d -m 0700 -o kpay-rotator %s", dir, dir)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("create inbox %s: %w", dir, err)
		}
		if st, ok := parent.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			_ = os.Chown(dir, int(st.Uid), int(st.Gid))
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("inbox %s: %w", dir, err)
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && int(st.Uid) != 0 {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	err = inbox.Write(dir, req, uid, gid)
	switch {
	case errors.Is(err, inbox.ErrAlreadyStaged):
		return fmt.Errorf("a pair is already staged for %s and not yet taken; wait for its outcome (kpay-rotator status), nothing was staged", req.Slot)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("cannot write to inbox %s: permission denied; run as root or as the daemon's user (sudo -u kpay-rotator kpay-rotator stage %s)", dir, req.Slot)
	case err != nil:
		return fmt.Errorf("stage the pair: %w", err)
	}
	return nil
}

// waitOutcome waits for the daemon's answer to request id.
func waitOutcome(ctx context.Context, e *env, cfg *config.Config, slot config.Slot, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := inbox.ReadResult(cfg.Daemon.InboxDir, slot.Name)
		if err == nil && res.ID == id {
			return printOutcome(e, slot, res)
		}
		if err != nil && !errors.Is(err, inbox.ErrNoResult) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no outcome after %s: the rotation is still in progress and the pair stays staged; follow it with: kpay-rotator status", timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting; the pair stays staged and the daemon carries on: kpay-rotator status")
		case <-tick.C:
		}
	}
}

func printOutcome(e *env, slot config.Slot, res inbox.Result) error {
	if res.Outcome != inbox.Written {
		return fmt.Errorf("rejected: %s\nnothing was written to %s", res.Reason, slot.SecretID)
	}
	fmt.Fprintf(e.stdout, "written: %s now holds %s (version %s)\n", slot.SecretID, res.Pair, res.VersionID)
	if res.Gap != "" {
		fmt.Fprintf(e.stdout, "cutover gap: %s (from the first rejection of the old pair to this write)\n", res.Gap)
	}
	fmt.Fprintln(e.stdout, "the previous pair is retired; kpay-rotator watches it until KPay rejects it")
	return nil
}

// dryRunVerify runs the daemon's verification here, against KPay, and
// writes nothing.
func dryRunVerify(ctx context.Context, e *env, cfg *config.Config, slot config.Slot, pair kpay.Pair, learnedApp string) error {
	p, err := healthcheck.New(healthcheck.Options{BaseURL: cfg.KPay.BaseURL, Timeout: cfg.KPay.Timeout, RequestsPerMinute: cfg.KPay.RequestsPerMinute})
	if err != nil {
		return err
	}
	defer p.Close()
	want := healthcheck.Expect{Environment: slot.Environment, ApplicationID: slot.ApplicationID}
	if want.ApplicationID == "" {
		want.ApplicationID = learnedApp
	}
	res := p.Probe(ctx, pair, want)
	if res.Outcome != healthcheck.Healthy {
		return fmt.Errorf("dry run: KPay does not accept %s for %s: %s (%s); nothing was staged", pair.Mask(), slot.Name, res.Outcome, res.Detail)
	}
	fmt.Fprintf(e.stdout, "dry run: KPay accepts %s for %s: application %s (%s), environment %s; nothing was staged or written\n",
		pair.Mask(), slot.Name, res.ApplicationID, res.ApplicationName, res.Environment)
	return nil
}
