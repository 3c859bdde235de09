package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ClientOptions say how to reach the cluster.
type ClientOptions struct {
	Endpoints []string
	// DialTimeout bounds the first connection; default 5s.
	DialTimeout time.Duration
	// CertFile and KeyFile are a TLS client certificate (both or
	// neither); CAFile verifies the members (system roots if empty).
	CertFile, KeyFile, CAFile string
}

// CheckEndpoint reports what is wrong with an etcd client URL, if
// anything: http or https, a host and a port, nothing else.
func CheckEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err == nil && u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q has scheme %q; etcd client URLs are http:// or https://, e.g. \"https://10.0.0.1:2379\"", u.Redacted(), u.Scheme)
	case err != nil || u.Host == "" || u.Scheme == "":
		return fmt.Errorf("%q is not a URL with a scheme and host; e.g. \"https://10.0.0.1:2379\"", s)
	case u.User != nil:
		return fmt.Errorf("%q holds a user name; etcd authenticates kpay-rotator by TLS client certificate (cert_file, key_file)", u.Redacted())
	case u.Port() == "":
		return fmt.Errorf("%q has no port; etcd's client port is usually 2379, e.g. \"%s://%s:2379\"", s, u.Scheme, u.Hostname())
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a path or query; give scheme, host and port only, e.g. \"%s://%s\"", s, u.Scheme, u.Host)
	}
	return nil
}

// Dial makes a client for the cluster. The client connects lazily: Open's
// first request is what finds a wrong endpoint or certificate.
func Dial(o ClientOptions) (*clientv3.Client, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	cfg := clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: o.DialTimeout,
		// The client logs through zap; the daemon says what failed
		// through the errors it returns instead.
		Logger: zap.NewNop(),
		// A dead connection is noticed within seconds, not at the next
		// request's timeout.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	}
	if strings.HasPrefix(o.Endpoints[0], "https://") || o.CertFile != "" || o.CAFile != "" {
		tc, err := tlsConfig(o)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(o.Endpoints, ","), err)
	}
	return cli, nil
}

func tlsConfig(o ClientOptions) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
