package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/notifiertest"
	"kpay-rotator/notifier/webhook"
)

func factory(d notifiertest.Destination) (notifier.Sender, error) {
	return webhook.New(webhook.Options{URL: d.URL, SigningSecret: d.SigningSecret, Timeout: d.Timeout, Now: d.Now})
}

// verify checks a delivery the way a receiver following the Standard
// Webhooks spec does, written from the spec rather than from the code
// under test: decode the key after whsec_, HMAC-SHA256 over
// "{id}.{timestamp}.{body}", base64, and compare in constant time with
// each "v1," entry of the space-separated signature header.
func verify(t *testing.T, secret string, req notifiertest.Request) {
	t.Helper()
	id, ts, sigs := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		t.Fatalf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	if strings.Contains(id, ".") || strings.Contains(ts, ".") {
		t.Fatalf("id %q or timestamp %q contains '.'", id, ts)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(req.Body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return
		}
	}
	t.Fatalf("no v1 signature in %q matches the body", sigs)
}

func TestReceiver_Send_signedPayload(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 204})
	s, err := factory(srv.Destination())
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(context.Background(), notifiertest.Failing()); !res.Delivered {
		t.Fatalf("got %+v", res)
	}
	req := srv.Last(t)
	verify(t, notifiertest.WebhookSecret, req)
	if got := req.Header.Get("webhook-id"); got != "alert-0001" {
		t.Errorf("got webhook-id %q, want the alert id", got)
	}
	if got, want := req.Header.Get("webhook-timestamp"), strconv.FormatInt(notifiertest.At.Unix(), 10); got != want {
		t.Errorf("got webhook-timestamp %q, want %q", got, want)
	}
	if req.Header.Get("Content-Type") != "application/json" || req.Path != notifiertest.HookPath {
		t.Errorf("got %q at %s", req.Header.Get("Content-Type"), req.Path)
	}
	var p webhook.Payload
	req.DecodeJSON(t, &p)
	if p.Type != "kpay_rotator.key_failing" || p.Timestamp != "2026-01-05T10:00:00Z" || p.Data.AlertID != "alert-0001" || p.Data.Severity != "critical" {
		t.Errorf("got %+v", p)
	}
	if len(p.Data.Events) != 1 {
		t.Fatalf("got %d events", len(p.Data.Events))
	}
	e := p.Data.Events[0]
	if e.Slot != "payments-live" || e.Kind != event.KeyFailing || e.Pair != "kpay_live_…9f2c" || e.Fields["cutover_gap"] != "3m" || e.Action == "" {
		t.Errorf("got event %+v", e)
	}
}

// The signed body is JSON for machines: identifiers and commands arrive
// exactly as the event had them, with no markup to undo.
func TestReceiver_Send_keepsIdentifiersByteForByte(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"one event": notifiertest.BacktickAlert(),
		"group":     notifiertest.CopyGroup(),
	} {
		t.Run(name, func(t *testing.T) {
			srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 204})
			s, err := factory(srv.Destination())
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Send(context.Background(), a); !res.Delivered {
				t.Fatalf("got %+v", res)
			}
			var p webhook.Payload
			srv.Last(t).DecodeJSON(t, &p)
			if len(p.Data.Events) != len(a.Events) {
				t.Fatalf("got %d events, want %d", len(p.Data.Events), len(a.Events))
			}
			for i, e := range p.Data.Events {
				w := a.Events[i]
				if e.Slot != w.Slot || e.SecretID != w.SecretID || e.Pair != w.Pair || e.Action != w.Action {
					t.Errorf("got event %d %q %q %q %q, want %q %q %q %q", i, e.Slot, e.SecretID, e.Pair, e.Action, w.Slot, w.SecretID, w.Pair, w.Action)
				}
			}
		})
	}
}

