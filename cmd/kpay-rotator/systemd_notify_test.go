package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/rotator"
	"kpay-rotator/store/bboltstore"
)

// notifySocket is a unixgram socket standing in for systemd's.
type notifySocket struct {
	conn *net.UnixConn
	path string
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	at   time.Time
	text string
}

func newNotifySocket(t testing.TB) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{conn: c, path: path}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, notifyMsg{time.Now(), string(buf[:k])})
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close() })
	return n
}

func (n *notifySocket) all() []notifyMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notifyMsg(nil), n.msgs...)
}

func (n *notifySocket) count(prefix string) int {
	c := 0
	for _, m := range n.all() {
		if strings.HasPrefix(m.text, prefix) {
			c++
		}
	}
	return c
}

// TestSDNotify_ReadyReloadWatchdogStopping drives the built binary with a
// real NOTIFY_SOCKET, as systemd does for Type=notify.
func TestSDNotify_ReadyReloadWatchdogStopping(t *testing.T) {
	f := newFixture(t)
	sock := newNotifySocket(t)
	const watchdog = 2 * time.Second
	p := f.startBin(binPath, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=2000000"})
	eventually(t, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	if first := sock.all()[0].text; !strings.HasPrefix(first, "READY=1\nSTATUS=2 slots") {
		t.Errorf("first notification = %q, want READY=1 with a status line", first)
	}
	// The daemon is ready only once it can answer: status works now.
	if doc := f.status(); doc.Source != "daemon" {
		t.Errorf("status right after READY: source %q", doc.Source)
	}
	eventually(t, "watchdog pings", func() bool { return sock.count("WATCHDOG=1") >= 4 })
	var pings []time.Time
	for _, m := range sock.all() {
		if m.text == "WATCHDOG=1" {
			pings = append(pings, m.at)
		}
	}
	for i := 1; i < len(pings); i++ {
		// Half the interval is the cadence; a gap near the whole interval
		// would let systemd kill a healthy daemon.
		if gap := pings[i].Sub(pings[i-1]); gap > watchdog*3/4 {
			t.Errorf("watchdog gap %s, want about %s (half of WatchdogSec)", gap, watchdog/2)
		}
	}

	p.signal(syscall.SIGHUP)
	eventually(t, "RELOADING then READY", func() bool { return sock.count("READY=1") == 2 })
	msgs := sock.all()
	var reloading int = -1
	for i, m := range msgs {
		if strings.HasPrefix(m.text, "RELOADING=1\nMONOTONIC_USEC=") {
			reloading = i
		}
	}
	if reloading < 0 {
		t.Fatalf("no RELOADING=1 with MONOTONIC_USEC: %v", msgs)
	}
	ready := -1
	for i := reloading + 1; i < len(msgs); i++ {
		if strings.HasPrefix(msgs[i].text, "READY=1") {
			ready = i
			break
		}
	}
	if ready < 0 {
		t.Errorf("no READY=1 after RELOADING=1")
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if sock.count("STOPPING=1") != 1 {
		t.Errorf("STOPPING=1 sent %d times, want 1", sock.count("STOPPING=1"))
	}
}

// TestSDNotify_StuckSchedulerStopsWatchdog freezes the scheduler (a
// failpoint of the test build) and expects the pings to stop, so systemd
// would restart the daemon.
func TestSDNotify_StuckSchedulerStopsWatchdog(t *testing.T) {
	f := newFixture(t)
	sock := newNotifySocket(t)
	// A one-second watchdog makes the 20 s staleness the wait; the stuck
	// tick is the only thing that differs from a healthy run.
	p := f.startBin(failBinPath, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=1000000", "KPAY_ROTATOR_FAILPOINTS=" + rotator.FailSchedulerStuck})
	eventually(t, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	// At first the start tick is fresh, so pings flow...
	eventually(t, "initial pings", func() bool { return sock.count("WATCHDOG=1") >= 1 })
	// ...then stop once the tick is stale, and the log says why.
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(p.log(), "not feeding the systemd watchdog") {
		if time.Now().After(deadline) {
			t.Fatalf("pings never stopped:\n%s", p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	n := sock.count("WATCHDOG=1")
	time.Sleep(2 * time.Second) // two ping periods: none may come
	if got := sock.count("WATCHDOG=1"); got != n {
		t.Errorf("pings continued with a stuck scheduler: %d more", got-n)
	}
	if !strings.Contains(p.log(), "scheduler: no tick for") {
		t.Errorf("log does not name the stuck scheduler")
	}
}

// TestDiskFull_NotReadyThenWatchdogStops makes every bbolt commit fail
// while a trigger file exists (a failpoint of the test build standing for
// a full disk): readiness, status and the metric must say so, the
// watchdog pings must stop after a bound, and all of it must clear once a
// commit succeeds again.
func TestDiskFull_NotReadyThenWatchdogStops(t *testing.T) {
	f := newFixture(t)
	sock := newNotifySocket(t)
	full := filepath.Join(t.TempDir(), "disk-full")
	p := f.startBin(failBinPath, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=2000000",
		"KPAY_ROTATOR_FAILPOINTS=" + bboltstore.FailWrites + "@" + full})
	eventually(t, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	base := f.httpBase()
	eventually(t, "ready", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if v, ok := value(scrape(t, base), "kpay_rotator_state_writable", nil); !ok || v != 1 {
		t.Fatalf("kpay_rotator_state_writable = %v (present %v), want 1", v, ok)
	}

	if err := os.WriteFile(full, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGUSR1) // a pass: its results cannot be recorded
	eventually(t, "readiness names the failing writes", func() bool {
		code, body := get(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "writes failing") && strings.Contains(body, "free space on")
	})
	if v, _ := value(scrape(t, base), "kpay_rotator_state_writable", nil); v != 0 {
		t.Errorf("kpay_rotator_state_writable = %v while commits fail, want 0", v)
	}
	if out, _, _ := f.cli("status"); !strings.Contains(out, "writes failing") {
		t.Errorf("status does not say the writes fail:\n%s", out)
	}
	eventually(t, "pings stop", func() bool { return strings.Contains(p.log(), "not feeding the systemd watchdog") })
	n := sock.count("WATCHDOG=1")
	time.Sleep(2500 * time.Millisecond) // more than WatchdogSec: none may come
	if got := sock.count("WATCHDOG=1"); got != n {
		t.Errorf("pings continued while every commit fails: %d more", got-n)
	}

	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGUSR1) // the next commit succeeds
	eventually(t, "ready again", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	eventually(t, "pings resume", func() bool { return sock.count("WATCHDOG=1") > n })
	if v, _ := value(scrape(t, base), "kpay_rotator_state_writable", nil); v != 1 {
		t.Errorf("kpay_rotator_state_writable = %v after recovery, want 1", v)
	}
}
