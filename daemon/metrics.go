package daemon

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
)

// metrics are the daemon's Prometheus series. Per-slot state (age, health)
// and the outbox depth are read from the store at scrape time, so they are
// never stale and cost nothing between scrapes; counters and histograms
// are fed by the rotator's and outbox's hooks. Every labelled series the
// shipped alert rules use exists from the start for each configured slot
// and receiver (configure), at 0 where nothing happened yet.
type metrics struct {
	reg *prometheus.Registry

	probes        *keyedCounter
	probeDuration prometheus.Histogram
	rotations     *keyedCounter
	cutoverGap    prometheus.Histogram
	notifications *keyedCounter
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
	buildInfo     prometheus.Gauge
	leader        prometheus.Gauge
	leaderChanges prometheus.Counter
}

func newMetrics(d *Daemon, version string) *metrics {
	var outcomes []string
	for _, o := range healthcheck.Outcomes() {
		outcomes = append(outcomes, string(o))
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		probes: newKeyedCounter("kpay_rotator_probes_total",
			"KPay probes by slot and result (healthy, rejected, wrong_environment, wrong_application, unexpected, transient, each from 0; retired_… for retired pairs, from their first probe).",
			"slot", outcomes),
		probeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kpay_rotator_probe_duration_seconds", Help: "Duration of the last HTTP attempt of each KPay probe.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		rotations: newKeyedCounter("kpay_rotator_rotations_total",
			"Rotations by slot and result (written, rejected, stalled, external: a pair pasted by hand ended an outage).",
			"slot", rotator.RotationResults()),
		cutoverGap: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kpay_rotator_cutover_gap_seconds", Help: "Time from the first rejection of the old pair to the new pair written, per rotation that had an outage.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}),
		notifications: newKeyedCounter("kpay_rotator_notifications_total",
			"Alert delivery attempts by receiver and result (delivered, retry, failed, expired).",
			"receiver", outbox.Results()),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kpay_rotator_config_last_reload_successful", Help: "1 if the last configuration load or reload succeeded.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kpay_rotator_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully.",
		}),
		buildInfo: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kpay_rotator_build_info", Help: "Always 1; its labels name the running build (as kpay-rotator version prints it) and its Go toolchain.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}),
	}
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kpay_rotator_leader", Help: "1 while this daemon leads (probes, rotates, delivers alerts; always with backend = \"bbolt\"), 0 while it follows.",
	})
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kpay_rotator_leader_changes_total", Help: "Times this daemon became leader or stopped leading.",
	})
	m.buildInfo.Set(1)
	m.reg.MustRegister(m.probes, m.probeDuration, m.rotations, m.cutoverGap, m.notifications, m.reloadOK, m.reloadTime, m.buildInfo,
		m.leader, m.leaderChanges,
		&stateCollector{d: d},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// configure starts the series of cfg's slots and receivers at 0 and drops
// those of slots and receivers it no longer has. It runs before a
// generation starts, after the previous one stopped, so no late count
// of a removed slot brings its series back.
func (m *metrics) configure(cfg *config.Config) {
	slots := make([]string, len(cfg.Slots))
	for i, s := range cfg.Slots {
		slots[i] = s.Name
	}
	receivers := make([]string, len(cfg.Notifiers))
	for i, n := range cfg.Notifiers {
		receivers[i] = n.Name
	}
	m.probes.configure(slots)
	m.rotations.configure(slots)
	m.notifications.configure(receivers)
}

func (m *metrics) reloaded(ok bool, at time.Time) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadTime.Set(float64(at.Unix()))
	} else {
		m.reloadOK.Set(0)
	}
}

// Probe implements rotator.Observer.
func (m *metrics) Probe(slot, outcome string, latency time.Duration) {
	m.probes.inc(slot, outcome)
	if latency > 0 {
		m.probeDuration.Observe(latency.Seconds())
	}
}

// Rotation implements rotator.Observer.
func (m *metrics) Rotation(slot, result string, gap time.Duration) {
	m.rotations.inc(slot, result)
	if gap > 0 {
		m.cutoverGap.Observe(gap.Seconds())
	}
}

func (m *metrics) notification(receiver, result string) {
	m.notifications.inc(receiver, result)
}

var (
	descAge = prometheus.NewDesc("kpay_rotator_key_age_seconds",
		"Age of each slot's current pair.", []string{"slot", "environment"}, nil)
	descHealth = prometheus.NewDesc("kpay_rotator_key_health",
		"1 for the current health state of each slot's current pair (unknown, healthy, degraded, failing), 0 for the others.", []string{"slot", "state"}, nil)
	descAgeState = prometheus.NewDesc("kpay_rotator_key_age_state",
		"1 for the current age state of each slot's pair (fresh, due, overdue); all 0 until its age is known.", []string{"slot", "state"}, nil)
	descPending = prometheus.NewDesc("kpay_rotator_outbox_pending",
		"Alerts queued for delivery, per receiver.", []string{"receiver"}, nil)
	descWritable = prometheus.NewDesc("kpay_rotator_state_writable",
		"1 while the state database's commits succeed, 0 while they fail (a full disk).", nil, nil)
	descRotating = prometheus.NewDesc("kpay_rotator_rotation_in_flight",
		"1 while a rotation is open (stage waiting for the pair) or a staged pair is not yet written, per slot.", []string{"slot"}, nil)
)

// stateCollector reads slot state and the outbox at scrape time.
type stateCollector struct{ d *Daemon }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAge
	ch <- descHealth
	ch <- descAgeState
	ch <- descPending
	ch <- descRotating
	ch <- descWritable
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gen := c.d.current()
	now := c.d.now()
	_, _, failing := c.d.store.WriteFailure()
	ch <- prometheus.MustNewConstMetric(descWritable, prometheus.GaugeValue, b2f(!failing))
	_ = c.d.store.View(func(tx store.Tx) error {
		for _, s := range gen.cfg.Slots {
			st, ok, err := tx.Slot(s.Name)
			if err != nil {
				return err
			}
			health := string(store.HealthUnknown)
			if ok {
				health = string(st.Health)
				if p, ok, _ := tx.Pair(s.Name, st.Current); ok {
					ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, now.Sub(p.Born).Seconds(), s.Name, string(s.Environment))
				}
			}
			for _, state := range []store.Health{store.HealthUnknown, store.HealthHealthy, store.HealthDegraded, store.HealthFailing} {
				ch <- prometheus.MustNewConstMetric(descHealth, prometheus.GaugeValue, b2f(health == string(state)), s.Name, string(state))
			}
			// Every state from the start, 0 until known: a rule on
			// one never meets a missing series.
			for _, state := range []store.AgeState{store.AgeFresh, store.AgeDue, store.AgeOverdue} {
				ch <- prometheus.MustNewConstMetric(descAgeState, prometheus.GaugeValue, b2f(ok && st.Age == state), s.Name, string(state))
			}
			_, active, _ := tx.ActiveRotation(s.Name)
			ch <- prometheus.MustNewConstMetric(descRotating, prometheus.GaugeValue, b2f(active), s.Name)
		}
		pending, err := tx.Pending()
		if err != nil {
			return err
		}
		for _, n := range gen.cfg.Notifiers {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending[n.Name]), n.Name)
		}
		return nil
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// leading records a change of role.
func (m *metrics) leading(on bool) {
	if on {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
	m.leaderChanges.Inc()
}
