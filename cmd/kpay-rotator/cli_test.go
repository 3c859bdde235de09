package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = runMain(context.Background(), &env{stdin: strings.NewReader(""), stdout: &o, stderr: &e, getenv: os.Getenv}, args)
	return o.String(), e.String(), code
}

func TestCLI_ExitCodesAndHelp(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[daemon]\nstate_dir = \"state\"\n[[slot]]\nname = \"a\"\nenvironment = \"test\"\nsecret_id = \"s\"\n"), 0o600)
	os.WriteFile(bad, []byte("[[slot]]\nname = \"a\"\nenvironment = \"prod\"\nsecret_id = \"s\"\nmax_age = \"3 weeks\"\n"), 0o600)
	// Notifier credentials are read and judged by check-config too.
	notifier := func(name, source string) string {
		p := filepath.Join(dir, name+".toml")
		os.WriteFile(p, []byte("[daemon]\nstate_dir = \"state\"\n[[notifier]]\nname = \"ops\"\ntype = \"slack\"\n"+source+"\n"), 0o600)
		return p
	}
	plainURL := filepath.Join(dir, "plain.url")
	os.WriteFile(plainURL, []byte("http://hooks.example.net/services/T/B/token-xyz\n"), 0o600)
	missing := notifier("missing", fmt.Sprintf("url_file = %q", filepath.Join(dir, "gone.url")))
	plain := notifier("plain", fmt.Sprintf("url_file = %q", plainURL))
	credential := notifier("credential", `url_credential = "slack-ops"`)
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	// An inbox others can read would show them staged pairs.
	looseInbox := filepath.Join(dir, "loose-inbox")
	os.Mkdir(looseInbox, 0o700)
	os.Chmod(looseInbox, 0o755)
	loose := filepath.Join(dir, "loose.toml")
	os.WriteFile(loose, []byte(fmt.Sprintf("[daemon]\nstate_dir = \"state-loose\"\ninbox_dir = %q\nlisten = \"127.0.0.1:0\"\n[[slot]]\nname = \"a\"\nenvironment = \"test\"\nsecret_id = \"s\"\n", looseInbox)), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no arguments", nil, exitUsage, nil, []string{"Commands:", "check-config", "status"}},
		{"help", []string{"--help"}, exitOK, []string{"Usage: kpay-rotator COMMAND", "Exit codes"}, nil},
		{"unknown command", []string{"rotat"}, exitUsage, nil, []string{`unknown command "rotat"`, "Try: kpay-rotator --help"}},
		{"flag before the command", []string{"--config", good, "status"}, exitUsage, nil, []string{`unknown flag "--config" before the command`}},
		{"unknown flag", []string{"status", "--jsno"}, exitUsage, nil, []string{"flag provided but not defined: -jsno", "Try: kpay-rotator status --help"}},
		{"command help", []string{"status", "--help"}, exitOK, []string{"Usage: kpay-rotator status", "-json"}, nil},
		{"help COMMAND", []string{"help", "stage"}, exitOK, []string{"Usage: kpay-rotator stage", "-dry-run"}, nil},
		{"stray argument", []string{"check-config", "extra"}, exitUsage, nil, []string{"takes no arguments"}},
		{"bad log level", []string{"run", "--config", good, "--log-level", "loud"}, exitUsage, nil, []string{"--log-level", "debug, info, warn or error"}},
		{"good config", []string{"check-config", "--config", good}, exitOK, []string{"ok (1 slots, 0 notifiers)"}, nil},
		{"bad config lists every problem", []string{"check-config", "--config", bad}, exitConfig, nil, []string{"bad.toml:3", "environment", "bad.toml:5", "max_age"}},
		{"missing config", []string{"check-config", "--config", filepath.Join(dir, "none.toml")}, exitConfig, nil, []string{filepath.Join(dir, "none.toml") + " does not exist", "config.toml.example", "kpay-rotator check-config --config " + filepath.Join(dir, "none.toml")}},
		{"status before first run", []string{"status", "--config", good}, exitOK, []string{"has not run yet", "a  "}, nil},
		{"stage --application not a uuid", []string{"stage", "a", "--application", "shop", "--config", good}, exitUsage, nil, []string{`--application "shop" is not a KPay application id`}},
		{"missing url_file", []string{"check-config", "--config", missing}, exitConfig, nil, []string{"notifier[ops]", filepath.Join(dir, "gone.url"), "no such file"}},
		{"url_file with plain http", []string{"check-config", "--config", plain}, exitConfig, nil, []string{"notifier[ops]", "plain http", "hooks.example.net"}},
		{"credential outside the service is a warning", []string{"check-config", "--config", credential}, exitOK, []string{"ok"}, []string{"warning: notifier[ops]", "CREDENTIALS_DIRECTORY"}},
		{"inbox open to others", []string{"run", "--config", loose}, exitConfig, nil, []string{looseInbox, "mode 0755", "chmod 700"}},
		{"version", []string{"version"}, exitOK, []string{"kpay-rotator ", "go: go1."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestRedactAttr_MasksSecretKeys(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&b, logPlain, 0)
	log.Info("m", "secret_key", "sk_live_leak", "token", "123:abc", "secret_id", "prod/payments/kpay")
	out := b.String()
	if strings.Contains(out, "sk_live_leak") || strings.Contains(out, "123:abc") {
		t.Errorf("secret attribute logged: %s", out)
	}
	if !strings.Contains(out, "secret_id=prod/payments/kpay") {
		t.Errorf("secret_id (a name, not a secret) was masked: %s", out)
	}
}
