package notifier_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

const value = "https://hooks.slack.com/services/T0/B0/s3cretS3cretS3cret"

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slack-ops")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod after writing: WriteFile's mode is filtered by the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSecret_Load(t *testing.T) {
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		want          string // value, or an error fragment when wantErr
		wantErr       bool
	}{
		{"plain", value, 0o600, value, false},
		{"one newline trimmed", value + "\n", 0o600, value, false},
		{"CRLF trimmed", value + "\r\n", 0o400, value, false},
		{"only one newline trimmed", value + "\n\n", 0o600, value + "\n", false},
		{"readable by others", value, 0o644, "is readable by group or others (mode 0644); run: chmod 600 ", true},
		{"readable by group", value, 0o640, "run: chmod 600 ", true},
		{"writable by group", value, 0o620, "is writable by group or others (mode 0620)", true},
		{"empty", "", 0o600, "the file is empty", true},
		{"just a newline", "\n", 0o600, "the file is empty", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content, tt.mode)
			got, err := notifier.FileSecret{Path: path}.Load()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error containing %q", err, tt.want)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error quotes the value: %v", err)
				}
				if strings.Contains(tt.want, "chmod") && !strings.HasSuffix(err.Error(), "chmod 600 "+path) {
					t.Errorf("got %v, want it to end with chmod 600 %s", err, path)
				}
				return
			}
			if err != nil || got.Reveal() != tt.want {
				t.Errorf("got %q, %v; want %q", got.Reveal(), err, tt.want)
			}
		})
	}
}

func TestFileSecret_LoadMissingAndDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := (notifier.FileSecret{Path: filepath.Join(dir, "nope")}).Load(); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing: got %v, want an error naming the path", err)
	}
	if _, err := (notifier.FileSecret{Path: dir}).Load(); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: got %v", err)
	}
}

func TestEnvSecret_Load(t *testing.T) {
	t.Setenv("KPAY_TEST_HOOK", value)
	if got, err := (notifier.EnvSecret{Name: "KPAY_TEST_HOOK"}).Load(); err != nil || got.Reveal() != value {
		t.Errorf("got %q, %v", got.Reveal(), err)
	}
	t.Setenv("KPAY_TEST_EMPTY", "")
	if _, err := (notifier.EnvSecret{Name: "KPAY_TEST_EMPTY"}).Load(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty: got %v", err)
	}
	if _, err := (notifier.EnvSecret{Name: "KPAY_TEST_UNSET_7f3a"}).Load(); err == nil || !strings.Contains(err.Error(), "environment variable KPAY_TEST_UNSET_7f3a is not set") {
		t.Errorf("unset: got %v", err)
	}
}

func TestCredentialSecret_Load(t *testing.T) {
	dir := t.TempDir()
	// systemd owns the mode of credential files; 0644 is not refused.
	if err := os.WriteFile(filepath.Join(dir, "slack-ops"), []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if got, err := (notifier.CredentialSecret{Name: "slack-ops"}).Load(); err != nil || got.Reveal() != value {
		t.Errorf("got %q, %v", got.Reveal(), err)
	}
	if _, err := (notifier.CredentialSecret{Name: "../slack-ops"}).Load(); err == nil || !strings.Contains(err.Error(), "plain file name") {
		t.Errorf("path in name: got %v", err)
	}
	if _, err := (notifier.CredentialSecret{Name: "other"}).Load(); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("missing credential: got %v", err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	_, err := (notifier.CredentialSecret{Name: "slack-ops"}).Load()
	if err == nil || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY is not set") || !strings.Contains(err.Error(), "LoadCredential=slack-ops:") {
		t.Errorf("unset: got %v, want it to explain LoadCredential=", err)
	}
}

func TestInlineSecret_Load(t *testing.T) {
	if got, err := (notifier.InlineSecret{Value: kpay.NewSecret(value)}).Load(); err != nil || got.Reveal() != value {
		t.Errorf("got %q, %v", got.Reveal(), err)
	}
	if _, err := (notifier.InlineSecret{}).Load(); err == nil {
		t.Error("an empty inline value loaded")
	}
}

func TestSecretRef_DescribeNeverShowsTheValue(t *testing.T) {
	for _, r := range []notifier.SecretRef{
		notifier.FileSecret{Path: "/run/credentials/kpay-rotator.service/slack-ops"},
		notifier.EnvSecret{Name: "SLACK_URL"},
		notifier.CredentialSecret{Name: "slack-ops"},
		notifier.InlineSecret{Value: kpay.NewSecret(value)},
	} {
		if d := r.Describe(); d == "" || strings.Contains(d, "s3cret") {
			t.Errorf("%T.Describe() = %q", r, d)
		}
	}
	if got := (notifier.FileSecret{Path: "/run/x/slack-ops"}).Describe(); got != "file /run/x/slack-ops" {
		t.Errorf("got %q", got)
	}
}

func TestCheckInline(t *testing.T) {
	called := false
	check := func(kpay.Secret) error { called = true; return nil }
	if err := notifier.CheckInline(notifier.FileSecret{Path: "/nonexistent"}, check); err != nil || called {
		t.Errorf("a file was read before send time: %v, called %v", err, called)
	}
	if err := notifier.CheckInline(notifier.InlineSecret{Value: kpay.NewSecret("x")}, check); err != nil || !called {
		t.Errorf("an inline value was not checked: %v, called %v", err, called)
	}
}
