package notifiertest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"kpay-rotator/notifier"
)

// Want is the classification a Case expects.
type Want struct {
	Delivered, Retry bool
	RetryAfter       time.Duration
	Status           int
}

// Case is one answer (or no answer) and the Result it must give.
type Case struct {
	Name  string
	Reply Reply
	// Refused sends to a port nothing listens on.
	Refused bool
	Want    Want
}

// HangTimeout is the per-attempt timeout Classify gives a receiver for
// the Hang case: the server holds the request, the receiver's own
// deadline ends it.
const HangTimeout = 200 * time.Millisecond

// StandardCases is the table every receiver passes. ok is the platform's
// success answer. Bodies of failures are plain words, as a proxy or a
// load balancer would send; platform bodies (Discord's and Telegram's
// retry_after) are added by each receiver's own cases.
func StandardCases(ok Reply) []Case {
	final := func(status int) Want { return Want{Status: status} }
	return []Case{
		{Name: "success", Reply: ok, Want: Want{Delivered: true, Status: statusOr200(ok.Status)}},
		{Name: "202 accepted", Reply: Reply{Status: 202}, Want: Want{Delivered: true, Status: 202}},
		{Name: "204 no content", Reply: Reply{Status: 204}, Want: Want{Delivered: true, Status: 204}},
		{Name: "400", Reply: Reply{Status: 400, Body: "invalid_payload"}, Want: final(400)},
		{Name: "401", Reply: Reply{Status: 401, Body: "unauthorized"}, Want: final(401)},
		{Name: "403", Reply: Reply{Status: 403, Body: "action_prohibited"}, Want: final(403)},
		{Name: "404", Reply: Reply{Status: 404, Body: "no_service"}, Want: final(404)},
		{Name: "410", Reply: Reply{Status: 410, Body: "channel_is_archived"}, Want: final(410)},
		{Name: "429 Retry-After seconds", Reply: Reply{Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: "rate_limited"},
			Want: Want{Retry: true, RetryAfter: 7 * time.Second, Status: 429}},
		{Name: "429 Retry-After date", Reply: Reply{Status: 429, Header: map[string]string{"Retry-After": At.Add(2 * time.Minute).Format(http.TimeFormat), "Date": At.Format(http.TimeFormat)}},
			Want: Want{Retry: true, RetryAfter: 2 * time.Minute, Status: 429}},
		// Measured against the answer's Date, not the sender's clock: a
		// receiver an hour ahead still means two minutes.
		{Name: "429 Retry-After date against the answer's Date", Reply: Reply{Status: 429, Header: map[string]string{"Retry-After": At.Add(time.Hour + 2*time.Minute).Format(http.TimeFormat), "Date": At.Add(time.Hour).Format(http.TimeFormat)}},
			Want: Want{Retry: true, RetryAfter: 2 * time.Minute, Status: 429}},
		{Name: "429 without Retry-After", Reply: Reply{Status: 429}, Want: Want{Retry: true, Status: 429}},
		{Name: "500", Reply: Reply{Status: 500, Body: "internal error"}, Want: Want{Retry: true, Status: 500}},
		{Name: "503 Retry-After", Reply: Reply{Status: 503, Header: map[string]string{"Retry-After": "30"}},
			Want: Want{Retry: true, RetryAfter: 30 * time.Second, Status: 503}},
		{Name: "302 redirect", Reply: Reply{Status: 302, Header: map[string]string{"Location": "/elsewhere"}}, Want: final(302)},
		{Name: "307 redirect", Reply: Reply{Status: 307, Header: map[string]string{"Location": "https://elsewhere.example/x"}}, Want: final(307)},
		{Name: "connection refused", Refused: true, Want: Want{Retry: true}},
		{Name: "timeout", Reply: Reply{Hang: true}, Want: Want{Retry: true}},
	}
}

func statusOr200(s int) int {
	if s == 0 {
		return 200
	}
	return s
}

// Classify sends a to a fresh Server per case and checks the Result: the
// classification, the requested wait, that a failure says something, and
// that exactly one request was made (no redirect followed, no retry
// hidden inside the receiver).
func Classify(t *testing.T, f Factory, a notifier.Alert, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			srv := NewServer(t, c.Reply)
			d := srv.Destination()
			if c.Reply.Hang {
				d.Timeout = HangTimeout
			}
			if c.Refused {
				d = refusedDestination(t)
			}
			s, err := f(d)
			if err != nil {
				t.Fatalf("build receiver: %v", err)
			}
			got := s.Send(context.Background(), a)
			if got.Delivered != c.Want.Delivered || got.Retry != c.Want.Retry {
				t.Errorf("got delivered=%v retry=%v, want delivered=%v retry=%v (detail %q)", got.Delivered, got.Retry, c.Want.Delivered, c.Want.Retry, got.Detail)
			}
			if got.RetryAfter != c.Want.RetryAfter {
				t.Errorf("got RetryAfter %v, want %v", got.RetryAfter, c.Want.RetryAfter)
			}
			if got.Status != c.Want.Status {
				t.Errorf("got Status %d, want %d", got.Status, c.Want.Status)
			}
			if !got.Delivered && got.Detail == "" {
				t.Error("a failure with an empty Detail")
			}
			if n := len(srv.Requests()); !c.Refused && n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

// refusedDestination points at a port that was listening a moment ago
// and no longer is, so the connection is refused at once.
func refusedDestination(t *testing.T) Destination {
	srv := NewServer(t, Reply{})
	d := srv.Destination()
	srv.srv.Close()
	return d
}
