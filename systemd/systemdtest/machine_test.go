package systemdtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/internal/testutil"
)

// Bounds. Every command that talks to the namespaced systemd runs under
// `timeout -s KILL`, and the machine itself dies after bootLimit, so a hung
// systemd fails the test instead of hanging CI.
const (
	// bootLimit is boot.sh's SIGKILL deadline for the whole machine; it is
	// well above the suite's ~1 minute and below go test's 10-minute default.
	bootLimit = 6 * time.Minute
	// cmdLimit bounds one command inside the machine. The longest is a
	// `systemctl start` waiting for READY=1 (TimeoutStartSec=60s).
	cmdLimit = 90 * time.Second
	// shutdownGrace is how long the machine gets to power off before
	// shutdown.sh kills it.
	shutdownGrace = 20
)

// requireHost skips the test where a namespaced systemd cannot boot.
func requireHost(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("skipped: booting systemd in namespaces needs Linux")
	}
	if testing.Short() {
		t.Skip("skipped under -short: boots systemd and takes about a minute")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to boot systemd as PID 1 of new namespaces (CI runs as root: sudo go test ./systemd/systemdtest/)")
	}
	for _, c := range []string{"unshare", "nsenter", "setpriv", "capsh", "timeout", "make", "go"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("skipped: %s not found in PATH (needs util-linux unshare/nsenter/setpriv, libcap2-bin capsh, coreutils timeout, make, go)", c)
		}
	}
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		t.Skip("skipped: systemd is not installed (/lib/systemd/systemd missing)")
	}
	cg := cgroup2Mount()
	if cg == "" {
		t.Skip("skipped: no cgroup2 file system is mounted (the namespaced systemd needs a cgroup2 directory of its own)")
	}
	probe := filepath.Join(cg, fmt.Sprintf("kpay-rotator-systemdtest-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Skipf("skipped: cannot create a cgroup under the cgroup2 mount %s: %v", cg, err)
	}
	_ = os.Remove(probe)
}

// cgroup2Mount is where the cgroup2 hierarchy is mounted, "" if nowhere.
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 2 && fs[2] == "cgroup2" {
			return fs[1]
		}
	}
	return ""
}

// repoRoot is the module root (go test runs in the package directory).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildAndInstall builds the binary with the Makefile's own build (static,
// -trimpath, version injected) plus the failpoints tag, and lays out with
// `make install DESTDIR=…` exactly what a package would ship, in
// work/root-add for init.sh to copy into the machine's root.
func buildAndInstall(t *testing.T, work string) {
	t.Helper()
	root := repoRoot(t)
	bin := filepath.Join(work, "bin", "kpay-rotator")
	// BIN is overridden so the build never touches the checkout's bin/.
	// GOFLAGS carries the tag: the Makefile has no knob for build tags.
	build := exec.Command("make", "-C", root, "build", "BIN="+bin, "VERSION=test")
	build.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -tags=failpoints"))
	if out, err := runBounded(build, 5*time.Minute); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	// GO=false: were make to decide the binary is stale it would rebuild it
	// without the failpoints tag; this turns that into a loud failure.
	install := exec.Command("make", "-C", root, "install", "DESTDIR="+filepath.Join(work, "root-add"), "VERSION=test", "BIN="+bin, "GO=false")
	if out, err := runBounded(install, time.Minute); err != nil {
		t.Fatalf("make install DESTDIR=…: %v\n%s", err, out)
	}
}

