package rotator_test

import (
	"slices"
	"testing"
	"time"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/event"
	"kpay-rotator/store"
)

// smCalls counts the Secrets Manager calls fn makes, by operation.
func (h *harness) smCalls(fn func()) (get, describe int) {
	g0, d0 := h.aws.Calls("GetSecretValue"), h.aws.Calls("DescribeSecret")
	fn()
	return h.aws.Calls("GetSecretValue") - g0, h.aws.Calls("DescribeSecret") - d0
}

// A probe is one KPay request: between looks at the secret, the pair it
// last held is probed without asking Secrets Manager anything.
func TestProbe_IsOneKPayRequestAndNoSecretsManagerCall(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	get, describe := h.smCalls(func() { h.probe("payments-live", now) })
	if get != 1 || describe != 1 {
		t.Errorf("first probe: %d GetSecretValue and %d DescribeSecret, want 1 and 1 (nothing was known)", get, describe)
	}
	k0 := h.kpay.Counters().Total
	get, describe = h.smCalls(func() {
		for i := 1; i <= 10; i++ {
			h.probe("payments-live", now.Add(time.Duration(i)*time.Minute))
		}
	})
	if get != 0 || describe != 0 {
		t.Errorf("10 routine probes made %d GetSecretValue and %d DescribeSecret calls, want none", get, describe)
	}
	if n := h.kpay.Counters().Total - k0; n != 10 {
		t.Errorf("10 routine probes made %d KPay requests, want 10", n)
	}
	if st := h.state("payments-live"); st.Health != store.HealthHealthy {
		t.Errorf("health %s, want healthy", st.Health)
	}
}

// A look at an unchanged secret asks which version is current and reads
// no value; a changed one is read once.
func TestLook_ReadsTheValueOnlyWhenTheVersionMoved(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	get, describe := h.smCalls(func() { h.look("payments-live", now.Add(time.Hour)) })
	if get != 0 || describe != 1 {
		t.Errorf("look at an unchanged secret: %d GetSecretValue and %d DescribeSecret, want 0 and 1", get, describe)
	}
	// A change outside kpay-rotator that KPay does not reject (a field
	// added by hand) is seen at the next look.
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, "live")
	h.put("payments-live", h.pairJSON("payments-live", pair, `"DATABASE_URL":"postgres://x","NEW":1`))
	get, describe = h.smCalls(func() { h.look("payments-live", now.Add(2*time.Hour)) })
	if get != 1 || describe != 1 {
		t.Errorf("look at a changed secret: %d GetSecretValue and %d DescribeSecret, want 1 and 1", get, describe)
	}
	if st := h.state("payments-live"); !slices.Contains(store.ParseNames(st.FieldNames), "NEW") {
		t.Errorf("field names %q after the look, want the new version's (with NEW)", st.FieldNames)
	}
}

// A pair regenerated in the dashboard and pasted into the console by hand
// kills the pair the daemon holds: the rejection makes it look at the
// secret at once, adopt the pasted pair and probe it, so no false alarm
// goes out and the cutover gap is measured.
func TestProbe_RejectionLooksAtTheSecretAtOnce(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	h.putPair("payments-live", h.regenerate("payments-live"))
	k0 := h.kpay.Counters().Total
	get, describe := h.smCalls(func() { h.probe("payments-live", now.Add(time.Minute)) })
	if get != 1 || describe != 1 {
		t.Errorf("probe of a pair replaced by hand: %d GetSecretValue and %d DescribeSecret, want 1 and 1", get, describe)
	}
	if n := h.kpay.Counters().Total - k0; n != 2 {
		t.Errorf("%d KPay requests, want 2 (the dead pair, then the pasted one)", n)
	}
	st := h.state("payments-live")
	if st.Health != store.HealthHealthy || st.Rejections != 0 {
		t.Errorf("after the paste: %s with %d rejections, want healthy with none", st.Health, st.Rejections)
	}
	for _, k := range h.kinds("payments-live") {
		if k == event.KeyFailing || k == event.UnplannedRevocation {
			t.Errorf("a pair pasted by hand raised %s", k)
		}
	}
	wantKinds(t, h.kinds("payments-live"), event.SecretChangedExternally)
}

// A retired pair is fetched from its version once, then probed from
// memory: each later probe is one KPay request.
func TestProbeRetired_FetchesThePairOnce(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	other := h.kpay.CreateApplication("other")
	otherPair, _ := h.kpay.Pair(other.ID, "live")
	h.putPair("payments-live", otherPair) // the old pair stays valid: watched
	h.look("payments-live", now.Add(time.Minute))
	get, _ := h.smCalls(func() {
		for i := 1; i <= 5; i++ {
			if err := h.rot.ProbeRetired(h.ctx, "payments-live", now.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	})
	if get != 1 {
		t.Errorf("5 probes of a retired pair read %d secret versions, want 1", get)
	}
}

// A look whose DescribeSecret fails reads the value instead (here a new
// version), and asks DescribeSecret no second time in the same look.
func TestLook_AFailedDescribeIsAskedOnce(t *testing.T) {
	h := newHarness(t, "")
	now := time.Now()
	h.probe("payments-live", now)
	pair, _ := h.kpay.Pair(h.apps["payments-live"].ID, "live")
	h.put("payments-live", h.pairJSON("payments-live", pair, `"DATABASE_URL":"postgres://x","NEW":1`))
	h.aws.Inject(awstest.Fault{Op: "DescribeSecret", Status: 500, Code: "InternalServiceError"})
	defer h.aws.ClearFaults()
	_, oneCall := h.smCalls(func() { _, _ = mustSecrets(t).Describe(h.ctx, h.slot("payments-live").SecretID) })
	get, describe := h.smCalls(func() { h.look("payments-live", now.Add(time.Hour)) })
	if describe != oneCall || get != 1 {
		t.Errorf("a look with DescribeSecret failing: %d DescribeSecret requests (one call is %d) and %d GetSecretValue, want %d and 1", describe, oneCall, get, oneCall)
	}
	if st := h.state("payments-live"); st.SourceError != "" {
		t.Errorf("the value was readable, yet the slot says %q", st.SourceError)
	}
}
