package rotator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// fakeSecrets is a func-field double: the kumo emulator has no
// ListSecretVersionIds, so the history backfill is tested here.
type fakeSecrets struct {
	versions map[string]secretdoc.Version // by version id
	history  []secretdoc.VersionInfo
	histErr  error
}

func (f *fakeSecrets) Current(context.Context, string) (secretdoc.Version, error) {
	return f.versions[f.history[len(f.history)-1].VersionID], nil
}
func (f *fakeSecrets) Version(_ context.Context, _, id string) (secretdoc.Version, error) {
	v, ok := f.versions[id]
	if !ok {
		return v, secretdoc.ErrNotFound
	}
	return v, nil
}
func (f *fakeSecrets) Describe(context.Context, string) (secretdoc.Description, error) {
	return secretdoc.Description{}, nil
}

func (f *fakeSecrets) History(context.Context, string) ([]secretdoc.VersionInfo, error) {
	return f.history, f.histErr
}

type fakeProber struct{}

func (fakeProber) Probe(context.Context, kpay.Pair, healthcheck.Expect) healthcheck.Result {
	return healthcheck.Result{Outcome: healthcheck.Healthy, Status: 200, Attempts: 1}
}

func (f fakeProber) ProbeUrgent(ctx context.Context, p kpay.Pair, want healthcheck.Expect) healthcheck.Result {
	return f.Probe(ctx, p, want)
}

func TestBornOf_BackfillsFromVersionHistory(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	a := kpay.Pair{APIKey: "kpay_live_" + fmt.Sprintf("%048x", 1), SecretKey: kpay.NewSecret(fmt.Sprintf("%064x", 1))}
	b := kpay.Pair{APIKey: "kpay_live_" + fmt.Sprintf("%048x", 2), SecretKey: kpay.NewSecret(fmt.Sprintf("%064x", 2))}
	val := func(p kpay.Pair, extra string) kpay.Secret {
		return kpay.NewSecret(fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q,"X":%q}`, p.APIKey, p.SecretKey.Reveal(), extra))
	}
	// v1 holds a, v2 b, v3 b again with another field changed: b was born
	// with v2, not v3.
	secrets := &fakeSecrets{
		versions: map[string]secretdoc.Version{
			"v1": {VersionID: "v1", Created: t0, Value: val(a, "1")},
			"v2": {VersionID: "v2", Created: t0.Add(24 * time.Hour), Value: val(b, "1")},
			"v3": {VersionID: "v3", Created: t0.Add(48 * time.Hour), Value: val(b, "2")},
		},
		history: []secretdoc.VersionInfo{{VersionID: "v1", Created: t0}, {VersionID: "v2", Created: t0.Add(24 * time.Hour)}, {VersionID: "v3", Created: t0.Add(48 * time.Hour)}},
	}
	cfg, err := config.Parse([]byte("[[slot]]\nname = \"s\"\nenvironment = \"live\"\nsecret_id = \"x\"\n"), filepath.Join(t.TempDir(), "c.toml"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := New(Options{Config: cfg, Store: st, Secrets: secrets, Prober: fakeProber{}})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(72 * time.Hour)
	born, src := r.bornOf(context.Background(), cfg.Slots[0], secrets.versions["v3"], b.Fingerprint(), now)
	if !born.Equal(t0.Add(24*time.Hour)) || src != store.BornSecretsManager {
		t.Errorf("born = %v (%s), want v2's CreatedDate", born, src)
	}

	// Without history, the current version's date; with none, first seen.
	secrets.histErr = secretdoc.ErrUnsupported
	if born, _ := r.bornOf(context.Background(), cfg.Slots[0], secrets.versions["v3"], b.Fingerprint(), now); !born.Equal(t0.Add(48 * time.Hour)) {
		t.Errorf("born without history = %v, want v3's date", born)
	}
	noDate := secrets.versions["v3"]
	noDate.Created = time.Time{}
	if born, src := r.bornOf(context.Background(), cfg.Slots[0], noDate, b.Fingerprint(), now); !born.Equal(now) || src != store.BornFirstSeen {
		t.Errorf("born without any date = %v (%s), want now, first_seen", born, src)
	}
}

func (f *fakeSecrets) Put(context.Context, string, kpay.Secret, string) (string, error) {
	return "", errors.New("fake: no writes")
}
func (f *fakeSecrets) Create(context.Context, string, kpay.Secret, string) (string, error) {
	return "", errors.New("fake: no writes")
}
