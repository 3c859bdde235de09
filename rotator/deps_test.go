package rotator_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain speaks secretdoc, never the AWS SDK: compiling it (or config,
// which it imports) must not compile the SDK's hundred-odd packages.
func TestDomainDoesNotCompileTheAWSSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "kpay-rotator/rotator", "kpay-rotator/config").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/") {
			t.Errorf("the domain compiles %s; keep SDK types inside awssecrets", pkg)
		}
	}
}
