package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStage_TerminalPromptsWithoutEcho runs stage on a pseudo-terminal
// (util-linux script) in the planned order: stage opens the rotation, the
// admin regenerates, then answers its two prompts. Neither key may be
// echoed back, and the rejections in between raise no alarm.
func TestStage_TerminalPromptsWithoutEcho(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script not installed: no pseudo-terminal to test the prompts on")
	}
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })

	cmd := exec.Command(scriptBin, "-qec", binPath+" stage payments-live --config "+f.cfgPath, "/dev/null")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		r := bufio.NewReader(stdout)
		buf := make([]byte, 256)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(out.String(), s) }
	}
	// The rotation opens before the prompt; only then is the pair
	// regenerated, and a probe meets the dead one.
	eventually(t, "the rotation opened", seen("Now regenerate the pair in the KPay dashboard"))
	eventually(t, "the window journaled", func() bool {
		r := slotOf(f.status(), "payments-live").Rotation
		return r != nil && r.State == "open"
	})
	newPair := f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "the dead pair rejected", func() bool {
		last := slotOf(f.status(), "payments-live").LastProbe
		return last != nil && last.Outcome == "rejected"
	})
	// Answer each prompt only once it is shown, when echo is already off.
	eventually(t, "public key prompt", seen("Public key for payments-live"))
	io.WriteString(stdin, newPair.APIKey+"\n")
	eventually(t, "secret key prompt", seen("Secret key for payments-live"))
	io.WriteString(stdin, newPair.SecretKey.Reveal()+"\n")
	eventually(t, "outcome", seen("written:"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("stage did not exit")
	}
	mu.Lock()
	got := out.String()
	mu.Unlock()
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
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script not installed: no pseudo-terminal to test the prompts on")
	}
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	cmd := exec.Command(scriptBin, "-qec", binPath+" stage payments-live --config "+f.cfgPath, "/dev/null")
	stdin, _ := cmd.StdinPipe()
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "public key prompt", func() bool { return strings.Contains(out.String(), "Public key for payments-live") })
	eventually(t, "the window journaled", func() bool {
		r := slotOf(f.status(), "payments-live").Rotation
		return r != nil && r.State == "open"
	})
	io.WriteString(stdin, "\x03") // Ctrl-C on the terminal
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("stage did not exit on Ctrl-C")
	}
	if !strings.Contains(out.String(), "nothing was staged and the rotation is closed") {
		t.Errorf("stage after Ctrl-C said:\n%s", out.String())
	}
	eventually(t, "the rotation cancelled", func() bool {
		r := slotOf(f.status(), "payments-live").Rotation
		return r != nil && r.State == "cancelled"
	})
	if entries, _ := os.ReadDir(f.inboxDir()); len(entries) != 0 {
		t.Errorf("the inbox holds %d files after Ctrl-C, want none", len(entries))
	}
	_ = p
}
