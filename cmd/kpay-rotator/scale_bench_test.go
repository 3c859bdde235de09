package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// BenchmarkScale measures the daemon at 10 and 1,000 slots: start to
// READY=1, idle RSS, wakeups per minute while idle, and /metrics scrape
// time. b.N is ignored; each size runs once (10 slots about 75 s; 1,000
// slots about 12 min, as the start probe pass keeps to the request budget).
//
//	go test -run '^$' -bench Scale -benchtime 1x ./cmd/kpay-rotator
//
// Probes are hourly, so 1,000 slots stay inside KPay's request budget;
// idle means the start pass is over and nothing is due.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("slots=%d", n), func(b *testing.B) { scale(b, n) })
	}
}

func scale(b *testing.B, n int) {
	f := newFixture(b)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[daemon]\nstate_dir = \"state\"\ninbox_dir = \"inbox\"\nlisten = \"127.0.0.1:0\"\n[kpay]\nbase_url = %q\nrequests_per_minute = 100\n[defaults]\nprobe_schedule = \"@every 1h\"\nretired_schedule = \"@every 1h\"\n", f.kpay.URL)
	f.writeSlots(b, cfg.String(), n)
	sock := newNotifySocket(b)
	start := time.Now()
	p := f.startBin(binPath, []string{"NOTIFY_SOCKET=" + sock.path})
	eventually(b, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	var ready time.Time
	for _, m := range sock.all() {
		if strings.HasPrefix(m.text, "READY=1") {
			ready = m.at
		}
	}
	b.ReportMetric(float64(ready.Sub(start).Milliseconds()), "start-to-ready-ms")

	// Every slot is read and dated quickly (no KPay request needed)...
	eventually(b, "every slot tracked", func() bool {
		doc := f.status()
		for _, s := range doc.Slots {
			if s.Pair == "" {
				return false
			}
		}
		return len(doc.Slots) == n
	})
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "start-to-all-tracked-ms")
	// ...then the start probe pass ends (within the request budget).
	deadline := time.Now().Add(15 * time.Minute)
	for !strings.Contains(p.log(), "pass over every slot done") {
		if time.Now().After(deadline) {
			b.Fatal("start pass did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	pid := p.cmd.Process.Pid
	before := ctxSwitches(b, pid)
	time.Sleep(time.Minute)
	after := ctxSwitches(b, pid)
	b.ReportMetric(float64(after-before), "wakeups-per-min")
	b.ReportMetric(float64(rss(b, pid))/(1<<20), "idle-rss-MiB")

	base := f.httpBase()
	var scrapes []time.Duration
	for i := 0; i < 50; i++ {
		t0 := time.Now()
		if code, _ := get(b, base+"/metrics"); code != 200 {
			b.Fatalf("/metrics %d", code)
		}
		scrapes = append(scrapes, time.Since(t0))
	}
	slices.Sort(scrapes)
	b.ReportMetric(float64(scrapes[len(scrapes)/2].Microseconds())/1000, "scrape-p50-ms")
	p.signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
}

// ctxSwitches sums voluntary and involuntary context switches over every
// thread of pid: each is the process waking up (or being woken).
func ctxSwitches(t testing.TB, pid int) int64 {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				total += n
			}
		}
	}
	return total
}

func rss(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// writeSlots writes f's configuration: header, then n live slots named
// slot-NNNNN, each with its own KPay application and its pair in its own
// secret. It returns the pairs, by slot index.
func (f *fixture) writeSlots(t testing.TB, header string, n int) []kpay.Pair {
	t.Helper()
	var cfg strings.Builder
	cfg.WriteString(header)
	pairs := make([]kpay.Pair, n)
	for i := range n {
		name := fmt.Sprintf("slot-%05d", i)
		app := f.kpay.CreateApplication(name)
		pairs[i], _ = f.kpay.Pair(app.ID, kpay.Live)
		if _, err := f.aws.PutJSON(context.Background(), "prod/"+name, secretJSON(pairs[i], "x")); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "[[slot]]\nname = %q\nenvironment = \"live\"\nsecret_id = \"prod/%s\"\n", name, name)
	}
	if err := os.WriteFile(f.cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return pairs
}