// stepClock advances a second per reading, as retries would.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func TestReceiver_Send_retryKeepsIDAndBody(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 503})
	d := srv.Destination()
	d.Now = (&stepClock{t: notifiertest.At}).Now
	s, _ := factory(d)
	a := notifiertest.Group(3, event.KeyOverdue)
	s.Send(context.Background(), a)
	s.Send(context.Background(), a)
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for _, r := range reqs {
		verify(t, notifiertest.WebhookSecret, r)
	}
	if a, b := reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"); a != b || a == "" {
		t.Errorf("got webhook-ids %q and %q, want one stable id", a, b)
	}
	if a, b := reqs[0].Header.Get("webhook-timestamp"), reqs[1].Header.Get("webhook-timestamp"); a == b {
		t.Errorf("both attempts have timestamp %s; it must be each attempt's", a)
	}
	if !bytes.Equal(reqs[0].Body, reqs[1].Body) {
		t.Error("the body changed between attempts")
	}
	var p webhook.Payload
	reqs[0].DecodeJSON(t, &p)
	if p.Type != "kpay_rotator.group" || len(p.Data.Events) != 3 {
		t.Errorf("got type %q with %d events", p.Type, len(p.Data.Events))
	}
}

func TestMessageID(t *testing.T) {
	a := notifiertest.Failing()
	a.ID = "alert.with.dots"
	id := webhook.MessageID(a)
	if strings.Contains(id, ".") || id != webhook.MessageID(a) || !strings.HasPrefix(id, "msg_") {
		t.Errorf("got %q, want a stable msg_ id without dots", id)
	}
	a.ID = ""
	if webhook.MessageID(a) == id || webhook.MessageID(a) != webhook.MessageID(a) {
		t.Error("an empty id does not give its own stable replacement")
	}
}

// TestReceiver_Send_limits: whatever the burst, the receiver's Split cuts
// it into alerts that are each sent whole, within the body limit, signed,
// and together carry every event once.
func TestReceiver_Send_limits(t *testing.T) {
	for name, a := range map[string]notifier.Alert{
		"huge event":      notifiertest.Huge(),
		"40-slot group":   notifiertest.HugeGroup(),
		"5000-slot group": notifiertest.Group(5000, event.KeyOverdue),
	} {
		t.Run(name, func(t *testing.T) {
			srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200})
			s, _ := factory(srv.Destination())
			runs := s.(notifier.Splitter).Split(a)
			for i, run := range runs {
				part := notifier.Alert{ID: fmt.Sprintf("%s_%d", a.ID, i+1), Events: run}
				if res := s.Send(context.Background(), part); !res.Delivered {
					t.Fatalf("part %d of %d (%d events): %+v", i+1, len(runs), len(run), res)
				}
			}
			var got []string
			for _, req := range srv.Requests() {
				notifiertest.CheckBody(t, req.Body, webhook.DefaultMaxBody)
				verify(t, notifiertest.WebhookSecret, req)
				if bytes.Contains(req.Body, []byte("omitted")) {
					t.Errorf("a body says events were omitted")
				}
				var p webhook.Payload
				req.DecodeJSON(t, &p)
				for _, e := range p.Data.Events {
					got = append(got, e.ID)
				}
			}
			if want := eventIDs(a.Events); !slices.Equal(got, want) {
				t.Errorf("the endpoint got %d events in %d requests, want all %d once, in order", len(got), len(runs), len(want))
			}
		})
	}
}

func eventIDs(es []event.Event) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestReceiver_Send_refusesWhatDoesNotFit: an alert too large for one body
// is refused for good (retrying would not shrink it) and nothing is
// posted, rather than posted with events missing.
func TestReceiver_Send_refusesWhatDoesNotFit(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 200})
	s, _ := factory(srv.Destination())
	res := s.Send(context.Background(), notifiertest.Group(5000, event.KeyOverdue))
	if res.Delivered || res.Retry || !strings.Contains(res.Detail, "too large") || len(srv.Requests()) != 0 {
		t.Errorf("got %+v and %d requests, want a final failure saying too large, nothing sent", res, len(srv.Requests()))
	}
}

