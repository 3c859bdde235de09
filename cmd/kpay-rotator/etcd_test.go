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

// TestEtcd_TLSFromSystemdCredentials: etcd with client certificates
// required, the certificate, key and CA handed over as systemd
// credentials: check-config reads them, the daemon runs on them; without
// the client certificate etcd refuses it and the daemon says so.
func TestEtcd_TLSFromSystemdCredentials(t *testing.T) {
	c, files := etcdtest.StartTLS(t, 1)
	f := newFixture(t)
	creds := t.TempDir()
	for name, src := range map[string]string{"etcd-client.crt": files.ClientCert, "etcd-client.key": files.ClientKey, "etcd-ca.crt": files.CA} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(creds+"/"+name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	store := etcdConfig(c, "/kpay-tls/") + "cert_credential = \"etcd-client.crt\"\nkey_credential = \"etcd-client.key\"\nca_credential = \"etcd-ca.crt\"\n"
	f.writeConfig(store)
	if out, stderr, code := f.cli("check-config"); code != 0 {
		t.Fatalf("check-config exit %d: %s%s", code, out, stderr)
	}
	p := f.start()
	eventually(t, "start pass over TLS", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)

	// A broken key file: check-config says which.
	if err := os.WriteFile(creds+"/etcd-client.key", []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := f.cli("check-config"); code == 0 || !strings.Contains(stderr, "etcd client certificate") {
		t.Errorf("check-config with a broken key: exit %d, stderr %q; want it refused naming the certificate", code, stderr)
	}

	// No client certificate: the members refuse the connection.
	f.writeConfig(etcdConfig(c, "/kpay-tls/") + "ca_credential = \"etcd-ca.crt\"\ndial_timeout = \"2s\"\n")
	p = f.start()
	if code := p.wait(30 * time.Second); code == 0 {
		t.Fatal("daemon without a client certificate exited 0")
	}
	if !strings.Contains(p.log(), "did not answer") {
		t.Errorf("start error does not say etcd did not answer:\n%s", p.log())
	}
}
