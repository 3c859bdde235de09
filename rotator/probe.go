package rotator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
)

// ProbeSlot does one pass for slot name at time now: take the slot's pair
// (from memory, between looks at the secret), probe it, and move the
// health and age states; a rejection looks at the secret at once (drift).
// Problems of the slot itself (an unreadable secret, a rejected pair)
// become slot state and events, not errors: the error is for failures to
// do the pass at all (unknown slot, store failure, ctx).
func (r *Rotator) ProbeSlot(ctx context.Context, name string, now time.Time) error {
	return r.pass(ctx, name, now, routineProbe)
}

// ConfirmSlot is ProbeSlot through the prober's hand-over lane: the
// re-probe, within seconds, of a current pair KPay has just rejected, so
// failure_threshold rejections take seconds rather than schedule periods.
func (r *Rotator) ConfirmSlot(ctx context.Context, name string, now time.Time) error {
	return r.pass(ctx, name, now, urgentProbe)
}

// TrackSlot is a look at the slot's secret without asking KPay: is its
// current version still the one read last (DescribeSecret), and if not,
// read it, adopt and date its pair (drift); then move the age state. Used
// first on every slot at start, so status is complete long before the
// request budget lets every slot be probed.
func (r *Rotator) TrackSlot(ctx context.Context, name string, now time.Time) error {
	return r.pass(ctx, name, now, noProbe)
}

type probeMode int

const (
	noProbe probeMode = iota
	routineProbe
	urgentProbe
)

// pass reads and adopts under the slot's lock, probes without it, then
// takes the lock again to record the verdict. A probe can wait seconds
// for KPay or for the request budget, and a hand-over of the same slot
// must never wait behind it.
func (r *Rotator) pass(ctx context.Context, name string, now time.Time, mode probeMode) error {
	s, err := r.slot(name)
	if err != nil {
		return err
	}
	if mode != noProbe {
		// One probe of a slot at a time (schedule, confirmation, pass):
		// verdicts then land in the order they were asked for, and one in
		// flight already says what a second would.
		done, ok := r.probing.TryLock(name)
		if !ok {
			return nil
		}
		defer done()
	}
	st, pair, cached, ok, err := r.track(ctx, s, now, mode == noProbe)
	if err != nil || !ok || mode == noProbe {
		return err
	}
	res, err := r.probeOnce(ctx, s, st, pair, mode == urgentProbe)
	if err != nil {
		return err
	}
	if cached && res.Outcome == healthcheck.Rejected && res.Status != 0 {
		// KPay rejects the pair the secret held at the last look. A
		// change made by hand is the usual cause (regenerating in the
		// dashboard, then pasting into the console): look at the secret
		// now, not at the next drift check, and judge what it holds.
		st2, pair2, _, ok, err := r.track(ctx, s, now, true)
		if err != nil {
			return err
		}
		if ok && pair2.Fingerprint() != pair.Fingerprint() {
			// The verdict is history of the pair replaced meanwhile.
			if err := r.record(s, pair.Fingerprint(), res, now); err != nil {
				return err
			}
			st, pair = st2, pair2
			if res, err = r.probeOnce(ctx, s, st, pair, mode == urgentProbe); err != nil {
				return err
			}
		}
	}
	return r.record(s, pair.Fingerprint(), res, now)
}

// probeOnce probes the current pair; its error says no verdict came.
func (r *Rotator) probeOnce(ctx context.Context, s config.Slot, st store.SlotState, pair kpay.Pair, urgent bool) (healthcheck.Result, error) {
	res := r.probeCurrent(ctx, s, st, pair, urgent)
	switch {
	case ctx.Err() != nil && res.Outcome == healthcheck.Transient:
		// Shutting down mid-probe says nothing about the pair.
		return res, ctx.Err()
	case res.Outcome == healthcheck.Transient && res.Attempts == 0:
		// No request left the host (the request budget was spent, or
		// KPay is being given a pause): that is this daemon's limit, not
		// KPay's answer; record no verdict.
		return res, fmt.Errorf("slot %s: %w: %s", s.Name, ErrNotProbed, res.Detail)
	}
	return res, nil
}

