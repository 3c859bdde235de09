package config

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParse_StoreRules(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		wants []want
	}{
		{"unknown backend", src(
			`[store]`,
			`backend = "postgres"`,
		), []want{{2, "store.backend", `it must be "bbolt"`}}},
		{"etcd key with bbolt", src(
			`[store]`,
			`endpoints = ["http://127.0.0.1:2379"]`,
		), []want{{2, "store.endpoints", `set backend = "etcd"`}}},
		{"etcd needs endpoints", src(
			`[store]`,
			`backend = "etcd"`,
		), []want{{1, "store.endpoints", "missing"}}},
		{"empty endpoints", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = []`,
		), []want{{3, "store.endpoints", "is empty"}}},
		{"endpoint without scheme", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["10.0.0.1:2379"]`,
		), []want{{3, "store.endpoints", "element 1"}}},
		{"endpoint with another scheme", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["unix:///run/etcd.sock"]`,
		), []want{{3, "store.endpoints", "http:// or https://"}}},
		{"endpoint without port", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1"]`,
		), []want{{3, "store.endpoints", "no port"}}},
		{"endpoint with path", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379/v3"]`,
		), []want{{3, "store.endpoints", "path or query"}}},
		{"endpoint with user", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://root:pw@etcd1:2379"]`,
		), []want{{3, "store.endpoints", "TLS client certificate"}}},
		{"mixed schemes", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379", "http://etcd2:2379"]`,
		), []want{{3, "store.endpoints", "mixes http:// and https://"}}},
		{"prefix without slash", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`prefix = "/kpay"`,
		), []want{{4, "store.prefix", `does not end with "/"`}}},
		{"zero timeout", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`request_timeout = "0s"`,
		), []want{{4, "store.request_timeout", "longer than zero"}}},
		{"lease too short", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`lease_ttl = "1s"`,
		), []want{{4, "store.lease_ttl", "from 2s to 1m0s"}}},
		{"lease too long", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`lease_ttl = "2m"`,
		), []want{{4, "store.lease_ttl", "from 2s to 1m0s"}}},
		{"lease with bbolt", src(
			`[store]`,
			`lease_ttl = "10s"`,
		), []want{{2, "store.lease_ttl", `set backend = "etcd"`}}},
		{"certificate without key", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`cert_file = "/etc/k/c.crt"`,
		), []want{{4, "store.cert_file", "without key_file"}}},
		{"key without certificate", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`key_credential = "etcd.key"`,
		), []want{{4, "store.key_credential", "without cert_file"}}},
		{"file and credential both", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`ca_file = "/etc/k/ca.crt"`,
			`ca_credential = "etcd-ca"`,
		), []want{{5, "store.ca_credential", "ca_file is set too"}}},
		{"credential that is a path", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`ca_credential = "/etc/k/ca.crt"`,
		), []want{{4, "store.ca_credential", "not a path"}}},
		{"tls over http", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["http://etcd1:2379"]`,
			`cert_file = "c.crt"`,
			`key_file = "c.key"`,
		), []want{{4, "store.cert_file", "use https:// endpoints"}}},
		{"unknown store key", src(
			`[store]`,
			`backend = "etcd"`,
			`endpoints = ["https://etcd1:2379"]`,
			`endpoint = "x"`,
		), []want{{4, "store.endpoint", "did you mean endpoints?"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "")
			checkProblems(t, problemsOf(t, err), tt.wants)
		})
	}
}

func TestParse_StoreDefaultsAndEtcd(t *testing.T) {
	cfg, err := Parse([]byte(""), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend != BackendBBolt {
		t.Errorf("default backend = %q, want bbolt", cfg.Store.Backend)
	}
	dir := t.TempDir()
	cfg, err = Parse([]byte(src(
		`[store]`,
		`backend = "etcd"`,
		`endpoints = ["https://etcd1:2379/", "https://etcd2:2379"]`,
		`dial_timeout = "2s"`,
		`cert_file = "tls/client.crt"`,
		`key_credential = "etcd.key"`,
	)), filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Store
	if s.Backend != BackendEtcd || !slices.Equal(s.Endpoints, []string{"https://etcd1:2379", "https://etcd2:2379"}) ||
		s.Prefix != "/kpay-rotator/" || s.DialTimeout != 2*time.Second || s.RequestTimeout != 5*time.Second || s.LeaseTTL != 10*time.Second {
		t.Errorf("store = %+v", s)
	}
	cfg, err = Parse([]byte(src(`[store]`, `backend = "etcd"`, `endpoints = ["http://127.0.0.1:2379"]`, `lease_ttl = "3s"`)), "")
	if err != nil || cfg.Store.LeaseTTL != 3*time.Second {
		t.Errorf("lease_ttl = \"3s\": got %v, %v; want 3s", cfg.Store.LeaseTTL, err)
	}
	if s.Cert.File != filepath.Join(dir, "tls/client.crt") {
		t.Errorf("cert_file = %q, want it resolved against the config's directory", s.Cert.File)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/kpay-rotator.service")
	if p, err := s.Key.Path(); err != nil || p != "/run/credentials/kpay-rotator.service/etcd.key" {
		t.Errorf("key credential path = %q, %v", p, err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := s.Key.Path(); err == nil {
		t.Error("a credential without CREDENTIALS_DIRECTORY resolved to a path")
	}
}
