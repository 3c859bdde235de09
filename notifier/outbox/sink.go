package outbox

import (
	"context"
	"log/slog"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// LogSink logs committed events. The Outbox logs through one, and a
// rotator that delivers nothing can use one as its whole sink.
type LogSink struct {
	log *slog.Logger
}

// NewLogSink returns a sink logging to log (nil discards).
func NewLogSink(log *slog.Logger) *LogSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogSink{log: log}
}

// Enqueue does nothing: a LogSink keeps no outbox.
func (s *LogSink) Enqueue(store.Tx, event.Event) error { return nil }

// Committed logs each event at a level matching its severity.
func (s *LogSink) Committed(events []event.Event) {
	for _, e := range events {
		s.log.LogAttrs(context.Background(), level(e.Severity), e.Message, e.LogAttrs()...)
	}
}

// level maps an event severity to a log level.
func level(s event.Severity) slog.Level {
	switch s {
	case event.Critical:
		return slog.LevelError
	case event.Warning:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
