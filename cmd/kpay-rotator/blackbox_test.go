package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/rotator"
	"kpay-rotator/store/bboltstore"
)

// These tests drive the built binary as systemd and an operator would:
// signals, restarts, a second instance, kill -9.

func TestBinary_StartProbesAndSIGTERMStopsCleanly(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "both slots healthy", func() bool {
		doc := f.status()
		return slotOf(doc, "payments-live").Health == "healthy" && slotOf(doc, "checkout-test").Health == "healthy"
	})
	if doc := f.status(); doc.Source != "daemon" || doc.PID != p.cmd.Process.Pid {
		t.Errorf("status while running: source %q pid %d, want daemon pid %d", doc.Source, doc.PID, p.cmd.Process.Pid)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
	if !strings.Contains(p.log(), "kpay-rotator stopped") {
		t.Errorf("log lacks the stop line")
	}
	if _, err := os.Stat(filepath.Join(f.stateDir(), bboltstore.PIDFileName)); !os.IsNotExist(err) {
		t.Errorf("pid file left behind after a clean stop (err %v)", err)
	}
}

func TestBinary_SIGUSR1ProbesNow(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	f.regenerate("payments-live")
	// Schedules are hourly: only SIGUSR1 can make the daemon notice.
	for i := 0; i < 2; i++ {
		before := strings.Count(p.log(), "on-demand pass requested")
		p.signal(syscall.SIGUSR1)
		eventually(t, "on-demand pass", func() bool { return strings.Count(p.log(), "on-demand pass requested") > before })
		eventually(t, "probe recorded", func() bool {
			s := slotOf(f.status(), "payments-live")
			return s.LastProbe != nil && s.LastProbe.Outcome == "rejected"
		})
	}
	eventually(t, "payments-live failing", func() bool { return slotOf(f.status(), "payments-live").Health == "failing" })
	if !strings.Contains(p.log(), "event=unplanned_revocation") || !strings.Contains(p.log(), "kpay-rotator stage payments-live") {
		t.Errorf("log lacks the unplanned_revocation event with its stage command")
	}
	if slotOf(f.status(), "checkout-test").Health != "healthy" {
		t.Errorf("checkout-test affected by payments-live's failure")
	}
}

func TestBinary_SIGHUPReloadsAndRefusesBrokenConfig(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })

	// A broken configuration is refused; the daemon keeps running the old.
	if err := os.WriteFile(f.cfgPath, []byte("[[slot]]\nname = \"x\"\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("reload refused")
	if !strings.Contains(p.log(), "bogus") {
		t.Errorf("reload error does not name the bad key:\n%s", p.log())
	}
	// The broken file breaks the CLI too, so ask the daemon itself: it
	// still runs the previous configuration and says the reload failed.
	p.signal(syscall.SIGUSR1)
	eventually(t, "status after refused reload", func() bool {
		code, body := get(t, f.httpBase()+"/v1/status")
		var doc rotator.Status
		return code == 200 && json.Unmarshal([]byte(body), &doc) == nil && len(doc.Slots) == 2 && doc.ReloadError != ""
	})

	// A good one with a new slot is applied.
	app := f.kpay.CreateApplication("refunds")
	pair, _ := f.kpay.Pair(app.ID, "live")
	f.putPair("prod/refunds/kpay", pair)
	f.writeConfig("\n[[slot]]\nname = \"refunds-live\"\nenvironment = \"live\"\nsecret_id = \"prod/refunds/kpay\"\n")
	p.signal(syscall.SIGHUP)
	p.waitLog("configuration reloaded")
	eventually(t, "new slot probed", func() bool { return slotOf(f.status(), "refunds-live").Health == "healthy" })

	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
}

func TestBinary_RestartKeepsAgesAndStates(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "one rejection", func() bool { return slotOf(f.status(), "payments-live").LastProbe.Outcome == "rejected" })
	p.signal(syscall.SIGUSR1)
	eventually(t, "failing", func() bool { return slotOf(f.status(), "payments-live").Health == "failing" })
	before := f.status()
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)

	// Stopped: status reads the database itself.
	after := f.status()
	if after.Source != "database" {
		t.Errorf("status source = %q, want database", after.Source)
	}
	for _, name := range []string{"payments-live", "checkout-test"} {
		b, a := slotOf(before, name), slotOf(after, name)
		if b.Born == nil || a.Born == nil || !a.Born.Equal(*b.Born) || a.Health != b.Health || a.Pair != b.Pair {
			t.Errorf("%s changed across stop: before %+v, after %+v", name, b, a)
		}
	}

	// Restarted: the failing state and the born time carry on; the start
	// pass still sees the dead pair and raises no second alert.
	p2 := f.start()
	eventually(t, "restart pass", func() bool {
		s := slotOf(f.status(), "payments-live")
		return s.LastProbe != nil && s.LastProbe.At.After(slotOf(before, "payments-live").LastProbe.At)
	})
	s := slotOf(f.status(), "payments-live")
	if s.Health != "failing" || !s.Born.Equal(*slotOf(before, "payments-live").Born) {
		t.Errorf("after restart: %+v", s)
	}
	if n := strings.Count(p.log()+p2.log(), "event=unplanned_revocation"); n != 1 {
		t.Errorf("unplanned_revocation raised %d times across a restart, want 1", n)
	}
}