// track is the first half of a pass, under the slot's lock: finish a
// staged rotation, take the pair the secret holds, move the age band. It
// commits only what changed. ok is false when the secret gave no pair.
//
// The pair comes from the cache (cached true) unless look asks to look
// at the secret, or nothing is cached: a probe costs no Secrets Manager
// call. A look asks DescribeSecret which version is current, and reads
// the value only when that moved, so drift costs one call without a
// value.
func (r *Rotator) track(ctx context.Context, s config.Slot, now time.Time, look bool) (st store.SlotState, pair kpay.Pair, cached, ok bool, err error) {
	unlock := r.locks.Lock(s.Name)
	defer unlock()

	// A staged or half-done rotation goes first: its pair may already be
	// in the secret, and must then be recorded as written, not mistaken
	// for a change made outside the daemon.
	view, err := r.advance(ctx, s, now)
	if err != nil {
		if ctx.Err() != nil {
			return st, pair, false, false, ctx.Err()
		}
		r.log.Error("rotation step failed", "slot", s.Name, "err", err)
	}
	if err != nil || view == nil {
		// The step's view may be stale (or was never read): read again.
		v, err := r.readSlot(s, "")
		if err != nil {
			return st, pair, false, false, err
		}
		view = &v
	}
	st = view.state
	before := st
	c := &change{slot: s.Name, state: &st}
	moveAge := func(p kpay.Pair) (store.SlotState, kpay.Pair, bool, bool, error) {
		if k, ok := ageStep(&st, view.current.Born, now, s.MaxAge, s.WarnBefore); ok {
			c.emit(r.ageEvent(k, s, view.current, now))
		}
		if st == before && len(c.events) == 0 {
			return st, p, true, true, nil
		}
		st.UpdatedAt = now
		return st, p, true, true, r.commit(c)
	}
	known, hit := r.pairs.currentPair(s.Name, st.Current)
	hit = hit && view.hasCurrent && st.SourceError == ""
	if hit && !look {
		return moveAge(known.pair)
	}
	d, derr := r.secrets.Describe(ctx, s.SecretID)
	switch {
	case derr != nil && ctx.Err() != nil:
		return st, pair, false, false, ctx.Err()
	// Fields reported lost are judged on the value at every look (an
	// admin may have accepted the loss meanwhile).
	case derr == nil && hit && d.DeletedDate.IsZero() && d.CurrentVersionID != "" && d.CurrentVersionID == known.versionID && st.FieldsLost == "":
		// No change since the last look: the value is not read.
		r.checkRotation(c, s, d, nil, now)
		return moveAge(known.pair)
	}

	v, pair, err := r.readPair(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return st, pair, false, false, ctx.Err()
		}
		r.pairs.forgetCurrent(s.Name)
		r.sourceFailed(c, s, err, now)
		if st == before {
			return st, pair, false, false, nil
		}
		return st, pair, false, false, r.commit(c)
	}
	if fp := pair.Fingerprint(); fp != st.Current {
		// The daemon's own write, whose answer was lost (a connection cut
		// after it landed) while its rotation waits to retry: finish the
		// rotation, which retires the old pair and measures the gap,
		// rather than report drift.
		if rot, ok := r.activeRotation(s.Name); ok && rot.State != store.RotationOpen && rot.NewFingerprint == fp {
			if err := r.written(ctx, s, view, &rot, v.VersionID, now, ""); err != nil {
				return st, pair, false, false, err
			}
			st = view.state
			before, c.state = st, &st
		}
	}
	if st.SourceError != "" {
		e := newEvent(event.SecretReadable, now, s, pair.Mask(), "", fmt.Sprintf("%s: the secret %s is readable again", s.Name, s.SecretID))
		e.Resolves = []string{"source"}
		c.emit(e)
		st.SourceError, st.SourceErrorAt, st.SourceReason = "", time.Time{}, ""
	}

	r.checkRotation(c, s, d, derr, now)
	r.checkFields(c, s, v, now)
	rec, adopted, err := r.adopt(ctx, c, view, s, v, pair, now)
	if err != nil {
		return st, pair, false, false, err
	}
	if k, ok := ageStep(&st, rec.Born, now, s.MaxAge, s.WarnBefore); ok {
		c.emit(r.ageEvent(k, s, rec, now))
	}
	if !adopted && st == before && len(c.events) == 0 {
		r.pairs.setCurrent(s.Name, v.VersionID, pair)
		return st, pair, false, true, nil
	}
	st.UpdatedAt = now
	c.pairs = append(c.pairs, rec)
	if err := r.commit(c); err != nil {
		return st, pair, false, true, err
	}
	r.pairs.setCurrent(s.Name, v.VersionID, pair)
	return st, pair, false, true, nil
}

