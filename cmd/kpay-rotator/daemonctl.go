package main

import (
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
)

// runningDaemon finds the daemon serving cfg: the process holding the
// state database's lock, named by the pid file next to it. Holding the lock
// is the proof; a pid file alone may be stale, and signalling a reused pid
// would hit an unrelated process.
func runningDaemon(cfg *config.Config) (pid int, running bool, err error) {
	dbPath := filepath.Join(cfg.Daemon.StateDir, store.FileName)
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	st, err := store.Open(dbPath, store.Options{ReadOnly: true, LockTimeout: probeLock})
	switch {
	case err == nil:
		st.Close()
		return 0, false, nil
	case !errors.Is(err, store.ErrLocked):
		return 0, false, fmt.Errorf("check whether the daemon runs: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(cfg.Daemon.StateDir, store.PIDFileName))
	if err != nil {
		return 0, true, fmt.Errorf("the daemon holds %s but its pid file is unreadable: %w", dbPath, err)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, true, fmt.Errorf("the daemon's pid file %s is corrupt", filepath.Join(cfg.Daemon.StateDir, store.PIDFileName))
	}
	return pid, true, nil
}

// Signals to the daemon: SIGUSR1 takes staged pairs and probes every
// slot (rotate); SIGUSR2 takes staged pairs only (stage), so a hand-over
// never starts a probe pass.
const (
	sigRotate   = syscall.SIGUSR1
	sigHandover = syscall.SIGUSR2
)

// signalDaemon sends sig to the daemon.
func signalDaemon(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.EPERM) {
		name := "USR1"
		if sig == sigHandover {
			name = "USR2"
		}
		return fmt.Errorf("cannot signal the daemon (pid %d): permission denied; run as root or as the daemon's user, or: systemctl kill -s %s --kill-who=main kpay-rotator", pid, name)
	}
	if err != nil {
		return fmt.Errorf("signal the daemon (pid %d): %w", pid, err)
	}
	return nil
}

// probeLock is the lock wait when asking "does a daemon hold the state
// database?". bbolt tries once without blocking for any timeout under its
// 50 ms retry step, and a daemon holds the lock for its whole life, so one
// try is the answer; waiting longer only delays stage, which runs while
// payments are down.
const probeLock = time.Millisecond
