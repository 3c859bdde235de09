//go:build failpoints

package failpoint

import (
	"os"
	"strings"
	"syscall"
)

// Enabled reports whether failpoints are compiled in.
const Enabled = true

var on = map[string]bool{}

func init() {
	for _, name := range strings.Split(os.Getenv("KPAY_ROTATOR_FAILPOINTS"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			on[name] = true
		}
	}
}

// Hit kills the process with SIGKILL when name is switched on.
func Hit(name string) {
	if on[name] {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never return into the code after the crash point
	}
}

// Active reports whether name is switched on.
func Active(name string) bool { return on[name] }
