package awssecrets

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The shipped IAM policy grants exactly the Secrets Manager calls this
// package makes, no more, no less, and every call has its action named
// in access-denied errors.
func TestIAMPolicyListsExactlyTheCallsMade(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`c\.sm\.(\w+)\(|secretsmanager\.New(\w+)Paginator\(`)
	var made []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			made = append(made, "secretsmanager:"+m[1]+m[2])
		}
	}
	slices.Sort(made)
	made = slices.Compact(made)

	raw, err := os.ReadFile("../docs/iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Action json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &policy); err != nil {
		t.Fatalf("docs/iam-policy.json: %v", err)
	}
	var granted []string
	for _, st := range policy.Statement {
		var actions []string
		if json.Unmarshal(st.Action, &actions) != nil {
			var one string
			if err := json.Unmarshal(st.Action, &one); err != nil {
				t.Fatalf("Action %s: %v", st.Action, err)
			}
			actions = []string{one}
		}
		for _, a := range actions {
			if strings.HasPrefix(a, "secretsmanager:") {
				granted = append(granted, a)
			}
		}
	}
	slices.Sort(granted)
	granted = slices.Compact(granted)
	if !slices.Equal(made, granted) {
		t.Errorf("the code calls %v; docs/iam-policy.json grants %v", made, granted)
	}
	for _, a := range made {
		if !slices.Contains(slices.Collect(maps.Values(iamAction)), a) {
			t.Errorf("%s is missing from iamAction (access-denied errors name it)", a)
		}
	}
}
