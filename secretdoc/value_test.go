package secretdoc_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
)

const (
	canaryAPI    = "kpay_live_0123456789abcdef0123456789abcdef0123456789abcdef"
	canarySecret = "sk_live_CANARYCANARYCANARYCANARYCANARYCANARYCANARYCANARY0123456789ab"
)

var newPair = kpay.Pair{
	APIKey:    "kpay_live_ffffffffffffffffffffffffffffffffffffffffffffffff",
	SecretKey: kpay.NewSecret("sk_live_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
}

func kpaySecret(s string) kpay.Secret { return kpay.NewSecret(s) }

func version(id, value string) secretdoc.Version {
	return secretdoc.Version{SecretID: "s", VersionID: id, Value: kpay.NewSecret(value)}
}

func TestVersion_PairErrorsNeverQuoteTheValue(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  error
	}{
		{"not json", "kpay_live_x " + canarySecret, secretdoc.ErrNotJSON},
		{"json array", `["` + canarySecret + `"]`, secretdoc.ErrNotJSON},
		{"trailing data", `{"KPAY_API_KEY":"a"} ` + canarySecret, secretdoc.ErrNotJSON},
		{"missing secret field", `{"KPAY_API_KEY":"` + canaryAPI + `","SECRET":"` + canarySecret + `"}`, secretdoc.ErrMissingField},
		{"secret not a string", `{"KPAY_API_KEY":"` + canaryAPI + `","KPAY_SECRET_KEY":["` + canarySecret + `"]}`, secretdoc.ErrMissingField},
		{"empty field", `{"KPAY_API_KEY":"","KPAY_SECRET_KEY":"` + canarySecret + `"}`, secretdoc.ErrMissingField},
		{"bad syntax mid-secret", `{"KPAY_API_KEY":"` + canaryAPI + `","KPAY_SECRET_KEY":"` + canarySecret + `\q"}`, secretdoc.ErrNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := secretdoc.Version{SecretID: "s", VersionID: "v1", Value: kpaySecret(tt.value)}
			_, err := v.Pair("KPAY_API_KEY", "KPAY_SECRET_KEY")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, canary := range []string{canarySecret, canaryAPI, "CANARY"} {
				if strings.Contains(err.Error(), canary) {
					t.Errorf("error leaks the value: %q", err)
				}
			}
		})
	}
}

func TestVersion_WithPairReplacesOnlyThePair(t *testing.T) {
	orig := `{"KPAY_API_KEY":"` + canaryAPI + `","KPAY_SECRET_KEY":"` + canarySecret + `","DATABASE_URL":"postgres://u:p@db/x?a=1&b=<2>","N":12.50,"NESTED":{"z":[1,2,{"q":null}]}}`
	value, err := version("v1", orig).WithPair("KPAY_API_KEY", "KPAY_SECRET_KEY", newPair)
	if err != nil {
		t.Fatal(err)
	}
	got, err := version("v2", value.Reveal()).Pair("KPAY_API_KEY", "KPAY_SECRET_KEY")
	if err != nil || !got.Equal(newPair) {
		t.Fatalf("pair = %s (err %v), want %s", got, err, newPair)
	}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal([]byte(orig), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(value.Reveal()), &after); err != nil {
		t.Fatal(err)
	}
	// Byte for byte: no number reformatted, no & or < escaped.
	for _, k := range []string{"DATABASE_URL", "N", "NESTED"} {
		if string(before[k]) != string(after[k]) {
			t.Errorf("field %s = %s, want %s", k, after[k], before[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("got %d fields, want %d", len(after), len(before))
	}
}

func TestNewValue_HoldsOnlyThePair(t *testing.T) {
	value, err := secretdoc.NewValue("A", "B", newPair)
	if err != nil {
		t.Fatal(err)
	}
	names, err := version("v1", value.Reveal()).FieldNames()
	if err != nil || !slices.Equal(names, []string{"A", "B"}) {
		t.Fatalf("fields = %v (err %v), want [A B]", names, err)
	}
	if got, err := version("v1", value.Reveal()).Pair("A", "B"); err != nil || !got.Equal(newPair) {
		t.Errorf("pair = %s (err %v), want %s", got, err, newPair)
	}
}

func TestVersion_WithFields(t *testing.T) {
	src := version("old", `{"K":"`+canaryAPI+`","S":"`+canarySecret+`","DB":"a&b<c>","N":1.50}`)
	cur := version("new", `{"K":"x","S":"y","KEEP":true}`)
	t.Run("copies the named fields byte for byte", func(t *testing.T) {
		value, err := cur.WithFields(src, []string{"DB", "N"})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(value.Reveal()), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"K": `"x"`, "S": `"y"`, "KEEP": "true", "DB": `"a&b<c>"`, "N": "1.50"}
		if len(got) != len(want) {
			t.Errorf("got %d fields, want %d", len(got), len(want))
		}
		for k, w := range want {
			if string(got[k]) != w {
				t.Errorf("field %s = %s, want %s", k, got[k], w)
			}
		}
	})
	t.Run("a name the source lacks is an error naming it", func(t *testing.T) {
		_, err := cur.WithFields(src, []string{"DB", "GONE"})
		if !errors.Is(err, secretdoc.ErrMissingField) || !strings.Contains(err.Error(), `"GONE"`) {
			t.Fatalf("err = %v, want ErrMissingField naming GONE", err)
		}
		if strings.Contains(err.Error(), "CANARY") {
			t.Errorf("error leaks the value: %q", err)
		}
	})
}

func TestVersion_FieldNames(t *testing.T) {
	names, err := version("v1", `{"b":1,"a":{"nested":2},"c":null}`).FieldNames()
	if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("names = %v (err %v), want [a b c]", names, err)
	}
	if _, err := version("v1", `"`+canarySecret+`"`).FieldNames(); !errors.Is(err, secretdoc.ErrNotJSON) {
		t.Errorf("a JSON string: err = %v, want ErrNotJSON", err)
	}
}

func TestToken(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := secretdoc.Token("rot_1"), secretdoc.Token("rot_2")
	if !uuid4.MatchString(a) || !uuid4.MatchString(b) {
		t.Errorf("tokens %s, %s: want version-4 UUIDs", a, b)
	}
	if again := secretdoc.Token("rot_1"); again != a {
		t.Errorf("Token(rot_1) = %s, then %s: want the same token for the same seed", a, again)
	}
	if a == b {
		t.Errorf("two seeds gave the same token %s", a)
	}
}
