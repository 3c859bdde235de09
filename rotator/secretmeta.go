package rotator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/inbox"
	"kpay-rotator/secretdoc"
	"kpay-rotator/store"
)

// checkFields compares the field names of the version just read with those
// of the version read before it. A change made outside kpay-rotator that
// drops fields (a console paste of the pair alone) leaves services
// without them: that is said, by name, until a version holds them again.
// Values are never kept: only names. What was lost is secretdoc's to
// tell (TrackFields); the events and the state are the rotator's.
func (r *Rotator) checkFields(c *change, s config.Slot, v secretdoc.Version, now time.Time) {
	st := c.state
	if st.FieldsLost != "" && r.acceptedLoss(c, s, v, now) {
		return
	}
	if v.VersionID == st.VersionID && st.FieldNames != "" {
		return
	}
	names, err := v.FieldNames()
	if err != nil {
		return // Pair has just parsed the same value
	}
	mem, fresh := secretdoc.TrackFields(secretdoc.FieldMemory{
		VersionID: st.VersionID,
		Names:     store.ParseNames(st.FieldNames),
		Lost:      store.ParseNames(st.FieldsLost),
		LostFrom:  st.FieldsLostFrom,
	}, v.VersionID, names)
	lost, from := mem.Lost, mem.LostFrom

	switch {
	case len(fresh) > 0:
		e := newEvent(event.SecretFieldsLost, now, s, "", "", fmt.Sprintf(
			"%s: secret %s changed outside kpay-rotator, and its version %s lacks %s that version %s had: services reading %s get nothing",
			s.Name, s.SecretID, v.VersionID, fieldList(lost), from, them(lost)))
		e.Condition = "fields"
		e.Action = fmt.Sprintf("copy them back from version %s, the pair untouched: kpay-rotator repair %s --from %s (add --dry-run to see what it copies first)", from, s.Name, from)
		e.Fields = map[string]string{"fields": strings.Join(lost, ","), "version_id": v.VersionID, "previous_version": from}
		c.emit(e)
	case st.FieldsLost != "" && len(lost) == 0:
		e := newEvent(event.SecretFieldsRestored, now, s, "", "", fmt.Sprintf(
			"%s: secret %s holds %s again (version %s)", s.Name, s.SecretID, fieldList(store.ParseNames(st.FieldsLost)), v.VersionID))
		e.Resolves = []string{"fields"}
		c.emit(e)
	}
	st.FieldNames = store.Names(mem.Names)
	st.FieldsLost, st.FieldsLostFrom = store.Names(lost), from
	st.VersionID = mem.VersionID
}

// acceptedLoss ends a loss an admin confirmed as meant (repair --accept)
// for the version the secret holds now. Looked for only while fields are
// reported lost: one stat of the inbox per pass of such a slot.
func (r *Rotator) acceptedLoss(c *change, s config.Slot, v secretdoc.Version, now time.Time) bool {
	a, err := r.inbox.ReadAcceptance(s.Name)
	switch {
	case errors.Is(err, inbox.ErrNoAcceptance):
		return false
	case err != nil:
		r.log.Warn("ignoring an unusable acceptance of lost fields", "slot", s.Name, "err", err)
		_ = r.inbox.RemoveAcceptance(s.Name)
		return false
	case a.VersionID != v.VersionID:
		// Said for a version since replaced: the fields are judged anew.
		r.log.Warn("ignoring an acceptance of lost fields given for an older version", "slot", s.Name, "accepted_version", a.VersionID, "current_version", v.VersionID)
		_ = r.inbox.RemoveAcceptance(s.Name)
		return false
	}
	st := c.state
	lost := store.ParseNames(st.FieldsLost)
	by := ""
	if a.By != "" {
		by = " by " + a.By
	}
	e := newEvent(event.SecretFieldsAccepted, now, s, "", "", fmt.Sprintf(
		"%s: %s stay removed from secret %s, as confirmed%s (kpay-rotator repair --accept, version %s)", s.Name, fieldList(lost), s.SecretID, by, v.VersionID))
	e.Resolves = []string{"fields"}
	c.emit(e)
	st.FieldsLost, st.FieldsLostFrom = "", ""
	if names, err := v.FieldNames(); err == nil {
		st.FieldNames = store.Names(names)
	}
	st.VersionID = v.VersionID
	_ = r.inbox.RemoveAcceptance(s.Name)
	return true
}

func fieldList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return "field " + q[0]
	}
	return "fields " + strings.Join(q, ", ")
}

func them(names []string) string {
	if len(names) == 1 {
		return "it"
	}
	return "them"
}

// checkRotation takes what a look at the secret's metadata found
// (DescribeSecret, on every look): a secret that Secrets Manager also
// rotates with a Lambda would have its pair overwritten back and forth,
// so that is said, and stage refuses the slot unless it opts in
// (allow_secrets_manager_rotation). A policy that denies DescribeSecret
// is said once per configuration.
func (r *Rotator) checkRotation(c *change, s config.Slot, d secretdoc.Description, derr error, now time.Time) {
	if derr != nil {
		if errors.Is(derr, secretdoc.ErrAccessDenied) {
			if _, said := r.describeDenied.LoadOrStore(s.Name, true); !said {
				r.log.Warn("cannot tell whether Secrets Manager also rotates this secret", "slot", s.Name, "err", derr)
			}
		}
		return
	}
	r.applyDescription(c, s, d, now)
}

// applyDescription says when Secrets Manager's own rotation was turned on
// or off for the slot's secret.
func (r *Rotator) applyDescription(c *change, s config.Slot, d secretdoc.Description, now time.Time) {
	st := c.state
	switch lambda := d.RotationLambdaARN; {
	case d.RotationEnabled && st.SMRotation == "":
		if lambda == "" {
			lambda = "of unknown name"
		}
		msg := fmt.Sprintf("%s: secret %s also has Secrets Manager rotation enabled (Lambda %s): it would replace the pair kpay-rotator writes, and kpay-rotator would take its versions for changes made by hand", s.Name, s.SecretID, lambda)
		if s.AllowSecretsManagerRotation {
			msg += "; the slot allows it (allow_secrets_manager_rotation = true)"
		} else {
			msg += "; kpay-rotator stage refuses this slot until it is off"
		}
		e := newEvent(event.SecretsManagerRotationOn, now, s, "", "", msg)
		e.Condition = "sm_rotation"
		e.Action = fmt.Sprintf("turn it off: aws secretsmanager cancel-rotate-secret --secret-id %s; or, if the Lambda never touches %s and %s, set allow_secrets_manager_rotation = true for slot %s", s.SecretID, s.APIKeyField, s.SecretKeyField, s.Name)
		e.Fields = map[string]string{"lambda": d.RotationLambdaARN}
		c.emit(e)
		st.SMRotation = lambda
	case !d.RotationEnabled && st.SMRotation != "":
		e := newEvent(event.SecretsManagerRotationOff, now, s, "", "", fmt.Sprintf("%s: Secrets Manager rotation is off for secret %s", s.Name, s.SecretID))
		e.Resolves = []string{"sm_rotation"}
		c.emit(e)
		st.SMRotation = ""
	}
}
