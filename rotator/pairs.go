package rotator

import (
	"sync"

	"kpay-rotator/kpay"
)

// pairCache holds, in memory only, the pairs the rotator last read from
// Secrets Manager: each slot's current pair with the version that holds
// it, and the retired pairs being watched. A probe takes its pair from
// here, so it costs one KPay request and no Secrets Manager call; the
// secret is looked at on the drift schedule, on start and reload (a new
// Rotator starts empty), on SIGUSR1, and at once when KPay rejects the
// current pair. Values never reach the store (DESIGN §8).
type pairCache struct {
	mu      sync.Mutex
	current map[string]cachedPair // by slot
	retired map[string]kpay.Pair  // by slot NUL fingerprint
}

type cachedPair struct {
	versionID string
	pair      kpay.Pair
}

// currentPair is slot's cached pair if it is the one with fingerprint fp
// (what the store says the slot holds).
func (c *pairCache) currentPair(slot, fp string) (cachedPair, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.current[slot]
	return p, ok && fp != "" && p.pair.Fingerprint() == fp
}

func (c *pairCache) setCurrent(slot, versionID string, pair kpay.Pair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == nil {
		c.current = map[string]cachedPair{}
	}
	c.current[slot] = cachedPair{versionID: versionID, pair: pair}
}

// forgetCurrent drops slot's pair: the next probe reads the secret.
func (c *pairCache) forgetCurrent(slot string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.current, slot)
}

func (c *pairCache) retiredPair(slot, fp string) (kpay.Pair, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.retired[slot+"\x00"+fp]
	return p, ok
}

func (c *pairCache) setRetired(slot string, pair kpay.Pair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retired == nil {
		c.retired = map[string]kpay.Pair{}
	}
	c.retired[slot+"\x00"+pair.Fingerprint()] = pair
}

func (c *pairCache) forgetRetired(slot, fp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.retired, slot+"\x00"+fp)
}
