package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"kpay-rotator/kpay"
)

// BenchmarkHandover measures the payments outage a key change costs: from
// the moment `kpay-rotator stage` starts (the pair just regenerated in the
// dashboard) to the new version being readable in Secrets Manager, with
// the shipped config.toml (requests_per_minute = 30, probe_schedule auto).
// 50 stages back to back, at 1 slot on an idle daemon and at 1,000 slots
// while probe passes over every slot run without pause (SIGUSR1 in a
// loop). Next to each stage, under the same load, the floor:
// testdata/minimal, a program that makes the same calls (probe, two
// fsyncs, get, put, read-back) on a secret of its own and nothing else.
// Both are timed from exec to the emulator answering the write. b.N is
// ignored.
//
//	go test -run '^$' -bench Handover -benchtime 1x ./cmd/kpay-rotator
func BenchmarkHandover(b *testing.B) {
	minimal := filepath.Join(b.TempDir(), "minimal")
	if out, err := exec.Command("go", "build", "-o", minimal, "./testdata/minimal").CombinedOutput(); err != nil {
		b.Fatalf("build the minimal program: %v\n%s", err, out)
	}
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("slots=%d", n), func(b *testing.B) { handover(b, n, minimal) })
	}
}

// writeClock records when the emulator answered a PutSecretValue.
type writeClock struct {
	mu   sync.Mutex
	last time.Time
	n    int
}

func (w *writeClock) observe(op string, status int) {
	if op != "PutSecretValue" || status != 200 {
		return
	}
	w.mu.Lock()
	w.last, w.n = time.Now(), w.n+1
	w.mu.Unlock()
}

