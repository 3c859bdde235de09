package rotator

import (
	"context"
	"fmt"
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
// version that carried it; it is never kept. Like ProbeSlot, it holds the
// slot's lock only to record what the probe found.
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
	var retired []store.PairRecord
	err = r.store.View(func(tx store.Tx) error {
		pairs, err := tx.Pairs(name)
		for _, p := range pairs {
			if p.Role == store.RoleRetired {
				retired = append(retired, p)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(retired) == 0 {
		// Nothing to watch: no wake-up at retired_schedule until a
		// commit retires a pair of this slot.
		r.watch.clear(name, look)
		return nil
	}
	for _, p := range retired {
		if err := r.probeRetired(ctx, s, p, now); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rotator) probeRetired(ctx context.Context, s config.Slot, p store.PairRecord, now time.Time) error {
	log := r.log.With("slot", s.Name, "pair", p.Mask)
	if p.VersionID == "" {
		log.Warn("cannot watch retired pair: no secret version is known to hold it; watch it by hand in the dashboard")
		return nil
	}
	v, err := r.secrets.Version(ctx, s.SecretID, p.VersionID)
	if err != nil {
		log.Warn("cannot fetch retired pair to probe it; will retry", "version_id", p.VersionID, "err", err)
		return nil
	}
	pair, err := v.Pair(s.APIKeyField, s.SecretKeyField)
	if err != nil || pair.Fingerprint() != p.Fingerprint {
		log.Warn("secret version no longer holds the retired pair; cannot watch it", "version_id", p.VersionID)
		return nil
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
	if err == nil && st.LastProbe != nil && st.LastProbe.Outcome == string(healthcheck.WrongApplication) {
		msg = fmt.Sprintf("%s: the retired pair %s still works and is this slot's application's pair, while the one now in secret %s belongs to another application",
			s.Name, p.Mask, s.SecretID)
		action = "do not revoke it: put it back (see the alert about the current pair) or hand this application's pair over with kpay-rotator stage " + s.Name
	}
	e := newEvent(event.OldKeyStillValid, now, s, p.Mask, p.Fingerprint, msg)
	e.Action = action
	e.Condition = "retired:" + p.Fingerprint
	return e
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
