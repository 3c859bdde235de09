package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs, _ := newFlagSet(e, "version", "", "Print the version and build information.")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "kpay-rotator %s\n", versionString())
	fmt.Fprintf(e.stdout, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified":
				fmt.Fprintf(e.stdout, "%s: %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
