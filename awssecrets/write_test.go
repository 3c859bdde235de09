package awssecrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
)

var newPair = kpay.Pair{
	APIKey:    "kpay_live_ffffffffffffffffffffffffffffffffffffffffffffffff",
	SecretKey: kpay.NewSecret("sk_live_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
}

func TestClient_PutKeepsOtherFields(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	orig := `{"KPAY_API_KEY":"` + canaryAPI + `","KPAY_SECRET_KEY":"` + canarySecret + `","DATABASE_URL":"postgres://u:p@db/x?a=1&b=<2>","N":12.50,"NESTED":{"z":[1,2,{"q":null}]}}`
	if _, err := emu.PutJSON(ctx, "s", orig); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Current(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	value, err := cur.WithPair("KPAY_API_KEY", "KPAY_SECRET_KEY", newPair)
	if err != nil {
		t.Fatal(err)
	}
	vid, err := c.Put(ctx, "s", value, "11111111-2222-4333-8444-555555555555")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	after, err := c.Current(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if after.VersionID != vid {
		t.Errorf("current version %s, want the put's %s", after.VersionID, vid)
	}
	got, _ := after.Pair("KPAY_API_KEY", "KPAY_SECRET_KEY")
	if !got.Equal(newPair) {
		t.Errorf("pair after put = %s, want %s", got, newPair)
	}
	var before, now map[string]json.RawMessage
	json.Unmarshal([]byte(orig), &before)
	json.Unmarshal([]byte(after.Value.Reveal()), &now)
	for _, k := range []string{"DATABASE_URL", "N", "NESTED"} {
		if string(before[k]) != string(now[k]) {
			t.Errorf("field %s changed: %s -> %s", k, before[k], now[k])
		}
	}
	if len(now) != len(before) {
		t.Errorf("field count %d, want %d", len(now), len(before))
	}
}

func TestClient_PutErrorsSayWhatToFix(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	value, _ := secretdoc.NewValue("A", "B", newPair)
	if _, err := c.Put(ctx, "missing", value, "11111111-2222-4333-8444-555555555555"); !errors.Is(err, secretdoc.ErrNotFound) {
		t.Errorf("Put to a missing secret = %v, want ErrNotFound", err)
	}
	emu.PutJSON(ctx, "s", `{}`)
	emu.Inject(awstest.Fault{Op: "PutSecretValue", Status: 400, Code: "AccessDeniedException", Count: 1})
	_, err := c.Put(ctx, "s", value, "11111111-2222-4333-8444-555555555556")
	if !errors.Is(err, secretdoc.ErrAccessDenied) || err == nil || !strings.Contains(err.Error(), "secretsmanager:PutSecretValue") {
		t.Errorf("access denied = %v", err)
	}
	emu.Inject(awstest.Fault{Op: "PutSecretValue", Status: 400, Code: "LimitExceededException", Count: 1})
	before := emu.Calls("PutSecretValue")
	if _, err := c.Put(ctx, "s", value, "11111111-2222-4333-8444-555555555557"); !errors.Is(err, secretdoc.ErrLimit) {
		t.Errorf("quota = %v, want ErrLimit", err)
	}
	if n := emu.Calls("PutSecretValue") - before; n != 1 {
		// The SDK must not retry a quota error: it cannot succeed.
		t.Errorf("PutSecretValue calls for a quota error = %d, want 1 (no retries)", n)
	}
}

func TestClient_Create(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	value, _ := secretdoc.NewValue("KPAY_API_KEY", "KPAY_SECRET_KEY", newPair)
	if _, err := c.Create(ctx, "new/secret", value, "11111111-2222-4333-8444-555555555555"); err != nil {
		t.Fatal(err)
	}
	v, _, err := emu.Current(ctx, "new/secret")
	if err != nil || v != value.Reveal() {
		t.Errorf("created value mismatch (err %v)", err)
	}
}
