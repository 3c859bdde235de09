package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProbeCost measures what a probe costs the daemon at 1,000
// slots with probes due all the time (probe_schedule auto), at the
// shipped request budget and at KPay's whole 100 a minute: daemon CPU per
// probe (from /proc, over a minute after the start pass began), and
// Secrets Manager calls per probe. Next to it, the same KPay requests
// made by xargs -P16 curl (whole processes). b.N is ignored; each runs
// once, about 90 s.
//
//	go test -run '^$' -bench ProbeCost -benchtime 1x ./cmd/kpay-rotator
func BenchmarkProbeCost(b *testing.B) {
	for _, budget := range []int{0, 100} {
		name := "budget=default"
		if budget > 0 {
			name = fmt.Sprintf("budget=%d", budget)
		}
		b.Run(name, func(b *testing.B) { probeCost(b, budget) })
	}
}

// probeCost runs BenchmarkProbeCost with requests_per_minute budget (0:
// the default).
func probeCost(b *testing.B, budget int) {
	const n = 1000
	f := newFixture(b)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[daemon]\nstate_dir = \"state\"\ninbox_dir = \"inbox\"\nlisten = \"127.0.0.1:0\"\n[kpay]\nbase_url = %q\n", f.kpay.URL)
	if budget > 0 {
		fmt.Fprintf(&cfg, "requests_per_minute = %d\n", budget)
	}
	pairs := f.writeSlots(b, cfg.String(), n)
	p := f.startBin(binPath, nil)
	eventually(b, "every slot tracked", func() bool {
		doc := f.status()
		return len(doc.Slots) == n && doc.Slots[n-1].Pair != ""
	})
	// The start pass probes within the budget too; measure past its
	// first minute, when probes are due without pause.
	time.Sleep(20 * time.Second)
	pid := p.cmd.Process.Pid
	cpu0, k0 := cpuTime(b, pid), f.kpay.Counters().Total
	get0, desc0 := f.aws.Calls("GetSecretValue"), f.aws.Calls("DescribeSecret")
	time.Sleep(time.Minute)
	cpu, probes := cpuTime(b, pid)-cpu0, f.kpay.Counters().Total-k0
	sm := f.aws.Calls("GetSecretValue") - get0 + f.aws.Calls("DescribeSecret") - desc0
	if probes == 0 {
		b.Fatal("no probe in a minute")
	}
	b.ReportMetric(float64(probes), "probes-per-min")
	b.ReportMetric(float64(cpu.Microseconds())/float64(probes), "daemon-cpu-us-per-probe")
	b.ReportMetric(float64(sm)/float64(probes), "sm-calls-per-probe")
	p.signal(syscall.SIGTERM)
	p.wait(15 * time.Second)

	// The same number of requests as whole curl processes, 16 at a time.
	var args strings.Builder
	for i := range int(probes) {
		pr := pairs[i%n]
		fmt.Fprintf(&args, "-H X-API-Key:%s -H X-Secret-Key:%s %s/api/v1/payments/me\n", pr.APIKey, pr.SecretKey.Reveal(), f.kpay.URL)
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	cmd := exec.Command("xargs", "-P16", "-L1", "curl", "-s", "-o", "/dev/null")
	cmd.Stdin = strings.NewReader(args.String())
	if err := cmd.Run(); err != nil {
		b.Logf("xargs curl: %v (curl missing? the comparison is left out)", err)
		return
	}
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
	curlCPU := time.Duration(syscall.TimevalToNsec(ru1.Utime)+syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Utime)-syscall.TimevalToNsec(ru0.Stime)) * time.Nanosecond
	b.ReportMetric(float64(curlCPU.Microseconds())/float64(probes), "curl-cpu-us-per-request")
}