// runBounded runs cmd to completion, killing it and everything it started
// (its own process group: make's go build, say) after limit.
func runBounded(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(limit, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}

// machine is the host's systemd booted by systemd/test/boot.sh as PID 1 of
// fresh namespaces.
type machine struct {
	t       *testing.T
	scripts string // systemd/test
	work    string // boot.sh's WORKDIR
	cgroup  string // host path of the machine's cgroup2 directory
	pid     int    // host PID of the namespaced systemd

	boot     *exec.Cmd
	bootLog  *testutil.SyncBuffer
	bootDone chan struct{}
}

// bootMachine boots a machine over work (which holds root-add/) and
// registers its teardown before it waits for anything, so a failed boot
// is torn down too.
func bootMachine(t *testing.T, work string) *machine {
	t.Helper()
	m := &machine{t: t, scripts: filepath.Join(repoRoot(t), "systemd", "test"), work: work,
		bootLog: &testutil.SyncBuffer{}, bootDone: make(chan struct{})}
	m.boot = exec.Command(filepath.Join(m.scripts, "boot.sh"), work, strconv.Itoa(int(bootLimit/time.Second)))
	m.boot.Stdout, m.boot.Stderr = m.bootLog, m.bootLog
	if err := m.boot.Start(); err != nil {
		t.Fatalf("boot.sh: %v", err)
	}
	go func() { _ = m.boot.Wait(); close(m.bootDone) }()
	t.Cleanup(m.shutdown)

	// The host PID of systemd: the first process of init.scope, which
	// systemd creates in its own cgroup as soon as it runs.
	m.poll("systemd to start", 30*time.Second, 20*time.Millisecond, func() bool {
		b, err := os.ReadFile(filepath.Join(work, "cgroup"))
		if err != nil {
			return false
		}
		m.cgroup = strings.TrimSpace(string(b))
		procs, err := os.ReadFile(filepath.Join(m.cgroup, "init.scope", "cgroup.procs"))
		if err != nil {
			return false
		}
		first, _, _ := strings.Cut(string(procs), "\n")
		m.pid, err = strconv.Atoi(strings.TrimSpace(first))
		return err == nil && m.pid > 0
	})
	// `is-system-running --wait` needs D-Bus, which the machine lacks; the
	// plain query goes over systemd's private socket.
	var state string
	m.poll("the boot to finish", 60*time.Second, 50*time.Millisecond, func() bool {
		state, _, _ = m.run("", "systemctl", "is-system-running")
		state = strings.TrimSpace(state)
		return state == "running" || state == "degraded"
	})
	if state == "degraded" {
		failed, _, _ := m.run("", "systemctl", "--failed", "--no-legend")
		t.Logf("the machine booted degraded (not a kpay-rotator problem unless it is listed):\n%s", failed)
	}
	return m
}

// in returns m failing t, the (sub)test that uses it: FailNow must come
// from the goroutine of the test that calls it.
func (m *machine) in(t *testing.T) *machine {
	c := *m
	c.t = t
	return &c
}

// poll waits until cond holds, checking every step, and fails the test
// after limit or when the machine died.
func (m *machine) poll(what string, limit, step time.Duration, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case <-m.bootDone:
			m.t.Fatalf("the machine died while waiting for %s; boot.sh said:\n%s", what, m.bootLog.String())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(step)
	}
}

// shutdown powers the machine off, kills what is left and removes its
// cgroup (shutdown.sh), then reaps boot.sh.
func (m *machine) shutdown() {
	cmd := exec.Command("timeout", "-s", "KILL", strconv.Itoa(shutdownGrace+30),
		filepath.Join(m.scripts, "shutdown.sh"), m.work, strconv.Itoa(shutdownGrace))
	if out, err := runBounded(cmd, time.Duration(shutdownGrace+40)*time.Second); err != nil {
		m.t.Errorf("shutdown.sh: %v\n%s", err, out)
	}
	select {
	case <-m.bootDone:
	case <-time.After(10 * time.Second):
		// shutdown.sh already killed everything in the cgroup; boot.sh's
		// own process (timeout) is the last one, and it is ours.
		_ = m.boot.Process.Kill()
		<-m.bootDone
	}
	if m.t.Failed() {
		m.t.Logf("boot.sh output:\n%s", m.bootLog.String())
	}
}

// machineEnv is the whole environment of commands run inside the machine:
// nothing of the test's own environment (AWS_*, GOFLAGS, …) leaks in, and
// systemctl/journalctl print plain text.
var machineEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8", "TERM=dumb", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "SYSTEMD_LOG_COLOR=0",
}

