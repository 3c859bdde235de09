package systemdtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/rotator"
)

const (
	unit      = "kpay-rotator.service"
	cfgPath   = "/etc/kpay-rotator/config.toml"
	credDir   = "/etc/kpay-rotator/credentials"
	dropInDir = "/etc/systemd/system/kpay-rotator.service.d"
	// wdDropIn switches the stuck-scheduler failpoint on for one scenario.
	wdDropIn = dropInDir + "/watchdog.conf"
)

// props is what every scenario reads back from systemd.
var props = []string{"ActiveState", "SubState", "Result", "NRestarts", "StatusText", "MainPID", "ExecMainStatus", "ExecMainCode"}

// suite is one booted machine with kpay-rotator installed, and the world
// it talks to.
type suite struct {
	m     *machine
	w     *world
	port  int
	slots []slotSpec // the slots of the good configuration
	http  *http.Client

	// Measurements for the summary.
	startWall, startExecToReady, watchdogKill, stopWall time.Duration
	rssKiB                                              int
}

// TestUnderSystemd installs kpay-rotator the way `make install` lays it
// out into a freshly booted systemd 252 and drives the unit through its
// life: every scenario asserts on systemd's view (systemctl show, the
// journal) and on the world outside (KPay, Secrets Manager, webhooks).
// The scenarios share one machine, in order; each starts from a running
// service with the good configuration.
func TestUnderSystemd(t *testing.T) {
	requireHost(t)
	suiteStart := time.Now()
	work := t.TempDir()
	buildAndInstall(t, work)
	w := newWorld(t)
	m := bootMachine(t, work)
	t.Logf("machine up %s after the test started (build, install and boot)", time.Since(suiteStart).Round(time.Millisecond))
	s := &suite{m: m, w: w, port: freePort(t), slots: append([]slotSpec(nil), baseSlots...),
		http: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journal of %s (tail):\n%s", unit, tail(m.in(t).journal(unit), 80))
		}
	})
	s.postInstall(t)

	scenarioStart := time.Now()
	if !t.Run("StartReturnsAfterReady", s.startReady) {
		t.FailNow() // nothing else can run without a started service
	}
	t.Run("StatusTextFollowsSlots", s.statusTextFollowsSlots)
	t.Run("SandboxAndIdentity", s.sandbox)
	t.Run("CredentialsAndAlerts", s.credentialsAndAlerts)
	t.Run("Reload", s.reload)
	t.Run("StageRotatesPair", s.stageRotates)
	t.Run("KillUSR1TakesStagedPair", s.killUSR1TakesStaged)
	t.Run("WatchdogRestartLosesNothing", s.watchdogRestart)
	t.Run("BadConfigExit78NoRestartLoop", s.badConfig)
	t.Run("NoSecretInJournal", s.noSecretInJournal)
	s.measureRSS(t)
	t.Run("StopIsClean", s.stop)

	t.Logf("summary: systemctl start → active %s (systemd: exec → READY=1 %s); watchdog kill %s after the stuck restart; systemctl stop %s; scenarios %s, whole test %s; VmRSS after the suite %d KiB (%.1f MiB)",
		s.startWall.Round(time.Millisecond), s.startExecToReady.Round(time.Millisecond), s.watchdogKill.Round(time.Second),
		s.stopWall.Round(time.Millisecond), time.Since(scenarioStart).Round(time.Second), time.Since(suiteStart).Round(time.Second),
		s.rssKiB, float64(s.rssKiB)/1024)
}

// postInstall does what a package's post-install script and the admin do
// after `make install` (docs/install.md): create the user and the
// tmpfiles entries, hand the configuration to the daemon's group, put the
// chat secrets in credential files, enable them with LoadCredential= in a
// drop-in, and daemon-reload. It first checks the layout make laid out.
func (s *suite) postInstall(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	m.must("", "systemd-sysusers", "kpay-rotator.conf")
	m.must("", "systemd-tmpfiles", "--create", "kpay-rotator.conf")
	// `make install` lays these out (Makefile, docs/install.md); the
	// tmpfiles entries make the last three.
	want := map[string]string{
		"/usr/bin/kpay-rotator":                                  "755 root:root",
		"/usr/lib/systemd/system/kpay-rotator.service":           "644 root:root",
		"/usr/lib/sysusers.d/kpay-rotator.conf":                  "644 root:root",
		"/usr/lib/tmpfiles.d/kpay-rotator.conf":                  "644 root:root",
		"/usr/share/doc/kpay-rotator/runbook.md":                 "644 root:root",
		"/usr/share/man/man8/kpay-rotator.8":                     "644 root:root",
		"/usr/share/bash-completion/completions/kpay-rotator":    "644 root:root",
		"/usr/share/zsh/vendor-completions/_kpay-rotator":        "644 root:root",
		"/usr/share/fish/vendor_completions.d/kpay-rotator.fish": "644 root:root",
		"/etc/kpay-rotator":                                      "755 root:root",
		"/etc/kpay-rotator/config.toml.example":                  "644 root:root",
		credDir:                                                  "700 root:root",
		"/run/kpay-rotator":                                      "700 kpay-rotator:kpay-rotator",
		"/run/kpay-rotator/inbox":                                "700 kpay-rotator:kpay-rotator",
	}
	for path, mode := range want {
		if got := strings.TrimSpace(m.must("", "stat", "-c", "%a %U:%G", path)); got != mode {
			t.Errorf("%s: %s, want %s", path, got, mode)
		}
	}
	// Only the example: an installed config.toml would pass check-config
	// and an enabled unit would watch the example's secrets.
	if _, _, code := m.run("", "test", "-e", cfgPath); code == 0 {
		t.Errorf("make install laid out %s; it must install only config.toml.example", cfgPath)
	}
	t.Run("MissingConfigExit78SaysWhatToCopy", s.missingConfig)
	s.writeConfig(t, "")
	m.writeFile(credDir+"/hook-url", "0600", "root:root", w.hookURL+"\n")
	m.writeFile(credDir+"/hook-secret", "0600", "root:root", w.hookSecret+"\n")
	m.writeFile(credDir+"/chat-url", "0600", "root:root", w.chatURL+"\n")

	var d strings.Builder
	d.WriteString("[Service]\n")
	for _, c := range []string{"hook-url", "hook-secret", "chat-url"} {
		fmt.Fprintf(&d, "LoadCredential=%s:%s/%s\n", c, credDir, c)
	}
	// No instance role here: static credentials and the emulator's
	// endpoint, the way docs/install.md says to without one.
	for _, kv := range w.aws.Env() {
		d.WriteString(quoteEnv(kv) + "\n")
	}
	m.writeFile(dropInDir+"/test.conf", "0644", "root:root", d.String())
	m.must("", "systemctl", "daemon-reload")
	// The admin's check, as the daemon's user so file modes count too.
	out := m.must("", "setpriv", "--reuid=kpay-rotator", "--regid=kpay-rotator", "--init-groups",
		"kpay-rotator", "check-config", "--config", cfgPath)
	if !strings.Contains(out, "ok (2 slots, 2 notifiers)") {
		t.Errorf("check-config as kpay-rotator: %q, want ok (2 slots, 2 notifiers)", out)
	}
}

