package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kpay-rotator/store/etcdstore"
)

// Store backends.
const (
	BackendBBolt = "bbolt"
	BackendEtcd  = "etcd"
)

// Store is the [store] table: where the state lives. bbolt, the default,
// is one file in state_dir; etcd is a cluster shared by several hosts,
// reached at Endpoints, under Prefix.
type Store struct {
	Backend        string
	Endpoints      []string // etcd client URLs, one scheme for all
	Prefix         string   // ends with "/"; default /kpay-rotator/
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	// LeaseTTL is the election lease: a leader that stops renewing it
	// (crashed, frozen, cut off) loses leadership this long after.
	LeaseTTL time.Duration
	// TLS client certificate, its key, and the CA that signed the
	// members' certificates: files or systemd credentials.
	Cert, Key, CA FileSource
}

// FileSource is a file given by path (cert_file) or as a systemd
// credential (cert_credential, LoadCredential= in the unit); at most one
// is set, neither when the setting is absent.
type FileSource struct {
	File       string // absolute
	Credential string
}

// IsZero reports whether neither is set.
func (f FileSource) IsZero() bool { return f.File == "" && f.Credential == "" }

// Path is the file to read: File, or the credential's file in
// $CREDENTIALS_DIRECTORY; "" when neither is set.
func (f FileSource) Path() (string, error) {
	if f.Credential == "" {
		return f.File, nil
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", fmt.Errorf("systemd credential %s: CREDENTIALS_DIRECTORY is not set; run under systemd with LoadCredential=%s:/path/to/file in the unit, or use the _file form", f.Credential, f.Credential)
	}
	return filepath.Join(dir, f.Credential), nil
}

// Defaults of [store].
const (
	defaultDialTimeout    = 5 * time.Second
	defaultRequestTimeout = etcdstore.DefaultRequestTimeout
	defaultLeaseTTL       = 10 * time.Second
	// A lease shorter than minLeaseTTL is lost to one slow fsync or GC
	// pause on the etcd side; one longer than maxLeaseTTL leaves the slots
	// unwatched for a minute after a crash.
	minLeaseTTL = 2 * time.Second
	maxLeaseTTL = 60 * time.Second
)

// etcdKeys are the [store] keys that only the etcd backend reads.
var etcdKeys = []string{"endpoints", "prefix", "dial_timeout", "request_timeout", "lease_ttl",
	"cert_file", "cert_credential", "key_file", "key_credential", "ca_file", "ca_credential"}

