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

// flagSet is one command's flags together with its synopsis and help, so
// that --help, the man page and the shell completions are all read from
// the same definitions.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	help     string
	e        *env
}

func newFlagSet(e *env, name, synopsis, help string) (*flagSet, *commonFlags) {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, help: strings.TrimSpace(help), e: e}
	// The flag package would print its error and the usage to one writer;
	// parseFlags prints help to stdout and errors to stderr instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := &commonFlags{}
	fs.StringVar(&c.config, "config", "", "configuration `FILE` (default "+config.DefaultPath+", then ./config.toml)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	return fs, c
}

// printUsage writes the command's help as --help shows it.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: kpay-rotator %s %s\n\n%s\n\nFlags:\n", fs.Name(), fs.synopsis, fs.help)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseFlags parses args. --help prints the command's help to stdout (or
// hands the flag set to e.describe) and returns errHelp; a bad flag
// becomes a usage error.
func parseFlags(fs *flagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == flag.ErrHelp:
		if fs.e.describe != nil {
			fs.e.describe(fs)
		} else {
			fs.printUsage(fs.e.stdout)
		}
		return errHelp
	case err != nil:
		return usageError{cmd: fs.Name(), msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	return nil
}

// parseNoArgs parses flags for a command that takes no argument.
func parseNoArgs(fs *flagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{cmd: fs.Name(), msg: fmt.Sprintf("%s takes no arguments (got %q)", fs.Name(), fs.Arg(0))}
	}
	return nil
}

func (c *commonFlags) configPath() string { return config.Resolve(c.config) }

func loadConfig(c *commonFlags) (*config.Config, error) {
	return daemon.LoadConfig(c.configPath())
}

// loadSlot parses fs's flags and its SLOT argument, then loads the
// configuration and finds the slot in it.
func loadSlot(fs *flagSet, args []string, c *commonFlags) (*config.Config, config.Slot, error) {
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
	return usageError{cmd: cmd, msg: fmt.Sprintf("%s: unknown slot %q; %s has: %s", cmd, name, cfg.Path, slotNames(cfg))}
}

// parseWithArg parses flags around one positional argument, so both
// "stage SLOT --no-wait" and "stage --no-wait SLOT" work.
func parseWithArg(fs *flagSet, args []string, what string) (string, error) {
	arg, err := parseOptionalArg(fs, args, what)
	if err == nil && arg == "" {
		err = usageError{cmd: fs.Name(), msg: fmt.Sprintf("%s: missing %s", fs.Name(), what)}
	}
	return arg, err
}

// parseOptionalArg is parseWithArg for an argument that may be absent.
func parseOptionalArg(fs *flagSet, args []string, what string) (string, error) {
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
		return "", usageError{cmd: fs.Name(), msg: fmt.Sprintf("%s takes one %s (got also %q)", fs.Name(), what, extra[0])}
	}
	return arg, nil
}
