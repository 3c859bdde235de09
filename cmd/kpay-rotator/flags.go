package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"kpay-rotator/config"
	"kpay-rotator/daemon"
)

// commonFlags are the flags every command takes.
type commonFlags struct {
	config   string
	logLevel string
}

func newFlagSet(name, synopsis, help string, w io.Writer) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	c := &commonFlags{}
	fs.StringVar(&c.config, "config", "", "configuration file (default "+config.DefaultPath+", then ./config.toml)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: kpay-rotator %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(help))
		fs.PrintDefaults()
	}
	return fs, c
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	return nil
}

func (c *commonFlags) configPath() string { return config.Resolve(c.config) }

func loadConfig(c *commonFlags) (*config.Config, error) {
	return daemon.LoadConfig(c.configPath())
}

// parseWithArg parses flags around one positional argument, so both
// "stage SLOT --no-wait" and "stage --no-wait SLOT" work.
// loadSlot parses fs's flags and its SLOT argument, then loads the
// configuration and finds the slot in it.
func loadSlot(fs *flag.FlagSet, args []string, c *commonFlags) (*config.Config, config.Slot, error) {
	name, err := parseWithArg(fs, args, "SLOT")
	if err != nil {
		return nil, config.Slot{}, err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, config.Slot{}, err
	}
	slot, ok := cfg.Slot(name)
	if !ok {
		return nil, config.Slot{}, unknownSlot(fs.Name(), name, cfg)
	}
	return cfg, slot, nil
}

func unknownSlot(cmd, name string, cfg *config.Config) error {
	return usageError{msg: fmt.Sprintf("%s: unknown slot %q; %s has: %s", cmd, name, cfg.Path, slotNames(cfg))}
}

func parseWithArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	arg, err := parseOptionalArg(fs, args, what)
	if err == nil && arg == "" {
		err = usageError{msg: fmt.Sprintf("%s: missing %s", fs.Name(), what)}
	}
	return arg, err
}

// parseOptionalArg is parseWithArg for an argument that may be absent.
func parseOptionalArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", nil
	}
	arg := rest[0]
	if err := parseFlags(fs, rest[1:]); err != nil {
		return "", err
	}
	if extra := fs.Args(); len(extra) > 0 {
		return "", usageError{msg: fmt.Sprintf("%s takes one %s (got also %q)", fs.Name(), what, extra[0])}
	}
	return arg, nil
}
