package rotator

import (
	"sync"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/store"
)

// StatusCache serves the status document without reading every slot
// from the store for every request. A slot's line is read once, and again
// only after Invalidate names it (the rotator's OnCommit), when the
// configuration changes, or when the line changes with time alone (a
// revoked pair leaving it a week on). What moves with the clock, ages and
// next probe times, is filled in per request, which costs no store read.
// Concurrent requests wait for one read: a burst reads each change once.
type StatusCache struct {
	mu    sync.Mutex // held while reading: one read per burst
	cfg   *config.Config
	lines []cachedLine // in cfg.Slots order

	// dirty collects Invalidate's slots under its own lock, so a commit
	// never waits behind a read of the store.
	dmu   sync.Mutex
	dirty map[string]bool
	all   bool
}

type cachedLine struct {
	SlotStatus
	read  bool
	until time.Time // when it changes without a commit; zero: never
}

// Invalidate marks slot's line as changed; "" marks every line.
func (c *StatusCache) Invalidate(slot string) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if slot == "" {
		c.all = true
		return
	}
	if c.dirty == nil {
		c.dirty = map[string]bool{}
	}
	c.dirty[slot] = true
}

// Status is BuildStatus(st, cfg, now, next), reading only the lines that
// changed since the last call. The document shares what its lines point
// to with the cache: it is read-only.
func (c *StatusCache) Status(st store.Store, cfg *config.Config, now time.Time, next func(slot string) time.Time) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := NewStatus(cfg, now)
	if err := c.refresh(st, cfg, now); err != nil {
		return out, err
	}
	for _, l := range c.lines {
		out.Slots = append(out.Slots, l.at(now, next))
	}
	return out, nil
}

// Health counts the slots by health, reading only what changed: what
// systemd's status line says, after every commit, without building every
// slot's line.
func (c *StatusCache) Health(st store.Store, cfg *config.Config, now time.Time) (map[string]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(st, cfg, now); err != nil {
		return nil, err
	}
	counts := make(map[string]int, 4)
	for _, l := range c.lines {
		counts[l.Health]++
	}
	return counts, nil
}

// refresh reads again the lines that changed; c.mu is held.
func (c *StatusCache) refresh(st store.Store, cfg *config.Config, now time.Time) error {
	c.dmu.Lock()
	dirty, all := c.dirty, c.all
	c.dirty, c.all = nil, false
	c.dmu.Unlock()
	if cfg != c.cfg || all {
		c.cfg, c.lines = cfg, make([]cachedLine, len(cfg.Slots))
	}
	var stale []int
	for i, s := range cfg.Slots {
		l := &c.lines[i]
		if !l.read || dirty[s.Name] || !l.until.IsZero() && !now.Before(l.until) {
			stale = append(stale, i)
		}
	}
	if len(stale) > 0 {
		err := st.View(func(tx store.Tx) error {
			for _, i := range stale {
				ss, until, err := readSlotStatus(tx, cfg.Slots[i], now)
				if err != nil {
					return err
				}
				c.lines[i] = cachedLine{SlotStatus: ss, read: true, until: until}
			}
			return nil
		})
		if err != nil {
			// What this read did not reach is read again next time.
			for _, i := range stale {
				c.lines[i].read = false
			}
			return err
		}
	}
	return nil
}
