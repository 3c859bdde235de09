package kpayemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kpay-rotator/kpay"
)

// Options configure a Server. The zero value is a usable emulator with no
// rate limit and no logs.
type Options struct {
	// Logger receives the emulator's logs; nil discards them. Keys appear
	// in them only masked.
	Logger *slog.Logger

	// RequestsPerMinute, when >0, makes the emulator answer 429 with
	// Retry-After once a key exceeds it in a sliding minute (KPay's default
	// is 100). 0 (or less) = no limit.
	RequestsPerMinute int

	// PrefixlessSecrets mints secret keys as 64 bare hex characters, the
	// form seen in real-looking values, instead of the documented
	// sk_test_/sk_live_ form. SetPrefixlessSecrets changes it later.
	PrefixlessSecrets bool

	// Now is the clock of the rate limiter; nil means time.Now. Tests
	// inject one to slide the window without sleeping.
	Now func() time.Time
}

// Server is a running (or, from New, unstarted) emulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT, of a started Server; it
	// is empty for a Server made by New.
	URL string

	log         *slog.Logger
	handler     http.Handler
	reg         *registry
	faults      faultSet
	limiter     *limiter
	counters    counterSet
	maintenance atomic.Bool

	// done is closed by Close and Shutdown. Hanging and delayed handlers
	// select on it: http.Server.Close does not wait for handlers, and
	// Shutdown would wait forever for a hang.
	done      chan struct{}
	closeOnce sync.Once
	srv       *http.Server
	served    chan struct{}

	// hangStarted, when a test sets it (before Inject, whose lock orders
	// the write before the handler's read), runs as a FaultHang starts to
	// wait, so the test knows the request arrived without polling.
	hangStarted func()
}

// New makes an unstarted Server, to be served through Handler (for example
// by httptest.NewServer). Close still releases its hanging requests.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		log:     log,
		reg:     newRegistry(log, opts.PrefixlessSecrets),
		limiter: newLimiter(opts.RequestsPerMinute, now),
		done:    make(chan struct{}),
	}
	s.counters.reset()
	s.handler = s.routes()
	return s
}

// Start starts a Server on a free loopback port (127.0.0.1:0).
func Start(opts Options) (*Server, error) { return StartOn("127.0.0.1:0", opts) }

// StartOn starts a Server listening on addr, e.g. "127.0.0.1:8099".
func StartOn(addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kpayemu: listen on %s: %w", addr, err)
	}
	s := New(opts)
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler: s.handler,
		// Bounds a client that opens a connection and never sends a whole
		// header; without it such a connection would be held forever.
		ReadHeaderTimeout: 10 * time.Second,
		// Connection errors (including the resets this emulator causes on
		// purpose) go to the structured log, not to the process's stderr.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Info("kpay emulator listening", "url", s.URL)
	return s, nil
}

// Handler serves the KPay API and the /_emulator/ admin API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the server at once: it releases hanging requests and closes
// the listener and every connection. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.served
	return err
}

// Shutdown stops the server gracefully: it releases hanging requests, stops
// accepting connections and waits, until ctx ends, for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.done) })
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err == nil {
		<-s.served
	}
	return err
}

// SetMaintenance sets the maintenance flag that platform-info reports.
func (s *Server) SetMaintenance(on bool) { s.maintenance.Store(on) }

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/payments/me", s.handleMe)
	api.HandleFunc("GET /api/v1/payments/balance", s.handleBalance)
	api.HandleFunc("GET /api/public/platform-info", s.handlePlatformInfo)
	// Express answers a wrong method on a known route like an unknown
	// route, so one catch-all covers both.
	api.HandleFunc("/", handleNotFound)

	admin := s.adminRoutes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == adminRoot || strings.HasPrefix(r.URL.Path, adminRoot+"/") {
			// Admin calls are not KPay traffic: no faults, no limit and no
			// counting, so a test can always clear a fault or read counters.
			admin.ServeHTTP(w, r)
			return
		}
		s.serveAPI(w, r, api)
	})
}

// serveAPI counts a KPay request, then applies faults and the rate limit
// before the request reaches the endpoint.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, api http.Handler) {
	apiKey := r.Header.Get(headerAPIKey)
	rec := &recorder{ResponseWriter: w, counters: &s.counters}
	s.counters.request(r.URL.Path, apiKey)
	defer func() {
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path,
			"key", kpay.MaskAPIKey(apiKey), "status", rec.status)
	}()
	if !s.applyFaults(rec, r, apiKey) {
		return
	}
	if apiKey != "" {
		if wait, ok := s.limiter.allow(apiKey); !ok {
			writeTooManyRequests(rec, wait, false)
			return
		}
	}
	api.ServeHTTP(rec, r)
}

// recorder counts the status of a response as its header is written, that
// is before the client can see it, so a test that reads Counters right after
// a response never races the count.
type recorder struct {
	http.ResponseWriter
	counters *counterSet
	status   int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.counters.response(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection for FaultReset.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// errorBody is KPay's (NestJS's) error envelope, fields in documented order.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Error      string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, errorBody{StatusCode: status, Message: message, Error: http.StatusText(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the emulator's own plain structs get here.
		panic(fmt.Sprintf("kpayemu: marshal %T: %v", v, err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone; nothing to do about it
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
}
