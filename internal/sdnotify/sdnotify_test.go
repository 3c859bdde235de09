package sdnotify_test

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kpay-rotator/internal/sdnotify"
)

func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifier_SendsStates(t *testing.T) {
	c, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := sdnotify.New()
	defer n.Close()
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	n.Ready("2 slots\nhealthy")
	if got := recv(t, c); got != "READY=1\nSTATUS=2 slots healthy" {
		t.Errorf("ready = %q", got)
	}
	n.Reloading()
	got := recv(t, c)
	lines := strings.Split(got, "\n")
	if lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("reloading = %q", got)
	}
	if us, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || us <= 0 {
		t.Errorf("MONOTONIC_USEC = %q", lines[1])
	}
	n.Watchdog()
	n.Stopping()
	if a, b := recv(t, c), recv(t, c); a != "WATCHDOG=1" || b != "STOPPING=1" {
		t.Errorf("got %q %q", a, b)
	}
}

func TestNotifier_WithoutSocketIsSilent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := sdnotify.New()
	if n.Enabled() || n.Ready("x") != nil {
		t.Error("a notifier without NOTIFY_SOCKET must be a silent no-op")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tt := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, true},
		{"30000000", "1", 0, false},
		{"abc", "", 0, false},
	} {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		if got, ok := sdnotify.WatchdogInterval(); got != tt.want || ok != tt.ok {
			t.Errorf("usec %q pid %q: got %v %v, want %v %v", tt.usec, tt.pid, got, ok, tt.want, tt.ok)
		}
	}
}
