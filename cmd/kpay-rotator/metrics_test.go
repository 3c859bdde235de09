package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/rotator"

	dto "github.com/prometheus/client_model/go"
)

const alertRules = "../../docs/prometheus-alerts.yml"

// ruleFamily is a metric family the shipped alert rules read and what the
// daemon must export of it from the start.
type ruleFamily struct {
	// key is the label naming a configured slot or receiver; "" for a
	// family with one series.
	key string
	// label and values: each key has a series for every value of label.
	label  string
	values []string
	// zero says which of them must still be 0 after the start pass (which
	// probes every slot, so "healthy" may have moved); nil: none.
	zero func(value string) bool
}

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

func all(string) bool { return true }

var ruleFamilies = map[string]ruleFamily{
	"kpay_rotator_probes_total": {key: "slot", label: "result", values: strs(healthcheck.Outcomes()),
		zero: func(v string) bool { return v != string(healthcheck.Healthy) }},
	"kpay_rotator_rotations_total":     {key: "slot", label: "result", values: rotator.RotationResults(), zero: all},
	"kpay_rotator_notifications_total": {key: "receiver", label: "result", values: outbox.Results(), zero: func(v string) bool { return v != "delivered" }},
	"kpay_rotator_key_health":          {key: "slot", label: "state", values: []string{"unknown", "healthy", "degraded", "failing"}},
	"kpay_rotator_key_age_state":       {key: "slot", label: "state", values: []string{"fresh", "due", "overdue"}},
	"kpay_rotator_key_age_seconds":     {key: "slot"},
	"kpay_rotator_rotation_in_flight":  {key: "slot", zero: all},
	"kpay_rotator_outbox_pending":      {key: "receiver"},
	// One series each.
	"kpay_rotator_config_last_reload_successful": {},
	"kpay_rotator_state_writable":                {},
	"kpay_rotator_cutover_gap_seconds":           {zero: all},
	"kpay_rotator_probe_duration_seconds":        {},
	"process_start_time_seconds":                 {},
}

