//go:build failpoints

package failpoint

import (
	"os"
	"strings"
	"syscall"
)

// Enabled reports whether failpoints are compiled in.
const Enabled = true

// on maps a failpoint to its trigger file: "" means always on; a path
// means on while that file exists (KPAY_ROTATOR_FAILPOINTS=name@/path), so
// a test can switch a fault on and off in a running daemon.
var on = map[string]string{}

func init() {
	for _, item := range strings.Split(os.Getenv("KPAY_ROTATOR_FAILPOINTS"), ",") {
		name, trigger, _ := strings.Cut(strings.TrimSpace(item), "@")
		if name != "" {
			on[name] = trigger
		}
	}
}

func active(name string) bool {
	trigger, ok := on[name]
	if !ok {
		return false
	}
	if trigger == "" {
		return true
	}
	_, err := os.Stat(trigger)
	return err == nil
}

// Hit kills the process with SIGKILL when name is switched on.
func Hit(name string) {
	if active(name) {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never return into the code after the crash point
	}
}

// Active reports whether name is switched on.
func Active(name string) bool { return active(name) }
