package kpayemu

import (
	"regexp"
	"testing"

	"kpay-rotator/kpay"
)

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	keyRE  = map[kpay.Environment]*regexp.Regexp{
		kpay.Test: regexp.MustCompile(`^kpay_test_[0-9a-f]{48}$`),
		kpay.Live: regexp.MustCompile(`^kpay_live_[0-9a-f]{48}$`),
	}
	secretRE = map[kpay.Environment]*regexp.Regexp{
		kpay.Test: regexp.MustCompile(`^sk_test_[0-9a-f]{64}$`),
		kpay.Live: regexp.MustCompile(`^sk_live_[0-9a-f]{64}$`),
	}
	bareSecretRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func TestKeys_FormatsAndUniqueness(t *testing.T) {
	s := New(Options{})
	seen := map[string]bool{}
	unique := func(what, v string) {
		t.Helper()
		if seen[v] {
			t.Errorf("%s repeated", what)
		}
		seen[v] = true
	}
	for range 100 {
		app := s.CreateApplication("shop")
		if !uuidV4.MatchString(app.ID) || !uuidV4.MatchString(app.CompanyID) {
			t.Errorf("got ids %q, %q, want UUID v4", app.ID, app.CompanyID)
		}
		unique("application id", app.ID)
		unique("company id", app.CompanyID)
		for _, env := range environments {
			p := mustPair(t, s, app.ID, env)
			if !keyRE[env].MatchString(p.APIKey) {
				t.Errorf("got public key %q, want %s", p.APIKey, keyRE[env])
			}
			if !secretRE[env].MatchString(p.SecretKey.Reveal()) {
				t.Errorf("%s secret does not match %s", env, secretRE[env])
			}
			if err := p.Check(env); err != nil {
				t.Errorf("kpay.Pair.Check(%s): %v", env, err)
			}
			unique("public key", p.APIKey)
			unique("secret", p.SecretKey.Reveal())
		}
	}
}

func TestKeys_PrefixlessSecrets(t *testing.T) {
	s := New(Options{PrefixlessSecrets: true})
	app := s.CreateApplication("shop")
	for _, env := range environments {
		p := mustPair(t, s, app.ID, env)
		if !bareSecretRE.MatchString(p.SecretKey.Reveal()) || p.HasSecretPrefix() {
			t.Errorf("%s: secret has a prefix or the wrong form, want 64 bare hex", env)
		}
		if !keyRE[env].MatchString(p.APIKey) {
			t.Errorf("got public key %q, want %s", p.APIKey, keyRE[env])
		}
	}
	s.SetPrefixlessSecrets(false)
	p, err := s.Regenerate(app.ID, kpay.Live)
	if err != nil {
		t.Fatal(err)
	}
	if !secretRE[kpay.Live].MatchString(p.SecretKey.Reveal()) {
		t.Error("after SetPrefixlessSecrets(false): secret lacks sk_live_")
	}
}