// writeConfig writes the good configuration (the suite's slots) plus
// extra TOML, 0640 root:kpay-rotator as a package installs it.
func (s *suite) writeConfig(t *testing.T, extra string) {
	s.m.in(t).writeFile(cfgPath, "0640", "root:kpay-rotator", s.w.config(s.port, s.slots, extra))
}

// ensureRunning brings the service back to running on the good
// configuration if an earlier scenario left it otherwise, so one failure
// does not cascade through the rest.
func (s *suite) ensureRunning(t *testing.T) {
	t.Helper()
	m := s.m.in(t)
	if p := m.show(unit, "ActiveState", "SubState"); p["ActiveState"] == "active" && p["SubState"] == "running" {
		return
	}
	t.Logf("service not running before this scenario; restarting it on the good configuration")
	s.writeConfig(t, "")
	m.run("", "rm", "-f", wdDropIn)
	m.must("", "systemctl", "daemon-reload")
	m.must("", "systemctl", "reset-failed", unit)
	m.must("", "systemctl", "restart", unit)
}

func (s *suite) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tryStatus is status for moments when the daemon may be gone.
func (s *suite) tryStatus() (rotator.Status, error) {
	var doc rotator.Status
	resp, err := s.http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/status", s.port))
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("/v1/status: %s", resp.Status)
	}
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// status is the daemon's /v1/status document, read from the host.
func (s *suite) status(t *testing.T) rotator.Status {
	t.Helper()
	code, body := s.get(t, "/v1/status")
	var doc rotator.Status
	if code != http.StatusOK {
		t.Fatalf("/v1/status: HTTP %d: %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/v1/status: %v", err)
	}
	return doc
}

func slotOf(doc rotator.Status, name string) (rotator.SlotStatus, bool) {
	for _, sl := range doc.Slots {
		if sl.Name == name {
			return sl, true
		}
	}
	return rotator.SlotStatus{}, false
}

// stage runs `kpay-rotator stage SLOT` as an admin inside the machine, with
// the pair on stdin (two lines, as from a password manager). prefix wraps
// the command (e.g. unshare).
func (s *suite) stage(t *testing.T, slot slotSpec, p kpay.Pair, prefix []string, flags ...string) (string, string, int) {
	t.Helper()
	args := append(append(append([]string(nil), prefix...), "kpay-rotator", "stage", slot.name, "--config", cfgPath), flags...)
	return s.m.in(t).run(p.APIKey+"\n"+p.SecretKey.Reveal()+"\n", args...)
}

// kill sends sig to the daemon only (--kill-who=main), as the README says.
func (s *suite) kill(t *testing.T, sig string) {
	t.Helper()
	s.m.in(t).must("", "systemctl", "kill", "-s", sig, "--kill-who=main", unit)
}

// eventually polls cond every 100 ms for up to limit.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// usec parses a systemd microsecond property (…TimestampMonotonic).
func usec(t *testing.T, p map[string]string, key string) time.Duration {
	t.Helper()
	n, err := strconv.ParseInt(p[key], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, p[key], err)
	}
	return time.Duration(n) * time.Microsecond
}

// span parses a time span as systemctl show prints it ("1min 30s",
// "100ms", "5s").
func span(t *testing.T, p map[string]string, key string) time.Duration {
	t.Helper()
	units := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
		"min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	var total time.Duration
	for _, f := range strings.Fields(p[key]) {
		i := strings.IndexFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		n, err := strconv.Atoi(f[:max(i, 0)])
		u, ok := units[f[max(i, 0):]]
		if i <= 0 || err != nil || !ok {
			t.Fatalf("%s=%q: not a time span", key, p[key])
		}
		total += time.Duration(n) * u
	}
	return total
}