func TestBinary_SecondDaemonFailsFastNamingTheFirst(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "first daemon up", func() bool { return f.status().Source == "daemon" })
	start := time.Now()
	_, stderr, code := f.cli("run")
	if code != 1 {
		t.Errorf("second daemon exit code = %d, want 1", code)
	}
	if time.Since(start) > 8*time.Second {
		t.Errorf("second daemon took %s to give up", time.Since(start))
	}
	for _, want := range []string{"locked", bboltstore.PIDFileName, "pid"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second daemon's error lacks %q:\n%s", want, stderr)
		}
	}
	_ = p
}

func TestBinary_KillDashNineThenRestart(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	born := slotOf(f.status(), "payments-live").Born
	p.signal(syscall.SIGKILL)
	p.wait(5 * time.Second)

	p2 := f.start()
	eventually(t, "restarted daemon up", func() bool { return f.status().PID == p2.cmd.Process.Pid })
	if s := slotOf(f.status(), "payments-live"); s.Born == nil || !s.Born.Equal(*born) {
		t.Errorf("born after kill -9 = %v, want %v", s.Born, born)
	}
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(10 * time.Second); code != 0 {
		t.Errorf("exit = %d", code)
	}
}

func TestBinary_BadConfigExits78(t *testing.T) {
	f := newFixture(t)
	if err := os.WriteFile(f.cfgPath, []byte("[kpay]\nbase_url = \"http://kpay.example\"\ntimeout = \"10 minutes\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"run"}, {"check-config"}} {
		_, stderr, code := f.cli(cmd...)
		if code != 78 {
			t.Errorf("%v exit = %d, want 78", cmd, code)
		}
		for _, want := range []string{"config.toml:2", "https", "config.toml:3", "timeout"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v stderr lacks %q:\n%s", cmd, want, stderr)
			}
		}
	}
}

// A hostile configuration (2 MiB of nested brackets) is refused by
// check-config with exit 78 and by a reload, which leaves the running
// daemon as it was.
func TestBinary_HostileConfigNeverHarmsTheDaemon(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	good, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bomb := append(append([]byte{}, good...), []byte("\n[[notifier]]\nname = "+strings.Repeat("[", 2<<20)+"\n")...)
	if err := os.WriteFile(f.cfgPath, bomb, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := f.cli("check-config"); code != 78 || !strings.Contains(stderr, "nested") {
		t.Errorf("check-config on the bomb: exit %d, %.300s", code, stderr)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("reload refused")
	if err := os.WriteFile(f.cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if doc := f.status(); doc.Source != "daemon" || doc.PID != p.cmd.Process.Pid {
		t.Errorf("after the refused reload: status from %q pid %d, want the same daemon %d", doc.Source, doc.PID, p.cmd.Process.Pid)
	}
	dirCheck := exec.Command(binPath, "check-config", "--config", f.dir)
	out, _ := dirCheck.CombinedOutput()
	if code := dirCheck.ProcessState.ExitCode(); code != 78 || !strings.Contains(string(out), "is a directory") {
		t.Errorf("check-config on a directory: exit %d, %s", code, out)
	}
}

// The daemon holds secret keys: it writes no core file, whatever the
// limit it was started with.
func TestBinary_NoCoreDumps(t *testing.T) {
	f := newFixture(t)
	p := f.start()
	eventually(t, "daemon up", func() bool { return f.status().Source == "daemon" })
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); len(f) < 6 || f[4] != "0" || f[5] != "0" {
				t.Errorf("core limit of the daemon: %q, want 0 0", line)
			}
			return
		}
	}
	t.Fatalf("no core limit in /proc/%d/limits", p.cmd.Process.Pid)
}
