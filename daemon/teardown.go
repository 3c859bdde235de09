package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// A graceful stop takes at most 10 s (DESIGN §6): the passes and the
// last delivery get passesTimeout, the HTTP endpoint a second, and the
// quick steps (loops, the database, the systemd socket) stepTimeout each.
const (
	passesTimeout = 7 * time.Second
	stepTimeout   = 500 * time.Millisecond
)

// teardown is how the daemon stops: each part registers its step as it
// starts, and the steps run last-in first-out, each under its own
// deadline, so one stuck step cannot eat the others' time. Errors are
// joined, each named by its step.
type teardown struct {
	steps []teardownStep
}

type teardownStep struct {
	name    string
	timeout time.Duration
	run     func(context.Context) error
}

func (t *teardown) add(name string, timeout time.Duration, run func(context.Context) error) {
	t.steps = append(t.steps, teardownStep{name, timeout, run})
}

// run runs every registered step, newest first, once.
func (t *teardown) run(log *slog.Logger) error {
	var errs []error
	for i := len(t.steps) - 1; i >= 0; i-- {
		s := t.steps[i]
		ctx, cancel := context.WithTimeoutCause(context.Background(), s.timeout, fmt.Errorf("took longer than %s", s.timeout))
		start := time.Now()
		err := s.run(ctx)
		cancel()
		log.Debug("stop step done", "step", s.name, "took", time.Since(start).Round(time.Millisecond).String())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	t.steps = nil
	return errors.Join(errs...)
}

// waitGroup waits for wg, or until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