// startReady: `systemctl start` returns only once the daemon said READY=1,
// then the slots turn healthy and the HTTP endpoints answer.
func (s *suite) startReady(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	t0 := time.Now()
	out, errOut, code := m.run("", "systemctl", "start", unit)
	s.startWall = time.Since(t0)
	if code != 0 {
		t.Fatalf("systemctl start: exit %d\n%s%s\n%s", code, out, errOut, tail(m.journal(unit), 40))
	}
	// Type=notify: the unit is "activating (start)" until READY=1 arrives,
	// so "active (running)" the moment start returns means start waited
	// for READY=1, and READY=1 carried the first STATUS=.
	p := m.show(unit, append(props, "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic", "Type", "WatchdogUSec")...)
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Result"] != "success" {
		t.Fatalf("right after start: %s/%s result %s, want active/running success", p["ActiveState"], p["SubState"], p["Result"])
	}
	if !strings.HasPrefix(p["StatusText"], "2 slots: ") {
		t.Errorf("StatusText %q, want the READY=1 status line (2 slots: …)", p["StatusText"])
	}
	if p["Type"] != "notify" || span(t, p, "WatchdogUSec") != time.Minute {
		t.Errorf("Type=%s WatchdogUSec=%s, want notify and 1min from the installed unit", p["Type"], p["WatchdogUSec"])
	}
	s.startExecToReady = usec(t, p, "ActiveEnterTimestampMonotonic") - usec(t, p, "ExecMainStartTimestampMonotonic")
	t.Logf("systemctl start returned after %s; systemd saw exec → READY=1 in %s", s.startWall.Round(time.Millisecond), s.startExecToReady.Round(time.Millisecond))

	// The daemon is ready only once it can answer: no wait needed.
	if code, body := s.get(t, "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz right after start: HTTP %d %q", code, body)
	}
	eventually(t, "both slots healthy in /v1/status", 20*time.Second, func() bool {
		doc := s.status(t)
		for _, sl := range baseSlots {
			if st, ok := slotOf(doc, sl.name); !ok || st.Health != "healthy" {
				return false
			}
		}
		return doc.Source == "daemon" && len(doc.Slots) == 2
	})
	for _, sl := range baseSlots {
		if n := w.kpay.RequestsFor(w.pairOf(sl).APIKey); n == 0 {
			t.Errorf("KPay never saw a probe of %s's pair", sl.name)
		}
	}
	if code, body := s.get(t, "/readyz"); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: HTTP %d %q, want 200 ready", code, body)
	}
	code, metrics := s.get(t, "/metrics")
	for _, want := range []string{
		`kpay_rotator_key_health{slot="payments-live",state="healthy"} 1`,
		`kpay_rotator_key_health{slot="checkout-test",state="healthy"} 1`,
		"kpay_rotator_config_last_reload_successful 1",
		`kpay_rotator_probes_total{result="healthy",slot="payments-live"}`,
	} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (HTTP %d) lacks %s", code, want)
		}
	}
	// The daemon logs its start line just before it sends READY=1, and
	// systemd logs "Started" when READY=1 arrives: in that order.
	j := m.journal(unit)
	if ready, started := index(j, "kpay-rotator started"), index(j, "Started kpay-rotator.service"); ready < 0 || started < ready {
		t.Errorf("journal: daemon start line at %d, systemd's Started at %d; want the daemon first:\n%s", ready, started, tail(j, 20))
	}
}

// statusTextFollowsSlots: docs/install.md shows `systemctl status` with
// "Status: 2 slots: 2 healthy, …" after start and says "The Status: line
// follows the slots". The daemon sends STATUS= only with READY=1 (start
// and reload), so StatusText keeps the start-time "2 unknown" while the
// slots are healthy. This scenario holds the daemon to the document.
func (s *suite) statusTextFollowsSlots(t *testing.T) {
	m := s.m.in(t)
	s.ensureRunning(t)
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		text = m.show(unit, "StatusText")["StatusText"]
		if strings.HasPrefix(text, "2 slots: 2 healthy") {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("StatusText %q 10s after both slots turned healthy (/v1/status says so), want \"2 slots: 2 healthy, …\" as docs/install.md shows: the daemon only sends STATUS= with READY=1 (start, reload)", text)
}

// sandbox: the daemon runs as kpay-rotator with no capabilities, behind a
// seccomp filter that refuses calls outside its set, and can write only
// to its state and runtime directories.
func (s *suite) sandbox(t *testing.T) {
	m := s.m.in(t)
	s.ensureRunning(t)
	ids := strings.Split(strings.TrimSpace(m.must("", "getent", "passwd", "kpay-rotator")), ":")
	if len(ids) < 4 {
		t.Fatalf("getent passwd kpay-rotator: %v", ids)
	}
	uid, gid := ids[2], ids[3]
	mainPID, _ := strconv.Atoi(m.show(unit, "MainPID")["MainPID"])
	status := m.must("", "cat", fmt.Sprintf("/proc/%d/status", mainPID))
	field := func(name string) string {
		for _, line := range strings.Split(status, "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return strings.Join(strings.Fields(v), " ")
			}
		}
		return ""
	}
	for name, want := range map[string]string{
		"Uid":        strings.Repeat(uid+" ", 3) + uid, // real, effective, saved, fs
		"Gid":        strings.Repeat(gid+" ", 3) + gid,
		"Groups":     gid, // its own group only (initgroups)
		"CapInh":     "0000000000000000",
		"CapPrm":     "0000000000000000",
		"CapEff":     "0000000000000000",
		"CapBnd":     "0000000000000000",
		"CapAmb":     "0000000000000000",
		"NoNewPrivs": "1",
		"Seccomp":    "2", // a filter is installed
	} {
		if got := field(name); got != want {
			t.Errorf("/proc/MainPID/status %s: %q, want %q", name, got, want)
		}
	}
	// PrivateUsers=yes: a user namespace mapping only root and the
	// daemon's own uid.
	if um := strings.Join(strings.Fields(m.must("", "cat", fmt.Sprintf("/proc/%d/uid_map", mainPID))), " "); um != "0 0 1 "+uid+" "+uid+" 1" {
		t.Errorf("uid_map %q, want only root and %s mapped", um, uid)
	}
	// A refused system call. The filter is per process and cannot be
	// asked which calls it refuses, so a oneshot unit with exactly the
	// installed unit's sandbox tries one: setpriority(2) (renice), in
	// @resources, which SystemCallFilter=~@privileged @resources takes
	// out. The same user outside the sandbox may renice itself.
	renice := `renice -n 5 -p $$ >/dev/null 2>&1 && echo renice=ok || echo "renice=$(renice -n 5 -p $$ 2>&1 | sed 's/.*: //')"`
	if got := s.inSandbox(t, renice); got != "renice=Operation not permitted" {
		t.Errorf("setpriority under the unit's sandbox: %q, want refused with EPERM", got)
	}
	if out := m.must("", "setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups", "sh", "-c", renice); strings.TrimSpace(out) != "renice=ok" {
		t.Errorf("setpriority as %s outside the sandbox: %q, want ok (else the probe proves nothing)", uid, out)
	}

	// The file system as the daemon sees it: enter its mount namespace
	// from the host. As root first: ProtectSystem=strict makes the OS
	// tree read-only whatever the permissions.
	host := m.hostPID(unit, mainPID)
	probe := `for d in "$@"; do
		if touch "$d/.kpr-probe" 2>/dev/null; then rm -f "$d/.kpr-probe"; echo "$d: writable";
		else echo "$d: $(touch "$d/.kpr-probe" 2>&1 | sed 's/.*: //')"; fi
	done`
	mountNS := []string{"-t", strconv.Itoa(host), "-m"}
	checkProbe := func(who string, want map[string]string, asArgs ...string) {
		t.Helper()
		dirs := make([]string, 0, len(want))
		for d := range want {
			dirs = append(dirs, d)
		}
		out, _, _ := m.runIn("", mountNS, append(asArgs, append([]string{"sh", "-c", probe, "probe"}, dirs...)...)...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			dir, got, _ := strings.Cut(line, ": ")
			if w, ok := want[dir]; !ok || got != w {
				t.Errorf("as %s in the daemon's mount namespace: %s: %q, want %q", who, dir, got, w)
			}
			delete(want, dir)
		}
		if len(want) > 0 {
			t.Errorf("as %s: the probe printed nothing for %v:\n%s", who, want, out)
		}
	}
	ro := "Read-only file system"
	checkProbe("root", map[string]string{"/etc": ro, "/etc/kpay-rotator": ro, "/etc/kpay-rotator/credentials": ro,
		"/usr/bin": ro, "/var/lib": ro, "/var/log": ro})
	// Then as the daemon's user: only its state and runtime directories
	// (and its private /tmp) take a file; homes are out of sight.
	checkProbe("kpay-rotator", map[string]string{
		"/var/lib/kpay-rotator":   "writable",
		"/run/kpay-rotator/inbox": "writable",
		"/tmp":                    "writable",
		"/etc/kpay-rotator":       ro,
		"/run":                    "Permission denied",
		"/home":                   "Permission denied",
		"/root":                   "Permission denied",
	}, "setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups")
	// The credential files stay root's: the daemon has only systemd's copy.
	if _, errOut, code := m.runIn("", mountNS, "setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups",
		"sh", "-c", "cat "+credDir+"/hook-url >/dev/null"); code == 0 || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("the daemon's user could read %s/hook-url (exit %d %s)", credDir, code, errOut)
	}

	// systemd's own score for the running unit, as .ci/systemd-checks
	// computes offline.
	score := m.must("", "systemd-analyze", "security", unit, "--no-pager")
	got := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(score)
	if len(got) != 2 {
		t.Fatalf("systemd-analyze security: no exposure line:\n%s", tail(strings.Split(score, "\n"), 5))
	}
	if v, _ := strconv.ParseFloat(got[1], 64); v > 1.0 {
		t.Errorf("exposure %s under the running systemd, want 1.0 or lower", got[1])
	}
}

