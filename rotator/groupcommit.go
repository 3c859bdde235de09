package rotator

import (
	"sync"
	"time"

	"kpay-rotator/store"
)

// groupCommit writes the changes of concurrent passes in as few store
// transactions as it can: a commit that arrives while another is being
// written waits for it, then goes out with every other that arrived
// meanwhile, in one transaction (one fsync for many probes). Nothing
// waits for company: an idle daemon's commit goes out at once, so a
// hand-over pays no extra latency. Each caller returns only once its own
// change is durable, so no state change is ever acknowledged and lost.
//
// Routine changes (a probe's that raises no event and touches no
// rotation) may instead be held for up to hold and go out with the next
// write. Probes come one at a time under the request budget, so without
// this each one costs a transaction and two fsyncs; a crash loses at most
// hold's worth of probe records and counts, never an event or a journal
// step.
type groupCommit struct {
	update func(func(store.Tx) error) error
	hold   time.Duration // 0: nothing is held

	mu      sync.Mutex
	queue   []*commitReq
	writing bool
	// held are routine changes not yet written; heldSlots counts them per
	// slot, so a pass can write its slot's before reading it.
	held      []*commitReq
	heldSlots map[string]int
	timer     *time.Timer
}

type commitReq struct {
	apply func(store.Tx) error
	err   error
	done  chan struct{}
	// Held changes only: their slot, and what to run once written.
	slot  string
	after func(error)
}

// do applies apply in a transaction, with whatever else is queued or
// held.
func (g *groupCommit) do(apply func(store.Tx) error) error {
	req := &commitReq{apply: apply, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.writing {
		// The writer takes it with the next batch.
		g.mu.Unlock()
		<-req.done
		return req.err
	}
	g.writing = true
	for len(g.queue) > 0 {
		batch := append(g.takeHeld(), g.queue...)
		g.queue = nil
		g.mu.Unlock()
		g.write(batch)
		g.mu.Lock()
	}
	g.writing = false
	g.mu.Unlock()
	<-req.done
	return req.err
}

// later writes a routine change of slot within g.hold, with the next
// write, then runs after; without a hold it writes it at once.
func (g *groupCommit) later(slot string, apply func(store.Tx) error, after func(error)) {
	if g.hold <= 0 {
		after(g.do(apply))
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = append(g.held, &commitReq{apply: apply, done: make(chan struct{}), slot: slot, after: after})
	if g.heldSlots == nil {
		g.heldSlots = map[string]int{}
	}
	g.heldSlots[slot]++
	if g.timer == nil {
		g.timer = time.AfterFunc(g.hold, func() { _ = g.flush() })
	}
}

// holds reports whether a change of slot waits to be written.
func (g *groupCommit) holds(slot string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heldSlots[slot] > 0
}

// flush writes every held change now.
func (g *groupCommit) flush() error {
	g.mu.Lock()
	n := len(g.held)
	g.mu.Unlock()
	if n == 0 {
		return nil
	}
	return g.do(func(store.Tx) error { return nil })
}

// takeHeld hands the held changes to the writer; g.mu is held.
func (g *groupCommit) takeHeld() []*commitReq {
	held := g.held
	g.held, g.heldSlots = nil, nil
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	return held
}

// write commits batch as one transaction. Should it fail, each change is
// tried alone: one refused change (a rotation a slot may not have) must
// not take the others down with it.
func (g *groupCommit) write(batch []*commitReq) {
	err := g.update(func(tx store.Tx) error {
		for _, r := range batch {
			if err := r.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.err = g.update(r.apply)
		}
	} else {
		for _, r := range batch {
			r.err = err
		}
	}
	for _, r := range batch {
		if r.after != nil {
			r.after(r.err)
		}
		close(r.done)
	}
}

// queued is how many commits wait for the writer (tests).
func (g *groupCommit) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
