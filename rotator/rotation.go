package rotator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/inbox"
	"kpay-rotator/internal/failpoint"
	"kpay-rotator/internal/retry"
	"kpay-rotator/kpay"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
)

// Failpoints of the rotation, in order (crash tests kill the daemon at
// each and restart it).
const (
	FailAfterStaged     = "after-staged"
	FailAfterVerified   = "after-verified"
	FailBeforePut       = "before-put"
	FailAfterPut        = "after-put"
	FailBeforeInboxDrop = "before-inbox-remove"
)

// AdvanceRotations moves every open, staged or in-flight rotation as far
// as it can go now, each slot in its own goroutine so one slow hand-over
// never holds up another. It is cheap when nothing is staged: one
// directory listing and one small bbolt read.
func (r *Rotator) AdvanceRotations(ctx context.Context, now func() time.Time) error {
	slots, err := r.inbox.Pending()
	if err != nil {
		return err
	}
	var active []string
	err = r.store.View(func(tx store.Tx) error {
		var err error
		active, err = tx.ActiveSlots()
		return err
	})
	if err != nil {
		return err
	}
	var names []string
	for _, name := range slots {
		if _, ok := r.slots[name]; !ok {
			r.log.Warn("a pair or rotation window is staged for a slot the configuration does not have; remove it or add the slot", "slot", name,
				"dir", r.cfg.Daemon.InboxDir)
			continue
		}
		names = append(names, name)
	}
	for _, name := range active {
		// A slot gone from the configuration keeps its journal; it is not
		// advanced.
		if _, ok := r.slots[name]; ok && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 1 { // the usual hand-over: no goroutine to wait for
		return r.AdvanceRotation(ctx, names[0], now())
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = r.AdvanceRotation(ctx, name, now()) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// AdvanceRotation takes slot's rotation through the journal: open (the
// window stage opens before the admin regenerates) → staged → verified →
// written (→ watching, in ProbeRetired → done), or rejected, or
// cancelled. Each step can be repeated, so a daemon killed anywhere
// resumes at the right step.
//
// Only two commits lie on the success path: verified, before the pair is
// written (so that after a crash, even a reboot that empties the inbox,
// the journal knows the pair it may find in the secret is its own), and
// written. The write's token is derived from the rotation id, which the
// inbox file carries, so a retry after a crash presents the same token.
func (r *Rotator) AdvanceRotation(ctx context.Context, name string, now time.Time) error {
	s, err := r.slot(name)
	if err != nil {
		return err
	}
	unlock := r.locks.Lock(name)
	defer unlock()
	_, err = r.advance(ctx, s, now)
	return err
}

// slotView is what a rotation step knows of its slot's stored state: read
// in one transaction under the slot's lock and carried through the step
// (one read, where each step used to read again: seven per hand-over).
// The lock keeps every other writer of the slot out; of the step's own
// commits only written changes the state or the current pair, and it
// updates the view.
type slotView struct {
	state      store.SlotState // as loadState gives it
	current    store.PairRecord
	hasCurrent bool
	// rot is the active rotation, if active.
	rot    store.Rotation
	active bool
	// seen is the journal's rotation with the inbox file's id, if any.
	seen    store.Rotation
	hasSeen bool
}

// readSlot reads slot s's view, with the journal's record of rotation id
// (the inbox file's) when id is not empty.
func (r *Rotator) readSlot(s config.Slot, id string) (slotView, error) {
	var v slotView
	var ok bool
	if err := r.settle(s.Name); err != nil {
		return v, err
	}
	err := r.store.View(func(tx store.Tx) error {
		var err error
		if v.state, ok, err = tx.Slot(s.Name); err != nil {
			return err
		}
		if ok && v.state.Current != "" {
			if v.current, v.hasCurrent, err = tx.Pair(s.Name, v.state.Current); err != nil {
				return err
			}
		}
		if v.rot, v.active, err = tx.ActiveRotation(s.Name); err != nil {
			return err
		}
		if id != "" {
			v.seen, v.hasSeen, err = tx.Rotation(s.Name, id)
		}
		return err
	})
	if err != nil {
		return v, err
	}
	v.state = configured(s, v.state, ok)
	return v, nil
}

// advance runs with the slot lock held. It returns the slot's view as the
// step left it, for the pass that goes on under the same lock.
func (r *Rotator) advance(ctx context.Context, s config.Slot, now time.Time) (*slotView, error) {
	req, rerr := r.inbox.Read(s.Name)
	var w inbox.Window
	var werr error
	id := req.ID
	if errors.Is(rerr, inbox.ErrNoRequest) {
		if w, werr = r.inbox.ReadWindow(s.Name); werr == nil {
			id = w.ID
		}
	}
	v, err := r.readSlot(s, id)
	if err != nil {
		return nil, err
	}
	return &v, r.step(ctx, s, &v, req, rerr, w, werr, now)
}

// step is one move of the slot's rotation, given the inbox's request (or
// its error) and, with no request, its window file (or its error).
func (r *Rotator) step(ctx context.Context, s config.Slot, v *slotView, req inbox.Request, rerr error, w inbox.Window, werr error, now time.Time) error {
	rot, active := v.rot, v.active
	open := active && rot.State == store.RotationOpen
	switch {
	case errors.Is(rerr, inbox.ErrNoRequest):
		return r.noPair(ctx, s, v, w, werr, now)
	case rerr != nil:
		// Unusable file: journal the refusal, drop the file.
		if !active {
			rot = store.Rotation{ID: inbox.NewID(now), Slot: s.Name, OpenedAt: now, StagedAt: now}
		}
		return r.reject(s, rot, rerr.Error(), now)
	case active && !open && req.ID != rot.ID:
		// The journal has a rotation but its pair is gone (a reboot
		// cleared the tmpfs inbox, or someone removed the file). If the
		// write landed before a crash, finish it; else ask for the pair.
		return r.resumeWithoutPair(ctx, s, v, rot, now)
	case !active || open:
		if r.leftover(s, v, req) {
			return nil
		}
		if open && rot.ID != req.ID {
			c := &change{slot: s.Name}
			r.cancel(c, s, rot, "another pair was staged instead", now)
			if err := r.commit(c); err != nil {
				return err
			}
			open = false
		}
		st := v.state
		if st.Current == req.Pair.Fingerprint() {
			// A mistake, not a rotation: nothing to journal or alert;
			// stage says so, and an open window stays for the right pair.
			r.refuse(s, req, fmt.Sprintf("this is the pair %s already holds; paste the pair regenerated in the KPay dashboard", s.SecretID), now)
			return nil
		}
		next := newRotation(s, req, now)
		next.OldFingerprint = st.Current
		if open {
			next.OpenedAt, next.OpenedBy = rot.OpenedAt, rot.OpenedBy
		}
		rot = next
		r.log.Info("rotation staged", "slot", s.Name, "rotation", rot.ID, "pair", rot.NewMask)
		failpoint.Hit(FailAfterStaged)
	}
	pair := req.Pair

	if rot.State == store.RotationStaged {
		if rot.WriteAttempts > 0 && now.Before(rot.LastErrorAt.Add(writeBackoff(rot.WriteAttempts))) {
			// KPay could not verify it last time: back off, as routine
			// probes do, rather than knock every few seconds.
			return nil
		}
		ok, err := r.verify(ctx, s, v, &rot, pair, now)
		if err != nil || !ok {
			return err
		}
		failpoint.Hit(FailAfterVerified)
	}
	if rot.State == store.RotationVerified {
		return r.write(ctx, s, v, &rot, pair, now)
	}
	return nil
}

// noPair advances a slot whose inbox holds no pair: a window stage has
// just opened is journaled; an open one is checked for a stall, or closed
// when stage gave up; a staged rotation whose pair vanished is resumed.
func (r *Rotator) noPair(ctx context.Context, s config.Slot, v *slotView, w inbox.Window, werr error, now time.Time) error {
	rot, active := v.rot, v.active
	switch {
	case active && rot.State != store.RotationOpen:
		return r.resumeWithoutPair(ctx, s, v, rot, now)
	case active && errors.Is(werr, inbox.ErrNoWindow):
		c := &change{slot: s.Name}
		r.cancel(c, s, rot, "kpay-rotator stage was cancelled before a pair was pasted", now)
		c.confirm = true // a pair regenerated meanwhile is dead: say so soon
		return r.commit(c)
	case active && werr == nil && w.ID != rot.ID:
		// Another stage opened a new rotation over this one.
		c := &change{slot: s.Name}
		r.cancel(c, s, rot, "another kpay-rotator stage opened a new rotation", now)
		if err := r.commit(c); err != nil {
			return err
		}
		active = false
	case active:
		return r.windowStall(s, v, rot, now)
	case errors.Is(werr, inbox.ErrNoWindow):
		return nil
	case werr != nil:
		r.log.Warn("removing an unusable rotation window file", "slot", s.Name, "err", werr)
		return r.inbox.CloseWindow(s.Name)
	}
	if v.hasSeen {
		// Its rotation ended before the file could be removed.
		return r.inbox.CloseWindow(s.Name)
	}
	opened := w.OpenedAt
	if opened.IsZero() || opened.After(now) {
		opened = now
	}
	rot = store.Rotation{ID: w.ID, Slot: s.Name, State: store.RotationOpen, OpenedAt: opened, OpenedBy: w.OpenedBy,
		Token: requestToken(w.ID), OldFingerprint: v.state.Current}
	if err := r.commit(&change{slot: s.Name, rotation: &rot}); err != nil {
		return err
	}
	r.log.Info("rotation window open: the current pair is expected to stop working; waiting for the new pair",
		"slot", s.Name, "rotation", rot.ID, "opened_by", rot.OpenedBy)
	return nil
}

// windowStall raises rotation_stalled once for a window open past
// stall_after with no pair: payments may be down while nobody pastes.
func (r *Rotator) windowStall(s config.Slot, v *slotView, rot store.Rotation, now time.Time) error {
	if !rot.StalledAt.IsZero() || now.Sub(rot.OpenedAt) < s.StallAfter {
		return nil
	}
	st := v.state
	by := ""
	if rot.OpenedBy != "" {
		by = " by " + rot.OpenedBy
	}
	msg := fmt.Sprintf("%s: a rotation has been open for %s (kpay-rotator stage, run%s) and no new pair has arrived", s.Name, FormatAge(now.Sub(rot.OpenedAt)), by)
	if st.Health == store.HealthFailing || st.Rejections > 0 {
		msg += fmt.Sprintf("; KPay has rejected the current pair since %s: payments using secret %s are failing", st.FirstRejectedAt.UTC().Format(time.DateTime+" UTC"), s.SecretID)
	} else {
		msg += "; the current pair still works"
	}
	rot.StalledAt = now
	e := newEvent(event.RotationStalled, now, s, "", st.Current, msg)
	e.Action = fmt.Sprintf("paste the new pair into the waiting kpay-rotator stage, or run kpay-rotator stage %s again (it continues this rotation); to give it up: kpay-rotator stage --cancel %s", s.Name, s.Name)
	e.Condition = "rotation"
	e.Fields = map[string]string{"rotation": rot.ID}
	if !st.FirstRejectedAt.IsZero() {
		e.Fields["failing_since"] = st.FirstRejectedAt.UTC().Format(time.RFC3339)
	}
	c := &change{slot: s.Name, rotation: &rot}
	c.emit(e)
	r.observe.Rotation(s.Name, "stalled", 0)
	return r.commit(c)
}

// cancel closes an open rotation without a pair, in c.
func (r *Rotator) cancel(c *change, s config.Slot, rot store.Rotation, reason string, now time.Time) {
	rot.State, rot.DoneAt, rot.Reason = store.RotationCancelled, now, reason
	c.rotation = &rot
	e := newEvent(event.RotationCancelled, now, s, "", "", fmt.Sprintf("%s: the rotation opened %s ago ended without a new pair: %s", s.Name, FormatAge(now.Sub(rot.OpenedAt)), reason))
	e.Fields = map[string]string{"rotation": rot.ID, "reason": reason}
	e.Resolves = []string{"rotation"}
	c.emit(e)
	r.log.Info("rotation cancelled", "slot", s.Name, "rotation", rot.ID, "reason", reason)
	r.closeWindow(s, rot.ID)
}

func newRotation(s config.Slot, req inbox.Request, now time.Time) store.Rotation {
	staged := req.StagedAt
	if staged.IsZero() || staged.After(now) {
		staged = now
	}
	return store.Rotation{
		ID: req.ID, Slot: s.Name, State: store.RotationStaged,
		NewFingerprint: req.Pair.Fingerprint(), NewMask: req.Pair.Mask(),
		Born: req.Born, Token: requestToken(req.ID), OpenedAt: staged, StagedAt: staged,
		Application: strings.ToLower(req.Application),
	}
}

// requestToken derives the write's ClientRequestToken from the rotation id,
// formatted as a version-4 UUID as Secrets Manager expects. Derived, not
// random, so every retry of the rotation presents the same token.
func requestToken(id string) string {
	return secretdoc.Token("kpay-rotator/token/v1\x00" + id)
}

// leftover handles an inbox file whose rotation the journal already
// finished: the daemon died after recording the outcome but before
// removing the file. It republishes the outcome and drops the file.
func (r *Rotator) leftover(s config.Slot, v *slotView, req inbox.Request) bool {
	rot := v.seen
	// A pair pasted for a rotation cancelled meanwhile (a stall, a paste
	// by hand, stage --cancel elsewhere) is a hand-over all the same: its
	// rotation wrote nothing, so it starts again under the same id.
	if !v.hasSeen || rot.ID != req.ID || rot.State.Active() || rot.State == store.RotationCancelled {
		return false
	}
	r.finishInbox(s, rot)
	return true
}

// verify runs DESIGN §4 step 1 and 2 checks. A failed check rejects the
// rotation; KPay being unreachable leaves it staged for the next attempt.
func (r *Rotator) verify(ctx context.Context, s config.Slot, v *slotView, rot *store.Rotation, pair kpay.Pair, now time.Time) (bool, error) {
	if err := pair.Check(s.Environment); err != nil {
		return false, r.reject(s, *rot, "the pair fails the local checks: "+err.Error(), now)
	}
	st := v.state
	if st.Current == rot.NewFingerprint {
		return false, r.reject(s, *rot, fmt.Sprintf("this is the pair %s already holds; generate a new pair in the dashboard", s.SecretID), now)
	}
	if st.SMRotation != "" && !s.AllowSecretsManagerRotation {
		return false, r.reject(s, *rot, fmt.Sprintf("secret %s also has Secrets Manager rotation enabled (Lambda %s), which would overwrite the pair; turn it off (aws secretsmanager cancel-rotate-secret --secret-id %s), or set allow_secrets_manager_rotation = true for slot %s, then stage the pair again",
			s.SecretID, st.SMRotation, s.SecretID, s.Name), now)
	}
	want := healthcheck.Expect{Environment: s.Environment, ApplicationID: s.ApplicationID}
	if want.ApplicationID == "" {
		want.ApplicationID = st.ApplicationID
	}
	switch {
	case rot.Application != "" && want.ApplicationID != "" && !strings.EqualFold(rot.Application, want.ApplicationID):
		return false, r.reject(s, *rot, fmt.Sprintf("--application %s is not the slot's KPay application %s; stage a pair of %s, or change application_id in the config", rot.Application, want.ApplicationID, want.ApplicationID), now)
	case want.ApplicationID == "":
		// Nothing says which application the slot belongs to (no
		// application_id, and its pair never answered): only the admin's
		// word, given with --application, may.
		want.ApplicationID = rot.Application
	}
	res := r.prober.ProbeUrgent(ctx, pair, want)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case res.Outcome == healthcheck.Healthy:
	case res.Outcome == healthcheck.Rejected:
		return false, r.reject(s, *rot, "KPay rejects the new pair (401): it is invalid, was revoked, or was already replaced by a newer one; generate a new pair in the dashboard", now)
	case res.Outcome == healthcheck.WrongEnvironment:
		return false, r.reject(s, *rot, fmt.Sprintf("KPay says the new pair belongs to the %s environment; slot %s is %s", res.Environment, s.Name, s.Environment), now)
	case res.Outcome == healthcheck.WrongApplication:
		return false, r.reject(s, *rot, fmt.Sprintf("the new pair belongs to KPay application %s (%s), not the slot's %s; generate the pair in the right application", res.ApplicationID, res.ApplicationName, want.ApplicationID), now)
	default:
		// KPay could not say: keep the pair staged and try again.
		return false, r.writeFailed(s, rot, fmt.Errorf("cannot verify the new pair with KPay yet: %s", describe(res)), now)
	}
	if want.ApplicationID == "" {
		return false, r.reject(s, *rot, fmt.Sprintf("the slot's KPay application is not known (no application_id in the config, and its pair never answered), and KPay says this pair belongs to application %s %q; if that is the right one, stage it again with --application %s, or set application_id for slot %s",
			res.ApplicationID, res.ApplicationName, res.ApplicationID, s.Name), now)
	}
	rot.State, rot.VerifiedAt = store.RotationVerified, now
	rot.LastError, rot.LastErrorAt = "", time.Time{}
	c := &change{slot: s.Name, rotation: rot}
	res.Detail = "verification of a staged pair"
	c.probe, c.probeSlot, c.probeFP = probeRecord(res, now), s.Name, rot.NewFingerprint
	if err := r.commit(c); err != nil {
		return false, err
	}
	r.log.Info("rotation verified", "slot", s.Name, "rotation", rot.ID, "pair", rot.NewMask, "application_id", res.ApplicationID)
	return true, nil
}

// attempts says n attempts in words.
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// writeBackoff is the wait before the next write attempt after n failures.
func writeBackoff(n int) time.Duration {
	return retry.Backoff{Base: 5 * time.Second, Cap: 2 * time.Minute}.Ceiling(n)
}

// write is DESIGN §4 step 3: read, replace the two fields, put with the
// rotation's token, read back.
//
// Slots may share a secret (each its own fields): the read, the put and
// the read-back run under the secret's lock, so two rotations never both
// start from the same value and lose each other's pair.
func (r *Rotator) write(ctx context.Context, s config.Slot, v *slotView, rot *store.Rotation, pair kpay.Pair, now time.Time) error {
	if rot.WriteAttempts > 0 && now.Before(rot.LastErrorAt.Add(writeBackoff(rot.WriteAttempts))) {
		return nil
	}
	unlock := r.secretLocks.Lock(s.SecretID)
	defer unlock()
	cur, err := r.secrets.Current(ctx, s.SecretID)
	var versionID string
	switch {
	case errors.Is(err, secretdoc.ErrNotFound) && s.CreateIfMissing:
		value, verr := secretdoc.NewValue(s.APIKeyField, s.SecretKeyField, pair)
		if verr != nil {
			return r.writeFailed(s, rot, verr, now)
		}
		failpoint.Hit(FailBeforePut)
		versionID, err = r.writer.Create(ctx, s.SecretID, value, rot.Token)
		failpoint.Hit(FailAfterPut)
	case errors.Is(err, secretdoc.ErrNotFound):
		return r.writeFailed(s, rot, fmt.Errorf("%w; or set create_if_missing = true for slot %s", err, s.Name), now)
	case err != nil:
		return r.writeFailed(s, rot, err, now)
	default:
		if held, perr := cur.Pair(s.APIKeyField, s.SecretKeyField); perr == nil && held.Fingerprint() == rot.NewFingerprint {
			// An earlier attempt's put landed before the daemon could
			// record it: the write is done, and must not be repeated.
			return r.written(ctx, s, v, rot, cur.VersionID, now, "")
		}
		if rot.WriteAttempts > 0 {
			// A retry: the earlier put may have landed and been written
			// over since (its answer lost). Its token names its version;
			// putting again would be refused for good.
			if mine, ok := r.ownVersion(ctx, s, rot); ok {
				return r.written(ctx, s, v, rot, mine, now, fmt.Sprintf("; the secret has been changed again since, by someone else (now version %s): the next pass says what it holds", cur.VersionID))
			}
		}
		value, verr := cur.WithPair(s.APIKeyField, s.SecretKeyField, pair)
		if verr != nil {
			// Never overwrite a value the daemon cannot parse: other
			// fields would be lost.
			return r.writeFailed(s, rot, fmt.Errorf("%w; fix the secret's value so the pair can be written without losing its other fields", verr), now)
		}
		failpoint.Hit(FailBeforePut)
		versionID, err = r.writer.Put(ctx, s.SecretID, value, rot.Token)
		failpoint.Hit(FailAfterPut)
	}
	if errors.Is(err, secretdoc.ErrVersionExists) {
		if mine, ok := r.ownVersion(ctx, s, rot); ok {
			return r.written(ctx, s, v, rot, mine, now, "; the secret has been changed again since, by someone else: the next pass says what it holds")
		}
	}
	if err != nil {
		return r.writeFailed(s, rot, err, now)
	}
	back, err := r.secrets.Current(ctx, s.SecretID)
	if err != nil {
		return r.writeFailed(s, rot, fmt.Errorf("read back after writing version %s: %w", versionID, err), now)
	}
	if p, perr := back.Pair(s.APIKeyField, s.SecretKeyField); perr != nil || p.Fingerprint() != rot.NewFingerprint {
		// The write landed (Secrets Manager said so), then someone else
		// wrote over it before the read-back. Retrying could never
		// succeed (the token's version exists): the rotation is done, and
		// the next pass adopts, and reports, what the secret holds now.
		return r.written(ctx, s, v, rot, versionID, now, fmt.Sprintf("; someone else wrote the secret again right after (version %s): the next pass says what it holds", back.VersionID))
	}
	return r.written(ctx, s, v, rot, back.VersionID, now, "")
}

// ownVersion reports whether the version rot's token names holds rot's
// pair: its write landed, whatever happened to the secret since.
func (r *Rotator) ownVersion(ctx context.Context, s config.Slot, rot *store.Rotation) (string, bool) {
	v, err := r.secrets.Version(ctx, s.SecretID, rot.Token)
	if err != nil {
		return "", false
	}
	p, err := v.Pair(s.APIKeyField, s.SecretKeyField)
	return v.VersionID, err == nil && p.Fingerprint() == rot.NewFingerprint
}

// writeFailed records a failed attempt and raises rotation_stalled once the
// rotation has waited stall_after. The staged pair stays until written.
func (r *Rotator) writeFailed(s config.Slot, rot *store.Rotation, cause error, now time.Time) error {
	rot.WriteAttempts++
	rot.LastError, rot.LastErrorAt = cause.Error(), now
	c := &change{slot: s.Name, rotation: rot}
	if rot.StalledAt.IsZero() && now.Sub(rot.StagedAt) >= s.StallAfter {
		rot.StalledAt = now
		e := newEvent(event.RotationStalled, now, s, rot.NewMask, rot.NewFingerprint, fmt.Sprintf(
			"%s: the staged pair %s is still not in secret %s after %s (%s): %s",
			s.Name, rot.NewMask, s.SecretID, FormatAge(now.Sub(rot.StagedAt)), attempts(rot.WriteAttempts), cause))
		e.Action = stallAction(s, cause)
		e.Condition = "rotation"
		e.Fields = map[string]string{"rotation": rot.ID, "attempts": fmt.Sprint(rot.WriteAttempts)}
		c.emit(e)
		r.observe.Rotation(s.Name, "stalled", 0)
	}
	r.log.Warn("rotation not written yet; will retry", "slot", s.Name, "rotation", rot.ID, "attempt", rot.WriteAttempts,
		"retry_in", writeBackoff(rot.WriteAttempts).String(), "err", cause)
	return r.commit(c)
}

func stallAction(s config.Slot, cause error) string {
	switch {
	case errors.Is(cause, secretdoc.ErrAccessDenied):
		return fmt.Sprintf("grant secretsmanager:PutSecretValue and secretsmanager:GetSecretValue on %s to the daemon's AWS identity; the daemon keeps retrying", s.SecretID)
	case errors.Is(cause, secretdoc.ErrNotFound):
		return fmt.Sprintf("create secret %s, or set create_if_missing = true for slot %s and reload", s.SecretID, s.Name)
	case errors.Is(cause, secretdoc.ErrLimit):
		return fmt.Sprintf("secret %s has too many versions; AWS drops unlabelled ones after 24 h, or ask AWS for a higher quota", s.SecretID)
	}
	return fmt.Sprintf("services using %s may be down until the pair is written; if this persists, put the staged pair into the secret by hand", s.SecretID)
}

// written records step 3 done, adopts the new pair as current, retires the
// previous one and says so, all in one transaction.
func (r *Rotator) written(ctx context.Context, s config.Slot, v *slotView, rot *store.Rotation, versionID string, now time.Time, note string) error {
	st := v.state
	c := &change{slot: s.Name, state: &st, rotation: rot}
	rot.VersionID, rot.WrittenAt = versionID, now
	rot.LastError, rot.LastErrorAt = "", time.Time{}
	if st.Rejections > 0 && !st.FirstRejectedAt.IsZero() {
		rot.OutageStart = st.FirstRejectedAt
		rot.Gap = now.Sub(st.FirstRejectedAt)
	}

	prev, prevKnown := v.current, v.hasCurrent && st.Current != rot.NewFingerprint
	born, source := rot.StagedAt, store.BornFirstSeen
	if !rot.Born.IsZero() {
		born, source = rot.Born, store.BornAdmin
	}
	rec := store.PairRecord{
		Slot: s.Name, Fingerprint: rot.NewFingerprint, Mask: rot.NewMask, Environment: string(s.Environment),
		Born: born, BornSource: source, VersionID: versionID, FirstSeen: rot.StagedAt, Role: store.RoleCurrent, LastAccepted: rot.VerifiedAt,
		OutageStart: rot.OutageStart, CutoverGap: rot.Gap,
	}
	c.pairs = append(c.pairs, rec)
	rot.State = store.RotationDone
	if prevKnown && prev.Role == store.RoleCurrent {
		prev.Role, prev.RetiredAt = store.RoleRetired, now
		c.pairs = append(c.pairs, prev)
		rot.State = store.RotationWatching
		rot.OldFingerprint, rot.OldMask = prev.Fingerprint, prev.Mask
	}

	msg := fmt.Sprintf("%s: new pair %s written to %s (version %s)", s.Name, rot.NewMask, s.SecretID, versionID)
	if rot.State == store.RotationWatching {
		msg += fmt.Sprintf("; the previous pair %s is retired and watched until KPay rejects it", prev.Mask)
	}
	e := newEvent(event.KeyRotated, now, s, rot.NewMask, rot.NewFingerprint, msg+note)
	e.Fields = map[string]string{"rotation": rot.ID, "version_id": versionID}
	if !rot.OutageStart.IsZero() {
		e.Message += fmt.Sprintf("; payments could not authenticate for %s (cutover gap, from the first rejection of the old pair)", FormatGap(rot.Gap))
		e.Fields["cutover_gap"] = FormatGap(rot.Gap)
	}
	e.Resolves = []string{"age", "rotation"}
	c.emit(e)

	// The verified probe speaks for the new pair.
	prevHealth := st.Health
	st.Current, st.VersionID = rot.NewFingerprint, versionID
	// Its fields are the ones the write kept; the next pass records them.
	st.FieldNames = ""
	st.Health, st.HealthSince = store.HealthHealthy, now
	st.Rejections, st.Transients, st.FirstRejectedAt = 0, 0, time.Time{}
	unresolved := st.Unresolved
	st.FailingQuiet, st.PlannedOutage, st.Unresolved = false, false, false
	if !rot.VerifiedAt.IsZero() {
		// The last word on the slot's pair is the verification of this
		// one, not the rejection of the one it replaced.
		st.LastProbe = &store.ProbeRecord{At: rot.VerifiedAt, Outcome: string(healthcheck.Healthy), Status: http.StatusOK, Detail: "verification of the staged pair"}
	}
	st.Age = ""
	if k, ok := ageStep(&st, born, now, s.MaxAge, s.WarnBefore); ok {
		c.emit(r.ageEvent(k, s, rec, now))
	}
	if prevHealth == store.HealthFailing || prevHealth == store.HealthDegraded || unresolved {
		re := newEvent(event.KeyRecovered, now, s, rec.Mask, rec.Fingerprint, fmt.Sprintf("%s: KPay accepts the current pair %s (just rotated in)", s.Name, rec.Mask))
		re.Resolves = []string{"health"}
		c.emit(re)
	}
	st.UpdatedAt = now
	if err := r.commit(c); err != nil {
		return err
	}
	v.state, v.current, v.hasCurrent = st, rec, true
	r.observe.Rotation(s.Name, "written", rot.Gap)
	r.finishInbox(s, *rot)
	if rot.State == store.RotationWatching {
		r.follow.WatchRetired(s.Name)
	}
	return nil
}

// reject journals a refused rotation; nothing was written.
func (r *Rotator) reject(s config.Slot, rot store.Rotation, reason string, now time.Time) error {
	rot.State, rot.RejectedAt, rot.Reason = store.RotationRejected, now, reason
	e := newEvent(event.RotationRejected, now, s, rot.NewMask, rot.NewFingerprint, fmt.Sprintf(
		"%s: the staged pair %s was rejected and nothing was written: %s", s.Name, orDash(rot.NewMask), reason))
	e.Action = fmt.Sprintf("run kpay-rotator stage %s again and paste a pair from the KPay dashboard (the application of slot %s, %s environment)", s.Name, s.Name, s.Environment)
	e.Fields = map[string]string{"rotation": rot.ID, "reason": reason}
	e.Resolves = []string{"rotation"}
	c := &change{slot: s.Name, rotation: &rot}
	c.emit(e)
	if err := r.commit(c); err != nil {
		return err
	}
	r.observe.Rotation(s.Name, "rejected", 0)
	r.finishInbox(s, rot)
	return nil
}

// resumeWithoutPair handles a journal whose staged pair has vanished.
func (r *Rotator) resumeWithoutPair(ctx context.Context, s config.Slot, v *slotView, rot store.Rotation, now time.Time) error {
	cur, err := r.secrets.Current(ctx, s.SecretID)
	if err == nil {
		if held, perr := cur.Pair(s.APIKeyField, s.SecretKeyField); perr == nil && held.Fingerprint() == rot.NewFingerprint {
			return r.written(ctx, s, v, &rot, cur.VersionID, now, "")
		}
	} else if !errors.Is(err, secretdoc.ErrNotFound) {
		// Cannot tell whether the write landed; ask again later.
		return r.writeFailed(s, &rot, fmt.Errorf("the staged pair is gone from the inbox and the secret cannot be read to see whether it was written: %w", err), now)
	}
	return r.reject(s, rot, "the staged pair is gone from the inbox before it was written (the host rebooted, or the file was removed); stage it again", now)
}

// finishInbox publishes the outcome for `stage`, then drops the staged
// pair. In that order: a crash in between leaves the file, and the next
// pass republishes and drops it (leftover).
func (r *Rotator) finishInbox(s config.Slot, rot store.Rotation) {
	res := inbox.Result{ID: rot.ID, Slot: s.Name, Pair: rot.NewMask, At: rot.WrittenAt}
	switch rot.State {
	case store.RotationRejected:
		res.Outcome, res.Reason, res.At = inbox.Rejected, rot.Reason, rot.RejectedAt
	case store.RotationWritten, store.RotationWatching, store.RotationDone:
		res.Outcome, res.VersionID = inbox.Written, rot.VersionID
		if !rot.OutageStart.IsZero() {
			res.Gap = FormatGap(rot.Gap)
		}
	default:
		return
	}
	if err := r.inbox.WriteResult(res); err != nil {
		r.log.Warn("cannot publish the rotation's outcome for kpay-rotator stage", "slot", s.Name, "err", err)
	}
	failpoint.Hit(FailBeforeInboxDrop)
	// Only the files that belong to this rotation go.
	r.closeWindow(s, rot.ID)
	if err := r.inbox.DropIf(s.Name, rot.ID); err != nil {
		r.log.Error("cannot remove the staged pair from the inbox; remove it by hand", "slot", s.Name, "err", err)
	}
}

// closeWindow removes slot's window file if it is rotation id's.
func (r *Rotator) closeWindow(s config.Slot, id string) {
	if err := r.inbox.CloseWindowIf(s.Name, id); err != nil {
		r.log.Warn("cannot remove the rotation window file", "slot", s.Name, "err", err)
	}
}

// refuse answers stage without starting a rotation and drops the pair.
func (r *Rotator) refuse(s config.Slot, req inbox.Request, reason string, now time.Time) {
	r.log.Warn("staged pair refused; nothing journaled", "slot", s.Name, "pair", req.Pair.Mask(), "reason", reason)
	res := inbox.Result{ID: req.ID, Slot: s.Name, Outcome: inbox.Refused, Reason: reason, Pair: req.Pair.Mask(), At: now}
	if err := r.inbox.WriteResult(res); err != nil {
		r.log.Warn("cannot publish the refusal for kpay-rotator stage", "slot", s.Name, "err", err)
	}
	if err := r.inbox.DropIf(s.Name, req.ID); err != nil {
		r.log.Error("cannot remove the staged pair from the inbox; remove it by hand", "slot", s.Name, "err", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
