package rotator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/kpay"
	"kpay-rotator/store"
)

// ProbeSlot does one pass for slot name at time now: read the secret, adopt
// the pair it holds (dating it, noticing drift), probe it, and move the
// health and age states. Problems of the slot itself (an unreadable secret,
// a rejected pair) become slot state and events, not errors: the error is
// for failures to do the pass at all (unknown slot, store failure, ctx).
func (r *Rotator) ProbeSlot(ctx context.Context, name string, now time.Time) error {
	return r.pass(ctx, name, now, true)
}

// TrackSlot is ProbeSlot without asking KPay: it reads the secret, adopts
// and dates the pair and moves the age state. Used first on every slot at
// start, so status is complete long before the request budget lets every
// slot be probed.
func (r *Rotator) TrackSlot(ctx context.Context, name string, now time.Time) error {
	return r.pass(ctx, name, now, false)
}

func (r *Rotator) pass(ctx context.Context, name string, now time.Time, probe bool) error {
	s, err := r.slot(name)
	if err != nil {
		return err
	}
	unlock := r.locks.Lock(name)
	defer unlock()

	// A staged or half-done rotation goes first: its pair may already be
	// in the secret, and must then be recorded as written, not mistaken
	// for a change made outside the daemon.
	if err := r.advance(ctx, s, now); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Error("rotation step failed", "slot", name, "err", err)
	}

	st, err := r.loadState(s)
	if err != nil {
		return err
	}
	c := &change{slot: name, state: &st}

	v, pair, err := r.readPair(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.sourceFailed(c, s, err, now)
		return r.commit(c)
	}
	if st.SourceError != "" {
		e := newEvent(event.SecretReadable, now, s, pair.Mask(), "", fmt.Sprintf("%s: the secret %s is readable again", s.Name, s.SecretID))
		e.Resolves = []string{"source"}
		c.emit(e)
		st.SourceError, st.SourceErrorAt = "", time.Time{}
	}

	rec, err := r.adopt(ctx, c, s, v, pair, now)
	if err != nil {
		return err
	}

	var res healthcheck.Result
	if probe {
		res = r.probeCurrent(ctx, s, &st, pair)
	}
	if ctx.Err() != nil && res.Outcome == healthcheck.Transient {
		// Shutting down mid-probe says nothing about the pair.
		return ctx.Err()
	}
	skipped := false
	switch {
	case !probe:
	case res.Outcome == healthcheck.Transient && res.Attempts == 0:
		// No request left the host (the request budget was spent): that
		// is this daemon's limit, not KPay's answer; record no verdict.
		skipped = true
	default:
		r.applyResult(c, s, &rec, res, now)
	}

	if k, ok := ageStep(&st, rec.Born, now, s.MaxAge, s.WarnBefore); ok {
		c.emit(r.ageEvent(k, s, rec, now))
	}
	st.UpdatedAt = now
	c.pairs = append(c.pairs, rec)
	if err := r.commit(c); err != nil {
		return err
	}
	if skipped {
		return fmt.Errorf("slot %s: %w", s.Name, ErrBudgetExhausted)
	}
	return nil
}

// ErrBudgetExhausted: the probe was skipped because KPay's request budget
// (requests_per_minute) had no room; the slot was still read and dated.
var ErrBudgetExhausted = errors.New("probe skipped: KPay request budget exhausted; lengthen probe_schedule or raise requests_per_minute")

func (r *Rotator) loadState(s config.Slot) (store.SlotState, error) {
	var st store.SlotState
	var ok bool
	err := r.store.View(func(tx *store.Tx) error {
		var err error
		st, ok, err = tx.Slot(s.Name)
		return err
	})
	if err != nil {
		return st, err
	}
	if !ok {
		st = store.SlotState{Name: s.Name, Health: store.HealthUnknown}
	}
	// The configuration may have changed since the state was written.
	st.Environment = string(s.Environment)
	st.SecretID = s.SecretID
	return st, nil
}

func (r *Rotator) readPair(ctx context.Context, s config.Slot) (awssecrets.Version, kpay.Pair, error) {
	v, err := r.secrets.Current(ctx, s.SecretID)
	if err != nil {
		return v, kpay.Pair{}, err
	}
	pair, err := v.Pair(s.APIKeyField, s.SecretKeyField)
	return v, pair, err
}

// sourceFailed records that the slot's secret could not be read or parsed.
// The event repeats only when the reason changes, not on every pass.
func (r *Rotator) sourceFailed(c *change, s config.Slot, err error, now time.Time) {
	st := c.state
	msg := err.Error()
	if st.SourceError != msg {
		e := newEvent(event.SecretUnreadable, now, s, "", "", fmt.Sprintf("%s: cannot read the pair from secret %s: %s", s.Name, s.SecretID, msg))
		e.Condition = "source"
		e.Action = sourceAction(s, err)
		c.emit(e)
		st.SourceErrorAt = now
	}
	st.SourceError = msg
	st.UpdatedAt = now
}

