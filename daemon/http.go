package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kpay-rotator/internal/atomicfile"
	"kpay-rotator/store"
)

// beatStale is how long the scheduler's loop may go without answering
// before the daemon calls itself not ready and stops feeding the
// watchdog: a loop busy for a moment is not stuck.
const beatStale = 20 * time.Second

// aliveWait is how long a readiness check waits for the scheduler's loop
// to answer: each of its turns is short, so one that cannot answer in a
// second is stuck or starved.
const aliveWait = time.Second

// serveHTTP starts the loopback HTTP server: /healthz, /readyz, /metrics,
// /v1/status and POST /v1/notify-test. None of them ever shows a secret.
func (d *Daemon) serveHTTP(addr string) (stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen on %s: %v; set [daemon] listen to a free loopback address", ErrConfig, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", d.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET "+pathStatus, d.handleStatus)
	mux.HandleFunc("POST "+pathNotifyTest, d.handleNotifyTest)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("HTTP server stopped", "err", err)
		}
	}()
	d.httpAddr = ln.Addr().String()
	addrFile := ListenAddrFile(d.current().cfg.Daemon.StateDir)
	if err := atomicfile.Write(addrFile, []byte(d.httpAddr+"\n"), 0o644); err != nil {
		d.log.Warn("cannot record the HTTP address", "err", err)
	}
	d.log.Info("serving /healthz, /readyz, /metrics and /v1/status", "listen", d.httpAddr)
	return func(ctx context.Context) error {
		_ = os.Remove(addrFile)
		return srv.Shutdown(ctx)
	}, nil
}

// readiness says what is wrong, if anything: the store must answer, the
// scheduler must be ticking, and the last reload must have worked.
func (d *Daemon) readiness() []string {
	var problems []string
	if err := d.store.View(func(store.Tx) error { return nil }); err != nil {
		problems = append(problems, "state database: "+err.Error())
	}
	if msg := d.writeFailure(); msg != "" {
		problems = append(problems, msg)
	}
	// The loop is asked, not ticking on its own: an idle daemon wakes
	// for the watchdog and /readyz only.
	// A follower's scheduler does not run: it has nothing to tick.
	gen := d.current()
	if d.acting.Load() && !gen.sched.Alive(aliveWait) {
		if age := d.now().Sub(gen.sched.LastBeat()); age > beatStale {
			problems = append(problems, fmt.Sprintf("scheduler: no tick for %s", age.Round(time.Second)))
		}
	}
	if msg := d.reloadError(); msg != "" {
		problems = append(problems, "last reload failed: "+msg)
	}
	return problems
}

// writeFailure says, when the state database's commits are failing (a
// full disk), since when and why: nothing the daemon learns is recorded.
func (d *Daemon) writeFailure() string {
	since, why, failing := d.store.WriteFailure()
	if !failing {
		return ""
	}
	return fmt.Sprintf("state database: writes failing for %s (since %s): %s; free space on %s",
		time.Since(since).Round(time.Second), since.UTC().Format(time.DateTime+" UTC"), why, d.store.Location())
}

func (d *Daemon) handleReady(w http.ResponseWriter, _ *http.Request) {
	problems := d.readiness()
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
	} else {
		fmt.Fprintln(w, "ready")
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	// A follower is ready: a healthy standby, taking over when elected.
	if d.election != nil {
		fmt.Fprintf(w, "role: %s\nleader: %s\n", d.role(), d.leaderID())
	}
}

func (d *Daemon) handleStatus(w http.ResponseWriter, _ *http.Request) {
	doc, err := d.status()
	if err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// handleNotifyTest sends a test message through the running daemon's
// receivers, which see the service's credentials ($CREDENTIALS_DIRECTORY)
// that an admin's shell does not.
func (d *Daemon) handleNotifyTest(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	out, err := SendTests(r.Context(), d.current().cfg, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if name != "" && len(out) == 0 {
		http.Error(w, fmt.Sprintf("unknown notifier %q", name), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
