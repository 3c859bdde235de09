package rotator

import (
	"sync"

	"kpay-rotator/store"
)

// What the scheduler needs to know to leave an idle daemon asleep: which
// slots have retired pairs to probe, and whether a rotation is in flight.

// retiredWatch says which slots have retired pairs, so that a slot with
// none costs no wake-up at its retired_schedule. A commit that retires a
// pair marks the slot; a ProbeRetired that finds none clears it, unless
// a mark came in after it looked (seq). Until told otherwise, every slot
// counts as watched.
type retiredWatch struct {
	mu  sync.Mutex
	seq map[string]uint64
	set func(slot string, on bool) // the scheduler's; nil: none
}

func (w *retiredWatch) notify(set func(slot string, on bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.set = set
}

// mark: slot has a retired pair to watch.
func (w *retiredWatch) mark(slot string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seq == nil {
		w.seq = map[string]uint64{}
	}
	w.seq[slot]++
	if w.set != nil {
		w.set(slot, true)
	}
}

// look is taken before reading slot's pairs, for clear.
func (w *retiredWatch) look(slot string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq[slot]
}

// clear: slot had no retired pair when read at look.
func (w *retiredWatch) clear(slot string, look uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.set != nil && w.seq[slot] == look {
		w.set(slot, false)
	}
}

// retires reports whether c retires a pair.
func (c *change) retires() bool {
	for _, p := range c.pairs {
		if p.Role == store.RoleRetired {
			return true
		}
	}
	return false
}

// rotationsInFlight reports whether the rotation pass has work without
// being asked: a pair staged or a window open in the inbox (a stall to
// time out), or a rotation journaled staged or verified (a failed write
// to retry). Slots the configuration lacks are not advanced, so they do
// not count. When it cannot tell, it says yes.
func (r *Rotator) rotationsInFlight() bool {
	pending, err := r.inbox.Pending()
	if err != nil {
		return true
	}
	for _, name := range pending {
		if _, ok := r.slots[name]; ok {
			return true
		}
	}
	var active []string
	if err := r.store.View(func(tx store.Tx) error {
		var err error
		active, err = tx.ActiveSlots()
		return err
	}); err != nil {
		return true
	}
	for _, name := range active {
		if _, ok := r.slots[name]; ok {
			return true
		}
	}
	return false
}