// run runs args inside the machine (its mount, pid, uts and ipc
// namespaces: where an admin's shell on that host would be) with stdin.
// It returns stdout, stderr and the exit code; a command killed by
// cmdLimit fails the test.
func (m *machine) run(stdin string, args ...string) (stdout, stderr string, code int) {
	m.t.Helper()
	return m.runIn(stdin, []string{"-t", strconv.Itoa(m.pid), "-m", "-p", "-u", "-i"}, args...)
}

// runIn runs args under `nsenter nsArgs…`.
func (m *machine) runIn(stdin string, nsArgs []string, args ...string) (stdout, stderr string, code int) {
	m.t.Helper()
	argv := append([]string{"-s", "KILL", strconv.Itoa(int(cmdLimit / time.Second)), "nsenter"}, nsArgs...)
	argv = append(append(argv, "--"), args...)
	cmd := exec.Command("timeout", argv...)
	cmd.Env = machineEnv
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		if exit.ExitCode() == 137 || exit.ExitCode() == -1 {
			m.t.Fatalf("%s: killed after %s (hung?)\n%s%s", strings.Join(args, " "), cmdLimit, o.String(), e.String())
		}
	default:
		m.t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// must runs args inside the machine and fails the test unless it exits 0.
func (m *machine) must(stdin string, args ...string) string {
	m.t.Helper()
	out, errOut, code := m.run(stdin, args...)
	if code != 0 {
		m.t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// writeFile writes content to path inside the machine with mode and
// owner. The content travels on stdin, never on a command line, so a
// credential does not show up in a process list or a failure message.
func (m *machine) writeFile(path, mode, owner, content string) {
	m.t.Helper()
	m.must(content, "sh", "-c", `umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1" && chown "$3" "$1"`,
		"write", path, mode, owner)
}

// show returns the unit's properties (systemctl show -p …).
func (m *machine) show(unit string, props ...string) map[string]string {
	m.t.Helper()
	args := []string{"systemctl", "show", unit}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out := m.must("", args...)
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

// journal returns the unit's journal, one message per line (systemd's
// lines about the unit and the daemon's own log).
func (m *machine) journal(unit string) []string {
	m.t.Helper()
	out := m.must("", "journalctl", "-u", unit, "-o", "cat", "--no-pager")
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// journalAt is the unit's journal at priority prio or more urgent
// (journalctl -p), as an operator filters it.
func (m *machine) journalAt(unit, prio string) []string {
	m.t.Helper()
	out := m.must("", "journalctl", "-u", unit, "-p", prio, "-o", "cat", "--no-pager")
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// hostPID is the host PID of the process the machine knows as nsPID: the
// one whose NSpid line in /proc ends with it, found in the unit's cgroup.
func (m *machine) hostPID(unit string, nsPID int) int {
	m.t.Helper()
	procs, err := os.ReadFile(filepath.Join(m.cgroup, "system.slice", unit, "cgroup.procs"))
	if err != nil {
		m.t.Fatalf("processes of %s: %v", unit, err)
	}
	for _, f := range strings.Fields(string(procs)) {
		status, err := os.ReadFile("/proc/" + f + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				ids := strings.Fields(rest)
				if len(ids) > 0 && ids[len(ids)-1] == strconv.Itoa(nsPID) {
					pid, _ := strconv.Atoi(f)
					return pid
				}
			}
		}
	}
	m.t.Fatalf("no process of %s is PID %d inside the machine", unit, nsPID)
	return 0
}

// after returns the lines logged since mark (a length of an earlier
// journal read).
func after(lines []string, mark int) []string {
	if mark > len(lines) {
		return nil
	}
	return lines[mark:]
}

// grep returns the lines containing s.
func grep(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// index returns the position of the first line containing s, or -1.
func index(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// quoteEnv renders an Environment= assignment systemd parses back as is.
func quoteEnv(kv string) string {
	return fmt.Sprintf("Environment=%q", kv)
}
