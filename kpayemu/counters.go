package kpayemu

import (
	"maps"
	"sync"
)

// Counters is what the emulator saw on the KPay API (admin calls under
// /_emulator/ are not counted).
type Counters struct {
	// Total is the number of requests.
	Total int64 `json:"total"`
	// ByStatus counts responses by status. Status 0 counts requests that
	// got no HTTP response: hangs, resets, and clients that left first.
	ByStatus map[int]int64 `json:"byStatus"`
	// ByPath counts requests by URL path.
	ByPath map[string]int64 `json:"byPath"`
	// Unauthorized is ByStatus[401], kept apart because it is what a
	// rotation test asserts most.
	Unauthorized int64 `json:"unauthorized"`
	// Faults counts requests that at least one injected fault acted on.
	Faults int64 `json:"faults"`
}

// counterSet is updated as a request arrives and as its status is written,
// both before the client can see the response.
type counterSet struct {
	mu    sync.Mutex
	c     Counters
	byKey map[string]int64
}

func (cs *counterSet) reset() {
	cs.mu.Lock()
	cs.c = Counters{ByStatus: map[int]int64{}, ByPath: map[string]int64{}}
	cs.byKey = map[string]int64{}
	cs.mu.Unlock()
}

func (cs *counterSet) request(path, apiKey string) {
	cs.mu.Lock()
	cs.c.Total++
	cs.c.ByPath[path]++
	if apiKey != "" {
		cs.byKey[apiKey]++
	}
	cs.mu.Unlock()
}

func (cs *counterSet) response(status int) {
	cs.mu.Lock()
	cs.c.ByStatus[status]++
	if status == 401 {
		cs.c.Unauthorized++
	}
	cs.mu.Unlock()
}

func (cs *counterSet) noResponse() { cs.response(0) }

func (cs *counterSet) fault() {
	cs.mu.Lock()
	cs.c.Faults++
	cs.mu.Unlock()
}

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	c := s.counters.c
	c.ByStatus = maps.Clone(c.ByStatus)
	c.ByPath = maps.Clone(c.ByPath)
	return c
}

// RequestsFor is the number of requests that carried this X-API-Key,
// whatever their outcome.
func (s *Server) RequestsFor(apiKey string) int64 {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	return s.counters.byKey[apiKey]
}

// ResetCounters sets every counter back to zero.
func (s *Server) ResetCounters() { s.counters.reset() }
