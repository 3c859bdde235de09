package rotator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/store"
)

// ProbeRetired probes the slot's retired pairs (DESIGN §3): a pair KPay now
// rejects is revoked — the rotation is complete; one still accepted past
// revoke_grace raises old_key_still_valid, again every revoke_grace until
// it is revoked. A retired pair's value is fetched again from the secret
// version that carried it once per configuration, then kept in memory
// only (never in the store). Like ProbeSlot, it holds the
// slot's lock only to record what the probe found.
//
// Retired pairs do not pile up (planRetired): a slot watches at most
// retired_watch_max of them, each for at most retired_watch, and gives up
// the others with one old_key_unwatched each; the records of pairs done
// with are forgotten past [retention]'s bounds.
func (r *Rotator) ProbeRetired(ctx context.Context, name string, now time.Time) error {
	s, err := r.slot(name)
	if err != nil {
		return err
	}
	done, ok := r.watching.TryLock(name)
	if !ok {
		return nil // already being probed
	}
	defer done()
	look := r.watch.look(name)
	var pairs []store.PairRecord
	err = r.store.View(func(tx store.Tx) error {
		pairs, err = tx.Pairs(name)
		return err
	})
	if err != nil {
		return err
	}
	plan := planRetired(pairs, "", r.retiredRules(s), now)
	if plan.tidies() {
		if plan, err = r.tidyRetired(s, now); err != nil {
			return err
		}
	}
	if len(plan.watch) == 0 {
		// Nothing to watch: no wake-up at retired_schedule until a
		// commit retires a pair of this slot.
		r.watch.clear(name, look)
		return nil
	}
	for _, p := range plan.watch {
		if err := r.probeRetired(ctx, s, p, now); err != nil {
			return err
		}
	}
	return nil
}

