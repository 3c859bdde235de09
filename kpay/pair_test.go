package kpay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"kpay-rotator/kpay"
)

const (
	liveKey  = "kpay_live_0123456789abcdef0123456789abcdef0123456789ab9f2c"
	testKey  = "kpay_test_0123456789abcdef0123456789abcdef0123456789abcdef"
	liveSK   = "sk_live_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testSK   = "sk_test_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	plainSK  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	canarySK = "sk_live_CANARY0CANARY0CANARY0CANARY0CANARY0CANARY0CANARY0CANARY0ab"
)

func pair(api, sk string) kpay.Pair { return kpay.Pair{APIKey: api, SecretKey: kpay.NewSecret(sk)} }

func TestPair_Check(t *testing.T) {
	tests := []struct {
		name string
		pair kpay.Pair
		env  kpay.Environment
		want []error
	}{
		{"live pair in live slot", pair(liveKey, liveSK), kpay.Live, nil},
		{"test pair in test slot", pair(testKey, testSK), kpay.Test, nil},
		{"secret without sk_ prefix is fine", pair(liveKey, plainSK), kpay.Live, nil},
		{"live pair in test slot", pair(liveKey, liveSK), kpay.Test, []error{kpay.ErrWrongEnvironment}},
		{"test pair in live slot", pair(testKey, testSK), kpay.Live, []error{kpay.ErrWrongEnvironment}},
		{"mixed prefixes", pair(liveKey, testSK), kpay.Live, []error{kpay.ErrMixedPrefixes}},
		{"empty public key", pair("", liveSK), kpay.Live, []error{kpay.ErrEmptyAPIKey}},
		{"empty secret", pair(liveKey, ""), kpay.Live, []error{kpay.ErrEmptySecretKey}},
		{"unknown prefix", pair("pk_live_0123456789abcdef0123456789abcdef", liveSK), kpay.Live, []error{kpay.ErrAPIKeyPrefix}},
		{"truncated public key", pair("kpay_live_0123", liveSK), kpay.Live, []error{kpay.ErrBadLength}},
		{"truncated secret", pair(liveKey, "sk_live_0011"), kpay.Live, []error{kpay.ErrBadLength}},
		{"trailing newline", pair(liveKey, liveSK+"\n"), kpay.Live, []error{kpay.ErrBadCharacters}},
		{"space inside", pair(liveKey[:20]+" "+liveKey[21:], liveSK), kpay.Live, []error{kpay.ErrBadCharacters}},
		{"control character", pair(liveKey, liveSK[:10]+"\x00"+liveSK[11:]), kpay.Live, []error{kpay.ErrBadCharacters}},
		{"one megabyte", pair(liveKey, "sk_live_"+strings.Repeat("a", 1<<20)), kpay.Live, []error{kpay.ErrBadLength}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pair.Check(tt.env)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Check = %v, want %v", err, w)
				}
			}
			if sk := tt.pair.SecretKey.Reveal(); err != nil && sk != "" && strings.Contains(err.Error(), sk) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestSecret_EveryPrintingFormIsMasked(t *testing.T) {
	s := kpay.NewSecret(canarySK)
	p := pair(liveKey, canarySK)
	type wrapper struct {
		S kpay.Secret
		P kpay.Pair
		// fmt cannot call methods on unexported fields; the value must
		// still not show. (A Pair there would show its public key, which
		// is not a secret; its secret half is a Secret.)
		hidden kpay.Secret
	}
	w := wrapper{s, p, s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, p), fmt.Sprintf(verb, w), fmt.Sprintf(verb, &w))
	}
	j, _ := json.Marshal(w)
	outs = append(outs, string(j), fmt.Sprint(fmt.Errorf("wrapped: %v", p)))
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("m", "secret", s, "pair", p, "w", w)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "secret", s, "pair", p, "w", w)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, "CANARY") || strings.Contains(strings.ToUpper(o), strings.ToUpper(fmt.Sprintf("%x", canarySK))[:20]) {
			t.Errorf("secret leaked: %s", o)
		}
		if strings.Contains(o, liveKey) {
			t.Errorf("full public key printed: %s", o)
		}
	}
	if got := p.String(); got != "kpay_live_…9f2c" {
		t.Errorf("mask = %q, want kpay_live_…9f2c", got)
	}
	if s.Reveal() != canarySK {
		t.Error("Reveal lost the value")
	}
}

func TestPair_FingerprintIsStableAndSeparating(t *testing.T) {
	a := pair(liveKey, liveSK)
	if a.Fingerprint() != pair(liveKey, liveSK).Fingerprint() {
		t.Error("fingerprint not stable")
	}
	for _, other := range []kpay.Pair{pair(liveKey, plainSK), pair(testKey, liveSK), pair(liveKey+liveSK[:1], liveSK[1:])} {
		if other.Fingerprint() == a.Fingerprint() {
			t.Errorf("fingerprint collision between %v and %v", a, other)
		}
	}
	fp := a.Fingerprint()
	if strings.Contains(fp, liveSK[8:20]) || strings.Contains(fp, liveKey[10:22]) || !strings.HasPrefix(fp, "fp_") || len(fp) != 35 {
		t.Errorf("fingerprint %q has the wrong shape or holds key material", fp)
	}
}

func TestEnvironment(t *testing.T) {
	for _, tt := range []struct {
		env      kpay.Environment
		reported string
		want     bool
	}{
		{kpay.Test, "TEST", true}, {kpay.Test, "test", true}, {kpay.Live, "PRODUCTION", true},
		{kpay.Live, "LIVE", true}, {kpay.Live, "production", true}, {kpay.Live, "TEST", false},
		{kpay.Test, "PRODUCTION", false}, {kpay.Live, "SANDBOX", false}, {kpay.Test, "", false},
	} {
		if got := tt.env.Reported(tt.reported); got != tt.want {
			t.Errorf("%s.Reported(%q) = %v, want %v", tt.env, tt.reported, got, tt.want)
		}
	}
	if _, err := kpay.ParseEnvironment("prod"); err == nil {
		t.Error("ParseEnvironment(prod) succeeded")
	}
	if e, ok := kpay.EnvironmentOfAPIKey(testKey); !ok || e != kpay.Test {
		t.Errorf("EnvironmentOfAPIKey(test key) = %v, %v", e, ok)
	}
	if m := kpay.MaskAPIKey("kpay_live_abc"); m != "kpay_live_…" {
		t.Errorf("short key mask = %q, want no tail", m)
	}
}
