package daemon

import (
	"os"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// The store prunes to [retention] from the start, and a reload applies new
// bounds to the open store.
func TestRun_RetentionFromConfigAndReload(t *testing.T) {
	path := newConfig(t)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig := func(maxEvents string) {
		t.Helper()
		if err := os.WriteFile(path, append(text, []byte("\n[retention]\nmax_events = "+maxEvents+"\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("5")
	reload := make(chan struct{}, 1)
	d, _ := start(t, Options{ConfigPath: path, Reload: reload})
	// kept appends n events and returns how many the log keeps.
	kept := func(n int) int {
		t.Helper()
		var evs []event.Event
		for range n {
			if err := d.store.Update(func(tx store.Tx) error {
				e := event.New(event.KeyDue, time.Now(), "payments-live", "m")
				return tx.AppendEvent(&e)
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.store.View(func(tx store.Tx) error { evs, err = tx.Events(0, 0); return err }); err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if got := kept(8); got != 5 {
		t.Fatalf("max_events = 5 at start: the log keeps %d, want 5", got)
	}
	writeConfig("3")
	reload <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for d.current().cfg.Retention.MaxEvents != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the reload was not applied within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := kept(1); got != 3 {
		t.Errorf("after a reload to max_events = 3: the log keeps %d, want 3", got)
	}
}