// after waits for the next write after n and returns when it landed.
func (w *writeClock) after(b *testing.B, n int) time.Time {
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		got, at := w.n, w.last
		w.mu.Unlock()
		if got > n {
			return at
		}
		if time.Now().After(deadline) {
			b.Fatal("no write within 30s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (w *writeClock) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func handover(b *testing.B, n int, minimal string) {
	const stages = 50
	f := newFixture(b)
	hook, secret := newHookReceiver(b)
	slots := f.shippedConfig(n, hook, secret)
	slot := slots[0]
	// The floor's own secret and application, which the daemon does not
	// watch: it runs next to each stage, under the same load.
	floorApp := f.kpay.CreateApplication("minimal")
	floorPair, _ := f.kpay.Pair(floorApp.ID, "live")
	if _, err := f.aws.PutJSON(context.Background(), "prod/minimal", secretJSON(floorPair, "postgres://app@db/app")); err != nil {
		b.Fatal(err)
	}
	var clock writeClock
	f.aws.Observe(clock.observe)
	defer f.aws.Observe(nil)

	p := f.start()
	eventually(b, "every slot tracked", func() bool {
		doc := f.status()
		for _, s := range doc.Slots {
			if s.Pair == "" {
				return false
			}
		}
		return doc.Source == "daemon" && len(doc.Slots) == n
	})
	stop := make(chan struct{})
	var sweeps sync.WaitGroup
	if n > 1 {
		// Keep a pass over every slot running: each SIGUSR1 that lands
		// during one makes it go round again.
		sweeps.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
					p.signal(syscall.SIGUSR1)
				}
			}
		})
		time.Sleep(time.Second) // the pass is under way
	}

	// run execs cmd with the pair on stdin and times it from exec to the
	// emulator answering its write, and to its exit.
	run := func(cmd *exec.Cmd, pair kpay.Pair) (landed, exited time.Duration) {
		cmd.Stdin = strings.NewReader(lines(pair))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		before := clock.count()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		at := clock.after(b, before)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%s: %v\n%s\ndaemon log:\n%s", cmd.Path, err, out.String(), p.log())
		}
		return at.Sub(start), time.Since(start)
	}
	cpu0, wall0 := cpuTime(b, p.cmd.Process.Pid), time.Now()
	var readable, exited, floor []time.Duration
	journal := filepath.Join(f.dir, "minimal.journal")
	for i := 0; i < stages; i++ {
		pair := f.regenerateLive(slot)
		landed, done := run(exec.Command(binPath, "stage", slot, "--config", f.cfgPath), pair)
		readable, exited = append(readable, landed), append(exited, done)

		fp, err := f.kpay.Regenerate(floorApp.ID, "live")
		if err != nil {
			b.Fatal(err)
		}
		landed, _ = run(exec.Command(minimal, f.kpay.URL, "prod/minimal", journal), fp)
		floor = append(floor, landed)
	}
	busy := float64(cpuTime(b, p.cmd.Process.Pid)-cpu0) / float64(time.Since(wall0))
	// For scale, the same calls from a warm process: no exec, clients
	// and connections already made (what the daemon itself has).
	var warm []time.Duration
	sm := f.aws.Client()
	httpc := &http.Client{}
	for i := 0; i < stages; i++ {
		fp, err := f.kpay.Regenerate(floorApp.ID, "live")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := warmHandover(httpc, sm, f.kpay.URL, "prod/minimal", journal, fp); err != nil {
			b.Fatal(err)
		}
		warm = append(warm, time.Since(start))
	}
	close(stop)
	sweeps.Wait()
	passes := strings.Count(p.log(), "pass over every slot done")
	p.signal(syscall.SIGTERM)
	p.wait(20 * time.Second)

	stageP50, stageP99 := quantiles(readable)
	exitP50, exitP99 := quantiles(exited)
	floorP50, floorP99 := quantiles(floor)
	warmP50, warmP99 := quantiles(warm)
	b.ReportMetric(ms(stageP50), "readable-p50-ms")
	b.ReportMetric(ms(stageP99), "readable-p99-ms")
	b.ReportMetric(ms(exitP50), "stage-exit-p50-ms")
	b.ReportMetric(ms(floorP50), "minimal-p50-ms")
	b.ReportMetric(ms(floorP99), "minimal-p99-ms")
	b.ReportMetric(float64(stageP50)/float64(floorP50), "p50-x-minimal")
	b.ReportMetric(ms(warmP50), "warm-p50-ms")
	fmt.Fprintf(os.Stderr, "slots=%d stages=%d passes finished=%d daemon CPU meanwhile %.0f%% of a core\n  stage -> readable   p50 %6.2f ms  p99 %6.2f ms\n  stage exits         p50 %6.2f ms  p99 %6.2f ms\n  minimal -> readable p50 %6.2f ms  p99 %6.2f ms\n  ratio p50 %.2fx\n  same calls, warm    p50 %6.2f ms  p99 %6.2f ms (no exec; daemon idle by then)\n",
		n, stages, passes, busy*100, ms(stageP50), ms(stageP99), ms(exitP50), ms(exitP99), ms(floorP50), ms(floorP99), float64(stageP50)/float64(floorP50), ms(warmP50), ms(warmP99))
}

// warmHandover is testdata/minimal's calls in this process, with clients
// already made: probe, fsync, get, put (timed to here), read-back, fsync.
func warmHandover(httpc *http.Client, sm *secretsmanager.Client, kpayURL, secretID, journal string, p kpay.Pair) error {
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kpayURL+"/api/v1/payments/me", nil)
	req.Header.Set("X-API-Key", p.APIKey)
	req.Header.Set("X-Secret-Key", p.SecretKey.Reveal())
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	j, err := os.OpenFile(journal, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer j.Close()
	if _, err := j.WriteString("verified\n"); err != nil {
		return err
	}
	if err := j.Sync(); err != nil {
		return err
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)}); err != nil {
		return err
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID), SecretString: aws.String(secretJSON(p, "postgres://app@db/app"))}); err != nil {
		return err
	}
	return nil
}

// cpuTime is the user and system CPU time pid has used.
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func quantiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[len(s)*99/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
