package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/internal/testutil"
)

// terminalStage is `kpay-rotator stage payments-live` run on a
// pseudo-terminal (util-linux script), as an admin runs it.
type terminalStage struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   testutil.SyncBuffer
}

// startOnTerminal starts stage on a pseudo-terminal once the daemon has
// probed the slot, and waits until the rotation it opens is journaled.
func (f *fixture) startOnTerminal(t *testing.T) *terminalStage {
	t.Helper()
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script not installed: no pseudo-terminal to test the prompts on")
	}
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	ts := &terminalStage{t: t, cmd: exec.Command(scriptBin, "-qec", binPath+" stage payments-live --config "+f.cfgPath, "/dev/null")}
	ts.stdin, _ = ts.cmd.StdinPipe()
	ts.cmd.Stdout = &ts.out
	if err := ts.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.cmd.Process.Kill() })
	// The rotation opens before the prompt.
	ts.waitFor("Now regenerate the pair in the KPay dashboard")
	eventually(t, "the window journaled", func() bool {
		r := slotOf(f.status(), "payments-live").Rotation
		return r != nil && r.State == "open"
	})
	return ts
}

func (ts *terminalStage) waitFor(s string) {
	ts.t.Helper()
	eventually(ts.t, "stage to show "+s, func() bool { return strings.Contains(ts.out.String(), s) })
}

func (ts *terminalStage) wait() string {
	ts.t.Helper()
	done := make(chan error, 1)
	go func() { done <- ts.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		ts.t.Fatalf("stage did not exit; it showed:\n%s", ts.out.String())
	}
	return ts.out.String()
}

// TestStage_TerminalPromptsWithoutEcho runs stage in the planned order:
// stage opens the rotation, the admin regenerates, then answers its two
// prompts. Neither key may be echoed back, and the rejections in between
// raise no alarm.
func TestStage_TerminalPromptsWithoutEcho(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	ts := f.startOnTerminal(t)
	// Only now is the pair regenerated, and a probe meets the dead one.
	newPair := f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "the dead pair rejected", func() bool {
		last := slotOf(f.status(), "payments-live").LastProbe
		return last != nil && last.Outcome == "rejected"
	})
	// Answer each prompt only once it is shown, when echo is already off.
	ts.waitFor("Public key for payments-live")
	io.WriteString(ts.stdin, newPair.APIKey+"\n")
	ts.waitFor("Secret key for payments-live")
	io.WriteString(ts.stdin, newPair.SecretKey.Reveal()+"\n")
	ts.waitFor("written:")
	got := ts.wait()
	if strings.Contains(got, newPair.SecretKey.Reveal()) || strings.Contains(got, newPair.APIKey) {
		t.Errorf("the terminal echoed a key:\n%s", got)
	}
	if !strings.Contains(f.secret("prod/payments/kpay"), newPair.APIKey) {
		t.Error("the pair typed at the prompts was not written")
	}
	if !strings.Contains(got, "cutover gap:") {
		t.Errorf("stage did not report the cutover gap of the planned rotation:\n%s", got)
	}
	for _, kind := range []string{"unplanned_revocation", "key_failing"} {
		if strings.Contains(p.log(), "event="+kind) {
			t.Errorf("the planned rotation raised %s", kind)
		}
	}
}

// TestStage_TerminalCtrlCClosesTheRotation: Ctrl-C at the prompt closes the
// window it opened, puts the terminal back and stages nothing.
func TestStage_TerminalCtrlCClosesTheRotation(t *testing.T) {
	f := newFixture(t)
	f.start()
	ts := f.startOnTerminal(t)
	ts.waitFor("Public key for payments-live")
	io.WriteString(ts.stdin, "\x03") // Ctrl-C on the terminal
	if got := ts.wait(); !strings.Contains(got, "nothing was staged and the rotation is closed") {
		t.Errorf("stage after Ctrl-C said:\n%s", got)
	}
	eventually(t, "the rotation cancelled", func() bool {
		r := slotOf(f.status(), "payments-live").Rotation
		return r != nil && r.State == "cancelled"
	})
	if entries, _ := os.ReadDir(f.inboxDir()); len(entries) != 0 {
		t.Errorf("the inbox holds %d files after Ctrl-C, want none", len(entries))
	}
}
