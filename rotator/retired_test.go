package rotator_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/rotator"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
)

// steeredProber answers the probes of the pairs it is told about itself
// (a budget with no room, a pair KPay still accepts) and passes the others
// to KPay.
type steeredProber struct {
	rotator.Prober
	mu      sync.Mutex
	answers map[string]healthcheck.Result // by fingerprint
	asked   map[string]int
}

func (p *steeredProber) Probe(ctx context.Context, pair kpay.Pair, want healthcheck.Expect) healthcheck.Result {
	p.mu.Lock()
	res, ok := p.answers[pair.Fingerprint()]
	p.asked[pair.Fingerprint()]++
	p.mu.Unlock()
	if ok {
		return res
	}
	return p.Prober.Probe(ctx, pair, want)
}

func (p *steeredProber) answer(fp string, res healthcheck.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers[fp] = res
}

func (p *steeredProber) times(fp string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked[fp]
}

var (
	// noRoom is what the prober says when the request budget has no room.
	noRoom = healthcheck.Result{Outcome: healthcheck.Transient, Detail: "request budget has no room"}
	// accepted is KPay answering 200 for the pair.
	accepted = healthcheck.Result{Outcome: healthcheck.Healthy, Status: 200, Attempts: 1, Authenticated: true}
)

// versionCounter counts the secret versions read to probe retired pairs:
// each is a paid Secrets Manager call.
type versionCounter struct {
	rotator.SecretReader
	versions atomic.Int64
}

func (c *versionCounter) Version(ctx context.Context, secretID, versionID string) (secretdoc.Version, error) {
	c.versions.Add(1)
	return c.SecretReader.Version(ctx, secretID, versionID)
}

