package daemon

// The local control protocol, both sides in one file: how a command
// finds the running daemon (the state database's lock and the pid file
// next to it), triggers it (signals), and asks it things (its loopback
// HTTP endpoint). `stage`, `status`, `rotate` and `notify-test` use the
// client side; the daemon serves the other.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// Signals to the daemon: SigRotate takes staged pairs and probes every
// slot (rotate); SigHandover takes staged pairs only (stage), so a
// hand-over never starts a probe pass. SIGHUP reloads.
const (
	SigRotate   = syscall.SIGUSR1
	SigHandover = syscall.SIGUSR2
)

// HTTP paths of the control endpoint.
const (
	pathStatus     = "/v1/status"
	pathNotifyTest = "/v1/notify-test"
)

// listenAddrFile records the address the HTTP server bound, for commands
// when listen asks for port 0.
const listenAddrFile = "listen.addr"

// ListenAddrFile is the file in the state directory that names the bound
// HTTP address while the daemon runs.
func ListenAddrFile(stateDir string) string { return filepath.Join(stateDir, listenAddrFile) }

// probeLock is the lock wait when asking "does a daemon hold the state
// database?". bbolt tries once without blocking for any timeout under its
// 50 ms retry step, and a daemon holds the lock for its whole life, so one
// try is the answer; waiting longer only delays stage, which runs while
// payments are down.
const probeLock = time.Millisecond

// Find finds the daemon serving cfg: the process holding the state
// database's lock, named by the pid file next to it. Holding the lock is
// the proof; a pid file alone may be stale, and signalling a reused pid
// would hit an unrelated process.
//
// With backend = "etcd" the state is not a local file: the daemon holds
// LockFileName in state_dir instead.
func Find(cfg *config.Config) (pid int, running bool, err error) {
	dbPath := filepath.Join(cfg.Daemon.StateDir, bboltstore.FileName)
	if cfg.Store.Backend == config.BackendEtcd {
		dbPath = filepath.Join(cfg.Daemon.StateDir, LockFileName)
		held, err := hostLocked(cfg.Daemon.StateDir)
		if err != nil || !held {
			return 0, false, err
		}
	} else {
		if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		st, err := bboltstore.Open(dbPath, bboltstore.Options{ReadOnly: true, LockTimeout: probeLock})
		switch {
		case err == nil:
			st.Close()
			return 0, false, nil
		case !errors.Is(err, store.ErrLocked):
			return 0, false, fmt.Errorf("check whether the daemon runs: %w", err)
		}
	}
	pidPath := pidFile(cfg.Daemon.StateDir)
	b, err := os.ReadFile(pidPath)
	if err != nil {
		return 0, true, fmt.Errorf("the daemon holds %s but its pid file is unreadable: %w", dbPath, err)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, true, fmt.Errorf("the daemon's pid file %s is corrupt", pidPath)
	}
	return pid, true, nil
}

// Signal sends sig to the daemon.
func Signal(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.EPERM) {
		name := "USR1"
		if sig == SigHandover {
			name = "USR2"
		}
		return fmt.Errorf("cannot signal the daemon (pid %d): permission denied; run as root or as the daemon's user, or: systemctl kill -s %s --kill-who=main kpay-rotator", pid, name)
	}
	if err != nil {
		return fmt.Errorf("signal the daemon (pid %d): %w", pid, err)
	}
	return nil
}