// lifecycle matches the [Service] settings that say how the daemon is
// started, reloaded, watched and restarted, as opposed to its sandbox.
var lifecycle = regexp.MustCompile(`^(Type|NotifyAccess|ExecStartPre|ExecStart|ExecReload|WatchdogSec|Restart|RestartSec|RestartPreventExitStatus|TimeoutStartSec|TimeoutStopSec)=`)

// inSandbox runs a shell script as a oneshot unit with exactly the
// installed unit's identity and sandbox (every other [Service] setting,
// read from the installed file) and returns what it printed.
func (s *suite) inSandbox(t *testing.T, script string) string {
	t.Helper()
	m := s.m.in(t)
	const probe = "kpr-sandbox-probe.service"
	installed := m.must("", "cat", "/usr/lib/systemd/system/kpay-rotator.service")
	var b strings.Builder
	b.WriteString("[Service]\nType=oneshot\nExecStart=/bin/sh /etc/kpr-sandbox-probe.sh\n")
	section := ""
	for _, line := range strings.Split(installed, "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]" && line != "" && !strings.HasPrefix(line, "#") && !lifecycle.MatchString(line):
			b.WriteString(line + "\n")
		}
	}
	// The prefix tells the script's lines from systemd's in the journal.
	m.writeFile("/etc/kpr-sandbox-probe.sh", "0755", "root:root", "{\n"+script+"\n} 2>&1 | sed 's/^/probe: /'\n")
	m.writeFile("/etc/systemd/system/"+probe, "0644", "root:root", b.String())
	m.must("", "systemctl", "daemon-reload")
	mark := len(m.journal(probe))
	m.run("", "systemctl", "start", probe)
	var out []string
	for _, l := range after(m.journal(probe), mark) {
		if v, ok := strings.CutPrefix(l, "probe: "); ok {
			out = append(out, v)
		}
	}
	return strings.Join(out, "\n")
}

// credentialsAndAlerts: the chat URLs and the signing secret reach the
// daemon only through LoadCredential=, and messages reach the receivers
// on the host, signed.
func (s *suite) credentialsAndAlerts(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	s.ensureRunning(t)
	mainPID, _ := strconv.Atoi(m.show(unit, "MainPID")["MainPID"])
	uid := strings.TrimSpace(m.must("", "id", "-u", "kpay-rotator"))
	// systemd's private copy, as the service sees it (names and owners,
	// never the contents).
	ls, _, code := m.runIn("", []string{"-t", strconv.Itoa(m.hostPID(unit, mainPID)), "-m"},
		"sh", "-c", `cd "/run/credentials/kpay-rotator.service" && stat -c '%n %u %a' *`)
	if code != 0 {
		t.Fatalf("no credentials directory in the service's namespace: exit %d %s", code, ls)
	}
	for _, c := range []string{"chat-url", "hook-secret", "hook-url"} {
		if !regexp.MustCompile(`(?m)^` + c + ` ` + uid + ` 4[04]0$`).MatchString(ls) {
			t.Errorf("credential %s: want owned by %s, read-only; got:\n%s", c, uid, ls)
		}
	}

	out, errOut, code := m.run("", "kpay-rotator", "notify-test", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "sent through the running daemon") ||
		!strings.Contains(out, "hooks: delivered (HTTP 204)") || !strings.Contains(out, "chat: delivered (HTTP 200)") {
		t.Errorf("notify-test: exit %d\n%s%s", code, out, errOut)
	}
	if ids := w.hook.ids("notification_test", true); len(ids) != 1 {
		t.Errorf("webhook receiver got %d signed test messages, want 1", len(ids))
	}
	if !w.hook.tokenSeen(strings.SplitN(w.hookURL, "token=", 2)[1]) {
		t.Errorf("the webhook was not called on the credential's URL")
	}
	if n := w.hook.badSignatures(); n != 0 {
		t.Errorf("%d webhook deliveries failed signature verification", n)
	}
	chatPath := strings.TrimPrefix(w.chatURL, w.chat.srv.URL)
	if !w.chat.got(chatPath) {
		t.Errorf("the Slack stand-in got nothing on the credential's URL")
	}
}