// record is the second half of a pass: apply a probe's verdict, under the
// slot's lock, to the state as it is now. Should the pair have been
// replaced while the probe ran (a hand-over finished), the verdict is
// history of that pair and moves nothing.
func (r *Rotator) record(s config.Slot, fp string, res healthcheck.Result, now time.Time) error {
	unlock := r.locks.Lock(s.Name)
	defer unlock()
	v, err := r.readSlot(s, "")
	if err != nil {
		return err
	}
	st, rec := v.state, v.current
	if st.Current != fp || !v.hasCurrent {
		c := &change{slot: s.Name}
		c.probe, c.probeSlot, c.probeFP = probeRecord(res, now), s.Name, fp
		r.log.Debug("probe answered for a pair replaced meanwhile; kept as its history only", "slot", s.Name, "outcome", res.Outcome)
		return r.commit(c)
	}
	c := &change{slot: s.Name, state: &st}
	r.applyResult(c, s, &rec, res, now)
	st.UpdatedAt = now
	c.pairs = append(c.pairs, rec)
	c.routine = quietProbe(c)
	return r.commit(c)
}

// quietProbe reports whether c, a probe's change, may wait to be written
// with others: it says nothing (no event, so no alert waits on it), asks
// for nothing and touches no rotation. Lost in a crash, it costs a slot's
// last probe and its hysteresis counts, which the next probe rebuilds;
// everything the journal and the alerts need is written at once.
func quietProbe(c *change) bool {
	return len(c.events) == 0 && c.rotation == nil && !c.confirm && !c.retires()
}

func probeRecord(res healthcheck.Result, now time.Time) *store.ProbeRecord {
	return &store.ProbeRecord{At: now, Outcome: string(res.Outcome), Status: res.Status, Latency: res.Latency, Attempts: res.Attempts, Detail: res.Detail}
}

// ErrNotProbed: no request was sent, because KPay's request budget
// (requests_per_minute) had no room or KPay is given a pause after it
// stopped answering; the slot was still read and dated. The error says
// which.
var ErrNotProbed = errors.New("probe skipped, no request sent")

func (r *Rotator) loadState(s config.Slot) (store.SlotState, error) {
	var st store.SlotState
	var ok bool
	if err := r.settle(s.Name); err != nil {
		return st, err
	}
	err := r.store.View(func(tx store.Tx) error {
		var err error
		st, ok, err = tx.Slot(s.Name)
		return err
	})
	if err != nil {
		return st, err
	}
	return configured(s, st, ok), nil
}

// configured is slot s's stored state (known: the store had one) as the
// configuration now describes it: a slot never stored starts unknown, and
// the environment and secret follow the configuration, which may have
// changed since the state was written.
func configured(s config.Slot, st store.SlotState, known bool) store.SlotState {
	if !known {
		st = store.SlotState{Name: s.Name, Health: store.HealthUnknown}
	}
	st.Environment = string(s.Environment)
	st.SecretID = s.SecretID
	return st
}

func (r *Rotator) readPair(ctx context.Context, s config.Slot) (secretdoc.Version, kpay.Pair, error) {
	v, err := r.secrets.Current(ctx, s.SecretID)
	if err != nil {
		return v, kpay.Pair{}, err
	}
	pair, err := v.Pair(s.APIKeyField, s.SecretKeyField)
	return v, pair, err
}

// sourceFailed records that the slot's secret could not be read or parsed.
// The event is said when the kind of failure changes, not on every pass,
// nor when only its text does (request ids, local ports).
func (r *Rotator) sourceFailed(c *change, s config.Slot, err error, now time.Time) {
	st := c.state
	reason := sourceReason(err)
	if st.SourceReason != reason || st.SourceError == "" {
		k, msg := event.SecretUnreadable, fmt.Sprintf("%s: cannot read the pair from secret %s: %s", s.Name, s.SecretID, err)
		if reason == "missing" || reason == "deleted" {
			k, msg = event.SecretMissing, fmt.Sprintf("%s: secret %s is missing, so services cannot read their pair: %s", s.Name, s.SecretID, err)
		}
		e := newEvent(k, now, s, "", "", msg)
		e.Condition = "source"
		e.Action = sourceAction(s, err)
		e.Fields = map[string]string{"reason": reason}
		c.emit(e)
		st.SourceErrorAt = now
	}
	st.SourceError, st.SourceReason = err.Error(), reason
	st.UpdatedAt = now
}