func sourceAction(s config.Slot, err error) string {
	switch {
	case errors.Is(err, awssecrets.ErrNotFound):
		return fmt.Sprintf("create secret %s, or fix secret_id of slot %s in the config", s.SecretID, s.Name)
	case errors.Is(err, awssecrets.ErrAccessDenied):
		return fmt.Sprintf("grant secretsmanager:GetSecretValue on %s to the daemon's AWS identity", s.SecretID)
	case errors.Is(err, awssecrets.ErrNotJSON), errors.Is(err, awssecrets.ErrMissingField):
		return fmt.Sprintf("store the pair in secret %s as JSON with fields %s and %s", s.SecretID, s.APIKeyField, s.SecretKeyField)
	case errors.Is(err, awssecrets.ErrCredentials):
		return "give the daemon AWS credentials (instance profile, AWS_PROFILE or environment)"
	}
	return "check AWS Secrets Manager reachability; the daemon retries on every probe"
}

// adopt makes pair the slot's current pair: dates it on first sight, and
// on drift retires the previous pair and says so.
func (r *Rotator) adopt(ctx context.Context, c *change, s config.Slot, v awssecrets.Version, pair kpay.Pair, now time.Time) (store.PairRecord, error) {
	st := c.state
	fp := pair.Fingerprint()
	var rec, prev store.PairRecord
	var known, prevKnown bool
	err := r.store.View(func(tx *store.Tx) error {
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
		return rec, err
	}
	if st.Current == fp && known {
		return rec, nil
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
		c.emit(e)
		// A new pair starts a fresh age band and fresh counts. Its health
		// keeps the previous verdict until the probe in this same pass
		// speaks: a failing slot that a good pair fixes then says
		// key_recovered, which closes the alert.
		st.Age = ""
		st.Rejections, st.Transients = 0, 0
		st.FirstRejectedAt = time.Time{}
	}
	st.Current = fp
	st.VersionID = v.VersionID
	return rec, nil
}

// maxBackfill bounds how many older versions are read to date a pair.
const maxBackfill = 10

// bornOf dates a pair: the CreatedDate of the oldest version (among the
// recent ones) that carries it, when the version history can be listed;
// else the CreatedDate of the version holding it now; else now.
func (r *Rotator) bornOf(ctx context.Context, s config.Slot, v awssecrets.Version, fp string, now time.Time) (time.Time, store.BornSource) {
	born, source := v.Created, store.BornSecretsManager
	if born.IsZero() || born.After(now) {
		born, source = now, store.BornFirstSeen
	}
	hist, err := r.secrets.History(ctx, s.SecretID)
	if err != nil {
		if !errors.Is(err, awssecrets.ErrUnsupported) {
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
func (r *Rotator) probeCurrent(ctx context.Context, s config.Slot, st *store.SlotState, pair kpay.Pair) healthcheck.Result {
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
	return r.prober.Probe(ctx, pair, want)
}

// applyResult records a probe of the current pair and moves health.
func (r *Rotator) applyResult(c *change, s config.Slot, rec *store.PairRecord, res healthcheck.Result, now time.Time) {
	st := c.state
	// Records carry the pass's clock, not the prober's, so an injected
	// clock governs every age and window.
	res.At = now
	probe := store.ProbeRecord{At: res.At, Outcome: string(res.Outcome), Status: res.Status, Latency: res.Latency, Attempts: res.Attempts, Detail: res.Detail}
	c.probe, c.probeSlot, c.probeFP = &probe, s.Name, rec.Fingerprint
	st.LastProbe = &probe
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
	case healthcheck.Unexpected:
		rec.LastAccepted = res.At // a 403 proves the pair authenticated
	}
	k, ok := healthStep(st, res, s.FailureThreshold, now)
	if !ok {
		return
	}
	c.emit(r.healthEvent(k, s, st, *rec, res, now))
}

func (r *Rotator) healthEvent(k event.Kind, s config.Slot, st *store.SlotState, rec store.PairRecord, res healthcheck.Result, now time.Time) event.Event {
	var msg, action string
	switch k {
	case event.KeyFailing:
		msg = fmt.Sprintf("%s: KPay rejects the current pair %s (%s) on %d consecutive probes since %s; payments using secret %s fail until a valid pair is in place",
			s.Name, rec.Mask, describe(res), st.Rejections, st.FirstRejectedAt.UTC().Format(time.DateTime+" UTC"), s.SecretID)
		switch res.Outcome {
		case healthcheck.WrongEnvironment:
			action = fmt.Sprintf("put a %s pair in secret %s: generate it in the KPay dashboard, then run: kpay-rotator stage %s", s.Environment, s.SecretID, s.Name)
		case healthcheck.WrongApplication:
			action = fmt.Sprintf("the pair belongs to another KPay application; generate a pair for the right one in the dashboard, then run: kpay-rotator stage %s", s.Name)
		default:
			action = fmt.Sprintf("if the pair was regenerated or revoked in the KPay dashboard, hand the new one over: kpay-rotator stage %s", s.Name)
		}
		if rot, ok := r.activeRotation(s.Name); ok {
			action = fmt.Sprintf("a replacement pair %s is staged (rotation %s, %s) and being written; watch: kpay-rotator status", rot.NewMask, rot.ID, rot.State)
		} else {
			msg += "; nothing is staged to replace it"
		}
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
	e.Action = fmt.Sprintf("generate a new pair in the KPay dashboard, then run: kpay-rotator stage %s", s.Name)
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
