package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kpay-rotator/internal/testutil"
)

// logRun is the daemon started with stderr on a file the test made (a
// pipe, a pseudo-terminal), so the test knows what the daemon sees.
type logRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  testutil.SyncBuffer
	done chan struct{}
}

// startLogged starts `run` on f's configuration with stderr on w (read
// back through r) and env on top of the environment less the variables
// the logger looks at.
func (f *fixture) startLogged(t *testing.T, w, r *os.File, env []string, args ...string) *logRun {
	t.Helper()
	lr := &logRun{t: t, done: make(chan struct{})}
	lr.cmd = exec.Command(binPath, append([]string{"run", "--config", f.cfgPath}, args...)...)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "JOURNAL_STREAM", "NO_COLOR", "TERM", "NOTIFY_SOCKET":
		default:
			lr.cmd.Env = append(lr.cmd.Env, kv)
		}
	}
	lr.cmd.Env = append(lr.cmd.Env, env...)
	lr.cmd.Stderr = w
	if err := lr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the daemon holds its copy; EOF (or EIO) once it exits
	go func() { io.Copy(&lr.out, r); close(lr.done) }()
	t.Cleanup(func() {
		_ = lr.cmd.Process.Kill()
		_ = lr.cmd.Wait()
		if t.Failed() {
			t.Logf("daemon stderr:\n%q", lr.out.String())
		}
	})
	return lr
}

func (lr *logRun) waitFor(s string) {
	lr.t.Helper()
	eventually(lr.t, "log line "+s, func() bool { return strings.Contains(lr.out.String(), s) })
}

// stop sends SIGTERM and returns everything the daemon wrote.
func (lr *logRun) stop() string {
	lr.t.Helper()
	_ = lr.cmd.Process.Signal(syscall.SIGTERM)
	if err := lr.cmd.Wait(); err != nil {
		lr.t.Errorf("daemon exit: %v", err)
	}
	select {
	case <-lr.done:
	case <-time.After(10 * time.Second):
		lr.t.Fatal("stderr not closed after the daemon exited")
	}
	return lr.out.String()
}

// devIno is f's "device:inode", as systemd puts it in JOURNAL_STREAM.
func devIno(t *testing.T, f *os.File) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

var levelKey = regexp.MustCompile(`\blevel=(DEBUG|INFO|WARN|ERROR)\b`)

// TestLog_JournalPriorities: when JOURNAL_STREAM names the daemon's
// stderr, every line starts with the syslog priority of its level, so
// journald files it there; otherwise (unset, or a stream that is not
// stderr: a child whose stderr was redirected) there is no prefix.
func TestLog_JournalPriorities(t *testing.T) {
	f := newFixture(t)
	priority := map[string]string{"DEBUG": "<7>", "INFO": "<6>", "WARN": "<4>", "ERROR": "<3>"}
	tests := []struct {
		name   string
		stream func(stderr, other *os.File) string
		prefix bool
	}{
		{"stderr is the journal", func(stderr, _ *os.File) string { return devIno(t, stderr) }, true},
		{"no JOURNAL_STREAM", func(_, _ *os.File) string { return "" }, false},
		// Not the pipe's read end: both ends of a pipe share one inode.
		{"JOURNAL_STREAM of another file", func(_, other *os.File) string { return devIno(t, other) }, false},
		{"malformed JOURNAL_STREAM", func(_, _ *os.File) string { return "journal" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			env := []string{
				// Colour must not come in through a terminal's settings.
				"TERM=xterm-256color",
				// No systemd listens there: the daemon warns that it
				// cannot say READY=1.
				"NOTIFY_SOCKET=" + f.dir + "/no-systemd-here",
			}
			other, err := os.Create(f.dir + "/other-stream")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if s := tt.stream(w, other); s != "" {
				env = append(env, "JOURNAL_STREAM="+s)
			}
			f.writeConfig("")
			lr := f.startLogged(t, w, r, env, "--log-level", "debug")
			lr.waitFor("cannot tell systemd the daemon is ready")
			// A refused reload is an error.
			f.writeConfig("\n[bogus]\n")
			lr.cmd.Process.Signal(syscall.SIGHUP)
			lr.waitFor("reload refused")
			out := lr.stop()

			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			seen := map[string]bool{}
			for _, line := range lines {
				m := levelKey.FindStringSubmatch(line)
				if m == nil {
					t.Errorf("a line without level=: %q", line)
					continue
				}
				seen[m[1]] = true
				want := ""
				if tt.prefix {
					want = priority[m[1]]
				}
				at := strings.Index(line, "time=")
				if at < 0 {
					t.Errorf("a line without time=: %q", line)
					continue
				}
				if got := line[:at]; got != want {
					t.Errorf("a %s line starts with %q, want %q: %q", m[1], got, want, line)
				}
			}
			for level := range priority {
				if !seen[level] {
					t.Errorf("no %s line was logged; the test needs one of each", level)
				}
			}
			if strings.Contains(out, "\x1b[") {
				t.Error("a colour escape reached a file that is not a terminal")
			}
		})
	}
}

// openPTY opens a pseudo-terminal pair: the daemon writes to the second
// file and sees a terminal; the test reads the first.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test colours on: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// TestLog_TerminalColour: on a terminal the daemon logs with tint, in
// colour unless NO_COLOR (any non-empty value) or TERM=dumb says not to.
func TestLog_TerminalColour(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		env    []string
		colour bool
	}{
		{"colour terminal", []string{"TERM=xterm-256color"}, true},
		{"empty NO_COLOR counts as unset", []string{"TERM=xterm-256color", "NO_COLOR="}, true},
		{"NO_COLOR", []string{"TERM=xterm-256color", "NO_COLOR=1"}, false},
		{"TERM=dumb", []string{"TERM=dumb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptm, pts := openPTY(t)
			lr := f.startLogged(t, pts, ptm, tt.env)
			lr.waitFor("kpay-rotator started")
			out := lr.stop()
			if got := strings.Contains(out, "\x1b["); got != tt.colour {
				t.Errorf("colour escapes: %v, want %v", got, tt.colour)
			}
			// tint's layout either way, never the plain key=value lines
			// nor a journal prefix.
			if !regexp.MustCompile(`INF(\x1b\[0m)? kpay-rotator started`).MatchString(out) || strings.Contains(out, "level=INFO") || strings.Contains(out, "<6>") {
				t.Errorf("not tint's terminal layout: %q", head(out))
			}
		})
	}
}