// mixed is n events of alternating kinds (and so severities), so a run's
// title, type and severity (part of its size) change with where it is cut.
func mixed(n int) notifier.Alert {
	kinds := []event.Kind{event.KeyFailing, event.SecretChangedExternally, event.KeyRecovered, event.KeyDue}
	var es []event.Event
	for i := 0; i < n; i++ {
		e := notifiertest.Event(kinds[i%len(kinds)], fmt.Sprintf("slot-%04d", i))
		es = append(es, e)
	}
	return notifiertest.Alert(es...)
}

func TestSplit(t *testing.T) {
	// A limit just over ten events under the alert's own short id: a
	// longer id (a part's, or the outbox's) would not fit ten.
	group := notifiertest.Group(100, event.KeyFailing)
	ten, err := webhook.Body(notifier.Alert{ID: group.ID, Events: group.Events[:10]}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		a    notifier.Alert
		max  int
		// runs is the number of runs wanted; 0: more than one.
		runs int
	}{
		{"one event", notifiertest.Failing(), webhook.DefaultMaxBody, 1},
		{"a group that fits", notifiertest.Group(40, event.KeyFailing), webhook.DefaultMaxBody, 1},
		{"1000 events", notifiertest.Group(1000, event.KeyFailing), webhook.DefaultMaxBody, 0},
		{"huge events", notifiertest.HugeGroup(), webhook.DefaultMaxBody, 0},
		{"mixed kinds, small limit", mixed(300), 4 << 10, 0},
		{"an event larger than the limit stays one run", notifiertest.Huge(), 1 << 10, 1},
		{"room for a longer id", group, len(ten) + 10, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runs := webhook.Split(tt.a, tt.max)
			if tt.runs > 0 && len(runs) != tt.runs || tt.runs == 0 && len(runs) < 2 {
				t.Fatalf("got %d runs, want %d (0: several)", len(runs), tt.runs)
			}
			var got []event.Event
			for i, run := range runs {
				got = append(got, run...)
				if len(run) == 0 {
					t.Fatalf("run %d is empty", i)
				}
				if len(run) == 1 && len(tt.a.Events) == 1 {
					continue // nothing to cut
				}
				// Every run fits under the longest id Split promises room
				// for, and no run could have taken the next event too.
				part := notifier.Alert{ID: strings.Repeat("x", webhook.MaxID), Events: run, Repeat: tt.a.Repeat}
				if b, err := webhook.Body(part, tt.max); err != nil {
					t.Errorf("run %d (%d events): %v", i, len(run), err)
				} else if len(b) > tt.max {
					t.Errorf("run %d: %d bytes, over %d", i, len(b), tt.max)
				}
				if i+1 < len(runs) {
					part.Events = append(slices.Clone(run), runs[i+1][0])
					if _, err := webhook.Body(part, tt.max); err == nil {
						t.Errorf("run %d (%d events) ends early: the next event fits too", i, len(run))
					}
				}
			}
			if !slices.Equal(eventIDs(got), eventIDs(tt.a.Events)) {
				t.Errorf("runs hold %d events, want the %d given, once each, in order", len(got), len(tt.a.Events))
			}
		})
	}
}

