package systemdtest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
)

// world is everything outside the machine, on the host's 127.0.0.1 (the
// machine shares the host's network namespace): KPay, Secrets Manager and
// two chat receivers.
type world struct {
	t    *testing.T
	kpay *kpayemu.Server
	aws  *awstest.Emulator
	apps map[string]kpayemu.Application
	hook *hookReceiver
	chat *chatReceiver

	// Credentials handed to the unit with LoadCredential=. The URLs carry
	// a token, as real webhook URLs do, so a leak is detectable.
	hookURL, hookSecret, chatURL string

	// made is every key and credential value the test made, for the leak
	// check.
	made *secretLog
}

type secretLog struct {
	mu     sync.Mutex
	values []string
}

// slotSpec is one [[slot]] of the test configuration.
type slotSpec struct{ name, env, secret string }

var (
	baseSlots = []slotSpec{
		{"payments-live", "live", "prod/payments/kpay"},
		{"checkout-test", "test", "test/checkout/kpay"},
	}
	// reloadSlot is added by the reload scenario.
	reloadSlot = slotSpec{"payments-eu", "live", "prod/payments-eu/kpay"}
)

// otherField is a field of every secret besides the pair: a rotation must
// keep it.
const otherField = "postgres://app@db.internal/payments"

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, apps: map[string]kpayemu.Application{}, made: &secretLog{}}
	var err error
	w.kpay, err = kpayemu.Start(kpayemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.kpay.Close() })
	w.aws = awstest.Start()
	t.Cleanup(w.aws.Close)
	for _, s := range append(baseSlots, reloadSlot) {
		app := w.kpay.CreateApplication(s.name)
		w.apps[s.name] = app
		p, _ := w.kpay.Pair(app.ID, kpay.Environment(s.env))
		w.putPair(s.secret, p)
	}
	w.hook = newHookReceiver(t)
	w.chat = newChatReceiver(t)
	token := randomHex(16)
	w.hookURL = w.hook.srv.URL + "/hooks/kpay?token=" + token
	w.hookSecret = "whsec_" + base64.StdEncoding.EncodeToString(w.hook.key)
	w.chatURL = w.chat.srv.URL + "/services/T000/B000/" + randomHex(12)
	w.remember(token, w.hookSecret, w.chatURL)
	return w
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (w *world) remember(s ...string) {
	w.made.mu.Lock()
	defer w.made.mu.Unlock()
	w.made.values = append(w.made.values, s...)
}

// secrets returns every key and credential value the test made.
func (w *world) secrets() []string {
	w.made.mu.Lock()
	defer w.made.mu.Unlock()
	return append([]string(nil), w.made.values...)
}

// in returns w failing t, the (sub)test that uses it.
func (w *world) in(t *testing.T) *world {
	c := *w
	c.t = t
	return &c
}

func (w *world) putPair(secretID string, p kpay.Pair) {
	w.t.Helper()
	w.remember(p.APIKey, p.SecretKey.Reveal())
	if _, err := w.aws.PutJSON(context.Background(), secretID, secretJSON(p)); err != nil {
		w.t.Fatal(err)
	}
}

func secretJSON(p kpay.Pair) string {
	return fmt.Sprintf(`{"KPAY_API_KEY":%q,"KPAY_SECRET_KEY":%q,"DATABASE_URL":%q}`, p.APIKey, p.SecretKey.Reveal(), otherField)
}

// pairOf is the current pair of slot in the KPay emulator.
func (w *world) pairOf(slot slotSpec) kpay.Pair {
	w.t.Helper()
	p, ok := w.kpay.Pair(w.apps[slot.name].ID, kpay.Environment(slot.env))
	if !ok {
		w.t.Fatalf("no %s pair for %s in the emulator", slot.env, slot.name)
	}
	return p
}

// regenerate is an admin regenerating slot's pair in the KPay dashboard:
// the old pair is dead from that instant.
func (w *world) regenerate(slot slotSpec) kpay.Pair {
	w.t.Helper()
	p, err := w.kpay.Regenerate(w.apps[slot.name].ID, kpay.Environment(slot.env))
	if err != nil {
		w.t.Fatal(err)
	}
	w.remember(p.APIKey, p.SecretKey.Reveal())
	return p
}

// stored is what Secrets Manager holds for secretID.
type stored struct {
	APIKey    string `json:"KPAY_API_KEY"`
	SecretKey string `json:"KPAY_SECRET_KEY"`
	Other     string `json:"DATABASE_URL"`
	versions  int
}

