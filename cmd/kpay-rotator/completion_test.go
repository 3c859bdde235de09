package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompletion_CoversEveryCommand: each shell's script names every
// visible subcommand and each of its flags, and the shell accepts it.
func TestCompletion_CoversEveryCommand(t *testing.T) {
	cmds, err := describeCommands(false)
	if err != nil {
		t.Fatal(err)
	}
	// How each script spells a flag.
	flagForm := map[string]func(string) string{
		"bash": func(f string) string { return "--" + f },
		"zsh":  func(f string) string { return "'--" + f },
		"fish": func(f string) string { return " -l " + f },
	}
	check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}
	for shell, form := range flagForm {
		t.Run(shell, func(t *testing.T) {
			script, stderr, code := runBin(t, "completion", shell)
			if code != 0 {
				t.Fatalf("completion %s: exit %d: %s", shell, code, stderr)
			}
			for _, c := range cmds {
				if !strings.Contains(script, c.name) {
					t.Errorf("the %s script does not mention %s", shell, c.name)
				}
				for _, f := range flagList(c.flags) {
					if !strings.Contains(script, form(f.name)) {
						t.Errorf("the %s script lacks %s's flag %s", shell, c.name, form(f.name))
					}
				}
			}
			if strings.Contains(script, "'man:") || strings.Contains(script, " man)") || strings.Contains(script, "-a man ") {
				t.Errorf("the %s script offers the hidden man command", shell)
			}
			argv := check[shell]
			if _, err := exec.LookPath(argv[0]); err != nil {
				t.Skipf("%s not installed: syntax not checked", argv[0])
			}
			path := filepath.Join(t.TempDir(), "completion."+shell)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(argv[0], append(argv[1:], path)...).CombinedOutput(); err != nil {
				t.Errorf("%s rejects the script: %v\n%s", strings.Join(argv, " "), err, out)
			}
		})
	}
}

// TestCompletion_Completes asks bash (and fish, when installed) for
// completions the way the shell does on Tab.
func TestCompletion_Completes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	script, _, _ := runBin(t, "completion", "bash")
	path := filepath.Join(t.TempDir(), "kpay-rotator.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // the words typed so far; the last is being completed
		want string
	}{
		{"kpay-rotator sta", "status stage"},
		{"kpay-rotator stage --dr", "--dry-run"},
		{"kpay-rotator repair shop --f", "--field --from"},
		{"kpay-rotator run --log-level ", "debug info warn error"},
		{"kpay-rotator completion ", "bash zsh fish"},
		{"kpay-rotator help rep", "repair"},
		{"kpay-rotator rotate --timeout ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			words := strings.Fields(tt.line)
			if strings.HasSuffix(tt.line, " ") {
				words = append(words, "")
			}
			var q []string
			for _, w := range words {
				q = append(q, "'"+w+"'")
			}
			prog := "source " + path + "; COMP_WORDS=(" + strings.Join(q, " ") + "); COMP_CWORD=" +
				strconv.Itoa(len(words)-1) + "; _kpay_rotator; echo \"${COMPREPLY[*]}\""
			out, err := exec.Command("bash", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := exec.LookPath("fish"); err == nil {
		fishScript, _, _ := runBin(t, "completion", "fish")
		fishPath := filepath.Join(t.TempDir(), "kpay-rotator.fish")
		os.WriteFile(fishPath, []byte(fishScript), 0o644)
		out, err := exec.Command("fish", "-c", "source "+fishPath+"; complete -C 'kpay-rotator stage --dr'").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "--dry-run\t") {
			t.Errorf("fish completes 'kpay-rotator stage --dr' as %q (%v), want --dry-run", out, err)
		}
	}
}

// TestManPage_CheckedInIsCurrent fails when a command's help or flags
// changed without regenerating the page make install ships.
func TestManPage_CheckedInIsCurrent(t *testing.T) {
	checkedIn, err := os.ReadFile(filepath.Join("..", "..", manPagePath))
	if err != nil {
		t.Fatal(err)
	}
	generated, stderr, code := runBin(t, "man")
	if code != 0 {
		t.Fatalf("man: exit %d: %s", code, stderr)
	}
	if string(checkedIn) != generated {
		t.Errorf("%s is stale: regenerate it with `make man` (go run ./cmd/kpay-rotator man > %s)", manPagePath, manPagePath)
	}
}

// TestManPage_CoversTheHelp: the page has every visible command with its
// synopsis, help and flags, and groff (when installed) renders it
// without a warning.
func TestManPage_CoversTheHelp(t *testing.T) {
	page, _, _ := runBin(t, "man")
	cmds, err := describeCommands(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if !strings.Contains(page, roffQuoted(strings.TrimSpace("kpay-rotator "+c.name+" "+c.flags.synopsis))) {
			t.Errorf("no section for %s", c.name)
		}
		first, _, _ := strings.Cut(c.flags.help, "\n")
		if !strings.Contains(page, roffLine(first)) {
			t.Errorf("%s's help (%q) is not in the page", c.name, first)
		}
		for _, f := range flagList(c.flags) {
			if (f.name == "config" || f.name == "log-level") && c.name != "run" {
				continue
			}
			if !strings.Contains(page, roffEscape("--"+f.name)) || !strings.Contains(page, roffText(f.usage)) {
				t.Errorf("%s's flag --%s is not in the page", c.name, f.name)
			}
		}
	}
	for _, want := range []string{".TH KPAY\\-ROTATOR 8 ", "\n.SH EXIT STATUS\n", "\n.B 78\n", "config.toml.example", "JOURNAL_STREAM", "NO_COLOR"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("groff not installed: rendering not checked")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}
