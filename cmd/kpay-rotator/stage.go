package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"kpay-rotator/config"
	"kpay-rotator/daemon"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
	"kpay-rotator/rotator"
)

// maxInput bounds what stage reads: a pair is about 130 bytes.
const maxInput = 64 << 10

func cmdStage(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "stage", "SLOT [flags] < pair", `
Hand over a pair an admin generated in the KPay dashboard.

Run it before you regenerate. On a terminal, stage first opens a rotation
of SLOT (the daemon then expects the current pair to stop working: no
alarm, and the outage clock starts at its first rejection), then asks you
to regenerate the pair in the dashboard and paste it: the public key and
the secret key, without echo. Ctrl-C cancels. Regenerating kills the old
pair at once, so this order keeps the outage to the seconds of the paste.

Otherwise it reads stdin: two lines (public key, then secret key), or JSON
{"api_key": "kpay_live_…", "secret_key": "…"}. For the same order in a
script, run stage SLOT --open first, regenerate, then pipe the pair into
stage SLOT: it continues the open rotation.

The pair is checked locally (prefixes, environment, format), written to the
inbox with mode 0600, and the daemon is signalled (SIGUSR2: take staged
pairs, no probe pass). The daemon verifies it against KPay (same
environment and application as the slot), writes it into the slot's
secret keeping every other field, and watches the old pair until KPay
rejects it. stage waits for that outcome and exits 0 when the pair is
written, 1 when it was rejected (with the reason) or is still pending.`)
	noWait := fs.Bool("no-wait", false, "return once the pair is staged and the daemon signalled")
	dryRun := fs.Bool("dry-run", false, "verify the pair (local checks and KPay) and stop: nothing is staged or written")
	open := fs.Bool("open", false, "open the rotation of SLOT and return, for scripts: regenerate the pair next, then run stage again with the pair on stdin")
	cancel := fs.Bool("cancel", false, "close a rotation of SLOT left open (by --open or an interrupted stage); nothing else changes")
	bornFlag := fs.String("born", "", "when the pair was created, if known, so its age starts there: a `DATE` (YYYY-MM-DD) or an RFC 3339 time")
	appFlag := fs.String("application", "", "the KPay application `ID` (a UUID) the pair must belong to, for a slot whose own is not known yet (no application_id, and its pair never answered)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the outcome")
	cfg, slot, err := loadSlot(fs, args, c)
	if err != nil {
		return err
	}
	if *open && (*cancel || *dryRun) {
		return usageError{cmd: "stage", msg: "stage: --open cannot be combined with --cancel or --dry-run"}
	}
	if *cancel {
		return cancelStage(e, cfg, slot)
	}
	born, err := parseBorn(*bornFlag, time.Now())
	if err != nil {
		return err
	}
	if *appFlag != "" && !kpay.IsApplicationID(*appFlag) {
		return usageError{cmd: "stage", msg: fmt.Sprintf("--application %q is not a KPay application id (a UUID, 8-4-4-4-12 hex digits); copy it from the dashboard or from the refusal that asked for it", *appFlag)}
	}
	if *dryRun {
		if err := rotationConflict(cfg, slot); err != nil {
			fmt.Fprintf(e.stderr, "warning: %v\n", err)
		}
		pair, err := readCheckedPair(ctx, e, slot)
		if err != nil {
			return err
		}
		// The learned application id is in the status; a daemon still
		// starting has none yet, and the check then accepts any.
		doc, _ := daemon.ReadStatus(cfg, time.Now())
		return dryRunVerify(ctx, e, cfg, slot, pair, slotOf(doc, slot.Name).ApplicationID)
	}

	pid, running, err := daemon.Find(cfg)
	if err != nil {
		return err
	}
	dir := cfg.Daemon.InboxDir
	if err := prepareStageInbox(dir); err != nil {
		return err
	}
	if err := nothingStaged(dir, slot.Name); err != nil {
		return err
	}
	// An open window (a stage interrupted, or run again) is continued:
	// same rotation, same outage clock.
	id := inbox.NewID(time.Now())
	if w, err := inbox.ReadWindow(dir, slot.Name); err == nil {
		id = w.ID
	}
	trigger := func() bool {
		if !running {
			return false
		}
		if err := daemon.Signal(pid, daemon.SigHandover); err != nil {
			// The daemon also watches the inbox (or, where it cannot,
			// looks at it every few seconds).
			fmt.Fprintf(e.stderr, "warning: %v; the daemon will still find it within seconds\n", err)
			return false
		}
		return true
	}

	tty, interactive := terminal(e)
	if interactive || *open {
		// Checked before the admin regenerates; a pair piped in was
		// regenerated already, and the daemon's verification refuses it.
		if err := rotationConflict(cfg, slot); err != nil {
			return err
		}
	}
	if interactive {
		// A terminal that hangs up (an SSH session dropped) ends stage as
		// Ctrl-C does: the rotation it opened is closed, not left open.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGHUP)
		defer stop()
	}
	if interactive || *open {
		if !running {
			fmt.Fprintf(e.stderr, "warning: the daemon is not running: start it before you regenerate (systemctl start kpay-rotator), or the pair waits in %s until it starts\n", dir)
		}
		if err := openWindow(dir, inbox.Window{ID: id, Slot: slot.Name, OpenedAt: time.Now().UTC(), OpenedBy: whoami()}); err != nil {
			return err
		}
		trigger()
		fmt.Fprintf(e.stderr, "rotation %s of %s is open: kpay-rotator now expects the current pair to stop working.\n", id, slot.Name)
	}
	if *open {
		fmt.Fprintf(e.stdout, "rotation %s of %s is open; now regenerate the pair in the KPay dashboard (Applications, the application of %s, %s keys), then hand it over: kpay-rotator stage %s < pair (or cancel: kpay-rotator stage --cancel %s)\n",
			id, slot.Name, slot.Name, slot.Environment, slot.Name, slot.Name)
		return nil
	}
	var pair kpay.Pair
	if interactive {
		fmt.Fprintf(e.stderr, "Now regenerate the pair in the KPay dashboard (Applications, the application of %s, %s keys) and paste it here; Ctrl-C cancels.\n", slot.Name, slot.Environment)
	} else if pair, err = readCheckedPair(ctx, e, slot); err != nil {
		return err
	}

	const tries = 3
	for try := 1; ; try++ {
		if interactive {
			if pair, err = promptUntilValid(ctx, tty, e.stderr, slot); err != nil {
				if cerr := inbox.CloseWindow(dir, slot.Name); cerr == nil {
					trigger()
				}
				return fmt.Errorf("stage %s: %w; nothing was staged and the rotation is closed", slot.Name, err)
			}
		}
		req := inbox.Request{ID: id, Slot: slot.Name, Pair: pair, Born: born, StagedAt: time.Now(), Application: *appFlag}
		if err := stageRequest(dir, req); err != nil {
			return err
		}
		signalled := trigger()
		fmt.Fprintf(e.stdout, "staged %s for %s (rotation %s)\n", pair.Mask(), slot.Name, req.ID)
		if !running {
			return fmt.Errorf("the daemon is not running: the pair stays staged in %s and is taken when the daemon starts (systemctl start kpay-rotator); do not stage it again", dir)
		}
		if *noWait {
			if signalled {
				fmt.Fprintf(e.stdout, "the daemon (pid %d) was signalled; follow it with: kpay-rotator status\n", pid)
			} else {
				// The daemon watches its inbox (inotify); only where it
				// cannot does it look on a timer.
				fmt.Fprintf(e.stdout, "the daemon takes it as soon as it sees it in its inbox: at once, or where the inbox cannot be watched, on its next inbox check (every %d s); follow it with: kpay-rotator status\n",
					rotator.RotationTick/time.Second)
			}
			return nil
		}
		res, err := waitOutcome(ctx, dir, slot, req.ID, *timeout)
		if err != nil {
			return err
		}
		if res.Outcome == inbox.Refused && interactive && try < tries {
			// The rotation stays open: the admin pastes the right pair.
			fmt.Fprintf(e.stderr, "refused: %s; nothing was staged\npaste the new pair (try %d of %d), or Ctrl-C to cancel\n", res.Reason, try+1, tries)
			continue
		}
		if res.Outcome == inbox.Refused && interactive {
			// Out of tries: close the rotation this stage opened, so its
			// rejections are not taken for planned ones.
			if err := inbox.CloseWindow(dir, slot.Name); err == nil {
				trigger()
			}
			return fmt.Errorf("refused: %s; nothing was staged or written, and the rotation is closed", res.Reason)
		}
		return printOutcome(e, slot, res)
	}
}

