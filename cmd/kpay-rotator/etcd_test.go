package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kpay-rotator/internal/etcdtest"
	"kpay-rotator/store/bboltstore"
)

// etcdConfig is the [store] table for the cluster c under prefix.
func etcdConfig(c *etcdtest.Cluster, prefix string) string {
	return fmt.Sprintf("\n[store]\nbackend = \"etcd\"\nendpoints = [%q]\nprefix = %q\n", c.Endpoints()[0], prefix)
}

// TestEtcd_DaemonKeepsItsStateInEtcd: with backend = "etcd" the built
// daemon runs its main loop (tracks, probes, a stage that writes the
// secret) with the state in etcd and none on disk, and a restart carries
// the ages and the rotation on.
func TestEtcd_DaemonKeepsItsStateInEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	f := newFixture(t)
	const prefix = "/kpay-blackbox/"
	f.writeConfig(etcdConfig(c, prefix))

	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	newPair := f.regenerate("payments-live")
	stdout, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live", "--born", "2026-11-01")
	if code != 0 {
		t.Fatalf("stage exit %d\nstdout: %s\nstderr: %s\ndaemon: %s", code, stdout, stderr, p.log())
	}
	if v := f.secret("prod/payments/kpay"); !strings.Contains(v, newPair.APIKey) {
		t.Fatal("the secret does not hold the staged pair")
	}
	eventually(t, "status shows the rotation", func() bool { return slotOf(f.status(), "payments-live").Rotation != nil })
	// A second daemon on this host is refused, naming the first.
	if _, stderr, code := f.cli("run"); code != 1 || !strings.Contains(stderr, "held by another kpay-rotator") || !strings.Contains(stderr, fmt.Sprint(p.cmd.Process.Pid)) {
		t.Errorf("second daemon on the host: exit %d, stderr:\n%s\nwant exit 1 naming pid %d", code, stderr, p.cmd.Process.Pid)
	}
	before := f.status()
	if !strings.Contains(p.log(), "etcd "+c.Endpoints()[0]) {
		t.Errorf("the daemon's start line does not say the state is in etcd:\n%s", p.log())
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}

	// The state is in etcd, under the prefix, and not in state_dir.
	if _, err := os.Stat(f.stateDir() + "/" + bboltstore.FileName); !os.IsNotExist(err) {
		t.Errorf("a bbolt file exists in state_dir with backend = etcd: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), prefix+"slots/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 2 {
		t.Fatalf("etcd holds %v slot records under %s (%v), want 2", resp, prefix, err)
	}
	all, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range all.Kvs {
		if strings.Contains(string(kv.Value), newPair.SecretKey.Reveal()) || strings.Contains(string(kv.Value), newPair.APIKey) {
			t.Errorf("etcd key %q holds the pair's value", kv.Key)
		}
	}

	// Stopped: status reads etcd itself.
	after := f.status()
	if after.Source != "database" {
		t.Errorf("status source with no daemon = %q, want database", after.Source)
	}
	for _, name := range []string{"payments-live", "checkout-test"} {
		b, a := slotOf(before, name), slotOf(after, name)
		if b.Born == nil || a.Born == nil || !a.Born.Equal(*b.Born) || a.Pair != b.Pair || a.BornSource != b.BornSource {
			t.Errorf("%s changed across stop: before %+v, after %+v", name, b, a)
		}
	}

	// Restarted: ages and the rotation carry on from etcd.
	p2 := f.start()
	eventually(t, "restart pass", func() bool {
		s := slotOf(f.status(), "payments-live")
		return f.status().Source == "daemon" && s.LastProbe != nil && s.LastProbe.At.After(slotOf(before, "payments-live").LastProbe.At)
	})
	s := slotOf(f.status(), "payments-live")
	if s.Pair != newPair.Mask() || s.BornSource != "admin" || s.Born.Format(time.DateOnly) != "2026-11-01" || s.Rotation == nil {
		t.Errorf("after restart: %+v", s)
	}
	_ = p2
}

// TestEtcd_UnreachableClusterFailsStartClearly: a daemon whose etcd does
// not answer stops at start, naming the endpoints and what to check.
func TestEtcd_UnreachableClusterFailsStartClearly(t *testing.T) {
	f := newFixture(t)
	f.writeConfig("\n[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:9\"]\ndial_timeout = \"1s\"\n")
	p := f.start()
	if code := p.wait(20 * time.Second); code == 0 {
		t.Fatal("daemon with no etcd exited 0")
	}
	for _, want := range []string{"127.0.0.1:9", "did not answer", "[store]"} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("start error lacks %q:\n%s", want, p.log())
		}
	}
}