// reload: a good configuration is applied without a restart; a broken
// one leaves the running configuration in place and says why.
func (s *suite) reload(t *testing.T) {
	m := s.m.in(t)
	s.ensureRunning(t)
	pid := m.show(unit, "MainPID")["MainPID"]

	s.slots = append(s.slots, reloadSlot)
	s.writeConfig(t, "")
	if out, errOut, code := m.run("", "systemctl", "reload", unit); code != 0 {
		var said []string
		for _, l := range m.journal(unit) {
			if strings.HasPrefix(l, "kpay-rotator: ") || strings.Contains(l, "ExecReload") || strings.Contains(l, "reload") {
				said = append(said, l)
			}
		}
		t.Fatalf("systemctl reload (good config): exit %d\n%s%s\njournal:\n%s", code, out, errOut, strings.Join(said, "\n"))
	}
	// ExecReload returns once SIGHUP is sent; the daemon then swaps
	// configurations and says READY=1 with a new status line.
	eventually(t, "the reload to show a third slot", 20*time.Second, func() bool {
		st, ok := slotOf(s.status(t), reloadSlot.name)
		return ok && st.Health == "healthy" && strings.HasPrefix(m.show(unit, "StatusText")["StatusText"], "3 slots: ")
	})
	if p := m.show(unit, props...); p["MainPID"] != pid || p["ActiveState"] != "active" || p["NRestarts"] != "0" {
		t.Errorf("after reload: MainPID %s (was %s), %s, NRestarts %s: want the same process, active", p["MainPID"], pid, p["ActiveState"], p["NRestarts"])
	}
	good := m.show(unit, "StatusText")["StatusText"]

	// A broken file: `systemctl reload` runs check-config first, fails
	// and names the problem in the journal; the daemon is not signalled.
	mark := len(m.journal(unit))
	s.writeConfig(t, "\n[bogus]\nx = 1\n")
	if _, _, code := m.run("", "systemctl", "reload", unit); code == 0 {
		t.Errorf("systemctl reload with a broken config succeeded")
	}
	eventually(t, "check-config's problem in the journal", 10*time.Second, func() bool {
		return len(grep(after(m.journal(unit), mark), cfgPath+":")) > 0 &&
			len(grep(after(m.journal(unit), mark), "bogus: unknown key")) > 0
	})
	p := m.show(unit, props...)
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["MainPID"] != pid {
		t.Errorf("after a failed reload: %s/%s MainPID %s (was %s), want active/running, same process", p["ActiveState"], p["SubState"], p["MainPID"], pid)
	}
	// StatusText follows the slots, so it may move; what it must not do
	// is report a refused reload the daemon never saw.
	if strings.Contains(p["StatusText"], "reload failed") {
		t.Errorf("StatusText %q reports a refused reload although the daemon was never signalled (was %q)", p["StatusText"], good)
	}
	if n := len(s.status(t).Slots); n != 3 {
		t.Errorf("after a failed reload: %d slots, want the 3 of the running configuration", n)
	}

	// The same file delivered as a bare SIGHUP (e.g. kill -HUP, no
	// check-config in front): the daemon refuses it itself, keeps running
	// the old one, and StatusText, /readyz and the journal say why.
	s.kill(t, "SIGHUP")
	eventually(t, "StatusText to name the refused reload", 20*time.Second, func() bool {
		text := m.show(unit, "StatusText")["StatusText"]
		return strings.HasPrefix(text, "reload failed, running the previous configuration: ") && strings.Contains(text, "bogus")
	})
	if code, body := s.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "last reload failed") {
		t.Errorf("/readyz after a refused reload: HTTP %d %q, want 503 naming the reload", code, body)
	}
	if doc := s.status(t); doc.ReloadError == "" || len(doc.Slots) != 3 {
		t.Errorf("/v1/status after a refused reload: reload_error %q, %d slots", doc.ReloadError, len(doc.Slots))
	}
	if _, metrics := s.get(t, "/metrics"); !strings.Contains(metrics, "kpay_rotator_config_last_reload_successful 0") {
		t.Errorf("/metrics does not report the failed reload")
	}
	if p := m.show(unit, props...); p["ActiveState"] != "active" || p["MainPID"] != pid {
		t.Errorf("after a refused SIGHUP: %s MainPID %s, want active %s", p["ActiveState"], p["MainPID"], pid)
	}
	// The refusal is an error to journald too (the <3> prefix), so
	// `journalctl -p err` finds it and `-p warning` leaves info lines out.
	if len(grep(m.journalAt(unit, "err"), "reload refused")) == 0 {
		t.Errorf("journalctl -p err lacks the refused reload:\n%s", tail(m.journal(unit), 20))
	}
	if l := grep(m.journalAt(unit, "warning"), "kpay-rotator started"); len(l) > 0 {
		t.Errorf("an info line is logged at warning or above: %s", l[0])
	}
	if l := grep(m.journal(unit), "<6>"); len(l) > 0 {
		t.Errorf("journald kept a priority prefix in the message: %s", l[0])
	}

	// Fixed again: the next reload clears it.
	s.writeConfig(t, "")
	m.must("", "systemctl", "reload", unit)
	eventually(t, "a clean StatusText after the fixing reload", 20*time.Second, func() bool {
		code, _ := s.get(t, "/readyz")
		return code == http.StatusOK && strings.HasPrefix(m.show(unit, "StatusText")["StatusText"], "3 slots: ")
	})
}