// rotationConflict refuses to stage into a secret that Secrets Manager also
// rotates with a Lambda (the daemon's status says so), before anyone
// regenerates the pair: the Lambda would overwrite it.
func rotationConflict(cfg *config.Config, slot config.Slot) error {
	if slot.AllowSecretsManagerRotation {
		return nil
	}
	doc, err := daemon.ReadStatus(cfg, time.Now())
	if err != nil {
		return nil // the daemon's verification checks the same
	}
	if lambda := slotOf(doc, slot.Name).SecretsManagerRotation; lambda != "" {
		return fmt.Errorf("stage %s: secret %s also has Secrets Manager rotation enabled (Lambda %s), which would overwrite the new pair; do not regenerate yet: turn it off (aws secretsmanager cancel-rotate-secret --secret-id %s), or set allow_secrets_manager_rotation = true for slot %s if the Lambda never touches %s and %s, then reload",
			slot.Name, slot.SecretID, lambda, slot.SecretID, slot.Name, slot.APIKeyField, slot.SecretKeyField)
	}
	return nil
}

// readCheckedPair reads the pair (prompting on a terminal) and runs the
// local checks.
func readCheckedPair(ctx context.Context, e *env, slot config.Slot) (kpay.Pair, error) {
	var pair kpay.Pair
	var err error
	if tty, ok := terminal(e); ok {
		pair, err = promptPair(ctx, tty, e.stderr, slot)
	} else {
		pair, err = readPipedPair(e)
	}
	if err != nil {
		return pair, fmt.Errorf("stage %s: %w; nothing was staged", slot.Name, err)
	}
	if err := checkStaged(e, slot, pair); err != nil {
		return pair, fmt.Errorf("stage %s: the pair fails the local checks, nothing was staged:\n  %s", slot.Name, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return pair, nil
}

// checkStaged runs the local checks and notes a secret without prefix.
func checkStaged(e *env, slot config.Slot, pair kpay.Pair) error {
	if err := pair.Check(slot.Environment); err != nil {
		return err
	}
	if !pair.HasSecretPrefix() {
		fmt.Fprintf(e.stderr, "note: the secret key has no sk_%s_ prefix; some real KPay secrets have none, so it is accepted\n", slot.Environment)
	}
	return nil
}

// promptUntilValid prompts until the pair passes the local checks: the
// pair is already regenerated, so a typo must not cost the whole window.
func promptUntilValid(ctx context.Context, tty *os.File, w io.Writer, slot config.Slot) (kpay.Pair, error) {
	const tries = 3
	for i := 1; ; i++ {
		pair, err := promptPair(ctx, tty, w, slot)
		if err != nil {
			return pair, err
		}
		cerr := pair.Check(slot.Environment)
		if cerr == nil {
			if !pair.HasSecretPrefix() {
				fmt.Fprintf(w, "note: the secret key has no sk_%s_ prefix; some real KPay secrets have none, so it is accepted\n", slot.Environment)
			}
			return pair, nil
		}
		if i == tries {
			return pair, fmt.Errorf("the pair failed the local checks %d times: %v", tries, cerr)
		}
		fmt.Fprintf(w, "the pair fails the local checks:\n  %s\npaste it again (try %d of %d), or Ctrl-C to cancel\n", strings.ReplaceAll(cerr.Error(), "\n", "\n  "), i+1, tries)
	}
}

// cancelStage closes an open window without a pair.
func cancelStage(e *env, cfg *config.Config, slot config.Slot) error {
	dir := cfg.Daemon.InboxDir
	if err := nothingStaged(dir, slot.Name); err != nil {
		return fmt.Errorf("%w; a staged pair cannot be cancelled", err)
	}
	w, err := inbox.ReadWindow(dir, slot.Name)
	if errors.Is(err, inbox.ErrNoWindow) {
		return fmt.Errorf("no rotation of %s is open; nothing to cancel", slot.Name)
	}
	if err := inbox.CloseWindow(dir, slot.Name); err != nil {
		return err
	}
	if pid, running, err := daemon.Find(cfg); err == nil && running {
		if err := daemon.Signal(pid, daemon.SigHandover); err != nil {
			fmt.Fprintf(e.stderr, "warning: %v; the daemon will notice within seconds\n", err)
		}
	}
	fmt.Fprintf(e.stdout, "rotation %s of %s cancelled; nothing was staged or written\n", w.ID, slot.Name)
	return nil
}

// nothingStaged says why a pair cannot be staged for slot now, if it
// cannot.
func nothingStaged(dir, slot string) error {
	_, err := os.Lstat(inbox.RequestPath(dir, slot))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("cannot read inbox %s: permission denied; run as root or as the daemon's user (sudo -u kpay-rotator kpay-rotator stage %s)", dir, slot)
	case err != nil:
		return fmt.Errorf("inbox %s: %w", dir, err)
	}
	return fmt.Errorf("a pair is already staged for %s and not yet taken; wait for its outcome (kpay-rotator status), nothing was staged", slot)
}

// whoami names the admin running stage, for the journal: the user behind
// sudo when there is one, and the host.
func whoami() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if host, err := os.Hostname(); err == nil {
		return name + "@" + host
	}
	return name
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
		return time.Time{}, usageError{cmd: "stage", msg: fmt.Sprintf("--born %q: use a date (2026-09-01) or RFC 3339 time (2026-09-01T10:00:00Z)", s)}
	case t.After(now):
		return time.Time{}, usageError{cmd: "stage", msg: fmt.Sprintf("--born %s is in the future", s)}
	case t.Year() < 2015:
		return time.Time{}, usageError{cmd: "stage", msg: fmt.Sprintf("--born %s is before KPay existed", s)}
	}
	return t.UTC(), nil
}