// RetiredWork names the slots whose retired pairs need a pass: a pair to
// watch, or records to give up or forget. One read for every slot, so a
// start arms retired_schedule only where there is work instead of waking
// every slot once to find out.
func (r *Rotator) RetiredWork(now time.Time) ([]string, error) {
	var names []string
	err := r.store.View(func(tx store.Tx) error {
		for _, s := range r.cfg.Slots {
			pairs, err := tx.Pairs(s.Name)
			if err != nil {
				return err
			}
			plan := planRetired(pairs, "", r.retiredRules(s), now)
			if len(plan.watch) > 0 || plan.tidies() {
				names = append(names, s.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find retired pairs: %w", err)
	}
	return names, nil
}

func (r *Rotator) probeRetired(ctx context.Context, s config.Slot, p store.PairRecord, now time.Time) error {
	log := r.log.With("slot", s.Name, "pair", p.Mask)
	if p.VersionID == "" {
		log.Warn("cannot watch retired pair: no secret version is known to hold it; watch it by hand in the dashboard")
		return nil
	}
	pair, ok := r.pairs.retiredPair(s.Name, p.Fingerprint)
	if !ok {
		// Read once per rotator, then kept in memory: each later probe of
		// the retired pair is one KPay request.
		v, err := r.secrets.Version(ctx, s.SecretID, p.VersionID)
		if err != nil {
			log.Warn("cannot fetch retired pair to probe it; will retry", "version_id", p.VersionID, "err", err)
			return nil
		}
		pair, err = v.Pair(s.APIKeyField, s.SecretKeyField)
		if err != nil || pair.Fingerprint() != p.Fingerprint {
			log.Warn("secret version no longer holds the retired pair; cannot watch it", "version_id", p.VersionID)
			return nil
		}
		r.pairs.setRetired(s.Name, pair)
	}
	res := r.prober.Probe(ctx, pair, healthcheck.Expect{Environment: s.Environment})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case res.Outcome == healthcheck.Transient && res.Attempts == 0:
		return nil // the budget had no room: no verdict, try next time
	}
	res.At = now
	r.observe.Probe(s.Name, "retired_"+string(res.Outcome), res.Latency)

	unlock := r.locks.Lock(s.Name)
	defer unlock()
	var fresh bool
	if err := r.store.View(func(tx store.Tx) error {
		var err error
		p, fresh, err = tx.Pair(s.Name, p.Fingerprint)
		return err
	}); err != nil {
		return err
	}
	c := &change{slot: s.Name}
	c.probe, c.probeSlot, c.probeFP = probeRecord(res, now), s.Name, p.Fingerprint
	if !fresh || p.Role != store.RoleRetired {
		return r.commit(c) // it moved on while the probe ran; history only
	}

	switch {
	case res.Outcome == healthcheck.Rejected:
		r.pairs.forgetRetired(s.Name, p.Fingerprint)
		p.Role, p.RevokedAt = store.RoleRevoked, now
		e := newEvent(event.OldKeyRevoked, now, s, p.Mask, p.Fingerprint, fmt.Sprintf(
			"%s: KPay now rejects the retired pair %s: rotation complete (retired %s ago)", s.Name, p.Mask, FormatAge(now.Sub(p.RetiredAt))))
		e.Resolves = []string{"retired:" + p.Fingerprint}
		c.emit(e)
		if rot, ok := r.watchingRotation(s.Name, p.Fingerprint); ok {
			rot.State, rot.DoneAt = store.RotationDone, now
			c.rotation = &rot
			e.Fields = map[string]string{"rotation": rot.ID}
			c.events[len(c.events)-1] = e
		}
	case res.Authenticated:
		// KPay's own answer, of any kind that proves the keys
		// authenticated: the old pair still works. A 403 page from a WAF
		// proves nothing (DESIGN §3).
		p.LastAccepted = res.At
		if now.Sub(p.RetiredAt) >= s.RevokeGrace && (p.StillValidAt.IsZero() || now.Sub(p.StillValidAt) >= s.RevokeGrace) {
			p.StillValidAt = now
			c.emit(r.stillValidEvent(s, p, now))
		}
	}
	c.pairs = append(c.pairs, p)
	return r.commit(c)
}

// stillValidEvent says the retired pair p still works. When the current
// pair belongs to another application, p is the slot's only right pair:
// revoking it would be the worst advice.
func (r *Rotator) stillValidEvent(s config.Slot, p store.PairRecord, now time.Time) event.Event {
	msg := fmt.Sprintf("%s: the retired pair %s still works %s after it was retired (revoke_grace %s): whoever holds it can still move money",
		s.Name, p.Mask, FormatAge(now.Sub(p.RetiredAt)), formatDays(s.RevokeGrace))
	action := "revoke the old pair in the KPay dashboard (Applications screen)"
	st, err := r.loadState(s)
	if err == nil && holdsOtherApplication(st) {
		msg = fmt.Sprintf("%s: the retired pair %s still works and is this slot's application's pair, while the one now in secret %s belongs to another application",
			s.Name, p.Mask, s.SecretID)
		action = doNotRevoke(s)
	}
	e := newEvent(event.OldKeyStillValid, now, s, p.Mask, p.Fingerprint, msg)
	e.Action = action
	e.Condition = "retired:" + p.Fingerprint
	return e
}

// holdsOtherApplication: the slot's secret holds another application's
// pair, so its retired pairs are the slot's right ones.
func holdsOtherApplication(st store.SlotState) bool {
	return st.LastProbe != nil && st.LastProbe.Outcome == string(healthcheck.WrongApplication)
}

func doNotRevoke(s config.Slot) string {
	return "do not revoke it: put it back (see the alert about the current pair) or hand this application's pair over with kpay-rotator stage " + s.Name
}

// watchingRotation finds the rotation that retired the pair fp.
func (r *Rotator) watchingRotation(slot, fp string) (store.Rotation, bool) {
	var out store.Rotation
	var found bool
	_ = r.store.View(func(tx store.Tx) error {
		rots, err := tx.Rotations(slot, 10)
		for _, rot := range rots {
			if rot.State == store.RotationWatching && rot.OldFingerprint == fp {
				out, found = rot, true
				break
			}
		}
		return err
	})
	return out, found
}

// activeRotation returns slot's staged or verified rotation, if any.
func (r *Rotator) activeRotation(slot string) (store.Rotation, bool) {
	var out store.Rotation
	var ok bool
	_ = r.store.View(func(tx store.Tx) error {
		var err error
		out, ok, err = tx.ActiveRotation(slot)
		return err
	})
	return out, ok
}

// The rule that keeps retired pairs from piling up. A retired pair is
// probed on retired_schedule until KPay rejects it, within the request
// budget left over by current pairs. A pair that KPay keeps accepting (not
// regenerated, or another application's), or that the budget never has
// room for at a thousand slots, would be watched forever, each costing a
// Secrets Manager read per retired probe, and more of them every rotation.
// So a slot watches its newest retired_watch_max retired pairs, each for
// retired_watch after it was retired; the others are given up (unwatched)
// with one event each, and their rotation is journaled unconfirmed.
// Records of pairs done with (revoked or unwatched) are forgotten with
// their probe history past max_revoked_pairs per slot or
// max_revoked_pair_age after they ended: status shows them for a week,
// and the event log and the rotation journal keep masks and fingerprints
// for audit.

// retiredRules is what the configuration says about a slot's previous
// pairs.
type retiredRules struct {
	watchFor   time.Duration // a retired pair is watched this long after it was retired
	watchMax   int           // at most this many retired pairs are watched at once
	keepEnded  int           // records of ended pairs kept, the newest
	endedUntil time.Duration // and only this long after they ended
}

func (r *Rotator) retiredRules(s config.Slot) retiredRules {
	return retiredRules{watchFor: s.RetiredWatch, watchMax: s.RetiredWatchMax,
		keepEnded: r.cfg.Retention.MaxRevokedPairs, endedUntil: r.cfg.Retention.MaxRevokedPairAge}
}

// unwatchReason says why a retired pair is given up.
type unwatchReason string

const (
	unwatchExpired unwatchReason = "retired_watch"     // retired longer than retired_watch ago
	unwatchCrowded unwatchReason = "retired_watch_max" // newer retired pairs fill retired_watch_max
)

type unwatch struct {
	pair   store.PairRecord
	reason unwatchReason
}

// retiredPlan is what one pass does with a slot's previous pairs.
type retiredPlan struct {
	watch   []store.PairRecord // probe these
	unwatch []unwatch          // give these up, one event each
	forget  []store.PairRecord // delete their records and probe history
}

func (p retiredPlan) tidies() bool { return len(p.unwatch) > 0 || len(p.forget) > 0 }

// maxForget bounds the records one pass deletes: a slot with a backlog
// (a database from before retention) is worked off a pass at a time.
const maxForget = 16

// planRetired applies rules to a slot's pairs at now. The pair current
// (the slot's, "" if unknown) is never touched, whatever its record says.
func planRetired(pairs []store.PairRecord, current string, rules retiredRules, now time.Time) retiredPlan {
	var retired, ended []store.PairRecord
	for _, p := range pairs {
		switch {
		case p.Fingerprint == current:
		case p.Role == store.RoleRetired:
			retired = append(retired, p)
		case p.Role.Ended():
			ended = append(ended, p)
		}
	}
	var plan retiredPlan
	// Newest first: the pair a rotation has just retired is the one to
	// see revoked.
	slices.SortStableFunc(retired, func(a, b store.PairRecord) int { return b.RetiredAt.Compare(a.RetiredAt) })
	for i, p := range retired {
		switch {
		case now.Sub(p.RetiredAt) >= rules.watchFor:
			plan.unwatch = append(plan.unwatch, unwatch{p, unwatchExpired})
		case i >= rules.watchMax:
			plan.unwatch = append(plan.unwatch, unwatch{p, unwatchCrowded})
		default:
			plan.watch = append(plan.watch, p)
		}
	}
	slices.SortStableFunc(ended, func(a, b store.PairRecord) int { return endedAt(b).Compare(endedAt(a)) })
	for i, p := range ended {
		if len(plan.forget) == maxForget {
			break
		}
		if i >= rules.keepEnded || now.Sub(endedAt(p)) >= rules.endedUntil {
			plan.forget = append(plan.forget, p)
		}
	}
	return plan
}

// endedAt is when the pair was revoked or given up, or as near as its
// record says.
func endedAt(p store.PairRecord) time.Time {
	for _, t := range []time.Time{p.RevokedAt, p.UnwatchedAt, p.RetiredAt} {
		if !t.IsZero() {
			return t
		}
	}
	return p.FirstSeen
}

// tidyRetired does what planRetired says on the slot's records read again
// under its lock (a pass may have moved a pair on meanwhile), and returns
// that plan: its watch list is what is left to probe.
func (r *Rotator) tidyRetired(s config.Slot, now time.Time) (retiredPlan, error) {
	unlock := r.locks.Lock(s.Name)
	defer unlock()
	var st store.SlotState
	var pairs []store.PairRecord
	if err := r.settle(s.Name); err != nil {
		return retiredPlan{}, err
	}
	if err := r.store.View(func(tx store.Tx) error {
		var err error
		if st, _, err = tx.Slot(s.Name); err != nil {
			return err
		}
		pairs, err = tx.Pairs(s.Name)
		return err
	}); err != nil {
		return retiredPlan{}, fmt.Errorf("read previous pairs of slot %s: %w", s.Name, err)
	}
	plan := planRetired(pairs, st.Current, r.retiredRules(s), now)
	for _, u := range plan.unwatch {
		if err := r.unwatchRetired(s, st, u, now); err != nil {
			return plan, err
		}
	}
	if len(plan.forget) == 0 {
		return plan, nil
	}
	if err := r.commits.do(func(tx store.Tx) error {
		for _, p := range plan.forget {
			if err := tx.DeletePair(p.Slot, p.Fingerprint); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return plan, fmt.Errorf("forget previous pairs of slot %s: %w", s.Name, err)
	}
	r.log.Debug("forgot the records of previous pairs done with", "slot", s.Name, "pairs", len(plan.forget))
	if r.onCommit != nil {
		r.onCommit(s.Name)
	}
	return plan, nil
}

// unwatchRetired gives the retired pair up: its role, one event that
// resolves its old_key_still_valid condition (so the reminders stop) and
// says what no longer happens, and its rotation journaled unconfirmed.
func (r *Rotator) unwatchRetired(s config.Slot, st store.SlotState, u unwatch, now time.Time) error {
	p := u.pair
	var why string
	switch {
	case u.reason == unwatchCrowded:
		why = fmt.Sprintf("the slot watches its %d newest retired pairs (retired_watch_max) and this one is older", s.RetiredWatchMax)
	case p.LastAccepted.After(p.RetiredAt):
		why = fmt.Sprintf("KPay still accepted it %s ago, %s after it was retired (retired_watch %s)",
			FormatAge(now.Sub(p.LastAccepted)), FormatAge(p.LastAccepted.Sub(p.RetiredAt)), formatDays(s.RetiredWatch))
	default:
		why = fmt.Sprintf("KPay gave no verdict on it in the %s since it was retired (retired_watch): the request budget had no room for its probes, or its secret version could not be read",
			FormatAge(now.Sub(p.RetiredAt)))
	}
	e := newEvent(event.OldKeyUnwatched, now, s, p.Mask, p.Fingerprint, fmt.Sprintf(
		"%s: stopped watching the retired pair %s: %s; nothing will say when KPay rejects it", s.Name, p.Mask, why))
	e.Action = "check in the KPay dashboard (Applications screen) that the old pair is revoked, and revoke it if it still works"
	if holdsOtherApplication(st) {
		e.Action = doNotRevoke(s)
	}
	e.Resolves = []string{"retired:" + p.Fingerprint}
	e.Fields = map[string]string{"reason": string(u.reason), "retired_at": p.RetiredAt.UTC().Format(time.RFC3339)}
	if !p.LastAccepted.IsZero() {
		e.Fields["last_accepted"] = p.LastAccepted.UTC().Format(time.RFC3339)
	}
	p.Role, p.UnwatchedAt = store.RoleUnwatched, now
	c := &change{slot: s.Name, pairs: []store.PairRecord{p}}
	if rot, ok := r.watchingRotation(s.Name, p.Fingerprint); ok {
		rot.State, rot.DoneAt = store.RotationUnconfirmed, now
		rot.Reason = "the previous pair was no longer watched (" + string(u.reason) + ") before KPay rejected it"
		c.rotation = &rot
		e.Fields["rotation"] = rot.ID
	}
	c.emit(e)
	return r.commit(c)
}
