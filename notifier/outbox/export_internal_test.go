package outbox

import "time"

// RepeatNext is repeat, for tests: it queues what is due at now and says
// when the next reminder is.
func (o *Outbox) RepeatNext(now time.Time) (time.Time, error) { return o.repeat(now) }
