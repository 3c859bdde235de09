package outbox_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/notifier/outbox"
)

func TestLogSink_LogsEachEventAtItsSeverity(t *testing.T) {
	var buf bytes.Buffer
	sink := outbox.NewLogSink(slog.New(slog.NewTextHandler(&buf, nil)))
	failing := event.New(event.KeyFailing, time.Now(), "payments-live", "KPay rejects the pair")
	failing.Action = "kpay-rotator stage payments-live"
	sink.Committed([]event.Event{failing, event.New(event.KeyRecovered, time.Now(), "payments-live", "accepted again")})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"level=ERROR", "event=key_failing", "slot=payments-live", `action="kpay-rotator stage payments-live"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], "level=INFO") || !strings.Contains(lines[1], "event=key_recovered") {
		t.Errorf("recovered line = %q", lines[1])
	}
}