// stageRotates: an admin regenerates a pair in the KPay dashboard and
// hands it over with `kpay-rotator stage`, run inside the machine as root.
func (s *suite) stageRotates(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	s.ensureRunning(t)
	slot := baseSlots[0]
	old := w.pairOf(slot)
	other := w.pairOf(baseSlots[1]).APIKey
	before := w.stored(slot.secret)
	p := w.regenerate(slot)
	requests, otherProbes := w.kpay.Counters().Total, w.kpay.RequestsFor(other)
	out, errOut, code := s.stage(t, slot, p, nil)
	if code != 0 || !strings.Contains(out, "staged "+p.Mask()) || !strings.Contains(out, "written: "+slot.secret+" now holds "+p.Mask()) {
		t.Fatalf("stage: exit %d\n%s%s", code, out, errOut)
	}
	after := w.stored(slot.secret)
	if !after.holds(p) || after.Other != otherField || after.versions != before.versions+1 {
		t.Errorf("Secrets Manager after stage: new pair %v, DATABASE_URL kept %v, versions %d → %d (want +1)",
			after.holds(p), after.Other == otherField, before.versions, after.versions)
	}
	// The old pair is dead at KPay (the dashboard killed it); the daemon
	// watches it until KPay says so and closes the rotation.
	eventually(t, "the rotation to finish with the old pair revoked", 20*time.Second, func() bool {
		st, _ := slotOf(s.status(t), slot.name)
		if st.Rotation == nil || st.Rotation.State != "done" || st.Fingerprint != p.Fingerprint() {
			return false
		}
		for _, r := range st.Retired {
			if r.Fingerprint == old.Fingerprint() && r.Role == "revoked" {
				return true
			}
		}
		return false
	})
	eventually(t, "key_rotated and old_key_revoked at the webhook", 20*time.Second, func() bool {
		return len(w.hook.ids("key_rotated", true)) > 0 && len(w.hook.ids("old_key_revoked", true)) > 0
	})
	// The hand-over cost its verification and one probe of the retired
	// pair, and started no probe pass (stage sends SIGUSR2, not SIGUSR1).
	if n, o := w.kpay.Counters().Total-requests, w.kpay.RequestsFor(other)-otherProbes; n > 2 || o != 0 {
		t.Errorf("stage cost %d KPay requests (%d of another slot), want at most 2 and none of another slot", n, o)
	}
	// The staged pair is gone from the inbox, and stage removed the
	// daemon's answer once it read it.
	if ls := strings.Fields(m.must("", "ls", "-A", "/run/kpay-rotator/inbox")); len(ls) != 0 {
		t.Errorf("inbox after the rotation: %v, want it empty", ls)
	}
}

