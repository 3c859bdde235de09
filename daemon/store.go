package daemon

// Which store the daemon keeps its state in ([store] backend), and how a
// command on the same host tells that a daemon runs when the state is not
// a local file.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
	"kpay-rotator/store/etcdstore"
)

// LockFileName is, with backend = "etcd", the file in state_dir that the
// running daemon holds locked, so that commands on the host can find it
// (with bbolt, the database's own lock does that).
const LockFileName = "kpay-rotator.lock"

// storeOptions are how a caller opens the state.
type storeOptions struct {
	readOnly bool
	now      func() time.Time
}

// openStore opens the state where cfg keeps it, and returns it with the
// steps that close it (the store, then what it holds).
func openStore(ctx context.Context, cfg *config.Config, o storeOptions) (store.Store, func() error, error) {
	if cfg.Store.Backend != config.BackendEtcd {
		st, err := bboltstore.Open(filepath.Join(cfg.Daemon.StateDir, bboltstore.FileName),
			bboltstore.Options{LockTimeout: 2 * time.Second, Now: o.now, Retention: cfg.Retention.Store(), ReadOnly: o.readOnly})
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	var unlock func()
	if !o.readOnly {
		var err error
		if unlock, err = lockHost(cfg.Daemon.StateDir); err != nil {
			return nil, nil, err
		}
	}
	st, err := openEtcd(ctx, cfg.Store, etcdstore.Options{Now: o.now, Retention: cfg.Retention.Store(), ReadOnly: o.readOnly})
	if err != nil {
		if unlock != nil {
			unlock()
		}
		return nil, nil, err
	}
	return st, func() error {
		err := st.Close()
		if unlock != nil {
			unlock()
		}
		return err
	}, nil
}

func clientOptions(s config.Store) (etcdstore.ClientOptions, error) {
	o := etcdstore.ClientOptions{Endpoints: s.Endpoints, DialTimeout: s.DialTimeout}
	var err error
	for _, f := range []struct {
		src config.FileSource
		dst *string
	}{{s.Cert, &o.CertFile}, {s.Key, &o.KeyFile}, {s.CA, &o.CAFile}} {
		p, perr := f.src.Path()
		*f.dst = p
		err = errors.Join(err, perr)
	}
	return o, err
}

func openEtcd(ctx context.Context, s config.Store, opts etcdstore.Options) (*etcdstore.DB, error) {
	co, err := clientOptions(s)
	if err != nil {
		return nil, fmt.Errorf("%w: [store] %v", ErrConfig, err)
	}
	cli, err := etcdstore.Dial(co)
	if err != nil {
		return nil, err
	}
	opts.Prefix, opts.RequestTimeout, opts.CloseClient = s.Prefix, s.RequestTimeout, true
	// Open's first request also connects: it gets the dial timeout too.
	octx, cancel := context.WithTimeout(ctx, s.DialTimeout+s.RequestTimeout)
	defer cancel()
	st, err := etcdstore.Open(octx, cli, opts)
	if err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w; check endpoints and the TLS settings in [store], and that the cluster has quorum", err)
		}
		return nil, err
	}
	return st, nil
}

// CheckStore reads the etcd TLS files as a dial would, without dialling
// (check-config runs where the cluster may not be reachable). A systemd
// credential it cannot see from here is a warning.
func CheckStore(cfg *config.Config) (warnings []string, errs []error) {
	s := cfg.Store
	if s.Backend != config.BackendEtcd {
		return nil, nil
	}
	path := func(name string, f config.FileSource) string {
		p, err := f.Path()
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("[store] %s not checked here: %v", name, err))
		}
		return p
	}
	cert, key, ca := path("cert", s.Cert), path("key", s.Key), path("ca", s.CA)
	if cert != "" && key != "" {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			errs = append(errs, fmt.Errorf("[store] etcd client certificate %s with key %s: %v", cert, key, err))
		}
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("[store] etcd CA: %v", err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			errs = append(errs, fmt.Errorf("[store] etcd CA %s holds no PEM certificate", ca))
		}
	}
	return warnings, errs
}

// lockHost takes the host's daemon lock in stateDir and records the pid
// beside it; a second daemon on the host fails at once, naming the first.
func lockHost(stateDir string) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(stateDir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		holder := "see " + path
		if b, err := os.ReadFile(pidFile(stateDir)); err == nil {
			holder = "pid " + strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%w: %s is held by another kpay-rotator on this host (%s); stop it or give this one another state_dir", store.ErrLocked, path, holder)
	}
	if err := os.WriteFile(pidFile(stateDir), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return func() {
		_ = os.Remove(pidFile(stateDir))
		f.Close() // releases the lock
	}, nil
}

func pidFile(stateDir string) string { return filepath.Join(stateDir, bboltstore.PIDFileName) }

// hostLocked reports whether a daemon holds the host lock in stateDir.
func hostLocked(stateDir string) (bool, error) {
	f, err := os.Open(filepath.Join(stateDir, LockFileName))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check whether the daemon runs: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, fmt.Errorf("check whether the daemon runs: %w", err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}
