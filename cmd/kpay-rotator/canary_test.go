package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// TestCanary_NoSecretInAnyOutput plants known secrets, drives the daemon
// through every path that reports on them (healthy, rejected, failing,
// drift, revoked, unreadable secret, a hand-over written and one refused,
// debug logging), and scans every
// output: the log, status in both forms, and every file in the state
// directory, the bbolt database included.
func TestCanary_NoSecretInAnyOutput(t *testing.T) {
	f := newFixture(t)
	const dbCanary = "CANARY-db-password-7f3a9c"
	var canaries []string
	plant := func(p kpay.Pair) {
		sk := p.SecretKey.Reveal()
		body := strings.TrimPrefix(strings.TrimPrefix(sk, "sk_live_"), "sk_test_")
		// The full public key is not secret to KPay, but only its mask is
		// ever shown; its random body must not appear either.
		canaries = append(canaries, sk, body, body[:24], p.APIKey, p.APIKey[10:34])
	}
	for _, s := range fixtureSlots {
		p, _ := f.kpay.Pair(f.apps[s.name].ID, kpay.Environment(s.env))
		plant(p)
		if _, err := f.aws.PutJSON(context.Background(), s.secret, secretJSON(p, dbCanary)); err != nil {
			t.Fatal(err)
		}
	}
	canaries = append(canaries, dbCanary)

	p := f.start("--log-level", "debug")
	var outputs []string
	collect := func() {
		out, errOut, _ := f.cli("status")
		outJSON, errJSON, _ := f.cli("status", "--json")
		outputs = append(outputs, out, errOut, outJSON, errJSON)
	}
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	collect()

	// Regenerated: rejected twice → failing.
	newPair := f.regenerate("payments-live")
	plant(newPair)
	for i := 0; i < 2; i++ {
		p.signal(syscall.SIGUSR1)
		want := i + 1
		eventually(t, "rejection recorded", func() bool {
			return strings.Count(p.log(), `outcome=rejected`) >= want || slotOf(f.status(), "payments-live").Health == "failing"
		})
	}
	eventually(t, "failing", func() bool { return slotOf(f.status(), "payments-live").Health == "failing" })
	collect()

	// Drift to the new pair; the old one is revoked.
	if _, err := f.aws.PutJSON(context.Background(), "prod/payments/kpay", secretJSON(newPair, dbCanary)); err != nil {
		t.Fatal(err)
	}
	// A secret that is not JSON, holding a secret, for the other slot.
	checkout, _ := f.kpay.Pair(f.apps["checkout-test"].ID, kpay.Test)
	if _, err := f.aws.PutJSON(context.Background(), "test/checkout/kpay", `KPAY_SECRET_KEY=`+checkout.SecretKey.Reveal()); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGUSR1)
	eventually(t, "drift and unreadable secret recorded", func() bool {
		doc := f.status()
		return slotOf(doc, "payments-live").Pair == newPair.Mask() && slotOf(doc, "checkout-test").SourceError != ""
	})
	eventually(t, "old pair revoked", func() bool { return strings.Contains(p.log(), "event=old_key_revoked") })
	collect()

	// A hand-over: a regenerated pair staged, verified and written; then
	// the same pair again, refused.
	staged := f.regenerate("payments-live")
	plant(staged)
	for _, want := range []int{0, 1} {
		out, errOut, code := f.cliIn(lines(staged), "stage", "payments-live")
		outputs = append(outputs, out, errOut)
		if code != want {
			t.Fatalf("stage: exit %d, want %d: %s%s", code, want, out, errOut)
		}
	}
	collect()

	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	collect() // from the database, daemon stopped
	outputs = append(outputs, p.log())

	files := map[string]string{}
	err := filepath.Walk(f.stateDir(), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 1 {
		t.Fatalf("state dir holds %d files, want the database at least", len(files))
	}
	for path, content := range files {
		outputs = append(outputs, content)
		_ = path
	}
	for i, out := range outputs {
		for _, c := range canaries {
			for _, form := range []string{c, strings.ToUpper(c), hex.EncodeToString([]byte(c))} {
				if strings.Contains(out, form) {
					t.Errorf("output %d leaks canary %q…:\n%.400s", i, c[:8], out)
				}
			}
		}
	}
	// The scan must have seen the things it claims to scan.
	all := strings.Join(outputs, "\n")
	for _, want := range []string{"event=unplanned_revocation", "event=secret_changed_externally", "event=old_key_revoked", "event=secret_unreadable",
		"event=key_rotated", "staged pair refused", "level=DEBUG", newPair.Mask(), staged.Mask()} {
		if !strings.Contains(all, want) {
			t.Errorf("outputs lack %q: the canary scan did not cover that path", want)
		}
	}
}
