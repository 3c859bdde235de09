package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkScaleStart measures start and steady cost at 1,000 and 10,000
// slots with the shipped budget and schedules (requests_per_minute 30,
// probe_schedule auto, drift_schedule hourly): start to READY=1, start to
// every slot dated in status, then, over the minute after, daemon CPU,
// wakeups, RSS and probes (the auto pace keeps probing within the budget
// all along: at 10,000 slots one slot every 3 s), and the time of
// /v1/status and /metrics. b.N is ignored; each size runs once.
//
//	go test -run '^$' -bench ScaleStart -benchtime 1x ./cmd/kpay-rotator
func BenchmarkScaleStart(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("slots=%d", n), func(b *testing.B) { scaleStart(b, n) })
	}
}

func scaleStart(b *testing.B, n int) {
	f := newFixture(b)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[daemon]\nstate_dir = \"state\"\ninbox_dir = \"inbox\"\nlisten = \"127.0.0.1:0\"\n[kpay]\nbase_url = %q\nrequests_per_minute = 30\n", f.kpay.URL)
	f.writeSlots(b, cfg.String(), n)
	sock := newNotifySocket(b)
	get0, desc0 := f.aws.Calls("GetSecretValue"), f.aws.Calls("DescribeSecret")
	start := time.Now()
	p := f.startBin(binPath, []string{"NOTIFY_SOCKET=" + sock.path})
	eventually(b, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	for _, m := range sock.all() {
		if strings.HasPrefix(m.text, "READY=1") {
			b.ReportMetric(float64(m.at.Sub(start).Milliseconds()), "start-to-ready-ms")
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		doc := f.status()
		dated := len(doc.Slots) == n
		for _, s := range doc.Slots {
			if s.Born == nil {
				dated = false
				break
			}
		}
		if dated {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("not every slot dated within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "start-to-all-dated-ms")
	b.ReportMetric(float64(f.aws.Calls("GetSecretValue")-get0+f.aws.Calls("DescribeSecret")-desc0)/float64(n), "start-sm-calls-per-slot")

	time.Sleep(10 * time.Second)
	pid := p.cmd.Process.Pid
	cpu0, sw0, k0 := cpuTime(b, pid), ctxSwitches(b, pid), f.kpay.Counters().Total
	sm0 := f.aws.Calls("GetSecretValue") + f.aws.Calls("DescribeSecret")
	time.Sleep(time.Minute)
	b.ReportMetric(float64((cpuTime(b, pid) - cpu0).Milliseconds()), "cpu-ms-per-min")
	b.ReportMetric(float64(ctxSwitches(b, pid)-sw0), "wakeups-per-min")
	b.ReportMetric(float64(f.kpay.Counters().Total-k0), "probes-per-min")
	b.ReportMetric(float64(f.aws.Calls("GetSecretValue")+f.aws.Calls("DescribeSecret")-sm0), "sm-calls-per-min")
	b.ReportMetric(float64(rss(b, pid))/(1<<20), "rss-MiB")

	base := f.httpBase()
	for _, path := range []string{"/v1/status", "/metrics"} {
		t0 := time.Now()
		if code, _ := get(b, base+path); code != 200 {
			b.Fatalf("%s: %d", path, code)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, strings.TrimPrefix(strings.ReplaceAll(path, "/", "-"), "-")+"-ms")
	}
	p.signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
}