// sourceReason is the stable kind of a failure to read the secret.
func sourceReason(err error) string {
	for _, k := range []struct {
		err    error
		reason string
	}{
		{secretdoc.ErrDeleted, "deleted"},
		{secretdoc.ErrNotFound, "missing"},
		{secretdoc.ErrAccessDenied, "denied"},
		{secretdoc.ErrNotJSON, "not_json"},
		{secretdoc.ErrMissingField, "missing_field"},
		{secretdoc.ErrCredentials, "credentials"},
		{secretdoc.ErrLimit, "quota"},
		{secretdoc.ErrRejected, "rejected"},
		{secretdoc.ErrTransient, "unavailable"},
	} {
		if errors.Is(err, k.err) {
			return k.reason
		}
	}
	return "other"
}

func sourceAction(s config.Slot, err error) string {
	switch {
	case errors.Is(err, secretdoc.ErrDeleted):
		return fmt.Sprintf("restore it before its deletion date: aws secretsmanager restore-secret --secret-id %s", s.SecretID)
	case errors.Is(err, secretdoc.ErrNotFound):
		return fmt.Sprintf("the secret is gone (deleted without recovery, or never created): recreate %s holding the pair (set create_if_missing = true for slot %s and hand a pair over with kpay-rotator stage %s), or fix secret_id", s.SecretID, s.Name, s.Name)
	case errors.Is(err, secretdoc.ErrAccessDenied):
		return fmt.Sprintf("grant secretsmanager:GetSecretValue on %s to the daemon's AWS identity", s.SecretID)
	case errors.Is(err, secretdoc.ErrNotJSON), errors.Is(err, secretdoc.ErrMissingField):
		return fmt.Sprintf("store the pair in secret %s as JSON with fields %s and %s", s.SecretID, s.APIKeyField, s.SecretKeyField)
	case errors.Is(err, secretdoc.ErrCredentials):
		return "give the daemon AWS credentials (instance profile, AWS_PROFILE or environment)"
	}
	return "check AWS Secrets Manager reachability; the daemon retries on every probe"
}

// adopt makes pair the slot's current pair: dates it on first sight, and
// on drift retires the previous pair and says so.
func (r *Rotator) adopt(ctx context.Context, c *change, view *slotView, s config.Slot, v secretdoc.Version, pair kpay.Pair, now time.Time) (rec store.PairRecord, adopted bool, err error) {
	st := c.state
	fp := pair.Fingerprint()
	if st.Current == fp && view.hasCurrent {
		// The usual pass: the secret still holds the pair the view read.
		return view.current, false, nil
	}
	var prev store.PairRecord
	var known, prevKnown bool
	err = r.store.View(func(tx store.Tx) error {
		var err error
		if rec, known, err = tx.Pair(s.Name, fp); err != nil {
			return err
		}
		if st.Current != "" && st.Current != fp {
			prev, prevKnown, err = tx.Pair(s.Name, st.Current)
		}
		return err
	})
	if err != nil {
		return rec, false, err
	}
	if st.Current == fp && known {
		return rec, false, nil
	}
	if !known {
		born, source := r.bornOf(ctx, s, v, fp, now)
		rec = store.PairRecord{
			Slot: s.Name, Fingerprint: fp, Mask: pair.Mask(), Environment: string(s.Environment),
			Born: born, BornSource: source, VersionID: v.VersionID, FirstSeen: now,
		}
	}
	rec.Role = store.RoleCurrent
	rec.RetiredAt, rec.RevokedAt, rec.StillValidAt = time.Time{}, time.Time{}, time.Time{}
	rec.VersionID = v.VersionID

	if st.Current == "" {
		r.log.Info("tracking pair", "slot", s.Name, "pair", rec.Mask, "born", rec.Born, "born_source", rec.BornSource)
	} else {
		if prevKnown && prev.Role == store.RoleCurrent {
			prev.Role = store.RoleRetired
			prev.RetiredAt = now
			c.pairs = append(c.pairs, prev)
		}
		e := newEvent(event.SecretChangedExternally, now, s, rec.Mask, fp, fmt.Sprintf(
			"%s: secret %s changed outside kpay-rotator (version %s): now tracking pair %s, born %s; the previous pair %s is retired and watched until KPay rejects it",
			s.Name, s.SecretID, v.VersionID, rec.Mask, rec.Born.Format(time.DateOnly), prev.Mask))
		e.Action = fmt.Sprintf("if nobody meant to change it, check CloudTrail for PutSecretValue on %s", s.SecretID)
		e.Fields = map[string]string{"version_id": v.VersionID, "previous_pair": prev.Mask}
		e.Resolves = []string{"age"}
		// A pair pasted by hand ends an outage too: from the first
		// rejection of the old pair to the new version's creation.
		if gap, ok := pastedGap(st, v, now); ok {
			rec.OutageStart, rec.CutoverGap = st.FirstRejectedAt, gap
			e.Message += fmt.Sprintf("; payments could not authenticate for %s (cutover gap, from the first rejection of the old pair to this version)", FormatGap(gap))
			e.Fields["cutover_gap"] = FormatGap(gap)
			r.observe.Rotation(s.Name, "external", gap)
		}
		c.emit(e)
		// A rotation window left open is moot now: the pair it was for
		// came another way.
		if rot, ok := r.activeRotation(s.Name); ok && rot.State == store.RotationOpen {
			r.cancel(c, s, rot, "the secret was changed outside kpay-rotator while the rotation was open", now)
		}
		// A new pair starts a fresh age band, fresh counts and an unknown
		// health: its own probes speak for it (a pair pasted with a typo
		// turns failing and says so). An alert raised for the previous
		// pair stays open until the new one answers: its first good probe
		// says key_recovered.
		if alerted := st.Health == store.HealthDegraded || st.Health == store.HealthFailing && !st.FailingQuiet; alerted {
			st.Unresolved = true
		}
		if st.Health != store.HealthUnknown {
			st.Health, st.HealthSince = store.HealthUnknown, now
		}
		st.Age = ""
		st.Rejections, st.Transients = 0, 0
		st.FirstRejectedAt = time.Time{}
		st.FailingQuiet, st.PlannedOutage = false, false
	}
	st.Current = fp
	st.VersionID = v.VersionID
	return rec, true, nil
}