// killUSR1TakesStaged: a pair staged with --no-wait is taken when the
// admin signals the daemon through systemd.
func (s *suite) killUSR1TakesStaged(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	s.ensureRunning(t)
	slot := baseSlots[1]
	before := w.stored(slot.secret)
	p := w.regenerate(slot)
	mark := len(m.journal(unit))
	// stage signals the daemon itself (kill(2) on its pid file). Run in an
	// empty pid namespace, that kill finds no such process, so the only
	// SIGUSR1 the daemon gets is systemctl's below.
	out, errOut, code := s.stage(t, slot, p, []string{"unshare", "--pid", "--fork"}, "--no-wait")
	if code != 0 || !strings.Contains(out, "staged "+p.Mask()) || !strings.Contains(errOut, "no such process") {
		t.Fatalf("stage --no-wait (unable to signal): exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("stage --no-wait in an empty pid namespace said:\n%s%s", out, errOut)
	other := w.pairOf(baseSlots[0]).APIKey
	probes := w.kpay.RequestsFor(other)
	s.kill(t, "SIGUSR1")
	eventually(t, "the staged pair in Secrets Manager", 20*time.Second, func() bool { return w.stored(slot.secret).holds(p) })
	got := w.stored(slot.secret)
	if got.Other != otherField || got.versions != before.versions+1 {
		t.Errorf("after the rotation: DATABASE_URL kept %v, versions %d → %d (want +1)", got.Other == otherField, before.versions, got.versions)
	}
	// SIGUSR1 reached the main process and ran an on-demand pass: every
	// slot was probed, which a pass on an inbox change never does.
	eventually(t, "an on-demand probe of the other slot", 10*time.Second, func() bool { return w.kpay.RequestsFor(other) > probes })
	j := after(m.journal(unit), mark)
	onDemand := index(j, "on-demand pass requested")
	if onDemand < 0 {
		t.Fatalf("the daemon never logged the on-demand pass:\n%s", strings.Join(j, "\n"))
	}
	// The daemon also watches the inbox, so it usually takes the pair
	// before the signal arrives; which one took it is only informative.
	if first := index(j, p.Mask()); first >= 0 && first < onDemand {
		t.Logf("note: the inbox watch took the pair before SIGUSR1 arrived")
	}
}

// watchdogRestart: with the scheduler stuck (failpoint), the daemon stops
// feeding the watchdog and systemd kills and restarts it; a rotation and
// an alert that were pending when it died complete after the restart.
func (s *suite) watchdogRestart(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	s.ensureRunning(t)
	slot := baseSlots[0]
	t.Cleanup(func() {
		// Whatever happened, leave a healthy service for the next scenario.
		w.aws.ClearFaults()
		w.hook.setDown(false)
		m.run("", "rm", "-f", wdDropIn)
		m.run("", "systemctl", "daemon-reload")
		m.run("", "systemctl", "reset-failed", unit)
		if _, errOut, code := m.run("", "systemctl", "restart", unit); code != 0 {
			t.Errorf("restart without the failpoint: %s", errOut)
		}
	})
	m.writeFile(wdDropIn, "0644", "root:root", "[Service]\nEnvironment=KPAY_ROTATOR_FAILPOINTS="+rotator.FailSchedulerStuck+"\nWatchdogSec=5s\n")
	m.must("", "systemctl", "daemon-reload")
	// Every restart counts against StartLimitBurst=5 per 5 minutes, and
	// the suite restarts more than that; reset-failed clears the count.
	m.must("", "systemctl", "reset-failed", unit)
	m.must("", "systemctl", "restart", unit)
	restarted := time.Now()
	p0 := m.show(unit, append(props, "WatchdogUSec")...)
	if span(t, p0, "WatchdogUSec") != 5*time.Second || p0["ActiveState"] != "active" {
		t.Fatalf("after restart with the failpoint: WatchdogUSec %s, %s", p0["WatchdogUSec"], p0["ActiveState"])
	}
	base, _ := strconv.Atoi(p0["NRestarts"])
	mark := len(m.journal(unit))

	// While it is stuck: the webhook is down, so the unplanned_revocation
	// alert stays in the outbox; Secrets Manager refuses writes, so the staged
	// pair stays verified-but-unwritten.
	w.hook.setDown(true)
	w.aws.Inject(awstest.Fault{Op: "PutSecretValue", Status: 500, Code: "InternalServiceError"})
	before := w.stored(slot.secret)
	p := w.regenerate(slot)
	s.kill(t, "SIGUSR1") // probe now: the old pair is rejected → unplanned_revocation
	eventually(t, "a failed delivery of unplanned_revocation", 20*time.Second, func() bool { return len(w.hook.ids("unplanned_revocation", false)) > 0 })
	pending := w.hook.ids("unplanned_revocation", false)[0]
	if out, errOut, code := s.stage(t, slot, p, nil, "--no-wait"); code != 0 {
		t.Fatalf("stage --no-wait: exit %d\n%s%s", code, out, errOut)
	}
	// The watchdog may kill the daemon any moment now (the scheduler has
	// been stuck since the restart), so a failed status request means the
	// kill came first: the staged pair is then in the inbox, unwritten,
	// which is the state this scenario needs.
	refused := false
	eventually(t, "a refused write of the staged pair, or the kill", 30*time.Second, func() bool {
		doc, err := s.tryStatus()
		if err != nil {
			return true
		}
		st, _ := slotOf(doc, slot.name)
		refused = st.Rotation != nil && st.Rotation.State == "verified" && st.Rotation.Attempts > 0
		return refused
	})
	if !refused {
		t.Logf("note: the watchdog killed the daemon before its first write attempt was recorded")
	}
	if w.stored(slot.secret).holds(p) {
		t.Fatal("the pair was written despite the injected fault")
	}

	// systemd's verdict: watch for the kill (the daemon stops pinging
	// after 20 s without a scheduler tick; systemd waits WatchdogSec=5s).
	sawResult := false
	m.poll("the watchdog to kill and restart the daemon", 90*time.Second, 100*time.Millisecond, func() bool {
		p := m.show(unit, props...)
		if p["Result"] == "watchdog" {
			sawResult = true
		}
		n, _ := strconv.Atoi(p["NRestarts"])
		return n > base && p["ActiveState"] == "active"
	})
	s.watchdogKill = time.Since(restarted)
	p1 := m.show(unit, props...)
	if p1["MainPID"] == p0["MainPID"] {
		t.Errorf("MainPID %s unchanged across the watchdog restart", p1["MainPID"])
	}
	j := after(m.journal(unit), mark)
	for _, want := range []string{
		"not feeding the systemd watchdog", // the daemon says why
		"Watchdog timeout (limit 5s)!",     // systemd notices
		"SIGABRT",                          // kills it so Go dumps its goroutines
		"Main process exited, code=exited, status=2/INVALIDARGUMENT", // Go's exit after SIGABRT
		"Failed with result 'watchdog'.",
		"Scheduled restart job, restart counter is at",
	} {
		if index(j, want) < 0 {
			t.Errorf("journal lacks %q", want)
		}
	}
	t.Logf("watchdog kill and restart %s after the restart with the failpoint (Result=watchdog seen while restarting: %v)",
		s.watchdogKill.Round(time.Second), sawResult)

	// Outside the machine, the faults end: the restarted daemon must
	// finish what the killed one had started.
	w.aws.ClearFaults()
	w.hook.setDown(false)
	eventually(t, "the staged pair written after the restart", 40*time.Second, func() bool { return w.stored(slot.secret).holds(p) })
	got := w.stored(slot.secret)
	if got.Other != otherField || got.versions != before.versions+1 {
		t.Errorf("after the restart: DATABASE_URL kept %v, versions %d → %d (want exactly one write)", got.Other == otherField, before.versions, got.versions)
	}
	eventually(t, "the pending unplanned_revocation delivered after the restart", 40*time.Second, func() bool {
		for _, id := range w.hook.ids("unplanned_revocation", true) {
			if id == pending {
				return true
			}
		}
		return false
	})
	if n := w.hook.triesOf(pending); n < 2 {
		t.Errorf("webhook-id %s tried %d times, want a retry under the same id", pending, n)
	}
	// The Slack stand-in was up all along and got the alert with its fix.
	if !w.chat.got(strings.TrimPrefix(w.chatURL, w.chat.srv.URL), slot.name, "kpay-rotator stage "+slot.name) {
		t.Errorf("the chat receiver did not get unplanned_revocation with the stage command")
	}
}

// badConfig: a configuration run cannot load fails the unit once with
// 78 (EX_CONFIG), and RestartPreventExitStatus=78 keeps systemd from
// restarting it.
func (s *suite) badConfig(t *testing.T) {
	m := s.m.in(t)
	s.ensureRunning(t)
	t.Cleanup(func() {
		s.writeConfig(t, "")
		m.run("", "systemctl", "reset-failed", unit)
		if _, errOut, code := m.run("", "systemctl", "start", unit); code != 0 {
			t.Errorf("start on the good config again: %s", errOut)
		}
	})
	mark := len(m.journal(unit))
	s.writeConfig(t, `
[[slot]]
name = "broken"
environment = "live"
secret_id = "prod/broken/kpay"
max_age = "ninety days"
`)
	m.must("", "systemctl", "reset-failed", unit)
	if _, _, code := m.run("", "systemctl", "restart", unit); code == 0 {
		t.Fatalf("systemctl restart with a bad config succeeded")
	}
	// Failed, not waiting to restart: SubState would be auto-restart.
	p := m.show(unit, append(props, "RestartUSec")...)
	want := map[string]string{"ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "ExecMainStatus": "78", "NRestarts": "0"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s=%s, want %s", k, p[k], v)
		}
	}
	// Proving that nothing happens takes time: watch one RestartSec and a
	// second more for a restart that must not come.
	window := span(t, p, "RestartUSec") + time.Second
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if q := m.show(unit, "ActiveState", "NRestarts"); q["ActiveState"] != "failed" || q["NRestarts"] != "0" {
			t.Fatalf("systemd restarted the unit: %v", q)
		}
	}
	j := after(m.journal(unit), mark)
	for _, want := range []string{
		"Main process exited, code=exited, status=78/CONFIG",
		"Failed with result 'exit-code'.",
	} {
		if index(j, want) < 0 {
			t.Errorf("journal lacks %q", want)
		}
	}
	// The problem with its file:line, twice: from ExecStartPre=-check-config
	// (whose failure systemd ignores) and from run itself.
	if l := grep(j, cfgPath+":"); len(l) < 2 || !strings.Contains(l[0], "max_age") {
		t.Errorf("the journal names the problem %d times, want 2 (check-config, run):\n%s", len(l), strings.Join(j, "\n"))
	}
	if l := grep(j, "Scheduled restart job"); len(l) > 0 {
		t.Errorf("systemd scheduled a restart: %s", l[0])
	}
}

