package daemon

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A keyedCounter exports every configured name at 0 for each known
// result, counts, keeps a name's counts across a configure that keeps
// it, and drops every series (an unlisted result's too) of a name that
// leaves.
func TestKeyedCounter_configureAndCount(t *testing.T) {
	c := newKeyedCounter("x_total", "X.", "slot", []string{"ok", "bad"})
	c.configure([]string{"a", "b"})
	c.inc("a", "ok")
	c.inc("b", "retired_ok")
	c.configure([]string{"a", "c"})
	c.inc("c", "bad")
	c.inc("c", "retired_ok")

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[[2]string{l["slot"], l["result"]}] = m.GetCounter().GetValue()
		}
	}
	want := map[[2]string]float64{
		{"a", "ok"}: 1, {"a", "bad"}: 0,
		{"c", "ok"}: 0, {"c", "bad"}: 1, {"c", "retired_ok"}: 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
