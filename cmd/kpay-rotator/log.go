package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/lmittmann/tint"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"kpay-rotator/kpay"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// isJournalStream reports whether f is the journald stream that
// $JOURNAL_STREAM ("DEVICE:INODE" in decimal, sd-daemon(3)) names. systemd
// sets it for a service whose stderr goes to the journal; a child whose
// stderr was redirected elsewhere inherits the variable, so, as systemd
// asks, it counts only when the device and inode are f's. Anything else
// (unset, malformed, another file) falls back to plain lines.
func isJournalStream(v string, f *os.File) bool {
	devText, inoText, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	dev, err := strconv.ParseUint(devText, 10, 64)
	if err != nil {
		return false
	}
	ino, err := strconv.ParseUint(inoText, 10, 64)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}

// logStyle is how log lines look on stderr.
type logStyle int

const (
	logPlain    logStyle = iota // key=value lines: a file or a pipe
	logJournal                  // key=value lines after a <N> priority prefix
	logColour                   // tint on a terminal
	logNoColour                 // tint on a terminal that asked for no colour
)

// logStyle picks the style for e's stderr: the journal wins (it is never
// a terminal); NO_COLOR (any non-empty value, no-color.org) and TERM=dumb
// turn colour off.
func (e *env) logStyle() logStyle {
	switch {
	case e.stderrJournal:
		return logJournal
	case !e.stderrTTY:
		return logPlain
	case e.getenv("NO_COLOR") != "" || e.getenv("TERM") == "dumb":
		return logNoColour
	}
	return logColour
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageError{cmd: "run", msg: fmt.Sprintf("--log-level %q: use debug, info, warn or error", s)}
	}
	return l, nil
}

// newLogger logs with tint on a terminal and as plain key=value lines
// otherwise (journald adds its own timestamps, but a line must still stand
// alone when copied out of the journal).
func newLogger(w io.Writer, style logStyle, level slog.Level) *slog.Logger {
	switch style {
	case logColour, logNoColour:
		return slog.New(tint.NewHandler(w, &tint.Options{Level: level, ReplaceAttr: redactAttr, TimeFormat: "15:04:05.000", NoColor: style == logNoColour}))
	case logJournal:
		pw := &priorityWriter{out: w}
		return slog.New(journalHandler{Handler: slog.NewTextHandler(pw, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}), w: pw})
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
}

// syslogPriority is the sd-daemon(3) prefix for level: journald stores the
// line at that priority and strips the prefix (SyslogLevelPrefix=, on by
// default), so `journalctl -p warning` finds warnings and errors.
func syslogPriority(level slog.Level) string {
	switch {
	case level >= slog.LevelError:
		return "<3>" // SD_ERR
	case level >= slog.LevelWarn:
		return "<4>" // SD_WARNING
	case level >= slog.LevelInfo:
		return "<6>" // SD_INFO
	}
	return "<7>" // SD_DEBUG
}

// journalHandler is the text handler with each record's priority in
// front. The text handler writes a record in one Write; the lock around
// Handle keeps the prefix with the record it belongs to.
type journalHandler struct {
	slog.Handler
	w *priorityWriter
}

func (h journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.prefix = syslogPriority(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return journalHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h journalHandler) WithGroup(name string) slog.Handler {
	return journalHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

// priorityWriter writes prefix and line in one write, so a line printed
// by another goroutine cannot land between them.
type priorityWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
}

func (p *priorityWriter) Write(b []byte) (int, error) {
	if _, err := p.out.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// warnf prints a command's own warning (not a log record) to stderr.
func (e *env) warnf(format string, args ...any) {
	e.printLevel(slog.LevelWarn, fmt.Sprintf(format, args...))
}

// printLevel prints msg to stderr; under journald every line carries
// level's priority, so `journalctl -p err` shows why a command (e.g.
// check-config in ExecStartPre=) failed.
func (e *env) printLevel(level slog.Level, msg string) {
	msg = strings.TrimSuffix(msg, "\n")
	if e.stderrJournal {
		prefix := syslogPriority(level)
		msg = prefix + strings.ReplaceAll(msg, "\n", "\n"+prefix)
	}
	fmt.Fprintln(e.stderr, msg)
}

// redactAttr is a safety net behind kpay.Secret: an attribute whose key says
// it holds a secret is masked whatever its type.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "secret", "secret_key", "x-secret-key", "token", "password", "webhook_url", "api_secret":
		return slog.String(a.Key, kpay.Masked)
	}
	return a
}