// URL is the running daemon's HTTP base: listen from the configuration,
// or the address it recorded when listen asks for port 0.
func URL(cfg *config.Config) (string, error) {
	addr := cfg.Daemon.Listen
	if _, port, err := net.SplitHostPort(addr); err == nil && (port == "0" || port == "") {
		b, err := os.ReadFile(ListenAddrFile(cfg.Daemon.StateDir))
		if err != nil {
			return "", err
		}
		addr = strings.TrimSpace(string(b))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

var statusClient = &http.Client{Timeout: 3 * time.Second}

// FetchStatus asks the running daemon for its status document.
func FetchStatus(cfg *config.Config) (rotator.Status, error) {
	var doc rotator.Status
	base, err := URL(cfg)
	if err != nil {
		return doc, err
	}
	resp, err := statusClient.Get(base + pathStatus)
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("GET %s: %s", pathStatus, resp.Status)
	}
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// startWait is how long ReadStatus waits for a daemon that holds the
// database but does not answer yet: it is starting (the store opens
// before the HTTP endpoint does).
const startWait = 5 * time.Second

// ReadStatus reads the state database directly when no daemon holds it,
// else asks the running daemon.
//
// With backend = "etcd" it reads the cluster directly when no daemon runs
// on this host.
func ReadStatus(cfg *config.Config, now time.Time) (rotator.Status, error) {
	if cfg.Store.Backend == config.BackendEtcd {
		return readEtcdStatus(cfg, now)
	}
	dbPath := filepath.Join(cfg.Daemon.StateDir, bboltstore.FileName)
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		doc := rotator.NewStatus(cfg, now)
		doc.Source = "config"
		for _, s := range cfg.Slots {
			doc.Slots = append(doc.Slots, rotator.NewSlotStatus(s))
		}
		return doc, nil
	}
	st, err := bboltstore.Open(dbPath, bboltstore.Options{ReadOnly: true, LockTimeout: probeLock})
	switch {
	case errors.Is(err, store.ErrLocked):
		return fetchStatusWaiting(cfg, dbPath)
	case err != nil:
		return rotator.Status{}, fmt.Errorf("read state: %w", err)
	}
	defer st.Close()
	doc, err := rotator.BuildStatus(st, cfg, now, nil)
	doc.Source = "database"
	return doc, err
}

// fetchStatusWaiting asks the daemon that holds what, waiting for one
// that is starting.
func fetchStatusWaiting(cfg *config.Config, what string) (rotator.Status, error) {
	deadline := time.Now().Add(startWait)
	for {
		doc, err := FetchStatus(cfg)
		if err == nil {
			return doc, nil
		}
		if time.Now().After(deadline) {
			return doc, fmt.Errorf("the daemon holds %s but its HTTP endpoint did not answer within %s (%v); it may still be starting: try again, or see journalctl -u kpay-rotator", what, startWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readEtcdStatus asks this host's daemon, or reads the cluster when none
// runs here.
func readEtcdStatus(cfg *config.Config, now time.Time) (rotator.Status, error) {
	if held, err := hostLocked(cfg.Daemon.StateDir); err != nil {
		return rotator.Status{}, err
	} else if held {
		return fetchStatusWaiting(cfg, filepath.Join(cfg.Daemon.StateDir, LockFileName))
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Store.DialTimeout+cfg.Store.RequestTimeout)
	defer cancel()
	st, closeStore, err := openStore(ctx, cfg, storeOptions{readOnly: true, now: time.Now})
	if err != nil {
		return rotator.Status{}, fmt.Errorf("read state: %w", err)
	}
	defer closeStore()
	doc, err := rotator.BuildStatus(st, cfg, now, nil)
	doc.Source = "database"
	return doc, err
}

// ErrNoHTTP: the daemon runs but its HTTP endpoint did not answer.
var ErrNoHTTP = errors.New("the daemon's HTTP endpoint did not answer")

// NotifyTestViaDaemon asks the running daemon to send the test messages:
// it holds the service's credentials (LoadCredential=), which the
// caller's shell may not.
func NotifyTestViaDaemon(ctx context.Context, cfg *config.Config, name string) ([]NotifyTestResult, error) {
	base, err := URL(cfg)
	if err != nil {
		return nil, ErrNoHTTP
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+pathNotifyTest+"?name="+url.QueryEscape(name), nil)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, ErrNoHTTP
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("the daemon refused the test: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var results []NotifyTestResult
	if err := json.NewDecoder(resp.Body).Decode(&results); err != nil {
		return nil, fmt.Errorf("read the daemon's answer: %w", err)
	}
	return results, nil
}