// steer rebuilds the harness's rotator on the same configuration and store
// with a steered prober and counted secret versions.
func (h *harness) steer() (*steeredProber, *versionCounter) {
	h.t.Helper()
	secrets, err := awssecrets.New(h.ctx, awssecrets.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	p := &steeredProber{Prober: mustProber(h.t, h.kpay.URL), answers: map[string]healthcheck.Result{}, asked: map[string]int{}}
	c := &versionCounter{SecretReader: secrets}
	h.rot, err = rotator.New(rotator.Options{Config: h.cfg, Store: h.store, Secrets: c, Writer: secrets, Prober: p, Followups: h.follow})
	if err != nil {
		h.t.Fatal(err)
	}
	return p, c
}

func (h *harness) probeRetired(slot string, at time.Time) {
	h.t.Helper()
	if err := h.rot.ProbeRetired(h.ctx, slot, at); err != nil {
		h.t.Fatalf("ProbeRetired(%s): %v", slot, err)
	}
}

func (h *harness) pairs(slot string) map[store.PairRole][]store.PairRecord {
	h.t.Helper()
	out := map[store.PairRole][]store.PairRecord{}
	_ = h.store.View(func(tx store.Tx) error {
		ps, err := tx.Pairs(slot)
		for _, p := range ps {
			out[p.Role] = append(out[p.Role], p)
		}
		return err
	})
	return out
}

func (h *harness) eventsOf(k event.Kind) []event.Event {
	var out []event.Event
	for _, e := range h.events() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// At a thousand slots the request budget may never have room for a
// retired pair. Such pairs, one more at every change of the secret, must
// not pile up: each pass watches (and reads from Secrets Manager) at most
// retired_watch_max of them, the others are given up with one event each,
// and the records of pairs given up are forgotten past [retention].
func TestProbeRetired_PairsTheBudgetNeverProbesDoNotPileUp(t *testing.T) {
	const day = 24 * time.Hour
	h := newHarness(t, "retired_watch_max = 2\n[retention]\nmax_revoked_pairs = 3\nmax_revoked_pair_age = \"10d\"")
	prober, secrets := h.steer()
	now := time.Now()
	h.probe("payments-live", now)
	var old []store.PairRecord
	const changes = 8
	for i := 1; i <= changes; i++ {
		st := h.state("payments-live")
		old = append(old, h.pair("payments-live", st.Current))
		// Regenerated and pasted by hand: KPay rejects the old pair, but
		// no retired probe ever gets the budget to find out.
		h.putPair("payments-live", h.regenerate("payments-live"))
		at := now.Add(time.Duration(i) * time.Hour)
		h.probe("payments-live", at)
		prober.answer(old[len(old)-1].Fingerprint, noRoom)
		before := secrets.versions.Load()
		h.probeRetired("payments-live", at.Add(time.Minute))
		if n := secrets.versions.Load() - before; n > 2 {
			t.Errorf("change %d: the retired pass read %d secret versions, want at most 2 (retired_watch_max)", i, n)
		}
		if n := len(h.pairs("payments-live")[store.RoleRetired]); n > 2 {
			t.Errorf("change %d: %d retired pairs watched, want at most 2", i, n)
		}
	}
	h.probeRetired("payments-live", now.Add((changes+1)*time.Hour))
	roles := h.pairs("payments-live")
	if len(roles[store.RoleCurrent]) != 1 || len(roles[store.RoleRetired]) != 2 || len(roles[store.RoleUnwatched]) > 3 {
		t.Errorf("after %d changes: %d current, %d retired, %d unwatched records; want 1, 2 and at most 3 (max_revoked_pairs)",
			changes, len(roles[store.RoleCurrent]), len(roles[store.RoleRetired]), len(roles[store.RoleUnwatched]))
	}

	// A week after the last two were retired, they are given up too, for
	// want of a verdict.
	h.probeRetired("payments-live", now.Add(changes*time.Hour+7*day))
	if n := len(h.pairs("payments-live")[store.RoleRetired]); n != 0 {
		t.Errorf("retired_watch after the last change: %d retired pairs still watched, want 0", n)
	}
	unwatched := h.eventsOf(event.OldKeyUnwatched)
	if len(unwatched) != changes {
		t.Fatalf("%d old_key_unwatched events, want one per pair given up (%d)", len(unwatched), changes)
	}
	seen := map[string]bool{}
	for _, e := range unwatched {
		if seen[e.Fingerprint] {
			t.Errorf("pair %s given up twice", e.Pair)
		}
		seen[e.Fingerprint] = true
		if len(e.Resolves) != 1 || e.Resolves[0] != "retired:"+e.Fingerprint {
			t.Errorf("old_key_unwatched for %s resolves %v, want its retired condition", e.Pair, e.Resolves)
		}
	}
	last := unwatched[len(unwatched)-1]
	if last.Fields["reason"] != "retired_watch" || !strings.Contains(last.Message, "KPay gave no verdict on it") || !strings.Contains(last.Message, "request budget") {
		t.Errorf("last pair given up: reason %q, message %q; want retired_watch, no verdict for want of budget", last.Fields["reason"], last.Message)
	}
	if first := unwatched[0]; first.Fields["reason"] != "retired_watch_max" || !strings.Contains(first.Message, "2 newest retired pairs") {
		t.Errorf("first pair given up: reason %q, message %q; want retired_watch_max", first.Fields["reason"], first.Message)
	}
	if n := len(h.eventsOf(event.OldKeyRevoked)); n != 0 {
		t.Errorf("%d old_key_revoked without a single retired probe", n)
	}

	// Past max_revoked_pair_age every record of them goes, with its probes
	// (recorded while each was current).
	h.probeRetired("payments-live", now.Add(changes*time.Hour+17*day+time.Minute))
	roles = h.pairs("payments-live")
	if len(roles) != 1 || len(roles[store.RoleCurrent]) != 1 {
		t.Errorf("records left past max_revoked_pair_age: %v, want the current pair's only", roleCounts(roles))
	}
	for _, p := range old {
		var n int
		_ = h.store.View(func(tx store.Tx) error {
			ps, err := tx.Probes("payments-live", p.Fingerprint, 0)
			n = len(ps)
			return err
		})
		if n != 0 {
			t.Errorf("pair %s forgotten, but %d of its probes are kept", p.Mask, n)
		}
	}
}

func roleCounts(roles map[store.PairRole][]store.PairRecord) map[store.PairRole]int {
	out := map[store.PairRole]int{}
	for r, ps := range roles {
		out[r] = len(ps)
	}
	return out
}

// A retired pair KPay keeps accepting is warned about every revoke_grace,
// then given up at retired_watch: its rotation is journaled unconfirmed,
// the reminders stop, status says so for a week, and nothing probes it.
func TestProbeRetired_PairStillAcceptedIsGivenUpOnce(t *testing.T) {
	const day = 24 * time.Hour
	h := newHarness(t, "")
	prober, _ := h.steer()
	now := time.Now()
	h.probe("payments-live", now)
	oldFP := h.state("payments-live").Current
	id := h.stage("payments-live", h.regenerate("payments-live"), now)
	h.advance("payments-live", now)
	// As if the dashboard had kept the old pair alive.
	prober.answer(oldFP, accepted)

	h.probeRetired("payments-live", now.Add(25*time.Hour))
	h.probeRetired("payments-live", now.Add(7*day-time.Minute))
	if rot := h.rotation("payments-live", id); rot.State != store.RotationWatching {
		t.Fatalf("rotation before retired_watch: %s, want watching", rot.State)
	}
	at := now.Add(7 * day)
	h.probeRetired("payments-live", at)
	asked := prober.times(oldFP)
	if p := h.pair("payments-live", oldFP); p.Role != store.RoleUnwatched || !p.UnwatchedAt.Equal(at) {
		t.Fatalf("old pair at retired_watch: %s since %v, want unwatched since %v", p.Role, p.UnwatchedAt, at)
	}
	rot := h.rotation("payments-live", id)
	if rot.State != store.RotationUnconfirmed || !rot.DoneAt.Equal(at) || !strings.Contains(rot.Reason, "no longer watched") {
		t.Errorf("rotation after its old pair was given up: %s (done %v, reason %q), want unconfirmed", rot.State, rot.DoneAt, rot.Reason)
	}
	unwatched := h.eventsOf(event.OldKeyUnwatched)
	if len(unwatched) != 1 {
		t.Fatalf("%d old_key_unwatched, want 1", len(unwatched))
	}
	e := unwatched[0]
	for _, want := range []string{"stopped watching the retired pair", "KPay still accepted it", "retired_watch 7d", "nothing will say when KPay rejects it"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("old_key_unwatched message %q lacks %q", e.Message, want)
		}
	}
	if e.Severity != event.Warning || !strings.Contains(e.Action, "revoke it if it still works") || e.Fields["rotation"] != id {
		t.Errorf("old_key_unwatched: %s, action %q, rotation %q; want a warning to revoke it, naming rotation %s", e.Severity, e.Action, e.Fields["rotation"], id)
	}
	if len(e.Resolves) != 1 || e.Resolves[0] != "retired:"+oldFP {
		t.Errorf("old_key_unwatched resolves %v, want the old_key_still_valid condition retired:%s", e.Resolves, oldFP)
	}

	doc, err := rotator.BuildStatus(h.store, h.cfg, at.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := doc.Slots[0].Retired; len(r) != 1 || r[0].Role != "unwatched" || r[0].UnwatchedAt == nil || !r[0].UnwatchedAt.Equal(at) {
		t.Errorf("status an hour later: retired %+v, want the pair unwatched since %v", r, at)
	}
	h.probeRetired("payments-live", at.Add(day))
	if n := prober.times(oldFP); n != asked {
		t.Errorf("the pair given up was probed %d more times", n-asked)
	}
	if n := len(h.eventsOf(event.OldKeyUnwatched)); n != 1 {
		t.Errorf("%d old_key_unwatched a day later, want still 1", n)
	}
	doc, err = rotator.BuildStatus(h.store, h.cfg, at.Add(7*day), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := doc.Slots[0].Retired; len(r) != 0 {
		t.Errorf("status a week after it was given up: %+v, want it gone from status", r)
	}
}

// The slot's secret holds another application's pair: the retired pair is
// the slot's right one, and giving it up must not advise revoking it.
func TestProbeRetired_RightfulPairGivenUpIsNotToBeRevoked(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	other := h.kpay.CreateApplication("other")
	otherPair, _ := h.kpay.Pair(other.ID, kpay.Live)
	h.putPair("payments-live", otherPair)
	h.look("payments-live", now.Add(time.Minute)) // KPay still takes the old pair: seen at a look
	h.probe("payments-live", now.Add(time.Minute))
	h.probeRetired("payments-live", now.Add(25*time.Hour))
	h.probeRetired("payments-live", now.Add(time.Minute+7*24*time.Hour))
	unwatched := h.eventsOf(event.OldKeyUnwatched)
	if len(unwatched) != 1 {
		t.Fatalf("%d old_key_unwatched, want 1 (kinds %v)", len(unwatched), h.kinds("payments-live"))
	}
	if a := unwatched[0].Action; strings.Contains(a, "revoke it if") || !strings.Contains(a, "do not revoke") {
		t.Errorf("action for the slot's own pair: %q, want not to revoke it", a)
	}
}
