// Command kpay-rotator keeps KPay API key pairs alive and safe: it tracks
// each pair's age, probes it against KPay, flags pairs that are due,
// overdue, failing or degraded, and (with its subcommands) hands new pairs
// over to AWS Secrets Manager.
//
// main only parses arguments, turns signals into values and maps errors to
// exit codes; each subcommand lives in its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"kpay-rotator/config"
	"kpay-rotator/daemon"
	"kpay-rotator/inbox"
)

// Exit codes (DESIGN §6).
const (
	exitOK     = 0
	exitFail   = 1
	exitUsage  = 2
	exitConfig = 78 // EX_CONFIG: systemd's RestartPreventExitStatus
)

// env is the process's outside world, injectable for tests.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// stderrTTY reports whether stderr is a terminal (tint colours).
	stderrTTY bool
	// stderrJournal reports whether stderr is journald's stream
	// (JOURNAL_STREAM names it): lines then carry a <N> priority prefix.
	stderrJournal bool
	getenv        func(string) string
	// describe, when set, receives a command's flag set instead of
	// --help printing it: the man page and completions are built from it.
	describe func(*flagSet)
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
	// hidden commands are left out of the usage and the completions.
	hidden bool
}

var commands []command

func init() {
	// Registered here rather than in a literal so each command's file can
	// refer to the list (help) without an initialisation cycle.
	commands = []command{
		{name: "run", summary: "run the daemon", run: cmdRun},
		{name: "check-config", summary: "validate a configuration file", run: cmdCheckConfig},
		{name: "status", summary: "show every slot's pair, age, health and probes", run: cmdStatus},
		{name: "stage", summary: "hand over a new pair from the KPay dashboard and wait until it is written", run: cmdStage},
		{name: "repair", summary: "put back fields of a secret that a change made outside kpay-rotator dropped", run: cmdRepair},
		{name: "rotate", summary: "signal the daemon to take staged pairs and probe now", run: cmdRotate},
		{name: "notify-test", summary: "send a test message through the notifiers and print each answer", run: cmdNotifyTest},
		{name: "completion", summary: "print a bash, zsh or fish completion script", run: cmdCompletion},
		{name: "version", summary: "print version and build information", run: cmdVersion},
		{name: "man", summary: "print the kpay-rotator(8) manual page (roff)", run: cmdMan, hidden: true},
	}
}

func main() {
	noCoreDumps()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr),
		stderrJournal: isJournalStream(os.Getenv("JOURNAL_STREAM"), os.Stderr), getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := runMain(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// noCoreDumps keeps secret keys (the daemon's current pairs, a pair being
// staged) out of core files and out of reach of a same-user debugger:
// no core size, and not dumpable. The unit sets LimitCORE=0 as well; this
// covers a daemon or a stage run outside systemd. Best effort: a refusal
// changes nothing else.
func noCoreDumps() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		// Not asked for help: a mistake, so stderr and exit 2.
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(e.stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(e.stdout)
			return exitOK
		}
		// help COMMAND is COMMAND --help.
		args = []string{args[1], "--help"}
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return exitCode(e, c.run(ctx, e, args[1:]))
		}
	}
	if len(args[0]) > 1 && args[0][0] == '-' {
		return exitCode(e, usageError{msg: fmt.Sprintf("unknown flag %q before the command; flags go after it: kpay-rotator COMMAND [flags]", args[0])})
	}
	return exitCode(e, usageError{msg: fmt.Sprintf("unknown command %q", args[0])})
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kpay-rotator keeps KPay API key pairs in AWS Secrets Manager alive and safe.")
	fmt.Fprintln(w, "\nUsage: kpay-rotator COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (default "+config.DefaultPath+", then ./config.toml).")
	fmt.Fprintln(w, "Run 'kpay-rotator COMMAND --help' for a command's flags; 'man kpay-rotator' for the manual.")
	fmt.Fprintln(w, "\nExit codes: 0 ok, 1 failure, 2 usage error, 78 bad configuration.")
}

// usageError marks a command-line mistake (exit 2). cmd, when set, is the
// command whose --help the hint points at.
type usageError struct{ cmd, msg string }

func (u usageError) Error() string { return u.msg }

// errHelp is returned when --help was asked for: usage was printed, exit 0.
var errHelp = errors.New("help requested")

// exitCode prints err once and maps it to the process exit code.
func exitCode(e *env, err error) int {
	var ue usageError
	var problems config.Problems
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		try := "kpay-rotator --help"
		if ue.cmd != "" {
			try = "kpay-rotator " + ue.cmd + " --help"
		}
		e.printLevel(slog.LevelError, fmt.Sprintf("kpay-rotator: %s\nTry: %s", ue.msg, try))
		return exitUsage
	case errors.As(err, &problems), errors.Is(err, config.ErrInvalid), errors.Is(err, daemon.ErrConfig),
		errors.Is(err, inbox.ErrLooseDir): // others could read staged pairs: as bad as a secret in the config
		e.printLevel(slog.LevelError, fmt.Sprintf("kpay-rotator: %v", err))
		return exitConfig
	case errors.Is(err, context.Canceled):
		return exitOK
	}
	e.printLevel(slog.LevelError, fmt.Sprintf("kpay-rotator: %v", err))
	return exitFail
}
