package rotator

import (
	"sync"

	"kpay-rotator/store"
)

// groupCommit writes the changes of concurrent passes in as few store
// transactions as it can: a commit that arrives while another is being
// written waits for it, then goes out with every other that arrived
// meanwhile, in one transaction (one fsync for many probes). Nothing
// waits for company: an idle daemon's commit goes out at once, so a
// hand-over pays no extra latency. Each caller returns only once its own
// change is durable, so no state change is ever acknowledged and lost.
type groupCommit struct {
	update func(func(store.Tx) error) error

	mu      sync.Mutex
	queue   []*commitReq
	writing bool
}

type commitReq struct {
	apply func(store.Tx) error
	err   error
	done  chan struct{}
}

// do applies apply in a transaction, with whatever else is queued.
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
		batch := g.queue
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
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// queued is how many commits wait for the writer (tests).
func (g *groupCommit) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
