// Package notifier tells people what happened. For now it is the event
// sink: every event the rotator records is logged here once committed.
// Delivery to chat receivers through a persistent outbox builds on the same
// two hooks: Enqueue (inside the transaction that records the event) and
// Committed (after it).
package notifier

import (
	"context"
	"log/slog"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

// LogSink logs committed events.
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

// Enqueue does nothing yet: there is no outbox to write.
func (s *LogSink) Enqueue(*store.Tx, event.Event) error { return nil }

// Committed logs each event at a level matching its severity.
func (s *LogSink) Committed(events []event.Event) {
	for _, e := range events {
		s.log.LogAttrs(context.Background(), Level(e.Severity), e.Message, e.LogAttrs()...)
	}
}

// Level maps an event severity to a log level.
func Level(s event.Severity) slog.Level {
	switch s {
	case event.Critical:
		return slog.LevelError
	case event.Warning:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