// pastedGap is the cutover gap of a pair put into the secret by hand:
// from the first rejection of the pair it replaced to the version's
// creation (when the version was noticed, if Secrets Manager gave no
// date). ok is false when no rejection preceded it. A creation date just
// before the first rejection counts as zero: the secret still held the
// old pair when that probe read it, so the paste came after, and the
// date is only that precise (whole seconds, from some backends).
func pastedGap(st *store.SlotState, v secretdoc.Version, now time.Time) (gap time.Duration, ok bool) {
	if st.Rejections == 0 || st.FirstRejectedAt.IsZero() {
		return 0, false
	}
	end := v.Created
	if end.IsZero() || end.After(now) {
		end = now
	}
	return max(0, end.Sub(st.FirstRejectedAt)), true
}

// maxBackfill bounds how many older versions are read to date a pair.
const maxBackfill = 10

// bornOf dates a pair: the CreatedDate of the oldest version (among the
// recent ones) that carries it, when the version history can be listed;
// else the CreatedDate of the version holding it now; else now.
func (r *Rotator) bornOf(ctx context.Context, s config.Slot, v secretdoc.Version, fp string, now time.Time) (time.Time, store.BornSource) {
	born, source := v.Created, store.BornSecretsManager
	if born.IsZero() || born.After(now) {
		born, source = now, store.BornFirstSeen
	}
	hist, err := r.secrets.History(ctx, s.SecretID)
	if err != nil {
		if !errors.Is(err, secretdoc.ErrUnsupported) {
			r.log.Warn("cannot list secret versions to date the pair; using the current version's date", "slot", s.Name, "err", err)
		}
		return born, source
	}
	if len(hist) > maxBackfill {
		hist = hist[len(hist)-maxBackfill:]
	}
	for _, h := range hist {
		if h.VersionID == v.VersionID || h.Created.IsZero() || !h.Created.Before(born) {
			continue
		}
		old, err := r.secrets.Version(ctx, s.SecretID, h.VersionID)
		if err != nil {
			continue
		}
		p, err := old.Pair(s.APIKeyField, s.SecretKeyField)
		if err == nil && p.Fingerprint() == fp {
			return h.Created, store.BornSecretsManager
		}
	}
	return born, source
}

