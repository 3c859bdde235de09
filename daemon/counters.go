package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// keyedCounter is a counter labelled by a configured name (a slot or a
// receiver) and a result, whose series for every configured name and
// known result exist from the start at 0: an alert on increase() then
// fires on the first occurrence, where a series born at 1 shows no
// increase (Prometheus' "avoid missing metrics"). Names removed from the
// configuration take their series with them.
//
// Kept by hand rather than in a CounterVec: a vec child costs about 500
// bytes, and at 10,000 slots the zeroed series would hold ~50 MB.
type keyedCounter struct {
	desc    *prometheus.Desc
	results []string // always exported
	index   map[string]int

	mu     sync.Mutex
	counts map[string][]uint64 // name → count per results index
	// extra holds results outside results (a retired pair's probes):
	// exported once counted, as a CounterVec would.
	extra map[string]map[string]uint64
}

func newKeyedCounter(name, help, key string, results []string) *keyedCounter {
	c := &keyedCounter{
		desc:    prometheus.NewDesc(name, help, []string{key, "result"}, nil),
		results: results,
		index:   make(map[string]int, len(results)),
		counts:  map[string][]uint64{},
		extra:   map[string]map[string]uint64{},
	}
	for i, r := range results {
		c.index[r] = i
	}
	return c
}

// configure makes names the configured set: new names start at 0 for
// every result, names no longer there are dropped, the others keep their
// counts.
func (c *keyedCounter) configure(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.counts {
		if !keep[n] {
			delete(c.counts, n)
		}
	}
	for n := range c.extra {
		if !keep[n] {
			delete(c.extra, n)
		}
	}
	for _, n := range names {
		if _, ok := c.counts[n]; !ok {
			c.counts[n] = make([]uint64, len(c.results))
		}
	}
}

// inc counts one result for name. A name not configured is counted too
// (and dropped at the next configure), so nothing is lost in a race with
// a reload.
func (c *keyedCounter) inc(name, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[result]; ok {
		counts, ok := c.counts[name]
		if !ok {
			counts = make([]uint64, len(c.results))
			c.counts[name] = counts
		}
		counts[i]++
		return
	}
	if c.extra[name] == nil {
		c.extra[name] = map[string]uint64{}
	}
	c.extra[name][result]++
}

func (c *keyedCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *keyedCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, counts := range c.counts {
		for i, v := range counts {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), n, c.results[i])
		}
	}
	for n, m := range c.extra {
		for r, v := range m {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), n, r)
		}
	}
}
