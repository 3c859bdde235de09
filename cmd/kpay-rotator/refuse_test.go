package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// refusedCorpus is every configuration the daemon refuses to start with,
// and a fragment of why: check-config must refuse each the same way.
var refusedCorpus = []struct{ file, why string }{
	{"../../config/testdata/five-problems.toml", "unknown key; did you mean max_age?"},
	{"testdata/refused/telegram-channel-too-short.toml", `"@kpay" is not a Telegram chat id`},
	{"testdata/refused/base-url-plain-http.toml", "uses plain http; use https"},
	{"testdata/refused/webhook-url-without-host.toml", "the URL has no host"},
	{"testdata/refused/teams-connector.toml", "Office 365 connector webhook, which Microsoft retired"},
	{"testdata/refused/retention-shorter-than-status.toml", "status shows a revoked pair for 7d, so keep its record at least that long"},
}

// check-config and run refuse the same configurations, with exit 78 and
// the same words: what would stop the daemon stops check-config (which
// systemd runs first, as ExecStartPre) before it.
func TestBinary_CheckConfigAndRunRefuseAlike(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range refusedCorpus {
		listed[filepath.Base(c.file)] = true
	}
	files, err := filepath.Glob("testdata/refused/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/refused: %v", err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in refusedCorpus: say why it is refused there", f)
		}
	}
	for _, c := range refusedCorpus {
		t.Run(strings.TrimSuffix(filepath.Base(c.file), ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			// Relative paths (state, inbox) resolve next to the copy.
			cfg := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(cfg, data, 0o600); err != nil {
				t.Fatal(err)
			}
			checkOut, checkCode := runBinary(t, "check-config", "--config", cfg)
			runOut, runCode := runBinary(t, "run", "--config", cfg)
			if checkCode != exitConfig || runCode != exitConfig {
				t.Fatalf("exit codes: check-config %d, run %d; want %d for both\ncheck-config: %s\nrun: %s", checkCode, runCode, exitConfig, checkOut, runOut)
			}
			if !strings.Contains(checkOut, c.why) {
				t.Errorf("check-config does not say %q:\n%s", c.why, checkOut)
			}
			if !strings.Contains(runOut, checkOut) {
				t.Errorf("run refused in other words:\ncheck-config: %s\nrun:          %s", checkOut, runOut)
			}
		})
	}
}

// runBinary runs the built binary to completion, or fails the test when
// it is still running after a while: a daemon that started.
func runBinary(t *testing.T, args ...string) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var e bytes.Buffer
	cmd.Stderr = &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v still running after 20s: it did not refuse the configuration\n%s", args, e.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return e.String(), cmd.ProcessState.ExitCode()
}
