package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/daemon"
	"kpay-rotator/internal/etcdtest"
	"kpay-rotator/kpay"
)

// electionTTL is the lease of these tests: short, to keep them quick.
const electionTTL = 3 * time.Second

// peer is one of several daemons of a fixture, each with its own
// directory (state_dir, inbox) as on its own host, sharing the fixture's
// KPay, AWS and etcd.
type peer struct {
	f   *fixture
	cfg string
	dir string
	p   *proc
}

// startPeers writes the fixture's configuration, with the etcd store
// under prefix, into n directories and starts a daemon in each, the
// first one alone until it leads.
func startPeers(t *testing.T, f *fixture, c *etcdtest.Cluster, prefix string, n int) []*peer {
	t.Helper()
	f.writeConfig(etcdConfig(c, prefix) + fmt.Sprintf("lease_ttl = %q\n", electionTTL.String()))
	body, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var peers []*peer
	for i := range n {
		dir := filepath.Join(f.dir, fmt.Sprintf("host%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		pr := &peer{f: f, dir: dir, cfg: filepath.Join(dir, "config.toml")}
		if err := os.WriteFile(pr.cfg, body, 0o600); err != nil {
			t.Fatal(err)
		}
		saved := f.cfgPath
		f.cfgPath = pr.cfg
		pr.p = f.start()
		f.cfgPath = saved
		peers = append(peers, pr)
		if i == 0 {
			eventually(t, "the first daemon leads", func() bool { return pr.role() == "leader" })
		} else {
			eventually(t, "a later daemon follows", func() bool { return pr.role() == "follower" })
		}
	}
	return peers
}

// base is the peer's HTTP address, once it serves.
func (pr *peer) base() string {
	b, err := os.ReadFile(daemon.ListenAddrFile(filepath.Join(pr.dir, "state")))
	if err != nil {
		return ""
	}
	return "http://" + strings.TrimSpace(string(b))
}

// role is what /readyz says, "" while it does not answer ready.
func (pr *peer) role() string {
	base := pr.base()
	if base == "" {
		return ""
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	_, body := get(pr.f.t, base+"/readyz")
	for line := range strings.Lines(body) {
		if r, ok := strings.CutPrefix(strings.TrimSpace(line), "role: "); ok {
			return r
		}
	}
	return ""
}

// probes is the peer's kpay_rotator_probes_total over every slot and
// result.
func (pr *peer) probes(t *testing.T) float64 {
	var sum float64
	for _, m := range scrape(t, pr.base())["kpay_rotator_probes_total"].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func (pr *peer) metric(t *testing.T, name string) float64 {
	v, _ := value(scrape(t, pr.base()), name, nil)
	return v
}

// kpayRequests is how many requests KPay saw with each slot's pair.
func kpayRequests(f *fixture) map[string]int64 {
	out := map[string]int64{}
	for _, s := range fixtureSlots {
		pair, _ := f.kpay.Pair(f.apps[s.name].ID, kpay.Environment(s.env))
		out[s.name] = f.kpay.RequestsFor(pair.APIKey)
	}
	return out
}

// TestLeader_OneDaemonProbesAndAnotherTakesOver: two daemons on one etcd:
// one leads and alone probes (KPay sees no more requests than the leader
// made); the other is a ready follower. Killed with SIGKILL, the leader
// is replaced by the follower, which probes, within 15 s.
func TestLeader_OneDaemonProbesAndAnotherTakesOver(t *testing.T) {
	c := etcdtest.Start(t, 1)
	f := newFixture(t)
	f.schedule = "@every 2s"
	peers := startPeers(t, f, c, "/kpay-leader/", 2)
	a, b := peers[0], peers[1]

	// A window of probing: every request KPay sees is the leader's.
	eventually(t, "the leader probes", func() bool { return a.probes(t) > 0 })
	before, leaderBefore := kpayRequests(f), a.probes(t)
	eventually(t, "a few probe periods", func() bool { return a.probes(t) >= leaderBefore+6 })
	after, leaderAfter := kpayRequests(f), a.probes(t)
	var seen int64
	for _, s := range fixtureSlots {
		seen += after[s.name] - before[s.name]
	}
	// One probe may be in flight at each end of the window, per slot.
	if made := int64(leaderAfter - leaderBefore); seen > made+int64(len(fixtureSlots)) {
		t.Errorf("KPay saw %d requests in a window where the leader made %d probes: someone else probes too", seen, made)
	}
	if n := b.probes(t); n != 0 {
		t.Errorf("the follower made %v probes, want 0", n)
	}
	if got := [2]float64{a.metric(t, "kpay_rotator_leader"), b.metric(t, "kpay_rotator_leader")}; got != [2]float64{1, 0} {
		t.Errorf("kpay_rotator_leader of leader, follower = %v, want [1 0]", got)
	}
	f.cfgPath = b.cfg
	if doc := f.status(); doc.Role != "follower" || doc.Leader != fmt.Sprintf("%s/%d", hostname(t), a.p.cmd.Process.Pid) {
		t.Errorf("follower's status: role %q, leader %q; want follower, led by pid %d", doc.Role, doc.Leader, a.p.cmd.Process.Pid)
	}
	if out, _, _ := f.cli("status"); !strings.Contains(out, "role: follower; leader: ") {
		t.Errorf("status on the follower does not say its role and the leader:\n%s", out)
	}

	killed := time.Now()
	if err := a.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	a.p.wait(5 * time.Second)
	for b.role() != "leader" || b.probes(t) == 0 {
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("15 s after the leader was killed, the follower is %q and made %v probes; want leader, probing\n%s", b.role(), b.probes(t), b.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if doc := f.status(); doc.Role != "leader" || doc.Leader != fmt.Sprintf("%s/%d", hostname(t), b.p.cmd.Process.Pid) {
		t.Errorf("new leader's status: role %q, leader %q; want itself", doc.Role, doc.Leader)
	}
	if n := b.metric(t, "kpay_rotator_leader_changes_total"); n != 1 {
		t.Errorf("kpay_rotator_leader_changes_total of the new leader = %v, want 1", n)
	}
}

// TestLeader_FrozenLeaderStopsActing: a leader stopped (SIGSTOP) longer
// than its lease is replaced; resumed, it says it lost leadership,
// follows, and probes no more (its writes are fenced: see
// TestEtcdElector_FencesALeaderThatLostItsLease).
func TestLeader_FrozenLeaderStopsActing(t *testing.T) {
	c := etcdtest.Start(t, 1)
	f := newFixture(t)
	f.schedule = "@every 2s"
	peers := startPeers(t, f, c, "/kpay-freeze/", 2)
	a, b := peers[0], peers[1]

	a.p.signal(syscall.SIGSTOP)
	eventually(t, "the follower takes over from the frozen leader", func() bool { return b.role() == "leader" && b.probes(t) > 0 })
	a.p.signal(syscall.SIGCONT)
	eventually(t, "the resumed daemon says it lost leadership", func() bool { return strings.Contains(a.p.log(), "lost leadership") })
	if r := a.role(); r != "follower" {
		t.Errorf("resumed daemon's role = %q, want follower", r)
	}
	if v := a.metric(t, "kpay_rotator_leader"); v != 0 {
		t.Errorf("resumed daemon's kpay_rotator_leader = %v, want 0", v)
	}
	// It no longer probes: its count stays while the leader's grows.
	stale, leading := a.probes(t), b.probes(t)
	eventually(t, "the leader probes on", func() bool { return b.probes(t) >= leading+4 })
	if n := a.probes(t); n != stale {
		t.Errorf("the resumed daemon probed %v times more after losing leadership, want 0", n-stale)
	}
	if b.role() != "leader" {
		t.Errorf("the new leader is now %q", b.role())
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
