package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"kpay-rotator/rotator"
)

const (
	sigUSR1 = syscall.SIGUSR1
	sigHUP  = syscall.SIGHUP
)

// daemon drives the kpay-rotator binary as an operator would.
type daemon struct {
	bin    string
	config string
	env    []string
	cmd    *exec.Cmd
	done   chan error
}

func build(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return fmt.Errorf("find the kpay-rotator module (run the demo from inside the repository): %v", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/kpay-rotator")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build kpay-rotator: %w", err)
	}
	return nil
}

func (d *daemon) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.bin, append(args, "--config", d.config)...)
	cmd.Env = append(os.Environ(), d.env...)
	return cmd
}

// show runs a kpay-rotator command and prints its output indented.
func (d *daemon) show(ctx context.Context, args ...string) error {
	return d.showIn(ctx, "", args...)
}

// showIn is show with stdin.
func (d *daemon) showIn(ctx context.Context, stdin string, args ...string) error {
	fmt.Println("    $ kpay-rotator " + strings.Join(args, " "))
	cmd := d.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Println("    " + line)
	}
	if err != nil {
		return fmt.Errorf("kpay-rotator %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (d *daemon) start(ctx context.Context) error {
	d.cmd = d.command(context.Background(), "run")
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan error, 1)
	go relay(stderr)
	go func() { d.done <- d.cmd.Wait() }()
	return nil
}

// relay prints the daemon's log lines, dimmed, so the walk-through stays
// readable while showing what the daemon itself says.
func relay(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Printf("    \033[2m│ %s\033[0m\n", sc.Text())
	}
}

func (d *daemon) signal(s syscall.Signal) {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(s)
	}
}

// status reads `kpay-rotator status --json`.
func (d *daemon) status(ctx context.Context) (rotator.Status, error) {
	var doc rotator.Status
	out, err := d.command(ctx, "status", "--json").Output()
	if err != nil {
		return doc, err
	}
	return doc, json.NewDecoder(bytes.NewReader(out)).Decode(&doc)
}

// waitStatus polls status until ok holds.
func (d *daemon) waitStatus(ctx context.Context, what string, ok func(rotator.Status) bool) error {
	say("waiting for: %s", what)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if doc, err := d.status(ctx); err == nil && ok(doc) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case err := <-d.done:
			return fmt.Errorf("daemon exited while waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}

func (d *daemon) stop(timeout time.Duration) error {
	d.signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.cmd = nil
		if err != nil {
			return fmt.Errorf("daemon exited with %v", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("daemon did not stop within %s", timeout)
	}
}

func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// showHTTP prints what the daemon's HTTP listener answers on path (the
// lines starting with prefix, if one is given), as curl would.
func (d *daemon) showHTTP(ctx context.Context, stateDir, path, prefix string) error {
	addr, err := os.ReadFile(filepath.Join(stateDir, "listen.addr"))
	if err != nil {
		return fmt.Errorf("the daemon's HTTP address: %w", err)
	}
	url := "http://" + strings.TrimSpace(string(addr)) + path
	fmt.Printf("    $ curl -s %s", url)
	if prefix != "" {
		fmt.Printf(" | grep ^%s", prefix)
	}
	fmt.Println()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if prefix == "" || strings.HasPrefix(line, prefix) {
			fmt.Println("    " + line)
		}
	}
	return nil
}
