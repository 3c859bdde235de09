// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): one
// datagram per state change to the unix socket named by $NOTIFY_SOCKET.
//
// Hand-written rather than a dependency: the protocol is a single
// sendto(2) of "KEY=value" lines, and what matters here is exact control
// of which states are sent and when (RELOADING=1 with MONOTONIC_USEC,
// WATCHDOG=1 only from a health-checked loop).
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends to systemd. The zero value, and one made without
// $NOTIFY_SOCKET, sends nothing: the daemon runs the same outside systemd.
type Notifier struct {
	mu   sync.Mutex
	addr *net.UnixAddr
	conn *net.UnixConn
}

// New reads $NOTIFY_SOCKET. An abstract socket ("@name") is supported.
func New() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &Notifier{}
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Enabled reports whether there is a socket to notify.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Send sends one notification of newline-separated KEY=value lines.
func (n *Notifier) Send(state string) error {
	if !n.Enabled() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		c, err := net.DialUnix("unixgram", nil, n.addr)
		if err != nil {
			return fmt.Errorf("sd_notify: dial %s: %w", strings.TrimPrefix(n.addr.Name, "\x00"), err)
		}
		n.conn = c
	}
	if _, err := n.conn.Write([]byte(state)); err != nil {
		n.conn.Close()
		n.conn = nil
		return fmt.Errorf("sd_notify: send: %w", err)
	}
	return nil
}

// Ready says start-up (or a reload) is complete.
func (n *Notifier) Ready(status string) error { return n.Send("READY=1\nSTATUS=" + oneLine(status)) }

// Reloading says a reload started. MONOTONIC_USEC lets systemd match the
// READY=1 that ends it (required for Type=notify-reload from v253).
func (n *Notifier) Reloading() error {
	return n.Send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
}

// Stopping says shutdown started.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Watchdog is the keep-alive ping.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// Status sets the one-line status systemctl shows.
func (n *Notifier) Status(s string) error { return n.Send("STATUS=" + oneLine(s)) }

// Close releases the socket.
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
}

// WatchdogInterval returns $WATCHDOG_USEC when it is meant for this
// process ($WATCHDOG_PID unset or ours), as sd_watchdog_enabled(3) does.
func WatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond, true
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
