package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// runBin runs the built binary with args and no configuration around it.
func runBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = t.TempDir() // no ./config.toml to fall back on
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// tooMany is, per command, arguments it refuses as a usage error before
// reading any configuration. A new command fails the test until it has
// an entry.
var tooMany = map[string][]string{
	"run":          {"extra"},
	"check-config": {"extra"},
	"status":       {"extra"},
	"stage":        {"slot-a", "slot-b"},
	"repair":       {"slot-a", "slot-b"},
	"rotate":       {"slot-a", "slot-b"},
	"notify-test":  {"ops", "audit"},
	"completion":   {"bash", "zsh"},
	"version":      {"extra"},
	"man":          {"extra"},
}

// TestCLI_Conventions holds every subcommand to the usual conventions:
// help asked for goes to stdout with exit 0; a mistake goes to stderr
// with exit 2 and a hint naming the command's --help.
func TestCLI_Conventions(t *testing.T) {
	for _, c := range commands {
		extra, ok := tooMany[c.name]
		if !ok {
			t.Errorf("command %s has no tooMany entry", c.name)
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
				stdout, stderr, code := runBin(t, args...)
				if code != exitOK || !strings.HasPrefix(stdout, "Usage: kpay-rotator "+c.name) || stderr != "" {
					t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout only", args, code, head(stdout), stderr)
				}
			}
			try := "Try: kpay-rotator " + c.name + " --help"
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{c.name, "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
				{append([]string{c.name}, extra...), c.name},
			} {
				stdout, stderr, code := runBin(t, tc.args...)
				if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, try) {
					t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, %q and %q on stderr", tc.args, code, head(stdout), stderr, tc.want, try)
				}
			}
		})
	}
}

func TestCLI_TopLevel(t *testing.T) {
	version, _, _ := runBin(t, "version")
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // wanted prefixes; "" wants nothing at all
	}{
		{"no arguments is a usage error", nil, exitUsage, "", "kpay-rotator keeps KPay"},
		{"--help", []string{"--help"}, exitOK, "kpay-rotator keeps KPay", ""},
		{"-h", []string{"-h"}, exitOK, "kpay-rotator keeps KPay", ""},
		{"help", []string{"help"}, exitOK, "kpay-rotator keeps KPay", ""},
		{"--version is version", []string{"--version"}, exitOK, version, ""},
		{"-version is version", []string{"-version"}, exitOK, version, ""},
		{"unknown command", []string{"stats"}, exitUsage, "", `kpay-rotator: unknown command "stats"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runBin(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, out := range []struct{ name, got, want string }{{"stdout", stdout, tt.stdout}, {"stderr", stderr, tt.stderr}} {
				if (out.want == "") != (out.got == "") || !strings.HasPrefix(out.got, out.want) {
					t.Errorf("%s = %q, want it to start with %q", out.name, head(out.got), out.want)
				}
			}
		})
	}
	if !strings.HasPrefix(version, "kpay-rotator ") {
		t.Errorf("version printed %q", version)
	}
}

func head(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
