package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStage_TerminalPromptsWithoutEcho runs stage on a pseudo-terminal
// (util-linux script) and answers its two prompts: neither key may be
// echoed back.
func TestStage_TerminalPromptsWithoutEcho(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script not installed: no pseudo-terminal to test the prompts on")
	}
	f := newFixture(t)
	f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	newPair := f.regenerate("payments-live")

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
}