func (p *parser) store(t *table) Store {
	s := Store{Backend: BackendBBolt, Prefix: etcdstore.DefaultPrefix, DialTimeout: defaultDialTimeout, RequestTimeout: defaultRequestTimeout, LeaseTTL: defaultLeaseTTL}
	if b, ok := t.str("backend"); ok {
		switch b {
		case BackendBBolt, BackendEtcd:
			s.Backend = b
		default:
			t.problem("backend", "is %q; it must be \"bbolt\" (one host, the state in state_dir) or \"etcd\" (several hosts sharing an etcd cluster)", b)
			return s
		}
	}
	if s.Backend == BackendBBolt {
		for _, k := range etcdKeys {
			if t.has(k) {
				t.problem(k, "is an etcd setting but backend is \"bbolt\" (the default); set backend = \"etcd\" in [store], or remove the line")
			}
		}
		return s
	}
	if eps, ok := t.strs("endpoints"); ok && len(eps) == 0 {
		t.problem("endpoints", "is empty; list the etcd cluster's client URLs, e.g. endpoints = %s", t.schema.example("endpoints"))
	} else if ok {
		s.Endpoints = p.endpoints(t, eps)
	} else if !t.bad["endpoints"] {
		t.missing("endpoints", "the etcd cluster's client URLs with backend = \"etcd\"")
	}
	if v, ok := t.str("prefix"); ok {
		if err := etcdstore.CheckPrefix(v); err != nil {
			t.problem("prefix", "%v", err)
		} else {
			s.Prefix = v
		}
	}
	for _, c := range []struct {
		key string
		v   *time.Duration
	}{{"dial_timeout", &s.DialTimeout}, {"request_timeout", &s.RequestTimeout}} {
		if d, ok := t.duration(c.key); ok {
			if d <= 0 {
				t.problem(c.key, "must be longer than zero; e.g. %s = %s", c.key, t.schema.example(c.key))
			} else {
				*c.v = d
			}
		}
	}
	if d, ok := t.duration("lease_ttl"); ok {
		if d < minLeaseTTL || d > maxLeaseTTL {
			t.problem("lease_ttl", "is %s; it must be from %s to %s (a leader that dies is replaced after about this long); e.g. lease_ttl = %s",
				d, minLeaseTTL, maxLeaseTTL, t.schema.example("lease_ttl"))
		} else {
			s.LeaseTTL = d
		}
	}
	s.Cert = p.fileSource(t, "cert")
	s.Key = p.fileSource(t, "key")
	s.CA = p.fileSource(t, "ca")
	switch {
	case !s.Cert.IsZero() && s.Key.IsZero() && !t.bad["key_file"] && !t.bad["key_credential"]:
		t.problem(sourceKey(t, "cert"), "is set without key_file (or key_credential); a client certificate needs its private key")
	case s.Cert.IsZero() && !s.Key.IsZero() && !t.bad["cert_file"] && !t.bad["cert_credential"]:
		t.problem(sourceKey(t, "key"), "is set without cert_file (or cert_credential); a private key needs its client certificate")
	}
	if tlsSet := !s.Cert.IsZero() || !s.CA.IsZero(); tlsSet && len(s.Endpoints) > 0 && strings.HasPrefix(s.Endpoints[0], "http://") {
		k := sourceKey(t, "cert")
		if s.Cert.IsZero() {
			k = sourceKey(t, "ca")
		}
		t.problem(k, "TLS is configured but endpoints are http://, which would send the state in clear text; use https:// endpoints (e.g. %s)", strings.Replace(s.Endpoints[0], "http://", "https://", 1))
	}
	return s
}

// endpoints checks each URL, and that they share one scheme: the client
// speaks TLS to all of them or to none.
func (p *parser) endpoints(t *table, eps []string) []string {
	var out []string
	schemes := map[string]bool{}
	for i, e := range eps {
		if err := etcdstore.CheckEndpoint(e); err != nil {
			t.problem("endpoints", "element %d: %v", i+1, err)
			continue
		}
		u, _ := url.Parse(e)
		schemes[u.Scheme] = true
		out = append(out, strings.TrimSuffix(e, "/"))
	}
	if len(schemes) > 1 {
		t.problem("endpoints", "mixes http:// and https://; the client talks TLS to every member or to none: use https:// for all")
		return nil
	}
	if len(out) != len(eps) {
		return nil
	}
	return out
}

// fileSource reads NAME_file or NAME_credential (not both).
func (p *parser) fileSource(t *table, name string) FileSource {
	var f FileSource
	fk, ck := name+"_file", name+"_credential"
	if v, ok := t.str(fk); ok {
		f.File = p.resolve(v)
	}
	if v, ok := t.str(ck); ok {
		if err := checkFileCredential(v); err != nil {
			t.problem(ck, "%v; e.g. %s = %s", err, ck, t.schema.example(ck))
		} else {
			f.Credential = v
		}
	}
	if f.File != "" && f.Credential != "" {
		t.problem(ck, "%s is set too; give the %s once, as a file or as a systemd credential", fk, name)
		return FileSource{}
	}
	return f
}

// sourceKey is the key of name's source that the file uses.
func sourceKey(t *table, name string) string {
	if t.has(name + "_credential") {
		return name + "_credential"
	}
	return name + "_file"
}

func checkFileCredential(v string) error {
	switch {
	case strings.ContainsAny(v, `/\`):
		return errors.New("contains '/' or '\\': a credential name is the NAME of LoadCredential=NAME:/path in the systemd unit, not a path (for a path use the _file form)")
	case v == "." || v == "..":
		return fmt.Errorf("%q is a directory, not a credential name", v)
	case strings.ContainsRune(v, 0) || len(v) > 255:
		return errors.New("is not a file name")
	}
	return nil
}
