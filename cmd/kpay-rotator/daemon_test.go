package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kpay-rotator/daemon"
	"kpay-rotator/event"
	"kpay-rotator/internal/testutil"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// TestDaemon_InProcess boots the whole daemon in the test process, drives
// it through its channels (what SIGUSR1 and SIGHUP become), and stops it.
func TestDaemon_InProcess(t *testing.T) {
	f := newFixture(t)
	reload, rotate := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testutil.SyncBuffer
	started := make(chan *daemon.Daemon, 1)
	errc := make(chan error, 1)
	noJitter := time.Duration(0)
	go func() {
		errc <- daemon.Run(ctx, daemon.Options{
			ConfigPath: f.cfgPath,
			Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Reload:     reload, Rotate: rotate, Jitter: &noJitter,
			Started: func(d *daemon.Daemon) { started <- d },
		})
	}()
	var d *daemon.Daemon
	select {
	case d = <-started:
	case err := <-errc:
		t.Fatalf("daemon did not start: %v", err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()
	status := func() rotator.Status {
		doc, err := d.Status()
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		return doc
	}
	// rotateAndWait triggers an on-demand pass and waits for it to be
	// recorded for slot.
	rotateAndWait := func(slot string) {
		t.Helper()
		before := slotOf(status(), slot).LastProbe
		rotate <- struct{}{}
		eventually(t, "on-demand probe of "+slot, func() bool {
			p := slotOf(status(), slot).LastProbe
			return p != nil && (before == nil || p.At.After(before.At))
		})
	}

	eventually(t, "start pass", func() bool {
		doc := status()
		return slotOf(doc, "payments-live").Health == "healthy" && slotOf(doc, "checkout-test").Health == "healthy"
	})

	// Dashboard regeneration: the stored pair dies; two probes → failing.
	newPair := f.regenerate("payments-live")
	rotateAndWait("payments-live")
	rotateAndWait("payments-live")
	if h := slotOf(status(), "payments-live").Health; h != "failing" {
		t.Fatalf("after two rejections: %s, want failing", h)
	}

	// The admin writes the new pair by hand: adopted, the old one revoked.
	f.putPair("prod/payments/kpay", newPair)
	rotateAndWait("payments-live")
	// The retired probe follows the slot's probe in the same pass.
	eventually(t, "old pair revoked", func() bool {
		r := slotOf(status(), "payments-live").Retired
		return len(r) == 1 && r[0].Role == "revoked"
	})
	s := slotOf(status(), "payments-live")
	if s.Pair != newPair.Mask() || s.Health != "healthy" || len(s.Retired) != 1 || s.Retired[0].Role != "revoked" {
		t.Fatalf("after drift: %+v", s)
	}

	// Reload: a broken file is refused, a good one applied.
	good, _ := os.ReadFile(f.cfgPath)
	if err := os.WriteFile(f.cfgPath, append(good, []byte("\n[oops]\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	eventually(t, "refused reload", func() bool { return strings.Contains(logs.String(), "reload refused") })
	app := f.kpay.CreateApplication("refunds")
	pair, _ := f.kpay.Pair(app.ID, "live")
	f.putPair("prod/refunds/kpay", pair)
	f.writeConfig("\n[[slot]]\nname = \"refunds-live\"\nenvironment = \"live\"\nsecret_id = \"prod/refunds/kpay\"\n")
	reload <- struct{}{}
	eventually(t, "reloaded slot probed", func() bool { return slotOf(status(), "refunds-live").Health == "healthy" })

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("daemon.Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop within 10 s")
	}

	// The store was closed: it opens again, and holds the story.
	st, err := bboltstore.Open(filepath.Join(f.stateDir(), bboltstore.FileName), bboltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer st.Close()
	var kinds []string
	_ = st.View(func(tx store.Tx) error {
		evs, _ := tx.Events(0, 0)
		for _, e := range evs {
			kinds = append(kinds, string(e.Kind))
		}
		return nil
	})
	want := []event.Kind{event.UnplannedRevocation, event.SecretChangedExternally, event.KeyRecovered, event.OldKeyRevoked}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("recorded events = %v, want %v", kinds, want)
	}
}
