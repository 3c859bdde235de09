package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
)

// BenchmarkRotation measures, over 100 rotations on the loopback
// emulators, the time from `kpay-rotator stage` to the new version being
// readable in Secrets Manager, next to the bare minimum: the same three
// HTTP calls (probe, get, put) made directly. It reports p50 and p99 of
// both; b.N is ignored.
//
//	go test -run '^$' -bench Rotation -benchtime 1x ./cmd/kpay-rotator
func BenchmarkRotation(b *testing.B) {
	const n = 100
	f := newFixture(b)
	proberOverride = func(o *healthcheck.Options) { o.RequestsPerMinute, o.Burst = 1_000_000, 1_000_000 }
	defer func() { proberOverride = nil }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, &env{stdout: &logs, stderr: &logs, getenv: os.Getenv}, []string{"run", "--config", f.cfgPath, "--log-level", "warn"})
	}()
	eventually(b, "daemon up", func() bool { return f.status().Source == "daemon" })

	sm := f.aws.Client()
	readable := func(apiKey string) {
		for {
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/payments/kpay")})
			if err == nil && strings.Contains(aws.ToString(out.SecretString), apiKey) {
				return
			}
		}
	}
	var rotation []time.Duration
	for i := 0; i < n; i++ {
		p := f.regenerate("payments-live")
		start := time.Now()
		var out bytes.Buffer
		code := runMain(ctx, &env{stdin: strings.NewReader(lines(p)), stdout: &out, stderr: &out, getenv: os.Getenv},
			[]string{"stage", "payments-live", "--no-wait", "--config", f.cfgPath})
		if code != 0 {
			b.Fatalf("stage: exit %d: %s\n%s", code, out.String(), logs.String())
		}
		readable(p.APIKey)
		rotation = append(rotation, time.Since(start))
		// Untimed: let the daemon finish the rotation (drop the staged
		// file) before the next one is staged.
		eventually(b, "rotation finished", func() bool {
			_, err := os.Stat(inbox.RequestPath(f.inboxDir(), "payments-live"))
			return os.IsNotExist(err)
		})
	}

	// The bare minimum: one probe, one get, one put, sequentially.
	client := &http.Client{}
	var bare []time.Duration
	for i := 0; i < n; i++ {
		p := f.regenerate("payments-live")
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.kpay.URL+"/api/v1/payments/me", nil)
		req.Header.Set("X-API-Key", p.APIKey)
		req.Header.Set("X-Secret-Key", p.SecretKey.Reveal())
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("bare probe: %v", err)
		}
		resp.Body.Close()
		cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/payments/kpay")})
		if err != nil {
			b.Fatal(err)
		}
		_ = cur
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/payments/kpay"),
			SecretString: aws.String(secretJSON(p, "postgres://app@db/app"))}); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))
	}
	cancel()
	<-done

	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		p50, p99 := d[len(d)*50/100], d[len(d)*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
		fmt.Fprintf(os.Stderr, "%-9s p50 %7.2f ms  p99 %7.2f ms  (n=%d)\n", name, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, len(d))
	}
	report("stage", rotation)
	report("bare", bare)
}