// terminal returns stdin when it is a terminal: stage then prompts.
func terminal(e *env) (*os.File, bool) {
	f, ok := e.stdin.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// readPipedPair reads the pair from stdin.
func readPipedPair(e *env) (kpay.Pair, error) {
	data, err := io.ReadAll(io.LimitReader(e.stdin, maxInput+1))
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read stdin: %w", err)
	}
	if len(data) > maxInput {
		return kpay.Pair{}, fmt.Errorf("the input is larger than %d KiB; expected two lines (public key, secret key) or a small JSON object", maxInput>>10)
	}
	return parsePair(data)
}

// promptPair asks for the two keys without echo. Ctrl-C (ctx) ends it at
// once, with the terminal's echo put back.
func promptPair(ctx context.Context, f *os.File, w io.Writer, slot config.Slot) (kpay.Pair, error) {
	fmt.Fprintf(w, "Public key for %s (%s…, input hidden): ", slot.Name, slot.Environment.APIKeyPrefix())
	api, err := readHidden(ctx, f)
	fmt.Fprintln(w)
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read public key: %w", err)
	}
	fmt.Fprintf(w, "Secret key for %s (input hidden): ", slot.Name)
	sk, err := readHidden(ctx, f)
	fmt.Fprintln(w)
	if err != nil {
		return kpay.Pair{}, fmt.Errorf("read secret key: %w", err)
	}
	return kpay.Pair{APIKey: strings.TrimSpace(string(api)), SecretKey: kpay.NewSecret(strings.TrimSpace(string(sk)))}, nil
}