// probeCurrent checks the pair locally, then against KPay.
func (r *Rotator) probeCurrent(ctx context.Context, s config.Slot, st store.SlotState, pair kpay.Pair, urgent bool) healthcheck.Result {
	if err := pair.Check(s.Environment); err != nil {
		// A malformed pair in the secret is rejected without spending
		// KPay's request budget on it.
		out := healthcheck.Rejected
		if errors.Is(err, kpay.ErrWrongEnvironment) {
			out = healthcheck.WrongEnvironment
		}
		return healthcheck.Result{Outcome: out, Attempts: 1, Detail: "the secret holds a malformed pair: " + err.Error()}
	}
	want := healthcheck.Expect{Environment: s.Environment, ApplicationID: s.ApplicationID}
	if want.ApplicationID == "" {
		want.ApplicationID = st.ApplicationID
	}
	if urgent {
		return r.prober.ProbeUrgent(ctx, pair, want)
	}
	return r.prober.Probe(ctx, pair, want)
}

// applyResult records a probe of the current pair and moves health.
//
// A rejection while a rotation is under way (a window open, a pair
// staged) is expected: the admin regenerated the pair on purpose, and the
// failure is recorded (the outage clock starts) but not alerted. With no
// rotation under way, a first rejection asks for a confirmation within
// seconds, and reaching failure_threshold raises unplanned_revocation when
// KPay said 401, key_failing otherwise.
func (r *Rotator) applyResult(c *change, s config.Slot, rec *store.PairRecord, res healthcheck.Result, now time.Time) {
	st := c.state
	// Records carry the pass's clock, not the prober's, so an injected
	// clock governs every age and window; moved on by the time the probe
	// queued (for the budget, say) before asking, to the second, so an
	// outage starts when KPay first said so.
	now = now.Add(res.Queued.Truncate(time.Second))
	res.At = now
	c.probe, c.probeSlot, c.probeFP = probeRecord(res, now), s.Name, rec.Fingerprint
	st.LastProbe = c.probe
	r.observe.Probe(s.Name, string(res.Outcome), res.Latency)

	switch res.Outcome {
	case healthcheck.Healthy:
		rec.LastAccepted = res.At
		if st.ApplicationID == "" && res.ApplicationID != "" {
			r.log.Info("learned application id", "slot", s.Name, "application_id", res.ApplicationID, "application", res.ApplicationName)
		}
		if s.ApplicationID == "" || s.ApplicationID == res.ApplicationID {
			st.ApplicationID = res.ApplicationID
			st.ApplicationName = res.ApplicationName
			st.CompanyID = res.CompanyID
		}
	}
	if res.Authenticated {
		rec.LastAccepted = res.At // KPay's 403 proves the pair authenticated, too
	}
	k, moved := healthStep(st, res, s.FailureThreshold, now)
	rejected := res.Outcome.IsRejection()
	phase := noRotation
	if rejected || st.FailingQuiet {
		phase = r.phase(s, now)
	}
	if rejected && phase == inRotation {
		st.PlannedOutage = true
	}
	switch {
	case moved && k == event.KeyFailing && phase == inRotation:
		st.FailingQuiet = true
		r.log.Info("KPay rejects the current pair during a rotation, as expected; waiting for the new pair",
			"slot", s.Name, "pair", rec.Mask, "since", st.FirstRejectedAt)
	case moved && k == event.KeyFailing:
		// Rejections that began while a rotation was open were planned,
		// even if the rotation ended (or stalled) before they reached the
		// threshold: not unplanned_revocation.
		c.emit(r.failingEvent(s, st, *rec, res, now, st.PlannedOutage, phase == windowStalled))
		st.Unresolved = false
	case rejected && st.FailingQuiet && st.Health == store.HealthFailing && phase != inRotation:
		// The rotation that explained the failure ended, or stalled,
		// without replacing the pair: say it now.
		st.FailingQuiet = false
		c.emit(r.failingEvent(s, st, *rec, res, now, true, false))
	case moved:
		c.emit(r.healthEvent(k, s, *rec, res, now))
		st.Unresolved = st.Unresolved && k != event.KeyRecovered
	case st.Unresolved && res.Outcome == healthcheck.Healthy:
		// The pair that replaced an alerted one answers: close the alert.
		c.emit(r.healthEvent(event.KeyRecovered, s, *rec, res, now))
		st.Unresolved = false
	}
	if st.Health != store.HealthFailing {
		st.FailingQuiet = false
	}
	if st.Rejections == 0 {
		st.PlannedOutage = false
	}
	c.confirm = rejected && st.Rejections < s.FailureThreshold && phase != inRotation
}

