package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"kpay-rotator/internal/etcdtest"
)

// etcdCounters are what the etcd server counted: requests by method,
// bytes it received from clients, keys put and deleted.
type etcdCounters struct {
	txn, rng, puts, dels, rxBytes float64
}

func scrapeEtcd(b *testing.B, endpoint string) etcdCounters {
	b.Helper()
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var c etcdCounters
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch name := line[:i]; {
		case strings.HasPrefix(name, "grpc_server_handled_total{") && strings.Contains(name, `grpc_method="Txn"`):
			c.txn += v
		case strings.HasPrefix(name, "grpc_server_handled_total{") && strings.Contains(name, `grpc_method="Range"`):
			c.rng += v
		case name == "etcd_mvcc_put_total":
			c.puts += v
		case name == "etcd_mvcc_delete_total":
			c.dels += v
		case name == "etcd_network_client_grpc_received_bytes_total":
			c.rxBytes += v
		}
	}
	return c
}

func (c etcdCounters) sub(o etcdCounters) etcdCounters {
	return etcdCounters{c.txn - o.txn, c.rng - o.rng, c.puts - o.puts, c.dels - o.dels, c.rxBytes - o.rxBytes}
}

func (c etcdCounters) report(b *testing.B, per float64, unit string) {
	b.ReportMetric(c.txn/per, "txn/"+unit)
	b.ReportMetric(c.rng/per, "range/"+unit)
	b.ReportMetric(c.puts/per, "keys-put/"+unit)
	b.ReportMetric(c.dels/per, "keys-deleted/"+unit)
	b.ReportMetric(c.rxBytes/per, "bytes-sent-to-etcd/"+unit)
}

// BenchmarkEtcd_RequestsPerProbeAndRotation measures what the built daemon
// asks of etcd, counted by the etcd server itself (/metrics): per probe
// (passes over the fixture's two slots, each pass's probes written by the
// status call that follows it, as a group commit) and per rotation (stage
// to written, with its probes). Range requests include the status calls'
// reads. b.N is ignored.
//
//	go test -run '^$' -bench Etcd_Requests -benchtime 1x ./cmd/kpay-rotator
func BenchmarkEtcd_RequestsPerProbeAndRotation(b *testing.B) {
	c := etcdtest.Start(b, 1)
	ep := c.Endpoints()[0]
	f := newFixture(b)
	f.writeConfig(etcdConfig(c, "/kpay-bench/"))
	p := f.start()
	eventually(b, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })

	// What a status call alone asks (it reads every slot and writes the
	// probes held), to tell it from the probes' own requests below.
	const statuses = 10
	before := scrapeEtcd(b, ep)
	for range statuses {
		f.status()
	}
	st := scrapeEtcd(b, ep).sub(before)
	b.Run("status", func(b *testing.B) { st.report(b, statuses, "status") })

	const passes = 10
	before = scrapeEtcd(b, ep)
	for range passes {
		last := slotOf(f.status(), "checkout-test").LastProbe.At
		p.signal(syscall.SIGUSR1)
		eventually(b, "pass", func() bool {
			s := slotOf(f.status(), "checkout-test")
			return s.LastProbe != nil && s.LastProbe.At.After(last)
		})
	}
	probes := scrapeEtcd(b, ep).sub(before)
	b.Run("probe", func(b *testing.B) { probes.report(b, 2*passes, "probe") })

	before = scrapeEtcd(b, ep)
	newPair := f.regenerate("payments-live")
	if _, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live"); code != 0 {
		b.Fatalf("stage exit %d: %s", code, stderr)
	}
	eventually(b, "rotation recorded", func() bool { return slotOf(f.status(), "payments-live").Rotation != nil })
	rot := scrapeEtcd(b, ep).sub(before)
	b.Run("rotation", func(b *testing.B) { rot.report(b, 1, "rotation") })
}