// ruleMetrics lists the metric families the rules file names, histogram
// suffixes cut.
func ruleMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range regexp.MustCompile(`\b(?:kpay_rotator|process)_[a-z_]+`).FindAllString(string(b), -1) {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if _, known := ruleFamilies[name]; !known {
					name = base
				}
			}
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// seriesName prints name{k="v",…} as PromQL would.
func seriesName(name string, labels map[string]string) string {
	var kv []string
	for k, v := range labels {
		kv = append(kv, k+"="+strconv.Quote(v))
	}
	slices.Sort(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// checkRuleSeries checks every family the rules read against the slots
// and receivers configured, and that none is left of gone ones.
func checkRuleSeries(t *testing.T, fams map[string]*dto.MetricFamily, slots, receivers, gone []string) {
	t.Helper()
	for _, name := range ruleMetrics(t) {
		want, ok := ruleFamilies[name]
		if !ok {
			t.Errorf("%s names %s, which this test does not know: add it to ruleFamilies", alertRules, name)
			continue
		}
		keys := []string{""}
		switch want.key {
		case "slot":
			keys = slots
		case "receiver":
			keys = receivers
		}
		for _, key := range keys {
			values := want.values
			if want.label == "" {
				values = []string{""}
			}
			for _, v := range values {
				labels := map[string]string{}
				if want.key != "" {
					labels[want.key] = key
				}
				if want.label != "" {
					labels[want.label] = v
				}
				got, ok := value(fams, name, labels)
				switch {
				case !ok:
					t.Errorf("%s: no series, want one from the start", seriesName(name, labels))
				case want.zero != nil && want.zero(v) && got != 0:
					t.Errorf("%s = %v, want 0", seriesName(name, labels), got)
				}
			}
		}
		if want.key == "" {
			continue
		}
		for _, m := range fams[name].GetMetric() {
			if l := labelsOf(m); slices.Contains(gone, l[want.key]) {
				t.Errorf("%s: still exported after its %s left the configuration", seriesName(name, l), want.key)
			}
		}
	}
}

// TestMetrics_RuleSeriesFromStartAndReload: right after a start, every
// series the shipped alert rules read exists for each configured slot and
// receiver, counters at 0, so an increase() rule fires on the first
// occurrence; a reload adds the series of a new slot and receiver and
// drops those of a removed slot. kpay_rotator_build_info names the build.
func TestMetrics_RuleSeriesFromStartAndReload(t *testing.T) {
	f := newFixture(t)
	hook, whsec := newHookReceiver(t)
	var extra strings.Builder
	f.addWebhook("ops", hook, whsec, &extra)
	f.defaults = `notify = ["ops"]`
	f.writeConfig(extra.String())
	p := f.start()
	base := f.httpBase()
	eventually(t, "start pass", func() bool {
		doc := f.status()
		return len(doc.Slots) == 2 && slotOf(doc, "payments-live").Health == "healthy" && slotOf(doc, "checkout-test").Health == "healthy"
	})
	fams := scrape(t, base)
	checkRuleSeries(t, fams, []string{"payments-live", "checkout-test"}, []string{"ops"}, nil)

	out, _, code := f.cli("version")
	version := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "kpay-rotator ")
	if code != 0 || version == "" {
		t.Fatalf("kpay-rotator version: exit %d: %q", code, out)
	}
	if v, ok := value(fams, "kpay_rotator_build_info", map[string]string{"version": version, "goversion": runtime.Version()}); !ok || v != 1 {
		t.Errorf("kpay_rotator_build_info{version=%q,goversion=%q} = %v (present %v), want 1; got %v", version, runtime.Version(), v, ok, fams["kpay_rotator_build_info"])
	}

	// Reload: checkout-test leaves, refunds-live and receiver pager come.
	app := f.kpay.CreateApplication("refunds-live")
	pair, _ := f.kpay.Pair(app.ID, kpay.Live)
	if _, err := f.aws.PutJSON(context.Background(), "prod/refunds/kpay", secretJSON(pair, "")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	removed := "\n[[slot]]\nname = \"checkout-test\"\nenvironment = \"test\"\nsecret_id = \"test/checkout/kpay\"\n"
	cfg := string(b)
	if !strings.Contains(cfg, removed) {
		t.Fatalf("the fixture's configuration has no checkout-test block to remove:\n%s", cfg)
	}
	var more strings.Builder
	more.WriteString(strings.Replace(cfg, removed, "\n[[slot]]\nname = \"refunds-live\"\nenvironment = \"live\"\nsecret_id = \"prod/refunds/kpay\"\n", 1))
	f.addWebhook("pager", hook, whsec, &more)
	if err := os.WriteFile(f.cfgPath, []byte(more.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("configuration reloaded")
	eventually(t, "refunds-live probed", func() bool { return slotOf(f.status(), "refunds-live").Health == "healthy" })
	checkRuleSeries(t, scrape(t, base), []string{"payments-live", "refunds-live"}, []string{"ops", "pager"}, []string{"checkout-test"})
}

// TestAlertRules_EveryRuleTested: every alert rule shipped in
// docs/prometheus-alerts.yml has a promtool test where it fires and one
// where it stays quiet in docs/prometheus-alerts.test.yml (.ci/run runs
// promtool on it).
func TestAlertRules_EveryRuleTested(t *testing.T) {
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(b), -1) {
		rules = append(rules, m[1])
	}
	if len(rules) == 0 {
		t.Fatalf("no alert rules found in %s", alertRules)
	}
	tf, err := os.Open(filepath.Join(filepath.Dir(alertRules), "prometheus-alerts.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	fires, quiet := map[string]bool{}, map[string]bool{}
	var alert string
	sc := bufio.NewScanner(tf)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "alertname: "); ok {
			alert = name
		}
		switch line {
		case "exp_alerts: []":
			quiet[alert] = true
		case "exp_alerts:":
			fires[alert] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if !fires[r] {
			t.Errorf("%s: no promtool test where it fires", r)
		}
		if !quiet[r] {
			t.Errorf("%s: no promtool test where it stays quiet", r)
		}
		delete(fires, r)
		delete(quiet, r)
	}
	for r := range fires {
		t.Errorf("the promtool tests expect %s, which %s does not define", r, alertRules)
	}
}
