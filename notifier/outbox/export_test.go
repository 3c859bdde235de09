package outbox

import (
	"context"
	"time"
)

// Backoff, BackoffCap and ProbeTurn are the back-off rule, for tests.
var Backoff = backoff

const (
	BackoffCap = backoffCap
	ProbeTurn  = probeTurn
)

// DeliverAt runs one delivery pass for receiver name at now, as Run's loop
// for it does, and returns when that loop would run it next (zero:
// nothing queued; Run then waits a minute).
func (o *Outbox) DeliverAt(ctx context.Context, name string, now time.Time) time.Time {
	return o.deliver(ctx, o.receivers[name], now)
}
