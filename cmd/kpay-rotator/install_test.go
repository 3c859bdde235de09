package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingConfig: a host where only the example was installed gets
// exit 78 and the commands that make the configuration.
func TestMissingConfig(t *testing.T) {
	withExample, bare := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(withExample, "config.toml.example"), []byte("# example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		want      func(cfg string) []string
	}{
		{"example beside it", withExample, func(cfg string) []string {
			return []string{"configuration file " + cfg + " does not exist", "cp " + cfg + ".example " + cfg, "edit it", "kpay-rotator check-config --config " + cfg}
		}},
		{"no example beside it", bare, func(cfg string) []string {
			return []string{"configuration file " + cfg + " does not exist", "/etc/kpay-rotator/config.toml.example", "edit it", "kpay-rotator check-config --config " + cfg}
		}},
	}
	for _, tt := range tests {
		for _, command := range []string{"run", "check-config", "status"} {
			t.Run(tt.name+"/"+command, func(t *testing.T) {
				cfg := filepath.Join(tt.dir, "config.toml")
				stdout, stderr, code := runBin(t, command, "--config", cfg)
				if code != exitConfig {
					t.Errorf("exit %d, want %d (EX_CONFIG)", code, exitConfig)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
				for _, w := range tt.want(cfg) {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, stderr)
					}
				}
			})
		}
	}
}

// TestMakeInstall runs the Makefile's install and uninstall into a
// DESTDIR as a package build does.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("GNU make not installed")
	}
	runMake := func(t *testing.T, target, dest string) {
		t.Helper()
		// GO=false: were make to find the binary stale, it must fail
		// rather than build another.
		cmd := exec.Command("make", "-C", filepath.Join("..", ".."), target, "DESTDIR="+dest, "BIN="+binPath, "GO=false", "VERSION=test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	installed := []string{
		"usr/bin/kpay-rotator",
		"usr/lib/systemd/system/kpay-rotator.service",
		"usr/share/man/man8/kpay-rotator.8",
		"usr/share/bash-completion/completions/kpay-rotator",
		"usr/share/zsh/vendor-completions/_kpay-rotator",
		"usr/share/fish/vendor_completions.d/kpay-rotator.fish",
		"usr/share/doc/kpay-rotator/install.md",
		"etc/kpay-rotator/config.toml.example",
	}
	t.Run("fresh", func(t *testing.T) {
		dest := t.TempDir()
		runMake(t, "install", dest)
		for _, p := range installed {
			if _, err := os.Stat(filepath.Join(dest, p)); err != nil {
				t.Errorf("not installed: %v", err)
			}
		}
		if _, err := os.Stat(filepath.Join(dest, "etc/kpay-rotator/config.toml")); err == nil {
			t.Error("install laid out etc/kpay-rotator/config.toml; only the example may be installed")
		}
		example, _ := os.ReadFile(filepath.Join(dest, "etc/kpay-rotator/config.toml.example"))
		shipped, _ := os.ReadFile(filepath.Join("..", "..", "config.toml"))
		if len(example) == 0 || !bytes.Equal(example, shipped) {
			t.Error("config.toml.example is not the repository's config.toml")
		}
		bash, _ := os.ReadFile(filepath.Join(dest, "usr/share/bash-completion/completions/kpay-rotator"))
		if want, _, _ := runBin(t, "completion", "bash"); string(bash) != want {
			t.Error("the installed bash completion is not what the binary prints")
		}
		unitText, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/kpay-rotator.service"))
		if !strings.Contains(string(unitText), "\nDocumentation=man:kpay-rotator(8)\n") {
			t.Error("the installed unit's Documentation= is not man:kpay-rotator(8)")
		}
	})
	t.Run("keeps a live config across install and uninstall", func(t *testing.T) {
		dest := t.TempDir()
		live := filepath.Join(dest, "etc/kpay-rotator/config.toml")
		os.MkdirAll(filepath.Dir(live), 0o755)
		const mine = "# the admin's configuration\n"
		if err := os.WriteFile(live, []byte(mine), 0o640); err != nil {
			t.Fatal(err)
		}
		runMake(t, "install", dest)
		if got, _ := os.ReadFile(live); string(got) != mine {
			t.Errorf("install changed the live config.toml: %q", got)
		}
		runMake(t, "uninstall", dest)
		if got, _ := os.ReadFile(live); string(got) != mine {
			t.Errorf("uninstall changed the live config.toml: %q", got)
		}
		for _, p := range installed {
			if _, err := os.Stat(filepath.Join(dest, p)); err == nil {
				t.Errorf("uninstall left %s", p)
			}
		}
	})
}
