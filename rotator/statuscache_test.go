package rotator_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// cacheRig is three slots in a bbolt file behind a store that counts its
// read transactions.
type cacheRig struct {
	t   *testing.T
	cfg *config.Config
	st  *countingStore
	now time.Time
}

func newCacheRig(t *testing.T) *cacheRig {
	t.Helper()
	var src strings.Builder
	fmt.Fprintf(&src, "[daemon]\nstate_dir = %q\ninbox_dir = %q\n", t.TempDir(), t.TempDir())
	for _, name := range []string{"a", "b", "c"} {
		fmt.Fprintf(&src, "[[slot]]\nname = %q\nenvironment = \"live\"\nsecret_id = \"prod/%s\"\n", name, name)
	}
	cfg, err := config.Parse([]byte(src.String()), filepath.Join(t.TempDir(), "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := bboltstore.Open(filepath.Join(t.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &cacheRig{t: t, cfg: cfg, st: &countingStore{Store: db}, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	for _, name := range []string{"a", "b", "c"} {
		r.put(name, store.HealthHealthy)
	}
	return r
}

// put stores slot with a current pair born 40 days ago, health h, and a
// pair revoked six days ago.
func (r *cacheRig) put(slot string, h store.Health) {
	r.t.Helper()
	err := r.st.Store.Update(func(tx store.Tx) error {
		if err := tx.PutPair(store.PairRecord{Slot: slot, Fingerprint: "fp-" + slot, Mask: "kpay_live_…" + slot, Born: r.now.Add(-40 * 24 * time.Hour), Role: store.RoleCurrent}); err != nil {
			return err
		}
		if err := tx.PutPair(store.PairRecord{Slot: slot, Fingerprint: "old-" + slot, Mask: "kpay_live_…old", Role: store.RoleRevoked,
			RetiredAt: r.now.Add(-7 * 24 * time.Hour), RevokedAt: r.now.Add(-6 * 24 * time.Hour)}); err != nil {
			return err
		}
		return tx.PutSlot(store.SlotState{Name: slot, Current: "fp-" + slot, Health: h, Age: store.AgeFresh})
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func next(slot string) time.Time { return time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC) }

// status asks c at now and returns the document and the read
// transactions it took.
func (r *cacheRig) status(c *rotator.StatusCache, now time.Time) (rotator.Status, int64) {
	r.t.Helper()
	v0 := r.st.views.Load()
	doc, err := c.Status(r.st, r.cfg, now, next)
	if err != nil {
		r.t.Fatal(err)
	}
	return doc, r.st.views.Load() - v0
}

func health(doc rotator.Status) string {
	var h []string
	for _, s := range doc.Slots {
		h = append(h, s.Name+"="+s.Health)
	}
	return strings.Join(h, " ")
}

// The cache serves what BuildStatus builds, field for field.
func TestStatusCache_SameDocumentAsBuildStatus(t *testing.T) {
	r := newCacheRig(t)
	var c rotator.StatusCache
	for _, at := range []time.Time{r.now, r.now.Add(90 * time.Minute)} {
		want, err := rotator.BuildStatus(r.st, r.cfg, at, next)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := r.status(&c, at)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("at %v:\ncache %+v\nbuild %+v", at, got, want)
		}
	}
}

// A burst of requests reads the store once; later ones read only the
// slot a commit named, while ages follow the clock without a read.
func TestStatusCache_ReadsOnlyWhatChanged(t *testing.T) {
	r := newCacheRig(t)
	var c rotator.StatusCache
	if _, views := r.status(&c, r.now); views != 1 {
		t.Fatalf("first status: %d reads, want 1", views)
	}
	doc, views := r.status(&c, r.now.Add(time.Hour))
	if views != 0 {
		t.Errorf("unchanged status: %d reads, want 0", views)
	}
	if got, want := doc.Slots[0].AgeSeconds, int64((40*24+1)*3600); got != want {
		t.Errorf("age an hour on = %ds, want %ds", got, want)
	}
	if doc.Slots[0].NextProbe == nil || !doc.Slots[0].NextProbe.Equal(next("a")) {
		t.Errorf("next probe = %v, want %v", doc.Slots[0].NextProbe, next("a"))
	}

	// A write the cache is not told of is not seen; once told, it is,
	// in one read of that slot.
	r.put("b", store.HealthFailing)
	if doc, _ := r.status(&c, r.now); health(doc) != "a=healthy b=healthy c=healthy" {
		t.Fatalf("before Invalidate: %s", health(doc))
	}
	c.Invalidate("b")
	doc, views = r.status(&c, r.now)
	if views != 1 || health(doc) != "a=healthy b=failing c=healthy" {
		t.Errorf("after Invalidate(b): %s in %d reads, want b failing in 1", health(doc), views)
	}
	r.put("c", store.HealthDegraded)
	c.Invalidate("")
	if doc, _ := r.status(&c, r.now); health(doc) != "a=healthy b=failing c=degraded" {
		t.Errorf("after Invalidate(\"\"): %s", health(doc))
	}
}

// A line that changes with time alone is read again when it does: a
// revoked pair leaves status a week after its revocation.
func TestStatusCache_RevokedPairLeavesAfterAWeek(t *testing.T) {
	r := newCacheRig(t)
	var c rotator.StatusCache
	if doc, _ := r.status(&c, r.now); len(doc.Slots[0].Retired) != 1 {
		t.Fatalf("revoked six days ago: %d retired shown, want 1", len(doc.Slots[0].Retired))
	}
	doc, views := r.status(&c, r.now.Add(25*time.Hour))
	if len(doc.Slots[0].Retired) != 0 || views != 1 {
		t.Errorf("a week after revocation: %d retired shown after %d reads, want 0 after 1", len(doc.Slots[0].Retired), views)
	}
}

// A new configuration (a reload) is read whole.
func TestStatusCache_NewConfigurationReadsEverySlot(t *testing.T) {
	r := newCacheRig(t)
	var c rotator.StatusCache
	r.status(&c, r.now)
	cfg := *r.cfg
	cfg.Slots = cfg.Slots[:2]
	v0 := r.st.views.Load()
	doc, err := c.Status(r.st, &cfg, r.now, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Slots) != 2 || r.st.views.Load()-v0 != 1 {
		t.Errorf("after a reload to 2 slots: %d slots, %d reads; want 2 in 1", len(doc.Slots), r.st.views.Load()-v0)
	}
}

// Health, for systemd's status line, counts what Status would say, and
// reads only a slot that changed.
func TestStatusCache_HealthCountsReadOnlyWhatChanged(t *testing.T) {
	r := newCacheRig(t)
	var c rotator.StatusCache
	counts, err := c.Health(r.st, r.cfg, r.now)
	if err != nil || counts[string(store.HealthHealthy)] != 3 {
		t.Fatalf("Health = %v, %v; want 3 healthy", counts, err)
	}
	r.put("b", store.HealthFailing)
	c.Invalidate("b")
	views := r.st.views.Load()
	counts, err = c.Health(r.st, r.cfg, r.now)
	if err != nil || counts[string(store.HealthHealthy)] != 2 || counts[string(store.HealthFailing)] != 1 {
		t.Errorf("after b fails: Health = %v, %v; want 2 healthy, 1 failing", counts, err)
	}
	if n := r.st.views.Load() - views; n != 1 {
		t.Errorf("%d read transactions for one changed slot, want 1", n)
	}
}
