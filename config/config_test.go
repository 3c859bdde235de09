package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kpay-rotator/kpay"
)

func TestParse_ExampleConfig(t *testing.T) {
	// The commented example at the repository root must stay valid.
	c, err := Load("../config.toml")
	if err != nil {
		t.Fatalf("../config.toml has problems:\n%v", err)
	}
	if len(c.Slots) != 2 || len(c.Notifiers) != 1 {
		t.Fatalf("got %d slots, %d notifiers; want 2, 1", len(c.Slots), len(c.Notifiers))
	}
	live, ok := c.Slot("payments-live")
	if !ok || live.Environment != kpay.Live || live.Notify[0] != "ops" {
		t.Errorf("got payments-live %+v", live)
	}
	test, ok := c.Slot("payments-test")
	if !ok || test.Environment != kpay.Test {
		t.Errorf("got payments-test %+v", test)
	}
	n, ok := c.Notifier("ops")
	if !ok || n.URL != (SecretSource{Credential: "slack-ops"}) || !n.Token.IsZero() || !n.Secret.IsZero() {
		t.Errorf("got notifier %+v", n)
	}
}

func TestParse_ReportsEveryProblem(t *testing.T) {
	data, err := os.ReadFile("testdata/five-problems.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "testdata/five-problems.toml")
	checkProblems(t, problemsOf(t, err), []want{
		{3, "kpay.base_url", "use https"},
		{4, "kpay.timeout", `duration "10 seconds" is not valid`},
		{10, "slot[payments-live].max_agee", "did you mean max_age?"},
		{11, "slot[payments-live].probe_schedule", "expected exactly 5 fields"},
		{12, "slot[payments-live].notify", `names notifier "ops", which is not defined`},
	})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "testdata/five-problems.toml:3: kpay.base_url: ") {
		t.Errorf("got Error():\n%s", err)
	}
}

func TestParse_ResolvesRelativePaths(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "/etc/kpay-rotator/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "/etc/kpay-rotator/config.toml" {
		t.Errorf("got Path %q", c.Path)
	}
	if c.Daemon.StateDir != "/etc/kpay-rotator/state" || c.Daemon.InboxDir != "/etc/run/inbox" {
		t.Errorf("got %+v", c.Daemon)
	}
	if got := c.Notifiers[0].URL.File; got != "/etc/kpay-rotator/creds/discord" {
		t.Errorf("got url_file %q", got)
	}

	// With no file name: relative to the working directory.
	c, err = Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if c.Path != "" || c.Daemon.StateDir != filepath.Join(wd, "state") {
		t.Errorf("got Path %q, state_dir %q", c.Path, c.Daemon.StateDir)
	}
}

func TestParse_Checksum(t *testing.T) {
	a, err1 := Parse([]byte("[kpay]\ntimeout = \"5s\"\n"), "")
	b, err2 := Parse([]byte("[kpay]\ntimeout = \"5s\"\n"), "other.toml")
	c, err3 := Parse([]byte("[kpay]\ntimeout = \"5s\" # changed\n"), "")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if a.Checksum != b.Checksum || a.Checksum == c.Checksum || len(a.Checksum) != 64 {
		t.Errorf("got checksums %s, %s, %s", a.Checksum, b.Checksum, c.Checksum)
	}
}

func TestConfig_Lookup(t *testing.T) {
	c := &Config{Slots: []Slot{{Name: "a"}, {Name: "b"}}, Notifiers: []Notifier{{Name: "ops"}}}
	if s, ok := c.Slot("b"); !ok || s.Name != "b" {
		t.Errorf("Slot(b) on a hand-built Config = %v, %v", s, ok)
	}
	if _, ok := c.Slot("c"); ok {
		t.Error("Slot(c) found")
	}
	if n, ok := c.Notifier("ops"); !ok || n.Name != "ops" {
		t.Errorf("Notifier(ops) = %v, %v", n, ok)
	}
	if _, ok := c.Notifier("x"); ok {
		t.Error("Notifier(x) found")
	}
}

func TestProblem_String(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"config.toml", 12, "slot[payments-live].probe_schedule", "bad"}, "config.toml:12: slot[payments-live].probe_schedule: bad"},
		{Problem{"config.toml", 0, "kpay", "bad"}, "config.toml: kpay: bad"},
		{Problem{"", 3, "", "bad"}, "line 3: bad"},
		{Problem{"", 0, "", "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(Problems{}, ErrInvalid) || Problems(nil).Error() != ErrInvalid.Error() {
		t.Error("empty Problems is not ErrInvalid")
	}
}

