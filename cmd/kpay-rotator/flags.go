package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"kpay-rotator/config"
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
	cfg, err := config.Load(c.configPath())
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