func TestBody(t *testing.T) {
	for _, tt := range []struct {
		name    string
		a       notifier.Alert
		max     int
		tooMuch bool
	}{
		{"fits", notifiertest.Group(3, event.KeyOverdue), webhook.DefaultMaxBody, false},
		{"a group too large", notifiertest.Group(5000, event.KeyOverdue), webhook.DefaultMaxBody, true},
		{"one event too large", notifiertest.Huge(), 1 << 10, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := webhook.Body(tt.a, tt.max)
			if tt.tooMuch {
				if !errors.Is(err, webhook.ErrTooLarge) || b != nil {
					t.Errorf("got %d bytes, %v; want ErrTooLarge", len(b), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var p webhook.Payload
			if err := json.Unmarshal(b, &p); err != nil || len(p.Data.Events) != len(tt.a.Events) || bytes.Contains(b, []byte("omitted")) {
				t.Errorf("got %d of %d events (%v): %.300s", len(p.Data.Events), len(tt.a.Events), err, b)
			}
		})
	}
}

func TestReceiver_Send_classification(t *testing.T) {
	notifiertest.Classify(t, factory, notifiertest.Failing(), notifiertest.StandardCases(notifiertest.Reply{Status: 200}))
}

func TestReceiver_Send_goneSaysDisable(t *testing.T) {
	srv := notifiertest.NewServer(t, notifiertest.Reply{Status: 410})
	s, _ := factory(srv.Destination())
	res := s.Send(context.Background(), notifiertest.Failing())
	if res.Retry || res.Delivered || !strings.Contains(res.Detail, "asks to be disabled") {
		t.Errorf("got %+v", res)
	}
}

func TestReceiver_Send_noLeak(t *testing.T) { notifiertest.NoLeak(t, factory) }

func TestSigningSecret_rejected(t *testing.T) {
	url := notifier.InlineSecret{Value: kpay.NewSecret("https://example.com/hook")}
	for name, tt := range map[string]struct{ secret, want string }{
		"no prefix":  {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with whsec_"},
		"not base64": {"whsec_s3cret!!not*base64", "not base64"},
		"too short":  {"whsec_" + base64.StdEncoding.EncodeToString([]byte("s3cret-16-bytes!")), "at least 24"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := webhook.New(webhook.Options{URL: url, SigningSecret: notifier.InlineSecret{Value: kpay.NewSecret(tt.secret)}})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), strings.TrimPrefix(tt.secret, "whsec_")) {
				t.Errorf("New: got %v, want %q without the secret", err, tt.want)
			}
			// From a file it is read at send time, and refused then.
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(tt.secret), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := notifiertest.NewServer(t, notifiertest.Reply{})
			r, err := webhook.New(webhook.Options{URL: srv.Destination().URL, SigningSecret: notifier.FileSecret{Path: path}})
			if err != nil {
				t.Fatal(err)
			}
			res := r.Send(context.Background(), notifiertest.Failing())
			if res.Delivered || !res.Retry || !strings.Contains(res.Detail, tt.want) || len(srv.Requests()) != 0 {
				t.Errorf("Send: got %+v and %d requests, want a retryable failure saying %q, nothing sent", res, len(srv.Requests()), tt.want)
			}
		})
	}
}

func TestNew_requires(t *testing.T) {
	url := notifier.InlineSecret{Value: kpay.NewSecret("https://example.com/hook")}
	if _, err := webhook.New(webhook.Options{SigningSecret: url}); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Errorf("got %v", err)
	}
	if _, err := webhook.New(webhook.Options{URL: url}); err == nil || !strings.Contains(err.Error(), "signing secret is required") {
		t.Errorf("got %v", err)
	}
}

func TestReceiver_Rate(t *testing.T) {
	sec := notifier.InlineSecret{Value: kpay.NewSecret(notifiertest.WebhookSecret)}
	url := notifier.InlineSecret{Value: kpay.NewSecret("https://example.com/hook")}
	r, _ := webhook.New(webhook.Options{URL: url, SigningSecret: sec})
	if every, burst := r.Rate(); every != 100*time.Millisecond || burst != 10 {
		t.Errorf("got default %v/%d, want 100ms/10", every, burst)
	}
	r, _ = webhook.New(webhook.Options{URL: url, SigningSecret: sec, Every: time.Second, Burst: 2})
	if every, burst := r.Rate(); every != time.Second || burst != 2 {
		t.Errorf("got %v/%d, want the configured 1s/2", every, burst)
	}
}
