package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"kpay-rotator/daemon"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func (f *fixture) httpBase() string {
	f.t.Helper()
	var addr string
	eventually(f.t, "HTTP address recorded", func() bool {
		b, err := os.ReadFile(daemon.ListenAddrFile(f.stateDir()))
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != ""
	})
	return "http://" + addr
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	_, body := get(t, base+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestHTTP_MetricsStatusHealth(t *testing.T) {
	f := newFixture(t)
	hook, whsec := newHookReceiver(t)
	f.defaults = `notify = ["hooks"]`
	f.writeConfig("\n[[notifier]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = \"" + hook.srv.URL + "/h\"\nsecret = \"" + whsec + "\"\ngroup_wait = \"0s\"\n")
	p := f.start()
	base := f.httpBase()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q", code, body)
	}
	f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "rejection", func() bool { return slotOf(f.status(), "payments-live").LastProbe.Outcome == "rejected" })
	p.signal(syscall.SIGUSR1)
	eventually(t, "failing", func() bool { return slotOf(f.status(), "payments-live").Health == "failing" })
	eventually(t, "alert delivered", func() bool { return hook.delivered()["unplanned_revocation"] == 1 })

	fams := scrape(t, base)
	checks := []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
	}{
		{"kpay_rotator_key_health", map[string]string{"slot": "payments-live", "state": "failing"}, func(v float64) bool { return v == 1 }},
		{"kpay_rotator_key_health", map[string]string{"slot": "payments-live", "state": "healthy"}, func(v float64) bool { return v == 0 }},
		{"kpay_rotator_key_health", map[string]string{"slot": "checkout-test", "state": "healthy"}, func(v float64) bool { return v == 1 }},
		{"kpay_rotator_key_age_seconds", map[string]string{"slot": "payments-live", "environment": "live"}, func(v float64) bool { return v >= 0 && v < 3600 }},
		{"kpay_rotator_probes_total", map[string]string{"slot": "payments-live", "result": "rejected"}, func(v float64) bool { return v >= 2 }},
		{"kpay_rotator_probes_total", map[string]string{"slot": "payments-live", "result": "healthy"}, func(v float64) bool { return v >= 1 }},
		{"kpay_rotator_probe_duration_seconds", nil, func(v float64) bool { return v >= 3 }},
		{"kpay_rotator_notifications_total", map[string]string{"receiver": "hooks", "result": "delivered"}, func(v float64) bool { return v >= 1 }},
		{"kpay_rotator_outbox_pending", map[string]string{"receiver": "hooks"}, func(v float64) bool { return v == 0 }},
		{"kpay_rotator_config_last_reload_successful", nil, func(v float64) bool { return v == 1 }},
	}
	for _, c := range checks {
		v, ok := value(fams, c.name, c.labels)
		if !ok || !c.want(v) {
			t.Errorf("%s%v = %v (present %v)", c.name, c.labels, v, ok)
		}
	}
	// Rotate: rotations_total and the cutover gap appear.
	newPair, _ := f.kpay.Pair(f.apps["payments-live"].ID, "live")
	if _, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live"); code != 0 {
		t.Fatalf("stage: %s", stderr)
	}
	fams = scrape(t, base)
	if v, ok := value(fams, "kpay_rotator_rotations_total", map[string]string{"slot": "payments-live", "result": "written"}); !ok || v != 1 {
		t.Errorf("rotations_total{written} = %v %v", v, ok)
	}
	if v, ok := value(fams, "kpay_rotator_cutover_gap_seconds", nil); !ok || v != 1 {
		t.Errorf("cutover_gap_seconds count = %v %v", v, ok)
	}

	// /v1/status is the document status --json prints.
	code, body := get(t, base+"/v1/status")
	if code != 200 || !strings.Contains(body, `"source": "daemon"`) || !strings.Contains(body, newPair.Mask()) {
		t.Errorf("/v1/status = %d\n%s", code, body)
	}

	// A refused reload shows in the gauge, readiness and status.
	os.WriteFile(f.cfgPath, []byte("[[slot]]\nnope = 1\n"), 0o600)
	p.signal(syscall.SIGHUP)
	p.waitLog("reload refused")
	eventually(t, "reload gauge 0", func() bool {
		v, _ := value(scrape(t, base), "kpay_rotator_config_last_reload_successful", nil)
		return v == 0
	})
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "last reload failed") {
		t.Errorf("/readyz after a refused reload = %d %q", code, body)
	}
	for _, out := range []string{body, p.log()} {
		if strings.Contains(out, newPair.SecretKey.Reveal()) || strings.Contains(out, whsec) {
			t.Error("a secret reached /v1/status or the log")
		}
	}
	_, metricsBody := get(t, base+"/metrics")
	if strings.Contains(metricsBody, newPair.SecretKey.Reveal()) || strings.Contains(metricsBody, whsec) || strings.Contains(metricsBody, newPair.APIKey) {
		t.Error("a secret reached /metrics")
	}
}
