// Package etcdtest starts real etcd servers (the etcd binary, as Debian's
// etcd-server package installs it) on loopback for tests: one member or a
// cluster of several, each on free ports with its own data directory,
// healthy before Start returns and killed when the test ends.
//
// A test that needs etcd where there is none is skipped with the reason,
// except under CI (CI set), where a missing etcd fails it: CI installs the
// package, so its absence there is a broken CI, not a developer's machine.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the variable that overrides where the etcd binary is.
const BinaryEnv = "KPAY_ETCD_BIN"

// Binary returns the etcd binary: $KPAY_ETCD_BIN, /usr/bin/etcd, or etcd
// on PATH.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	return "", errors.New("no etcd binary: install it (apt-get install etcd-server) or set " + BinaryEnv)
}

// Require returns the etcd binary, or skips t (fails it under CI) when
// there is none.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%v (CI must install it: see .ci/run)", err)
	}
	t.Skipf("skipping: %v", err)
	return ""
}

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	t       testing.TB
	bin     string
	members []*member
	tls     *TLSFiles // nil: plain http
	health  *http.Client
}

type member struct {
	name, dir          string
	clientURL, peerURL string
	args               []string
	stderr             *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a cluster of n members (n >= 1) and waits until every
// member answers /health. The members are killed and their data removed
// when t ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return start(t, n, nil)
}

// StartTLS is Start with client URLs on https that require a client
// certificate signed by a CA made for the test; files holds the CA and a
// client certificate and key it signed.
func StartTLS(t testing.TB, n int) (c *Cluster, files TLSFiles) {
	t.Helper()
	files, err := makeTLS(t.TempDir())
	if err != nil {
		t.Fatalf("etcdtest: make certificates: %v", err)
	}
	return start(t, n, &files), files
}

func start(t testing.TB, n int, tf *TLSFiles) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdtest.Start: %d members; want at least 1", n)
	}
	c := &Cluster{t: t, bin: Require(t), tls: tf, health: &http.Client{Timeout: time.Second}}
	if tf != nil {
		tc, err := tf.clientConfig()
		if err != nil {
			t.Fatal(err)
		}
		c.health.Transport = &http.Transport{TLSClientConfig: tc}
	}
	// Ports are picked free and released before etcd binds them; another
	// process may take one meanwhile, so a failed start is retried on new
	// ports.
	var err error
	for range 3 {
		if err = c.start(n); err == nil {
			return c
		}
		c.stopAll()
	}
	t.Fatalf("etcdtest: start %d-member cluster: %v", n, err)
	return nil
}

func (c *Cluster) start(n int) error {
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	root := c.t.TempDir()
	c.members = make([]*member, n)
	var initial []string
	scheme := "http"
	if c.tls != nil {
		scheme = "https"
	}
	for i := range n {
		m := &member{
			name:      "m" + strconv.Itoa(i),
			dir:       filepath.Join(root, "m"+strconv.Itoa(i)),
			clientURL: scheme + "://127.0.0.1:" + strconv.Itoa(ports[2*i]),
			peerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
			stderr:    &lockedBuffer{},
		}
		c.members[i] = m
		initial = append(initial, m.name+"="+m.peerURL)
	}
	token := "kpay-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(ports[0])
	for _, m := range c.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", token,
			"--logger", "zap", "--log-level", "error",
		}
		if c.tls != nil {
			m.args = append(m.args, "--cert-file", c.tls.ServerCert, "--key-file", c.tls.ServerKey,
				"--trusted-ca-file", c.tls.CA, "--client-cert-auth")
		}
		if err := c.run(m); err != nil {
			return err
		}
	}
	c.t.Cleanup(c.stopAll)
	for _, m := range c.members {
		if err := m.waitHealthy(c.health, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) run(m *member) error {
	cmd := exec.Command(c.bin, m.args...)
	cmd.Stdout = m.stderr
	cmd.Stderr = m.stderr
	// Its own process group: a test's kill never reaches the go test
	// process, and the member dies with nothing left behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	return nil
}

// Endpoints are the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.clientURL
	}
	return out
}

// Kill kills member i at once (SIGKILL), as a crashed host would.
func (c *Cluster) Kill(i int) {
	c.members[i].kill()
}

// Restart starts member i again on its ports and data, after Kill, and
// waits until it is healthy.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.members[i]
	m.kill()
	args := make([]string, 0, len(m.args))
	for j := 0; j < len(m.args); j++ {
		if m.args[j] == "--initial-cluster-state" {
			args = append(args, m.args[j], "existing")
			j++
			continue
		}
		args = append(args, m.args[j])
	}
	m.args = args
	if err := c.run(m); err != nil {
		c.t.Fatal(err)
	}
	if err := m.waitHealthy(c.health, 30*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// Log is what member i wrote to its stderr, for a failing test.
func (c *Cluster) Log(i int) string { return c.members[i].stderr.String() }

func (c *Cluster) stopAll() {
	for _, m := range c.members {
		if m != nil {
			m.kill()
		}
	}
}

func (m *member) kill() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func (m *member) waitHealthy(client *http.Client, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		m.mu.Lock()
		done := m.done
		m.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("etcd member %s exited while starting: %s", m.name, m.stderr.String())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.clientURL+"/health", nil)
		if resp, err := client.Do(req); err == nil {
			var b [128]byte
			k, _ := resp.Body.Read(b[:])
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b[:k]), `"health":"true"`) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd member %s not healthy within %s: %s", m.name, within, m.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Bounded: a member that logs a lot must not fill memory.
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
