package awssecrets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/secretdoc"
)

const (
	canaryAPI    = "kpay_live_0123456789abcdef0123456789abcdef0123456789abcdef"
	canarySecret = "sk_live_CANARYCANARYCANARYCANARYCANARYCANARYCANARYCANARY0123456789ab"
)

func newClient(t *testing.T) (*awssecrets.Client, *awstest.Emulator) {
	t.Helper()
	emu := awstest.Start()
	t.Cleanup(emu.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	c, err := awssecrets.New(context.Background(), awssecrets.Options{Region: awstest.Region, Endpoint: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, emu
}

func TestClient_CurrentReadsPairAndVersion(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	vid, err := emu.PutJSON(ctx, "prod/payments/kpay", `{"KPAY_API_KEY":"`+canaryAPI+`","KPAY_SECRET_KEY":"`+canarySecret+`","OTHER":42}`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Current(ctx, "prod/payments/kpay")
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if v.VersionID != vid {
		t.Errorf("VersionID = %q, want %q", v.VersionID, vid)
	}
	if v.Created.IsZero() || time.Since(v.Created) > time.Hour {
		t.Errorf("Created = %v, want about now", v.Created)
	}
	pair, err := v.Pair("KPAY_API_KEY", "KPAY_SECRET_KEY")
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	if pair.APIKey != canaryAPI || pair.SecretKey.Reveal() != canarySecret {
		t.Errorf("pair = %s, want the stored one", pair)
	}
}

// Describe says which version is current without reading a value: what
// the drift check compares, one cheap call a slot an hour.
func TestClient_DescribeNamesTheCurrentVersion(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	for i := range 3 {
		vid, err := emu.PutJSON(ctx, "prod/payments/kpay", `{"KPAY_API_KEY":"`+canaryAPI+`","KPAY_SECRET_KEY":"`+canarySecret+`","N":`+string(rune('0'+i))+`}`)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Describe(ctx, "prod/payments/kpay")
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		if d.CurrentVersionID != vid {
			t.Errorf("after write %d: CurrentVersionID = %q, want the version just written %q", i, d.CurrentVersionID, vid)
		}
	}
}

func TestClient_ErrorsNameTheProblem(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	if _, err := emu.PutJSON(ctx, "ok", `{"A":"x"}`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		fault   *awstest.Fault
		secret  string
		want    error
		mention []string
	}{
		{name: "missing secret", secret: "nope", want: secretdoc.ErrNotFound, mention: []string{`"nope"`, "secret_id", awstest.Region}},
		{name: "access denied", secret: "ok", fault: &awstest.Fault{Op: "GetSecretValue", Status: 400, Code: "AccessDeniedException"},
			want: secretdoc.ErrAccessDenied, mention: []string{"secretsmanager:GetSecretValue", `"ok"`}},
		{name: "kms", secret: "ok", fault: &awstest.Fault{Op: "GetSecretValue", Status: 400, Code: "DecryptionFailure"},
			want: secretdoc.ErrAccessDenied, mention: []string{"kms:Decrypt"}},
		{name: "throttled", secret: "ok", fault: &awstest.Fault{Op: "GetSecretValue", Status: 400, Code: "ThrottlingException"},
			want: secretdoc.ErrTransient},
		{name: "5xx", secret: "ok", fault: &awstest.Fault{Op: "GetSecretValue", Status: 500, Code: "InternalServiceError"},
			want: secretdoc.ErrTransient},
		{name: "quota", secret: "ok", fault: &awstest.Fault{Op: "GetSecretValue", Status: 400, Code: "LimitExceededException"},
			want: secretdoc.ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu.ClearFaults()
			if tt.fault != nil {
				emu.Inject(*tt.fault)
			}
			_, err := c.Current(ctx, tt.secret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestClient_HistoryUnsupportedOnEmulator(t *testing.T) {
	c, emu := newClient(t)
	ctx := context.Background()
	if _, err := emu.PutJSON(ctx, "h", `{"A":"x"}`); err != nil {
		t.Fatal(err)
	}
	// kumo has no ListSecretVersionIds: the adapter must say so plainly so
	// callers fall back to the current version's CreatedDate.
	if _, err := c.History(ctx, "h"); !errors.Is(err, secretdoc.ErrUnsupported) {
		t.Fatalf("History = %v, want ErrUnsupported", err)
	}
}

func TestClient_NoCredentialsSaysHowToConfigure(t *testing.T) {
	emu := awstest.Start()
	t.Cleanup(emu.Close)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	c, err := awssecrets.New(context.Background(), awssecrets.Options{Region: awstest.Region, Endpoint: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Current(context.Background(), "any")
	if !errors.Is(err, secretdoc.ErrCredentials) {
		t.Fatalf("err = %v, want ErrCredentials", err)
	}
	if !strings.Contains(err.Error(), "credential chain") {
		t.Errorf("error %q does not say how to configure credentials", err)
	}
}
