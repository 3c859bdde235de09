package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookReceiver is a Standard Webhooks endpoint that verifies signatures
// itself (from the spec, not with the daemon's code) and can be taken down.
type hookReceiver struct {
	srv   *httptest.Server
	key   []byte
	mu    sync.Mutex
	down  bool
	tries map[string]int      // webhook-id → attempts seen
	kinds map[string][]string // webhook-id → event kinds delivered
	// arrived is when each kind was first delivered; arrivals every time.
	arrived  map[string]time.Time
	arrivals map[string][]time.Time
	bodies   []string
	badSig   int
}

func newHookReceiver(t testing.TB) (*hookReceiver, string) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h := &hookReceiver{key: key, tries: map[string]int{}, kinds: map[string][]string{}, arrived: map[string]time.Time{}, arrivals: map[string][]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h, "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, h.key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tries[id]++
	if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
		h.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		http.Error(w, "stale", http.StatusBadRequest)
		return
	}
	if h.down {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
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
	for _, e := range msg.Data.Events {
		h.kinds[id] = append(h.kinds[id], e.Kind)
		if _, ok := h.arrived[e.Kind]; !ok {
			h.arrived[e.Kind] = time.Now()
		}
		h.arrivals[e.Kind] = append(h.arrivals[e.Kind], time.Now())
	}
	h.bodies = append(h.bodies, string(body))
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) setDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

// arrivalsOf is every delivery time of kind.
func (h *hookReceiver) arrivalsOf(kind string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.arrivals[kind])
}

// firstArrival is when kind was first delivered (zero if never).
func (h *hookReceiver) firstArrival(kind string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.arrived[kind]
}

func (h *hookReceiver) delivered() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, ks := range h.kinds {
		for _, k := range ks {
			out[k]++
		}
	}
	return out
}

func writeSecretFile(t testing.TB, dir, name, value string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAlerts_DeliveredAcrossOutageAndRestart: a signed webhook receiver is
// down (500s) while a key fails, the daemon restarts in the middle, and
// once the receiver is back every alert arrives, each under one stable
// webhook-id. A Slack receiver, fed through a systemd-style credentials
// directory, gets the same alerts meanwhile.
func TestAlerts_DeliveredAcrossOutageAndRestart(t *testing.T) {
	f := newFixture(t)
	hook, whsec := newHookReceiver(t)
	var slackMu sync.Mutex
	var slack []string
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		slackMu.Lock()
		slack = append(slack, string(b))
		slackMu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(slackSrv.Close)
	creds := t.TempDir()
	writeSecretFile(t, creds, "slack-ops", slackSrv.URL+"/services/T000/B000/CANARYslacktoken")
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	urlFile := writeSecretFile(t, f.dir, "hook.url", hook.srv.URL+"/hooks/kpay?token=CANARYhooktoken")
	secretFile := writeSecretFile(t, f.dir, "hook.secret", whsec)

	f.defaults = `notify = ["hooks", "chat"]`
	f.writeConfig(fmt.Sprintf(`
[[notifier]]
name = "hooks"
type = "webhook"
url_file = %q
secret_file = %q
min_severity = "info"
group_wait = "0s"

[[notifier]]
name = "chat"
type = "slack"
url_credential = "slack-ops"
group_wait = "0s"
`, urlFile, secretFile))

	hook.setDown(true)
	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "one rejection", func() bool {
		s := slotOf(f.status(), "payments-live")
		return s.LastProbe != nil && s.LastProbe.Outcome == "rejected"
	})
	p.signal(syscall.SIGUSR1)
	eventually(t, "failing", func() bool { return slotOf(f.status(), "payments-live").Health == "failing" })
	eventually(t, "a failed delivery attempt", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		return len(hook.tries) > 0
	})

	// Restart in the middle of the outage.
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p2 := f.start()
	hook.setDown(false)
	eventually(t, "unplanned_revocation delivered to the webhook", func() bool { return hook.delivered()["unplanned_revocation"] >= 1 })

	hook.mu.Lock()
	for id, n := range hook.tries {
		if len(hook.kinds[id]) == 0 {
			t.Errorf("webhook-id %s tried %d times, never delivered", id, n)
		}
	}
	retried := 0
	for _, n := range hook.tries {
		if n > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no alert was retried under the same webhook-id: %v", hook.tries)
	}
	if hook.badSig != 0 {
		t.Errorf("%d deliveries failed signature verification", hook.badSig)
	}
	hook.mu.Unlock()

	slackMu.Lock()
	gotSlack := strings.Join(slack, "\n")
	slackMu.Unlock()
	if !strings.Contains(gotSlack, "payments-live") || !strings.Contains(gotSlack, "kpay-rotator stage payments-live") {
		t.Errorf("slack did not get the failing alert with its next step:\n%s", gotSlack)
	}
	p2.signal(syscall.SIGTERM)
	p2.wait(10 * time.Second)
	for _, out := range []string{p.log(), p2.log(), gotSlack} {
		for _, canary := range []string{"CANARYslacktoken", "CANARYhooktoken", whsec} {
			if strings.Contains(out, canary) {
				t.Errorf("a notifier credential leaked: %q", canary)
			}
		}
	}
}

func TestNotifyTest_StandAlone(t *testing.T) {
	f := newFixture(t)
	hook, whsec := newHookReceiver(t)
	urlFile := writeSecretFile(t, f.dir, "hook.url", hook.srv.URL+"/hooks/kpay")
	f.writeConfig(fmt.Sprintf(`
[[notifier]]
name = "hooks"
type = "webhook"
url_file = %q
secret_env = "HOOK_SECRET"

[[notifier]]
name = "broken"
type = "slack"
url_file = %q
`, urlFile, filepath.Join(f.dir, "missing.url")))
	t.Setenv("HOOK_SECRET", whsec)
	stdout, stderr, code := f.cli("notify-test", "hooks")
	if code != 0 || !strings.Contains(stdout, "hooks: delivered (HTTP 204)") {
		t.Errorf("notify-test hooks: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := hook.delivered()["notification_test"]; got != 1 {
		t.Errorf("receiver got %d test messages, want 1", got)
	}
	stdout, stderr, code = f.cli("notify-test")
	if code != 1 || !strings.Contains(stdout, "broken: not sent") || !strings.Contains(stdout, "missing.url") {
		t.Errorf("notify-test with a broken notifier: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := f.cli("notify-test", "nope"); code != 2 || !strings.Contains(stderr, `unknown notifier "nope"`) {
		t.Errorf("unknown notifier: exit %d %s", code, stderr)
	}
}
