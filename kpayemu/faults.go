package kpayemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

// The fault kinds. All but FaultLatency decide the response; FaultLatency
// only delays it.
const (
	// FaultLatency delays the request by Latency, then lets it through.
	FaultLatency FaultKind = iota
	// FaultStatus answers Status (default 500) with the JSON error envelope.
	FaultStatus
	// FaultRateLimit answers 429 with Retry-After: RetryAfter in whole
	// seconds, rounded up (default 1 s), unless OmitRetryAfter.
	FaultRateLimit
	// FaultHang never answers: the request waits until the client gives up
	// or the server closes, and then the connection is dropped.
	FaultHang
	// FaultReset resets the connection (SO_LINGER 0, then close: a TCP RST)
	// after reading the request. Go's Transport retries an idempotent
	// request once, silently, when a reused keep-alive connection fails
	// before any response byte; with Count 1 that retry succeeds, so a test
	// that must see the reset uses a fresh connection or Count 0.
	FaultReset
	// FaultNonJSON answers Status (default 504) with an HTML gateway page,
	// as a proxy in front of KPay would.
	FaultNonJSON
	// FaultForbidden answers 403 with the documented envelope: the keys
	// authenticated but the resource is not theirs.
	FaultForbidden
)

var faultKindNames = [...]string{
	FaultLatency:   "latency",
	FaultStatus:    "status",
	FaultRateLimit: "rate_limit",
	FaultHang:      "hang",
	FaultReset:     "reset",
	FaultNonJSON:   "non_json",
	FaultForbidden: "forbidden",
}

func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultKindNames) {
		return faultKindNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler with the names String uses.
func (k FaultKind) MarshalText() ([]byte, error) {
	if k < 0 || int(k) >= len(faultKindNames) {
		return nil, fmt.Errorf("kpayemu: unknown fault kind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *FaultKind) UnmarshalText(b []byte) error {
	kind, err := ParseFaultKind(string(b))
	if err != nil {
		return err
	}
	*k = kind
	return nil
}

// ParseFaultKind parses a name String returns ("latency", "status",
// "rate_limit", "hang", "reset", "non_json", "forbidden").
func ParseFaultKind(s string) (FaultKind, error) {
	for i, name := range faultKindNames {
		if strings.EqualFold(s, name) {
			return FaultKind(i), nil
		}
	}
	return 0, fmt.Errorf("kpayemu: unknown fault kind %q (want one of %s)", s, strings.Join(faultKindNames[:], ", "))
}

// Fault is an injected misbehaviour. It applies to matching requests until
// cleared, or for Count requests when Count>0. Every kind waits Latency
// before acting, so a slow 503 is one fault.
type Fault struct {
	Kind    FaultKind
	Count   int
	Latency time.Duration
	// Status is the status of FaultStatus (default 500, 400–599) and of
	// FaultNonJSON (default 504, 200–599).
	Status int
	// RetryAfter is FaultRateLimit's Retry-After (default 1 s).
	RetryAfter time.Duration
	// OmitRetryAfter sends FaultRateLimit's 429 without Retry-After, which
	// KPay documents as optional.
	OmitRetryAfter bool
	// APIKey restricts the fault to requests with this X-API-Key; "" = every
	// request to the KPay API, with a key or without.
	APIKey string
	// Probability, when above 0, makes the fault act on each matching
	// request only with this chance (a flapping KPay); a request it spares
	// leaves Count untouched and may meet the next fault.
	Probability float64
}

// Validate reports what is wrong with f, if anything.
func (f Fault) Validate() error {
	var errs []error
	if f.Kind < 0 || int(f.Kind) >= len(faultKindNames) {
		errs = append(errs, fmt.Errorf("unknown kind %d", int(f.Kind)))
	}
	if f.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d is negative", f.Count))
	}
	if f.Latency < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if f.Probability < 0 || f.Probability > 1 {
		errs = append(errs, fmt.Errorf("probability %g is not between 0 and 1", f.Probability))
	}
	switch {
	case f.Kind == FaultStatus && f.Status != 0 && (f.Status < 400 || f.Status > 599):
		errs = append(errs, fmt.Errorf("status %d is not an error status (400-599)", f.Status))
	case f.Kind == FaultNonJSON && f.Status != 0 && (f.Status < 200 || f.Status > 599):
		errs = append(errs, fmt.Errorf("status %d is out of range (200-599)", f.Status))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kpayemu: fault %s: %w", f.Kind, err)
	}
	return nil
}

// activeFault is an injected fault and how many uses it has left.
type activeFault struct {
	Fault
	left int // meaningful only when Count > 0
}

type faultSet struct {
	mu     sync.Mutex
	active []*activeFault
}

// Inject adds a fault. Faults stack and are applied in injection order:
// every matching latency adds up, and the first matching fault of another
// kind decides the response (later ones are left for later requests). An
// invalid fault is a programming error and panics; see Fault.Validate.
func (s *Server) Inject(f Fault) {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	s.faults.mu.Lock()
	s.faults.active = append(s.faults.active, &activeFault{Fault: f, left: f.Count})
	s.faults.mu.Unlock()
	s.log.Info("fault injected", "kind", f.Kind, "count", f.Count, "latency", f.Latency, "status", f.Status, "scoped", f.APIKey != "")
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.active = nil
	s.faults.mu.Unlock()
	s.log.Info("faults cleared")
}

// Faults lists the active faults; Count is the number of uses left (0 for
// faults that last until cleared).
func (s *Server) Faults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]Fault, 0, len(s.faults.active))
	for _, af := range s.faults.active {
		f := af.Fault
		if f.Count > 0 {
			f.Count = af.left
		}
		out = append(out, f)
	}
	return out
}

