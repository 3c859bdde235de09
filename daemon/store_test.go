package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kpay-rotator/config"
)

func TestCheckStore(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		store      string
		env        string
		warn, fail string // fragments; "" = none
	}{
		{"bbolt checks nothing", "", "", "", ""},
		{"credential unseen is a warning", `cert_credential = "c"` + "\n" + `key_credential = "k"`, "", "CREDENTIALS_DIRECTORY is not set", ""},
		{"missing CA file", `ca_file = "` + filepath.Join(dir, "none.pem") + `"`, "", "", "etcd CA"},
		{"CA file without PEM", `ca_file = "` + bad + `"`, "", "", "holds no PEM certificate"},
		{"broken certificate pair", `cert_file = "` + bad + `"` + "\n" + `key_file = "` + bad + `"`, "", "", "etcd client certificate"},
		{"credential read from its directory", `ca_credential = "bad.pem"`, dir, "", "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", tt.env)
			src := ""
			if tt.name != "bbolt checks nothing" {
				src = "[store]\nbackend = \"etcd\"\nendpoints = [\"https://127.0.0.1:2379\"]\n" + tt.store + "\n"
			}
			cfg, err := config.Parse([]byte(src), "")
			if err != nil {
				t.Fatal(err)
			}
			warnings, errs := CheckStore(cfg)
			if got := strings.Join(warnings, "\n"); (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
				t.Errorf("warnings = %q, want %q", got, tt.warn)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if got := strings.Join(msgs, "\n"); (tt.fail == "") != (got == "") || !strings.Contains(got, tt.fail) {
				t.Errorf("errors = %q, want %q", got, tt.fail)
			}
		})
	}
}