// rotationPhase is how far a rotation of the slot is under way.
type rotationPhase int

const (
	noRotation rotationPhase = iota
	// inRotation: a window is open or a pair is staged; the current
	// pair's rejection is expected.
	inRotation
	// windowStalled: a window open past stall_after with no pair is
	// closed for this purpose (DESIGN §3): rejections alert again.
	windowStalled
)

func (r *Rotator) phase(s config.Slot, now time.Time) rotationPhase {
	rot, ok := r.activeRotation(s.Name)
	switch {
	case ok && rot.State == store.RotationOpen && now.Sub(rot.OpenedAt) >= s.StallAfter:
		return windowStalled
	case ok, r.inbox.Exists(s.Name):
		return inRotation
	}
	return noRotation
}

// failingEvent is the alert for a current pair that reached
// failure_threshold with no rotation to explain it. A 401 from KPay then
// means the pair was regenerated or revoked outside a rotation, unless
// afterRotation: a rotation was open when the rejections began, and it
// stalled or ended without a new pair. stalled: a rotation is open but past
// stall_after, which no longer explains a rejection (DESIGN §3).
func (r *Rotator) failingEvent(s config.Slot, st *store.SlotState, rec store.PairRecord, res healthcheck.Result, now time.Time, afterRotation, stalled bool) event.Event {
	since := st.FirstRejectedAt.UTC().Format(time.DateTime + " UTC")
	k := event.KeyFailing
	var msg, action string
	switch res.Outcome {
	case healthcheck.Rejected:
		if afterRotation {
			msg = fmt.Sprintf("%s: KPay rejects the current pair %s (%s) since %s, during a rotation that has not delivered a new pair (stalled or cancelled); payments using secret %s fail until a valid pair is in place",
				s.Name, rec.Mask, describe(res), since, s.SecretID)
			action = fmt.Sprintf("run kpay-rotator stage %s and paste the pair regenerated in the KPay dashboard", s.Name)
			break
		}
		if res.Status == http.StatusUnauthorized {
			k = event.UnplannedRevocation
			open := "no rotation is open"
			if stalled {
				open = "no rotation is under way (one opened with stage stalled without a pair)"
			}
			msg = fmt.Sprintf("%s: KPay rejects the current pair %s (HTTP 401, %s since %s) and %s: it was regenerated or revoked in the KPay dashboard outside a rotation; payments using secret %s fail now",
				s.Name, rec.Mask, inARow(st.Rejections), since, open, s.SecretID)
			if !rec.LastAccepted.IsZero() {
				msg += fmt.Sprintf(" (KPay last accepted it at %s)", rec.LastAccepted.UTC().Format(time.DateTime+" UTC"))
			} else {
				msg += " (kpay-rotator never saw KPay accept it)"
			}
			action = fmt.Sprintf("if your team regenerated it, hand the new pair over now: kpay-rotator stage %s; if nobody did, treat it as a possible compromise: see the runbook, unplanned_revocation", s.Name)
			break
		}
		msg = fmt.Sprintf("%s: the current pair %s is rejected (%s) since %s; payments using secret %s fail until a valid pair is in place", s.Name, rec.Mask, describe(res), since, s.SecretID)
		action = fmt.Sprintf("run kpay-rotator stage %s, then paste a pair from the KPay dashboard when it asks", s.Name)
	case healthcheck.WrongEnvironment:
		msg = fmt.Sprintf("%s: KPay rejects the current pair %s (%s, %s since %s); payments using secret %s fail until a valid pair is in place", s.Name, rec.Mask, describe(res), inARow(st.Rejections), since, s.SecretID)
		action = fmt.Sprintf("put a %s pair in secret %s: run kpay-rotator stage %s and paste a %s pair from the KPay dashboard", s.Environment, s.SecretID, s.Name, s.Environment)
	default: // WrongApplication
		// The pair works, for another application: payments do not
		// fail, they go to that application's account.
		msg = fmt.Sprintf("%s: the pair %s in secret %s belongs to another KPay application (%s %q), not this slot's (%s): payments using the secret now go to that application's account (%s since %s)",
			s.Name, rec.Mask, s.SecretID, res.ApplicationID, res.ApplicationName, orDash(st.ApplicationID), inARow(st.Rejections), since)
		action = fmt.Sprintf("hand this application's pair over: kpay-rotator stage %s", s.Name)
		if prev, ok := r.previousPair(s.Name); ok && prev.VersionID != "" && st.VersionID != "" {
			action = fmt.Sprintf("if it was pasted by mistake, put back the previous version, whose pair %s is this slot's and still works: aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSCURRENT --move-to-version-id %s --remove-from-version-id %s; else hand this application's pair over: kpay-rotator stage %s",
				prev.Mask, s.SecretID, prev.VersionID, st.VersionID, s.Name)
		}
	}
	e := newEvent(k, now, s, rec.Mask, rec.Fingerprint, msg)
	e.Action = action
	e.Condition = "health"
	e.Fields = map[string]string{"outcome": string(res.Outcome), "age": FormatAge(now.Sub(rec.Born)), "failing_since": st.FirstRejectedAt.UTC().Format(time.RFC3339)}
	if res.Status != 0 {
		e.Fields["status"] = strconv.Itoa(res.Status)
	}
	return e
}

