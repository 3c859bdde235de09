package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdle measures what an idle daemon costs at 1,000 slots, with
// the shipped retired_schedule ("* * * * *"), hourly probes (so none is
// due in the window), a webhook notifier and the systemd watchdog
// (WatchdogSec=60s): context switches of every thread and CPU time over
// one idle minute, then the time of a /v1/status. b.N is ignored; it takes
// about 12 minutes, as the start probe pass keeps to the request budget.
//
//	go test -run '^$' -bench Idle -benchtime 1x ./cmd/kpay-rotator
func BenchmarkIdle(b *testing.B) {
	f := newFixture(b)
	hook, whsec := newHookReceiver(b)
	const n = 1000
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[daemon]\nstate_dir = \"state\"\ninbox_dir = \"inbox\"\nlisten = \"127.0.0.1:0\"\n[kpay]\nbase_url = %q\nrequests_per_minute = 100\n"+
		"[defaults]\nprobe_schedule = \"@every 1h\"\nnotify = [\"hooks\"]\n"+
		"[[notifier]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = %q\nsecret = %q\n", f.kpay.URL, hook.srv.URL+"/h", whsec)
	f.writeSlots(b, cfg.String(), n)
	sock := newNotifySocket(b)
	p := f.startBin(binPath, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=60000000"})
	eventually(b, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	deadline := time.Now().Add(15 * time.Minute)
	for !strings.Contains(p.log(), "pass over every slot done") {
		if time.Now().After(deadline) {
			b.Fatal("start pass did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // the pass's last commits settle
	pid := p.cmd.Process.Pid
	cs0, cpu0, pings0 := ctxSwitches(b, pid), cpuTime(b, pid), sock.count("WATCHDOG=1")
	time.Sleep(time.Minute)
	cs1, cpu1, pings1 := ctxSwitches(b, pid), cpuTime(b, pid), sock.count("WATCHDOG=1")
	b.ReportMetric(float64(cs1-cs0), "wakeups-per-min")
	b.ReportMetric(float64((cpu1 - cpu0).Milliseconds()), "idle-cpu-ms-per-min")
	b.ReportMetric(float64(pings1-pings0), "watchdog-pings-per-min")

	base := f.httpBase()
	t0 := time.Now()
	if code, _ := get(b, base+"/v1/status"); code != 200 {
		b.Fatalf("/v1/status %d", code)
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "status-ms")
	p.signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
}