// missingConfig: started before the admin made config.toml, the unit
// fails once with 78 (no restart loop), and the journal, at priority err,
// says which file is missing and what to copy.
func (s *suite) missingConfig(t *testing.T) {
	m := s.m.in(t)
	t.Cleanup(func() { m.run("", "systemctl", "reset-failed", unit) })
	if _, _, code := m.run("", "systemctl", "start", unit); code == 0 {
		t.Fatalf("systemctl start without %s succeeded", cfgPath)
	}
	p := m.show(unit, props...)
	for k, v := range map[string]string{"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "78", "NRestarts": "0"} {
		if p[k] != v {
			t.Errorf("%s=%s, want %s", k, p[k], v)
		}
	}
	want := "cp " + cfgPath + ".example " + cfgPath
	if l := grep(m.journalAt(unit, "err"), want); len(l) == 0 || !strings.Contains(l[0], "does not exist") {
		t.Errorf("the journal at priority err lacks %q:\n%s", want, tail(m.journal(unit), 20))
	}
}

// noSecretInJournal: nothing the daemon or systemd logged holds a key, a
// webhook URL token or the signing secret.
func (s *suite) noSecretInJournal(t *testing.T) {
	m, w := s.m.in(t), s.w.in(t)
	all := m.must("", "journalctl", "-b", "-o", "cat", "--no-pager")
	for _, v := range w.secrets() {
		if strings.Contains(all, v) {
			// Never print the value itself.
			t.Errorf("the journal holds a secret value (%d chars, starts %q)", len(v), v[:min(4, len(v))])
		}
	}
}

// measureRSS reads the running service's resident set size.
func (s *suite) measureRSS(t *testing.T) {
	m := s.m.in(t)
	pid := m.show(unit, "MainPID")["MainPID"]
	if pid == "0" {
		t.Errorf("service not running at the end of the suite")
		return
	}
	status := m.must("", "cat", "/proc/"+pid+"/status")
	if got := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindStringSubmatch(status); len(got) == 2 {
		s.rssKiB, _ = strconv.Atoi(got[1])
	}
	t.Logf("VmRSS of the service after the suite: %d KiB", s.rssKiB)
}

// stop: SIGTERM ends the daemon cleanly (STOPPING=1, exit 0) well within
// TimeoutStopSec=, and the inbox survives (RuntimeDirectoryPreserve=yes).
func (s *suite) stop(t *testing.T) {
	m := s.m.in(t)
	s.ensureRunning(t)
	// systemd logs the notifications it gets only at debug level; raise
	// it (SIGRTMIN+22 to PID 1) for the stop, to see STOPPING=1 arrive.
	m.must("", "kill", "-s", "SIGRTMIN+22", "1")
	defer m.run("", "kill", "-s", "SIGRTMIN+23", "1") // back to info
	mark := len(m.journal(unit))
	t0 := time.Now()
	m.must("", "systemctl", "stop", unit)
	s.stopWall = time.Since(t0)
	p := m.show(unit, append(props, "TimeoutStopUSec")...)
	want := map[string]string{"ActiveState": "inactive", "SubState": "dead", "Result": "success", "ExecMainStatus": "0"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("after stop: %s=%s, want %s", k, p[k], v)
		}
	}
	// README: "stop gracefully within 10 s"; the unit allows 15.
	if limit := min(10*time.Second, span(t, p, "TimeoutStopUSec")); s.stopWall > limit {
		t.Errorf("systemctl stop took %s, want under %s", s.stopWall, limit)
	}
	j := after(m.journal(unit), mark)
	for _, want := range []string{"Stopping kpay-rotator.service", "(STOPPING=1)", "kpay-rotator stopped",
		"Main process exited, code=exited, status=0/SUCCESS", "Deactivated successfully.", "Stopped kpay-rotator.service"} {
		if index(j, want) < 0 {
			t.Errorf("journal lacks %q:\n%s", want, strings.Join(j, "\n"))
		}
	}
	for _, bad := range []string{"SIGKILL", "timed out", "State 'stop-sigterm' timed out"} {
		if l := grep(j, bad); len(l) > 0 {
			t.Errorf("unclean stop: %s", l[0])
		}
	}
	m.must("", "test", "-d", "/run/kpay-rotator/inbox")
	t.Logf("systemctl stop took %s", s.stopWall.Round(time.Millisecond))
}
