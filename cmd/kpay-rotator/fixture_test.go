package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/internal/testutil"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
	"kpay-rotator/rotator"
)

// binPath is the kpay-rotator binary built once for the black-box tests;
// failBinPath is the same built with -tags failpoints, for crash tests.
var binPath, failBinPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kpay-rotator-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "kpay-rotator")
	failBinPath = filepath.Join(dir, "kpay-rotator-failpoints")
	for _, b := range []struct {
		out  string
		tags string
	}{{binPath, ""}, {failBinPath, "failpoints"}} {
		args := []string{"build", "-o", b.out, "-tags", b.tags}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kpay-rotator (tags %q): %v\n%s", b.tags, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is a host with a KPay emulator, a Secrets Manager emulator and a
// configuration with two slots whose pairs are in the emulated secrets.
type fixture struct {
	t       testing.TB
	dir     string
	cfgPath string
	kpay    *kpayemu.Server
	aws     *awstest.Emulator
	apps    map[string]kpayemu.Application
	// schedule is every slot's probe and retired schedule: hourly by
	// default, so only the start pass and explicit triggers probe.
	schedule string
	// defaults is extra TOML for [defaults] (e.g. notify).
	defaults string
}

var fixtureSlots = []struct{ name, env, secret string }{
	{"payments-live", "live", "prod/payments/kpay"},
	{"checkout-test", "test", "test/checkout/kpay"},
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), apps: map[string]kpayemu.Application{}, schedule: "@every 1h"}
	f.cfgPath = filepath.Join(f.dir, "config.toml")
	var err error
	f.kpay, err = kpayemu.Start(kpayemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.kpay.Close() })
	f.aws = awstest.Start()
	t.Cleanup(f.aws.Close)
	for _, kv := range f.aws.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, s := range fixtureSlots {
		app := f.kpay.CreateApplication(s.name)
		f.apps[s.name] = app
		pair, _ := f.kpay.Pair(app.ID, kpay.Environment(s.env))
		f.putPair(s.secret, pair)
	}
	f.writeConfig("")
	return f
}

func (f *fixture) putPair(secretID string, p kpay.Pair) {
	f.t.Helper()
	if _, err := f.aws.PutJSON(context.Background(), secretID, secretJSON(p, "postgres://app@db/app")); err != nil {
		f.t.Fatal(err)
	}
}

func secretJSON(p kpay.Pair, other string) string {
	return fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q,"DATABASE_URL":%q}`, p.APIKey, p.SecretKey.Reveal(), other)
}

// writeConfig writes the fixture's configuration plus extra TOML.
func (f *fixture) writeConfig(extra string) {
	f.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `[daemon]
state_dir = "state"
inbox_dir = "inbox"
listen = "127.0.0.1:0"

[kpay]
base_url = %q
timeout = "5s"
requests_per_minute = 100

[defaults]
probe_schedule = %q
retired_schedule = %q
jitter = "0s"
%s
`, f.kpay.URL, f.schedule, f.schedule, f.defaults)
	for _, s := range fixtureSlots {
		fmt.Fprintf(&b, "\n[[slot]]\nname = %q\nenvironment = %q\nsecret_id = %q\n", s.name, s.env, s.secret)
	}
	b.WriteString(extra)
	if err := os.WriteFile(f.cfgPath, []byte(b.String()), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) stateDir() string { return filepath.Join(f.dir, "state") }

func (f *fixture) regenerate(slot string) kpay.Pair {
	f.t.Helper()
	p, err := f.kpay.Regenerate(f.apps[slot].ID, envOf(slot))
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func envOf(slot string) kpay.Environment {
	for _, s := range fixtureSlots {
		if s.name == slot {
			return kpay.Environment(s.env)
		}
	}
	return ""
}

// proc is a running kpay-rotator binary.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stderr testutil.SyncBuffer // the daemon writes it while tests read it
	done   chan struct{}
	err    error
}

func (f *fixture) start(args ...string) *proc {
	f.t.Helper()
	return f.startBin(binPath, nil, args...)
}

// startBin starts bin run with extra environment.
func (f *fixture) startBin(bin string, env []string, args ...string) *proc {
	f.t.Helper()
	p := &proc{t: f.t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"run", "--config", f.cfgPath}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	f.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if f.t.Failed() {
			f.t.Logf("daemon log:\n%s", p.log())
		}
	})
	return p
}

func (p *proc) log() string { return p.stderr.String() }

func (p *proc) signal(s os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatalf("signal %v: %v", s, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("daemon did not exit within %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitLog waits until the daemon's log contains s.
func (p *proc) waitLog(s string) {
	p.t.Helper()
	eventually(p.t, "log line "+s, func() bool { return strings.Contains(p.log(), s) })
}

// cli runs a kpay-rotator command to completion.
func (f *fixture) cli(args ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	return f.cliIn("", args...)
}

// cliIn runs a kpay-rotator command with stdin.
func (f *fixture) cliIn(stdin string, args ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	cmd := exec.Command(binPath, append(args, "--config", f.cfgPath)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		f.t.Fatal(err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func (f *fixture) status() rotator.Status {
	f.t.Helper()
	out, errOut, code := f.cli("status", "--json")
	var doc rotator.Status
	if code != 0 {
		f.t.Logf("status exit %d: %s", code, errOut)
		return doc
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		f.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return doc
}

// eventually polls cond until it holds or 20 s pass. It waits for a
// condition, never for a duration.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
