// Package notifiertest is the conformance kit every chat receiver's tests
// share: a real HTTP receiver that records what it gets and answers as
// told, sample alerts (ordinary, huge, grouped, hostile), the common
// classification table and the no-leak check. It is imported only by
// tests; it exists so that seven receivers are held to one standard
// instead of seven slightly different ones.
package notifiertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
)

// Destination is what a receiver under test is built from. URL receivers
// use URL; Telegram uses APIBase and Token; the generic webhook adds
// SigningSecret. Factories copy what they need into their Options.
type Destination struct {
	URL           notifier.SecretRef
	APIBase       string
	Token         notifier.SecretRef
	SigningSecret notifier.SecretRef
	Timeout       time.Duration
	Now           func() time.Time
}

// Factory builds the receiver under test for d.
type Factory func(d Destination) (notifier.Sender, error)

// Ordinary credentials for tests that do not hunt for leaks.
const (
	HookPath      = "/hooks/T0000/B0000/xoxHookToken0123456789ab"
	BotToken      = "123456:TestBotToken_abcdefghijklmnopqrstuv"
	WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the Standard Webhooks spec's example secret, 24 bytes
)

// Reply is how the Server answers.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
	// Hang holds the request until the client gives up, to reach a
	// per-attempt timeout without sleeping.
	Hang bool
}

// Request is what the Server received.
type Request struct {
	Method     string
	RequestURI string // path and query as sent, escaped
	Path       string
	Query      url.Values
	Header     http.Header
	Body       []byte
}

// DecodeJSON decodes the body into v, failing the test on invalid JSON.
func (r Request) DecodeJSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not valid JSON: %v\n%s", err, r.Body)
	}
}

// Server is a real HTTP receiver on 127.0.0.1.
type Server struct {
	URL string

	srv   *httptest.Server
	done  chan struct{}
	mu    sync.Mutex
	reply func(Request) Reply
	reqs  []Request
}

// NewServer starts a Server answering every request with r; it stops when
// the test ends.
func NewServer(t testing.TB, r Reply) *Server {
	return NewServerFunc(t, func(Request) Reply { return r })
}

// NewServerFunc starts a Server whose answer depends on the request.
func NewServerFunc(t testing.TB, reply func(Request) Reply) *Server {
	s := &Server{done: make(chan struct{}), reply: reply}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		// Release hanging handlers first: Close waits for them.
		close(s.done)
		s.srv.Close()
	})
	return s
}

// SetReply changes the answer for later requests.
func (s *Server) SetReply(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = func(Request) Reply { return r }
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{
		Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body,
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	reply := s.reply
	s.mu.Unlock()
	rep := reply(req)
	if rep.Hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rep.Body)
}

// Requests returns what the Server received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Last returns the latest request, failing the test if there is none.
func (s *Server) Last(t testing.TB) Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) == 0 {
		t.Fatal("the receiver got no request")
	}
	return reqs[len(reqs)-1]
}

// Destination points every credential at the Server: URL is the Server
// plus HookPath, APIBase the Server itself.
func (s *Server) Destination() Destination {
	return s.DestinationAt(HookPath)
}

// DestinationAt is Destination with URL at pathAndQuery.
func (s *Server) DestinationAt(pathAndQuery string) Destination {
	return Destination{
		URL:           inline(s.URL + pathAndQuery),
		APIBase:       s.URL,
		Token:         inline(BotToken),
		SigningSecret: inline(WebhookSecret),
		Timeout:       5 * time.Second,
		Now:           Clock,
	}
}

func inline(v string) notifier.SecretRef { return notifier.InlineSecret{Value: kpay.NewSecret(v)} }