// readHidden reads a line without echo until ctx ends. term.ReadPassword
// cannot be interrupted, so it runs aside; on ctx's end the terminal is
// restored here and the read is left to die with the process.
func readHidden(ctx context.Context, f *os.File) ([]byte, error) {
	state, err := term.GetState(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	type line struct {
		b   []byte
		err error
	}
	got := make(chan line, 1)
	go func() {
		b, err := term.ReadPassword(int(f.Fd()))
		got <- line{b, err}
	}()
	select {
	case l := <-got:
		return l.b, l.err
	case <-ctx.Done():
		_ = term.Restore(int(f.Fd()), state)
		return nil, errors.New("interrupted")
	}
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

// prepareStageInbox sets the inbox up as the daemon does (inbox.Prepare)
// but never creates its parent: root staging before the daemon's first
// start would leave a parent only root can enter, and the daemon's user
// locked out of its own inbox.
func prepareStageInbox(dir string) error {
	if _, err := os.Stat(filepath.Dir(dir)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("inbox %s does not exist and neither does its parent; start the daemon once (it creates the inbox) or create it: install -d -m 0700 -o kpay-rotator %s", dir, dir)
	}
	return inbox.Prepare(dir)
}

// openWindow records an open rotation window for the daemon.
func openWindow(dir string, w inbox.Window) error {
	uid, gid, err := inbox.Owner(dir)
	if err != nil {
		return err
	}
	err = inbox.OpenWindow(dir, w, uid, gid)
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("cannot write to inbox %s: permission denied; run as root or as the daemon's user (sudo -u kpay-rotator kpay-rotator stage %s)", dir, w.Slot)
	}
	return err
}

// stageRequest writes the request.
func stageRequest(dir string, req inbox.Request) error {
	uid, gid, err := inbox.Owner(dir)
	if err != nil {
		return err
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

// waitOutcome waits for the daemon's answer to request id. A hand-over
// takes milliseconds, so the result file is looked at every 2 ms at first
// (a stat and a small read), then every 50 ms once the daemon is clearly
// waiting on KPay or Secrets Manager.
// The result is stage's alone: it is removed once read.
func waitOutcome(ctx context.Context, dir string, slot config.Slot, id string, timeout time.Duration) (inbox.Result, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		res, err := inbox.ReadResult(dir, slot.Name)
		if err == nil && res.ID == id {
			_ = inbox.RemoveResult(dir, slot.Name)
			return res, nil
		}
		if err != nil && !errors.Is(err, inbox.ErrNoResult) {
			return res, err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("no outcome after %s: the rotation is still in progress and the pair stays staged; follow it with: kpay-rotator status", timeout)
		}
		poll := 2 * time.Millisecond
		if time.Since(start) > 2*time.Second {
			poll = 50 * time.Millisecond
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("stopped waiting; the pair stays staged and the daemon carries on: kpay-rotator status")
		case <-t.C:
		}
	}
}

func printOutcome(e *env, slot config.Slot, res inbox.Result) error {
	switch res.Outcome {
	case inbox.Refused:
		return fmt.Errorf("refused: %s; nothing was staged or written", res.Reason)
	case inbox.Rejected:
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