func TestLoad_Permissions(t *testing.T) {
	const inline = "[[notifier]]\nname = \"ops\"\ntype = \"slack\"\nurl = \"https://hooks.slack.com/services/T0/B0/canary-5ecret\"\n"
	const fromFile = "[[notifier]]\nname = \"ops\"\ntype = \"slack\"\nurl_file = \"/run/credentials/x\"\n"
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
		wantErr bool
	}{
		{"inline url, 0644", inline, 0o644, true},
		{"inline url, 0640", inline, 0o640, true},
		{"inline url, 0604", inline, 0o604, true},
		{"inline url, 0600", inline, 0o600, false},
		{"inline url, 0400", inline, 0o400, false},
		{"url_file, 0644", fromFile, 0o644, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("got error:\n%v", err)
				}
				if c.Path != path {
					t.Errorf("got Path %q, want %q", c.Path, path)
				}
				return
			}
			checkProblems(t, problemsOf(t, err), []want{{4, "notifier[ops].url", "config.toml holds a webhook URL (a secret) but is readable by group or others (mode 0" + octal(tt.mode) + "); run: chmod 600 " + path + ", or move it out of the file with url_credential (or the _file or _env form)"}})
			if strings.Contains(err.Error(), "canary-5ecret") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func octal(m fs.FileMode) string {
	const digits = "01234567"
	p := m.Perm()
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestLoad_PermissionAddsToOtherProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kpay.toml")
	content := src(
		`[kpay]`,
		`timeout = "soon"`,
		`[[notifier]]`,
		`name = "ops"`,
		`type = "slack"`,
		`url = "https://hooks.slack.com/services/T0/B0/x"`,
		`[[notifier]]`,
		`name = "oncall"`,
		`type = "discord"`,
		`url = "https://discord.com/api/webhooks/1/x"`,
	)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o620); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	checkProblems(t, problemsOf(t, err), []want{
		{2, "kpay.timeout", "not valid"},
		{6, "notifier[ops].url", "kpay.toml holds 2 webhook URLs (secrets) but is writable by group or others (mode 0620); run: chmod 600 " + path + ", or move them out of the file with url_credential (or the _file or _env form)"},
	})
}

func TestLoad_Unreadable(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.toml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want a not-exist error that is not ErrInvalid", err)
	}
	_, err = Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("got %v, want a directory error", err)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(exists, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.toml")
	withLocal, withoutLocal := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(withLocal, "config.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cwd, flag, def, want string
	}{
		{"flag wins", withLocal, "/srv/k.toml", exists, "/srv/k.toml"},
		{"flag wins even if missing", withLocal, missing, exists, missing},
		{"default when it exists", withLocal, "", exists, exists},
		{"./config.toml when only it exists", withLocal, "", missing, "./config.toml"},
		{"default when neither exists, so the error names it", withoutLocal, "", missing, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.cwd)
			if got := resolvePath(tt.flag, tt.def); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := Resolve("x.toml"); got != "x.toml" {
		t.Errorf("Resolve(x.toml) = %q", got)
	}
	if got := Resolve(""); got != DefaultPath && got != "./config.toml" {
		t.Errorf("Resolve(\"\") = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"../config.toml", "testdata/five-problems.toml", "testdata/valid.toml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[[slot]]\nname = 'a'\nprobe_schedule = \"TZ=UTC\"\n"))
	f.Add([]byte("slot = [{name = \"a\"}, 1]\n"))
	f.Add([]byte("a = \"\"\"\n[[slot]]\n\"\"\"\n[x.'y'.\"z\"]\n"))
	f.Add([]byte("[[notifier]]\nname = \"a\"\ntype = \"telegram\"\ntoken = '''\n1:x\n'''\nchat_id = -1\nfallback = \"b\"\n" +
		"[[notifier]]\nname = \"b\"\ntype = \"webhook\"\nsecret_env = \"S\"\nurl_credential = \"..\"\nfallback = \"a\"\n"))
	f.Add([]byte("notifier = [{name = \"a\", type = \"slack\", url = \"https://x/\\q\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 || !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %T %v, want non-empty Problems", err, err)
		}
		n := strings.Count(string(data), "\n") + 1
		for _, p := range ps {
			if p.Line < 0 || p.Line > n {
				t.Fatalf("problem at line %d of a %d-line input: %v", p.Line, n, p)
			}
		}
	})
}