// plan picks the faults that meet a request and uses them up, all under one
// lock, so concurrent requests never share the last use of a counted fault.
func (fs *faultSet) plan(apiKey string) (delay time.Duration, action *Fault, hit bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	kept := fs.active[:0]
	for _, af := range fs.active {
		use := (af.APIKey == "" || af.APIKey == apiKey) && (af.Kind == FaultLatency || action == nil) &&
			(af.Probability == 0 || rand.Float64() < af.Probability)
		if use {
			hit = true
			delay += af.Latency
			if af.Kind != FaultLatency {
				f := af.Fault
				action = &f
			}
			if af.Count > 0 {
				af.left--
				if af.left == 0 {
					continue
				}
			}
		}
		kept = append(kept, af)
	}
	clear(fs.active[len(kept):]) // let dropped faults be collected
	fs.active = kept
	return delay, action, hit
}

// applyFaults acts out the faults that meet r. It reports whether the
// request goes on to the API (no fault, or only latency).
func (s *Server) applyFaults(w *recorder, r *http.Request, apiKey string) bool {
	delay, action, hit := s.faults.plan(apiKey)
	if !hit {
		return true
	}
	s.counters.fault()
	if delay > 0 && !s.wait(r.Context(), delay) {
		// The client left or the server is closing: drop the connection
		// without an answer (net/http recovers ErrAbortHandler quietly).
		s.counters.noResponse()
		panic(http.ErrAbortHandler)
	}
	if action == nil {
		return true
	}
	switch action.Kind {
	case FaultStatus:
		status := cmp.Or(action.Status, http.StatusInternalServerError)
		msg := http.StatusText(status)
		if status == http.StatusInternalServerError {
			msg = "Internal server error" // NestJS's wording for an unhandled error
		}
		writeError(w, status, msg)
	case FaultRateLimit:
		writeTooManyRequests(w, cmp.Or(action.RetryAfter, time.Second), action.OmitRetryAfter)
	case FaultForbidden:
		writeError(w, http.StatusForbidden, "Forbidden resource")
	case FaultNonJSON:
		writeGatewayPage(w, cmp.Or(action.Status, http.StatusGatewayTimeout))
	case FaultHang:
		// Counted before the wait: the client that gives up must already
		// find the request among the unanswered ones.
		s.counters.noResponse()
		if s.hangStarted != nil {
			s.hangStarted()
		}
		s.wait(r.Context(), -1)
		panic(http.ErrAbortHandler)
	case FaultReset:
		s.counters.noResponse()
		reset(w)
	}
	return false
}

// wait waits d (forever when d < 0) and reports whether it did so without
// the client leaving or the server closing.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	var elapsed <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-elapsed:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// reset closes the connection with SO_LINGER 0, which makes the kernel send
// RST instead of FIN: the client sees "connection reset by peer". Where the
// writer cannot be hijacked (a ResponseRecorder), the connection is dropped
// the ordinary way: net/http recovers ErrAbortHandler quietly and closes it.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeTooManyRequests answers 429 the way NestJS's throttler does, with
// Retry-After in whole seconds, rounded up so a client never retries early.
func writeTooManyRequests(w http.ResponseWriter, retryAfter time.Duration, omit bool) {
	if !omit {
		secs := max(int64((retryAfter+time.Second-1)/time.Second), 1)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeError(w, http.StatusTooManyRequests, "ThrottlerException: Too Many Requests")
}

// writeGatewayPage answers an nginx-style HTML error page.
func writeGatewayPage(w http.ResponseWriter, status int) {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
