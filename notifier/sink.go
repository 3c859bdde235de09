// Package notifier tells people what happened. It holds the event sink:
// every event the rotator records is logged here once committed, and
// delivery through a persistent outbox builds on the same two hooks,
// Enqueue (inside the transaction that records the event) and Committed
// (after it).
//
// It also holds what every chat receiver shares, so that the receivers in
// the sub-packages (slack, discord, teams, googlechat, mattermost, telegram,
// webhook; built from configuration by receivers) differ only in payload:
// the Alert/Result/Sender contract, credentials read at send time
// (SecretRef), one HTTP exchange and one classification of its outcome
// (Poster), the Redactor every outgoing string passes through, and the
// wording of alerts (Title, Facts, Summary, Actions). Receivers only
// classify; backoff and retries live in one place, with the outbox.
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
