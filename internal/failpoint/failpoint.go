//go:build !failpoints

// Package failpoint marks the points where crash tests kill the daemon
// (between the steps of a rotation) or make it misbehave (a stuck
// scheduler). In a normal build every function here is an empty inline
// no-op: nothing in the configuration, environment or command line can
// switch a failpoint on. Only a binary built with -tags failpoints reads
// KPAY_ROTATOR_FAILPOINTS.
//
// Hand-written rather than a dependency: pingcap/failpoint rewrites the
// source with a code generator, while a build tag and one environment
// variable are all the crash tests need.
package failpoint

// Enabled reports whether failpoints are compiled in.
const Enabled = false

// Hit is a crash point: in a failpoints build, when name is switched on,
// the process kills itself with SIGKILL, as a power cut or kill -9 would.
func Hit(name string) {}

// Active reports whether name is switched on (behaviour faults such as a
// stuck scheduler). Always false in a normal build.
func Active(name string) bool { return false }
