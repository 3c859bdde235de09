package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
	"golang.org/x/term"

	"kpay-rotator/kpay"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageError{msg: fmt.Sprintf("--log-level %q: use debug, info, warn or error", s)}
	}
	return l, nil
}

// newLogger logs with tint on a terminal and as plain key=value lines
// otherwise (journald adds its own timestamps, but a line must still stand
// alone when copied out of the journal).
func newLogger(w io.Writer, tty bool, level slog.Level) *slog.Logger {
	if tty {
		return slog.New(tint.NewHandler(w, &tint.Options{Level: level, ReplaceAttr: redactAttr, TimeFormat: "15:04:05.000"}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
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
