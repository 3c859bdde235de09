package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParse_ByteOrderMarkAndDateValues: a file saved with a UTF-8 byte
// order mark still parses, and TOML dates and times are named as such in
// messages, not by their Go types.
func TestParse_ByteOrderMarkAndDateValues(t *testing.T) {
	if _, err := Parse([]byte("\ufeff[daemon]\nlisten = \"127.0.0.1:9477\"\n"), "c.toml"); err != nil {
		t.Errorf("a file with a byte order mark: %v", err)
	}
	for value, want := range map[string]string{
		"2026-01-01":          "not a date;",
		"10:00:00":            "not a time of day;",
		"2026-01-01T10:00:00": "not a date and time;",
	} {
		_, err := Parse([]byte("[defaults]\nmax_age = "+value+"\n"), "c.toml")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "toml.") {
			t.Errorf("max_age = %s: got %v, want a message saying %q", value, err, want)
		}
	}
}

// No message quotes a credential given inside a URL: a password in
// base_url or endpoint, a token in a query string.
func TestParse_URLProblemsNeverQuoteCredentials(t *testing.T) {
	for _, in := range []string{
		"[kpay]\nbase_url = \"https://user:PASSWORD-7c1@admin.kpay.site?x=1\"\n",
		"[kpay]\nbase_url = \"http://ops:PASSWORD-7c1@kpay.example.net\"\n",
		"[kpay]\nbase_url = \"https://admin.kpay.site/?token=PASSWORD-7c1\"\n",
		"[aws]\nendpoint = \"https://me:PASSWORD-7c1@secretsmanager.eu-west-1.amazonaws.com\"\n",
		"[aws]\nendpoint = \"ftp://x/?key=PASSWORD-7c1\"\n",
	} {
		_, err := Parse([]byte(in), "c.toml")
		if err == nil {
			t.Errorf("%q: accepted", in)
			continue
		}
		if strings.Contains(err.Error(), "PASSWORD-7c1") {
			t.Errorf("the message quotes the credential: %v", err)
		}
	}
}

// Hostile input is refused with a message, never a crash: a file nested
// deeper than any configuration needs (the decoder's bound, 10,000
// levels), a directory, an oversized file.
func TestLoad_HostileInputIsAProblem(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"arrays.toml": "a = " + strings.Repeat("[", 2<<20) + "\n",
		"tables.toml": "[daemon]\nlisten = " + strings.Repeat("{b=", 20000) + "1" + strings.Repeat("}", 20000) + "\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "nested") {
			t.Errorf("%s: got %.200v, want a problem about nesting", name, err)
		}
	}
	if _, err := Load(dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: got %v, want an invalid-configuration error", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized file: got %v, want an invalid-configuration error", err)
	}
}
