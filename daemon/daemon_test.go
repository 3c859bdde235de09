package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
)

// newConfig starts the emulators, stores one slot's pair and writes a
// configuration for it; it returns the configuration's path.
func newConfig(t *testing.T) string {
	t.Helper()
	kp, err := kpayemu.Start(kpayemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kp.Close() })
	sm := awstest.Start()
	t.Cleanup(sm.Close)
	for _, kv := range sm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	app := kp.CreateApplication("payments")
	pair, _ := kp.Pair(app.ID, kpay.Live)
	if _, err := sm.PutJSON(context.Background(), "prod/payments/kpay", fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q}`, pair.APIKey, pair.SecretKey.Reveal())); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`[daemon]
state_dir = %q
inbox_dir = %q
listen = "127.0.0.1:0"

[kpay]
base_url = %q

[defaults]
probe_schedule = "@every 1h"
retired_schedule = "@every 1h"

[[slot]]
name = "payments-live"
environment = "live"
secret_id = "prod/payments/kpay"
`, filepath.Join(dir, "state"), filepath.Join(dir, "inbox"), kp.URL)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// start runs the daemon and returns it once it runs, and stop, which
// ends it and returns what Run returned (the test's end stops it too).
func start(t *testing.T, o Options) (d *Daemon, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *Daemon, 1)
	errc := make(chan error, 1)
	o.Started = func(d *Daemon) { started <- d }
	go func() { errc <- Run(ctx, o) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case d = <-started:
		return d, stop
	case err := <-errc:
		t.Fatalf("daemon did not start: %v", err)
	}
	return nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadiness_FlipsWhenSchedulerOrStoreFails runs the daemon with a
// clock the test moves, stops its scheduler, then breaks the store.
func TestReadiness_FlipsWhenSchedulerOrStoreFails(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	d, stop := start(t, Options{ConfigPath: newConfig(t), Now: now})
	base := "http://" + d.Addr()
	skew.Store(int64(time.Minute))
	// A loop that answers is alive, however long since it last had work.
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz a minute on = %d %q", code, body)
	}
	// A loop that no longer answers (here: stopped)...
	if err := d.current().sched.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// ...is given beatStale...
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz at once after the scheduler stopped = %d %q", code, body)
	}
	// ...then the daemon is not ready.
	skew.Store(int64(time.Minute) + int64(beatStale))
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "scheduler: no tick for") {
		t.Errorf("/readyz with a stuck scheduler = %d %q", code, body)
	}
	d.store.Close() // the store fails
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "state database") {
		t.Errorf("/readyz with a closed store = %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz must stay up while the process lives, got %d", code)
	}
	// The stop still runs every step, and names the one the closed
	// database failed.
	if err := stop(); err == nil || !strings.Contains(err.Error(), "database not open") {
		t.Errorf("stop with a closed store = %v, want the failing step named", err)
	}
}

// A stop runs every step newest first, each under its own deadline, and
// names the steps that failed.
func TestTeardown_LIFOWithDeadlinesAndJoinedErrors(t *testing.T) {
	var order []string
	var down teardown
	down.add("first", time.Second, func(context.Context) error { order = append(order, "first"); return nil })
	down.add("stuck", 20*time.Millisecond, func(ctx context.Context) error {
		order = append(order, "stuck")
		<-ctx.Done()
		return context.Cause(ctx)
	})
	down.add("broken", time.Second, func(context.Context) error { order = append(order, "broken"); return fmt.Errorf("disk gone") })
	err := down.run(slog.New(slog.DiscardHandler))
	if got := strings.Join(order, ","); got != "broken,stuck,first" {
		t.Errorf("order = %s, want broken,stuck,first", got)
	}
	if err == nil || !strings.Contains(err.Error(), "broken: disk gone") || !strings.Contains(err.Error(), "stuck: took longer than 20ms") {
		t.Errorf("err = %v, want both failures named", err)
	}
	if err := down.run(slog.New(slog.DiscardHandler)); err != nil || len(order) != 3 {
		t.Errorf("second run: %v, %d steps ran, want nothing run again", err, len(order))
	}
}