// previousPair is the pair the current one replaced, while it is retired
// (watched, still accepted by KPay as far as is known).
func (r *Rotator) previousPair(slot string) (store.PairRecord, bool) {
	var out store.PairRecord
	var ok bool
	_ = r.store.View(func(tx store.Tx) error {
		pairs, err := tx.Pairs(slot)
		for _, p := range pairs { // oldest first: the last retired wins
			if p.Role == store.RoleRetired {
				out, ok = p, true
			}
		}
		return err
	})
	return out, ok
}

// inARow says how many probes in a row rejected the pair.
func inARow(n int) string {
	if n == 1 {
		return "1 probe"
	}
	return fmt.Sprintf("%d probes in a row", n)
}

func (r *Rotator) healthEvent(k event.Kind, s config.Slot, rec store.PairRecord, res healthcheck.Result, now time.Time) event.Event {
	var msg, action string
	switch k {
	case event.KeyDegraded:
		msg = fmt.Sprintf("%s: KPay probes of pair %s keep failing without rejecting it (%s); the pair itself may be fine", s.Name, rec.Mask, describe(res))
		action = "check KPay's status and this host's network; nothing to change on the key yet"
	case event.KeyRecovered:
		msg = fmt.Sprintf("%s: KPay accepts the current pair %s again", s.Name, rec.Mask)
	}
	e := newEvent(k, now, s, rec.Mask, rec.Fingerprint, msg)
	e.Action = action
	if k == event.KeyRecovered {
		e.Resolves = []string{"health"}
	} else {
		e.Condition = "health"
	}
	e.Fields = map[string]string{"outcome": string(res.Outcome), "age": FormatAge(now.Sub(rec.Born))}
	if res.Status != 0 {
		e.Fields["status"] = strconv.Itoa(res.Status)
	}
	return e
}

func (r *Rotator) ageEvent(k event.Kind, s config.Slot, rec store.PairRecord, now time.Time) event.Event {
	age := now.Sub(rec.Born)
	var msg string
	if k == event.KeyOverdue {
		msg = fmt.Sprintf("%s: pair %s is %s old, past max_age %s; KPay asks for regular rotation", s.Name, rec.Mask, FormatAge(age), formatDays(s.MaxAge))
	} else {
		msg = fmt.Sprintf("%s: pair %s is %s old; rotation is due before %s (max_age %s)", s.Name, rec.Mask, FormatAge(age), rec.Born.Add(s.MaxAge).Format(time.DateOnly), formatDays(s.MaxAge))
	}
	e := newEvent(k, now, s, rec.Mask, rec.Fingerprint, msg)
	// stage first: regenerating kills the old pair at once, so the outage
	// lasts from the regeneration until the paste.
	e.Action = fmt.Sprintf("run kpay-rotator stage %s first; when it asks, regenerate the pair in the KPay dashboard and paste it", s.Name)
	e.Condition = "age"
	e.Fields = map[string]string{"age": FormatAge(age), "born": rec.Born.Format(time.RFC3339), "born_source": string(rec.BornSource)}
	return e
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.String()
}

// describe says what KPay answered, in a few words.
func describe(res healthcheck.Result) string {
	switch {
	case res.Detail != "":
		return res.Detail
	case res.Status != 0:
		return "HTTP " + strconv.Itoa(res.Status)
	}
	return string(res.Outcome)
}
