package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
	"kpay-rotator/rotator"
)

const demoConfig = `# kpay-rotator demo configuration (written by kpay-demo)
[daemon]
state_dir = "state"
inbox_dir = "inbox"
listen    = "127.0.0.1:0"

[kpay]
base_url = %q          # the KPay sandbox emulator
timeout  = "5s"
requests_per_minute = 60

[defaults]
notify            = ["ops"]
probe_schedule    = "@every 3s"   # a real host uses "auto": every minute for up to 20 slots
retired_schedule  = "@every 3s"
jitter            = "1s"
failure_threshold = 2

[[slot]]
name        = "payments-live"
environment = "live"
secret_id   = "prod/payments/kpay"

[[slot]]
name        = "checkout-test"
environment = "test"
secret_id   = "test/checkout/kpay"
max_age     = "20s"               # tiny, so the demo shows it age
warn_before = "12s"

[[notifier]]
name         = "ops"
type         = "slack"
url_file     = "slack-ops.url"    # a local stand-in for a Slack channel
group_wait   = "1s"
min_severity = "warning"
%s`

const extraSlot = `
[[slot]]
name        = "refunds-live"
environment = "live"
secret_id   = "prod/refunds/kpay"
`

func run(ctx context.Context, rotatorBin string, keep bool) error {
	dir, err := os.MkdirTemp("", "kpay-demo-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Printf("\nDemo files kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	step("Starting the KPay sandbox emulator and the Secrets Manager emulator (loopback only)")
	kp, err := kpayemu.Start(kpayemu.Options{})
	if err != nil {
		return err
	}
	defer kp.Close()
	sm := awstest.Start()
	defer sm.Close()
	say("KPay emulator:            %s", kp.URL)
	say("Secrets Manager emulator: %s", sm.URL)

	step("Creating KPay applications and storing their pairs in Secrets Manager")
	payments := kp.CreateApplication("Payments")
	checkout := kp.CreateApplication("Checkout")
	refunds := kp.CreateApplication("Refunds")
	livePair, _ := kp.Pair(payments.ID, kpay.Live)
	testPair, _ := kp.Pair(checkout.ID, kpay.Test)
	refundsPair, _ := kp.Pair(refunds.ID, kpay.Live)
	for _, s := range []struct {
		id   string
		pair kpay.Pair
	}{{"prod/payments/kpay", livePair}, {"test/checkout/kpay", testPair}, {"prod/refunds/kpay", refundsPair}} {
		if _, err := sm.PutJSON(ctx, s.id, secretJSON(s.pair)); err != nil {
			return err
		}
		say("%-20s holds %s (plus a DATABASE_URL field the daemon must never touch)", s.id, s.pair.Mask())
	}

	chat := startChat()
	defer chat.Close()
	if err := os.WriteFile(filepath.Join(dir, "slack-ops.url"), []byte(chat.URL+"/services/T0DEMO/B0DEMO/demo-token\n"), 0o600); err != nil {
		return err
	}

	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(demoConfig, kp.URL, "")), 0o600); err != nil {
		return err
	}
	if rotatorBin == "" {
		step("Building kpay-rotator (the production binary; no emulator is linked into it)")
		rotatorBin = filepath.Join(dir, "kpay-rotator")
		if err := build(ctx, rotatorBin); err != nil {
			return err
		}
	}
	d := &daemon{bin: rotatorBin, config: cfgPath, env: sm.Env()}

	step("kpay-rotator check-config")
	if err := d.show(ctx, "check-config"); err != nil {
		return err
	}
	step("kpay-rotator notify-test: alerts go to a local stand-in for a Slack channel")
	if err := d.show(ctx, "notify-test"); err != nil {
		return err
	}

	step("Starting the daemon: kpay-rotator run")
	if err := d.start(ctx); err != nil {
		return err
	}
	defer d.kill()
	if err := d.waitStatus(ctx, "both pairs probed healthy", func(s rotator.Status) bool {
		return health(s, "payments-live") == "healthy" && health(s, "checkout-test") == "healthy"
	}); err != nil {
		return err
	}
	step("kpay-rotator status")
	if err := d.show(ctx, "status"); err != nil {
		return err
	}
	k0, g0, d0 := kp.Counters().Total, sm.Calls("GetSecretValue"), sm.Calls("DescribeSecret")
	time.Sleep(7 * time.Second)
	say("in 7 s: %d probes, each one KPay request; %d Secrets Manager reads and %d DescribeSecret calls",
		kp.Counters().Total-k0, sm.Calls("GetSecretValue")-g0, sm.Calls("DescribeSecret")-d0)
	say("(the pair stays in memory; the secret is looked at hourly, on SIGUSR1, and when KPay rejects the pair)")

	step("A planned rotation: kpay-rotator stage first, then regenerate in the dashboard")
	say("stage opens a rotation of the slot before the pair exists; on a terminal it then")
	say("prompts (no echo); a script or password manager uses --open, then pipes the pair in")
	if err := d.show(ctx, "stage", "payments-live", "--open"); err != nil {
		return err
	}
	if err := d.waitStatus(ctx, "the rotation open in the journal", func(s rotator.Status) bool {
		sl := find(s, "payments-live")
		return sl != nil && sl.Rotation != nil && sl.Rotation.State == "open"
	}); err != nil {
		return err
	}
	planned, err := kp.Regenerate(payments.ID, kpay.Live)
	if err != nil {
		return err
	}
	say("the admin regenerates in the dashboard: new pair %s; the old %s dies at once", planned.Mask(), livePair.Mask())
	if err := d.waitStatus(ctx, "a probe meeting the dead pair: expected, so no alarm", func(s rotator.Status) bool {
		sl := find(s, "payments-live")
		return sl != nil && sl.FailingSince != nil
	}); err != nil {
		return err
	}
	if err := d.show(ctx, "status"); err != nil {
		return err
	}
	say("the admin pastes the pair (piped here as two lines):")
	if err := d.showIn(ctx, pairLines(planned), "stage", "payments-live"); err != nil {
		return err
	}
	if err := d.waitStatus(ctx, "the old pair confirmed revoked: rotation complete", rotationDone("payments-live")); err != nil {
		return err
	}

	step("An unplanned regeneration: someone regenerates the Payments pair with no rotation open")
	newLive, err := kp.Regenerate(payments.ID, kpay.Live)
	if err != nil {
		return err
	}
	say("new pair %s; Secrets Manager still holds the dead %s", newLive.Mask(), planned.Mask())
	say("the next probe meets the dead pair, a confirmation follows within 2 s: unplanned_revocation")
	if err := d.waitStatus(ctx, "payments-live failing, revoked outside a rotation", func(s rotator.Status) bool { return health(s, "payments-live") == "failing" }); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the alert reaches the chat stand-in (group_wait 1s)
	if err := d.show(ctx, "status"); err != nil {
		return err
	}

	step("Whoever regenerated it hands the new pair over: kpay-rotator stage payments-live")
	if err := d.showIn(ctx, pairLines(newLive), "stage", "payments-live"); err != nil {
		return err
	}
	if err := d.waitStatus(ctx, "the old pair confirmed revoked: rotation complete", rotationDone("payments-live")); err != nil {
		return err
	}
	if err := d.show(ctx, "status"); err != nil {
		return err
	}

	step("Bad hand-overs are refused and nothing is written")
	other := kp.CreateApplication("Someone else's app")
	otherPair, _ := kp.Pair(other.ID, kpay.Live)
	say("a live pair for the test slot (refused locally):")
	_ = d.showIn(ctx, pairLines(newLive), "stage", "checkout-test")
	say("another application's pair (refused by the daemon after asking KPay):")
	_ = d.showIn(ctx, pairLines(otherPair), "stage", "payments-live")

	step("Someone regenerates the Checkout pair and pastes it into Secrets Manager by hand")
	newTest, err := kp.Regenerate(checkout.ID, kpay.Test)
	if err != nil {
		return err
	}
	if err := d.waitStatus(ctx, "the dead pair noticed", func(s rotator.Status) bool {
		sl := find(s, "checkout-test")
		return sl != nil && sl.FailingSince != nil
	}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the time it takes to paste into the console
	if _, err := sm.PutJSON(ctx, "test/checkout/kpay", secretJSON(newTest)); err != nil {
		return err
	}
	d.signal(sigUSR1)
	if err := d.waitStatus(ctx, "the change noticed, the new pair adopted with its cutover gap, the old one confirmed revoked", func(s rotator.Status) bool {
		sl := find(s, "checkout-test")
		return sl != nil && sl.Pair == newTest.Mask() && sl.Health == "healthy" && sl.CutoverGap != "" && len(sl.Retired) > 0 && sl.Retired[0].Role == "revoked"
	}); err != nil {
		return err
	}
	if err := d.show(ctx, "status"); err != nil {
		return err
	}

	step("A console edit of the Checkout secret drops its DATABASE_URL field")
	pairOnly := fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q}`, newTest.APIKey, newTest.SecretKey.Reveal())
	if _, err := sm.PutJSON(ctx, "test/checkout/kpay", pairOnly); err != nil {
		return err
	}
	d.signal(sigUSR1)
	if err := d.waitStatus(ctx, "secret_fields_lost: the pair is fine, the services' other field is gone", func(s rotator.Status) bool {
		sl := find(s, "checkout-test")
		return sl != nil && len(sl.FieldsLost) > 0
	}); err != nil {
		return err
	}
	if err := d.show(ctx, "status"); err != nil {
		return err
	}
	say("kpay-rotator repair copies the field back from the version that had it (never the pair):")
	if err := d.show(ctx, "repair", "checkout-test", "--dry-run"); err != nil {
		return err
	}
	if err := d.show(ctx, "repair", "checkout-test"); err != nil {
		return err
	}
	d.signal(sigUSR1)
	if err := d.waitStatus(ctx, "secret_fields_restored", func(s rotator.Status) bool {
		sl := find(s, "checkout-test")
		return sl != nil && len(sl.FieldsLost) == 0
	}); err != nil {
		return err
	}

	step("Meanwhile checkout-test ages: max_age 20s, warn_before 12s (a real slot uses 90d and 14d)")
	if err := d.waitStatus(ctx, "checkout-test overdue", func(s rotator.Status) bool {
		sl := find(s, "checkout-test")
		return sl != nil && sl.AgeState == "overdue"
	}); err != nil {
		return err
	}

	step("What ops tooling sees: /readyz and /metrics on the loopback listener")
	if err := d.showHTTP(ctx, filepath.Join(dir, "state"), "/readyz", ""); err != nil {
		return err
	}
	if err := d.showHTTP(ctx, filepath.Join(dir, "state"), "/metrics", "kpay_rotator_key_"); err != nil {
		return err
	}

	step("Alert rules can fire on the first event: every series they read starts at 0")
	if err := d.showHTTP(ctx, filepath.Join(dir, "state"), "/metrics", `kpay_rotator_rotations_total{result="rejected"`); err != nil {
		return err
	}
	if err := d.showHTTP(ctx, filepath.Join(dir, "state"), "/metrics", "kpay_rotator_build_info"); err != nil {
		return err
	}
	st, err := d.status(ctx)
	if err != nil {
		return err
	}
	say("status --json is schema_version %d, every key present (docs/status.schema.json)", st.SchemaVersion)

	step("Adding a slot to the configuration and reloading with SIGHUP")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(demoConfig, kp.URL, extraSlot)), 0o600); err != nil {
		return err
	}
	d.signal(sigHUP)
	if err := d.waitStatus(ctx, "refunds-live probed", func(s rotator.Status) bool { return health(s, "refunds-live") == "healthy" }); err != nil {
		return err
	}
	if err := d.show(ctx, "status"); err != nil {
		return err
	}

	step("Stopping with SIGTERM")
	if err := d.stop(10 * time.Second); err != nil {
		return err
	}
	say("daemon exited cleanly")

	step("kpay-rotator status after the daemon stopped (read straight from the state database)")
	if err := d.show(ctx, "status"); err != nil {
		return err
	}
	fmt.Println("\nDemo complete.")
	return nil
}

func pairLines(p kpay.Pair) string { return p.APIKey + "\n" + p.SecretKey.Reveal() + "\n" }

func secretJSON(p kpay.Pair) string {
	return fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q,"DATABASE_URL":"postgres://payments@db/payments"}`, p.APIKey, p.SecretKey.Reveal())
}

// rotationDone holds once slot's latest rotation is done: written, and the
// old pair confirmed revoked.
func rotationDone(slot string) func(rotator.Status) bool {
	return func(s rotator.Status) bool {
		sl := find(s, slot)
		return sl != nil && sl.Rotation != nil && sl.Rotation.State == "done"
	}
}

func health(s rotator.Status, slot string) string {
	if sl := find(s, slot); sl != nil {
		return sl.Health
	}
	return ""
}

func find(s rotator.Status, slot string) *rotator.SlotStatus {
	for i := range s.Slots {
		if s.Slots[i].Name == slot {
			return &s.Slots[i]
		}
	}
	return nil
}

var started = time.Now()

func step(msg string) {
	fmt.Printf("\n\033[1m==> %s\033[0m  [t+%.0fs]\n", msg, time.Since(started).Seconds())
}

func say(format string, args ...any) {
	fmt.Println("    " + strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}