func (w *world) stored(secretID string) stored {
	w.t.Helper()
	ctx := context.Background()
	value, _, err := w.aws.Current(ctx, secretID)
	if err != nil {
		w.t.Fatalf("read %s: %v", secretID, err)
	}
	var s stored
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		w.t.Fatalf("%s holds no JSON object: %v", secretID, err)
	}
	if s.versions, err = w.aws.VersionCount(ctx, secretID); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// holds reports whether s holds exactly p (both halves).
func (s stored) holds(p kpay.Pair) bool {
	return s.APIKey == p.APIKey && s.SecretKey == p.SecretKey.Reveal()
}

// config renders the daemon's configuration. It holds no secret: every
// chat URL and signing secret is a systemd credential.
func (w *world) config(port int, slots []slotSpec, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# kpay-rotator systemd test configuration
[daemon]
listen = "127.0.0.1:%d"

[kpay]
base_url = %q
timeout = "5s"
requests_per_minute = 100

[aws]
region = %q

[defaults]
# Current pairs are probed by the start pass and on demand (SIGUSR1) only,
# so every probe in the test is one the test caused.
probe_schedule = "@every 1h"
# A retired pair is confirmed revoked within seconds of a rotation.
retired_schedule = "@every 2s"
jitter = "0s"
# One rejection makes a pair failing: one on-demand pass raises
# unplanned_revocation.
failure_threshold = 1
notify = ["hooks", "chat"]
`, port, w.kpay.URL, awstest.Region)
	for _, s := range slots {
		fmt.Fprintf(&b, "\n[[slot]]\nname = %q\nenvironment = %q\nsecret_id = %q\n", s.name, s.env, s.secret)
	}
	b.WriteString(`
[[notifier]]
name = "hooks"
type = "webhook"
url_credential = "hook-url"
secret_credential = "hook-secret"
min_severity = "info"
group_wait = "0s"

[[notifier]]
name = "chat"
type = "slack"
url_credential = "chat-url"
group_wait = "0s"
`)
	b.WriteString(extra)
	return b.String()
}

// freePort picks a loopback port for the daemon's listener. It stays
// below the kernel's ephemeral range (32768+), where the test's own
// servers and clients take theirs, so nothing grabs it before the daemon
// binds it, and it stays the same across restarts.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + int(randomUint16()%12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free loopback port in 20000-31999")
	return 0
}

func randomUint16() uint16 {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return uint16(b[0])<<8 | uint16(b[1])
}

// hookReceiver is a generic webhook endpoint that verifies Standard
// Webhooks signatures itself, from the spec rather than with the daemon's
// code, and can be taken down (HTTP 500) to hold alerts in the outbox.
type hookReceiver struct {
	srv *httptest.Server
	key []byte

	mu        sync.Mutex
	down      bool
	tries     map[string]int      // webhook-id → attempts
	attempted map[string][]string // event kind → webhook-ids attempted
	delivered map[string][]string // event kind → webhook-ids delivered
	tokens    map[string]int      // ?token= values seen
	badSig    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h := &hookReceiver{key: key, tries: map[string]int{}, attempted: map[string][]string{},
		delivered: map[string][]string{}, tokens: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, h.key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[r.URL.Query().Get("token")]++
	if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
		h.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		http.Error(w, "stale timestamp", http.StatusBadRequest)
		return
	}
	var msg struct {
		Data struct {
			Events []struct {
				Kind string `json:"kind"`
			} `json:"events"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &msg)
	h.tries[id]++
	for _, e := range msg.Data.Events {
		h.attempted[e.Kind] = append(h.attempted[e.Kind], id)
	}
	if h.down {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	for _, e := range msg.Data.Events {
		h.delivered[e.Kind] = append(h.delivered[e.Kind], id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) setDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

// ids returns the webhook-ids of kind that were delivered (or only
// attempted).
func (h *hookReceiver) ids(kind string, deliveredOnly bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if deliveredOnly {
		return append([]string(nil), h.delivered[kind]...)
	}
	return append([]string(nil), h.attempted[kind]...)
}

func (h *hookReceiver) triesOf(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries[id]
}

func (h *hookReceiver) badSignatures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.badSig
}

func (h *hookReceiver) tokenSeen(token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tokens[token] > 0
}

// chatReceiver stands in for a Slack incoming webhook: it records what it
// got and on which path (the credential's secret part).
type chatReceiver struct {
	srv *httptest.Server

	mu   sync.Mutex
	msgs []chatMessage
}

type chatMessage struct{ path, body string }

func newChatReceiver(t *testing.T) *chatReceiver {
	c := &chatReceiver{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.msgs = append(c.msgs, chatMessage{r.URL.Path, string(b)})
		c.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// got reports whether a message posted to path contained every one of
// subs.
func (c *chatReceiver) got(path string, subs ...string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, m := range c.msgs {
		if m.path != path {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(m.body, s) {
				continue next
			}
		}
		return true
	}
	return false
}
