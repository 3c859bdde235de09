package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"kpay-rotator/awssecrets"
	"kpay-rotator/config"
	"kpay-rotator/daemon"
	"kpay-rotator/inbox"
	"kpay-rotator/secretdoc"
)

// fieldList is a repeatable --field flag.
type fieldList []string

func (f *fieldList) String() string { return strings.Join(*f, ",") }
func (f *fieldList) Set(v string) error {
	if v == "" {
		return errors.New("empty field name")
	}
	*f = append(*f, v)
	return nil
}

func cmdRepair(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "repair", "SLOT [flags]", `
Put back fields of SLOT's secret that a change made outside kpay-rotator
dropped (the secret_fields_lost alert): a pair pasted alone in the console
leaves services without DATABASE_URL and the like.

repair reads the secret's current version and an earlier one (--from, else
AWSPREVIOUS), and writes a new version holding the current value plus the
fields the earlier one had and the current one lacks, copied byte for
byte. The pair is never touched. Only field names are printed, never
values. It refuses while a rotation of SLOT is in progress, and when the
earlier version lacks a field asked for.

If the fields were removed on purpose, --accept says so instead: the
daemon then ends the alert for the version the secret holds now, and
nothing is written to the secret.

Run it on the daemon's host with the daemon's AWS identity (it needs
secretsmanager:GetSecretValue and PutSecretValue on the secret). The daemon
clears the alert at its next look at the secret (drift_schedule, hourly by
default; kpay-rotator rotate SLOT: now).`)
	from := fs.String("from", "", "`VERSION` id to copy the fields from (the alert names it); default the AWSPREVIOUS version")
	var only fieldList
	fs.Var(&only, "field", "copy only this `FIELD` (repeatable); default every field the earlier version has and the current one lacks")
	dryRun := fs.Bool("dry-run", false, "say what would be copied and write nothing")
	accept := fs.Bool("accept", false, "the fields were removed on purpose: end the alert for the current version, write nothing to the secret")
	cfg, slot, err := loadSlot(fs, args, c)
	if err != nil {
		return err
	}
	for _, f := range only {
		if f == slot.APIKeyField || f == slot.SecretKeyField {
			return usageError{cmd: "repair", msg: fmt.Sprintf("repair: --field %s is half of the pair; repair never writes a pair (hand a new one over with kpay-rotator stage %s)", f, slot.Name)}
		}
	}
	if *accept && (*from != "" || len(only) > 0 || *dryRun) {
		return usageError{cmd: "repair", msg: "repair: --accept cannot be combined with --from, --field or --dry-run"}
	}
	if err := rotationInFlight(cfg, slot); err != nil {
		return err
	}
	sm, err := awssecrets.New(ctx, awssecrets.Options{Region: cfg.AWS.Region, Endpoint: cfg.AWS.Endpoint})
	if err != nil {
		return err
	}

	cur, err := sm.Current(ctx, slot.SecretID)
	if err != nil {
		return fmt.Errorf("repair %s: read the current version: %w", slot.Name, err)
	}
	if *accept {
		return acceptLoss(e, cfg, slot, cur.VersionID)
	}
	pair, err := cur.Pair(slot.APIKeyField, slot.SecretKeyField)
	if err != nil {
		return fmt.Errorf("repair %s: the current version holds no usable pair, and repair never writes one (hand a pair over with kpay-rotator stage %s): %w", slot.Name, slot.Name, err)
	}
	var src secretdoc.Version
	if *from != "" {
		src, err = sm.Version(ctx, slot.SecretID, *from)
	} else {
		src, err = sm.Previous(ctx, slot.SecretID)
		if errors.Is(err, secretdoc.ErrNotFound) {
			err = fmt.Errorf("secret %s has no AWSPREVIOUS version; pass --from VERSION (aws secretsmanager list-secret-version-ids --secret-id %s lists them)", slot.SecretID, slot.SecretID)
		}
	}
	if err != nil {
		return fmt.Errorf("repair %s: read the version to copy from: %w", slot.Name, err)
	}
	if src.VersionID == cur.VersionID {
		return usageError{cmd: "repair", msg: fmt.Sprintf("repair: --from %s is the current version of %s; name the earlier version that had the fields", src.VersionID, slot.SecretID)}
	}
	curNames, err := cur.FieldNames()
	if err != nil {
		return err
	}
	srcNames, err := src.FieldNames()
	if err != nil {
		return fmt.Errorf("repair %s: version %s: %w", slot.Name, src.VersionID, err)
	}

	copyNames, lacking := secretdoc.FieldsToCopy(srcNames, curNames, only, []string{slot.APIKeyField, slot.SecretKeyField})
	if len(lacking) > 0 {
		return fmt.Errorf("repair %s: version %s lacks %s, so there is nothing to copy them from; pass --from the version that had them (the secret_fields_lost alert and kpay-rotator status name it); nothing was written",
			slot.Name, src.VersionID, strings.Join(lacking, ", "))
	}
	if len(copyNames) == 0 {
		fmt.Fprintf(e.stdout, "nothing to repair: version %s of %s already has every field version %s had; nothing was written\n", cur.VersionID, slot.SecretID, src.VersionID)
		return nil
	}
	value, err := cur.WithFields(src, copyNames)
	if err != nil {
		return err
	}
	list := strings.Join(copyNames, ", ")
	if *dryRun {
		fmt.Fprintf(e.stdout, "dry run: would copy %s from version %s into a new version of %s (based on the current version %s, pair %s kept); nothing was written\n",
			list, src.VersionID, slot.SecretID, cur.VersionID, pair.Mask())
		return nil
	}
	// The same repair repeated (after a lost answer) names the same
	// version, so it can never write twice.
	token := secretdoc.Token(strings.Join(append([]string{"kpay-rotator/repair/v1", slot.SecretID, cur.VersionID, src.VersionID}, copyNames...), "\x00"))
	versionID, err := sm.Put(ctx, slot.SecretID, value, token)
	if err != nil {
		return fmt.Errorf("repair %s: write the new version: %w; nothing changed, run repair again", slot.Name, err)
	}
	back, err := sm.Current(ctx, slot.SecretID)
	if err != nil {
		return fmt.Errorf("repair %s: wrote version %s, but cannot read it back: %w; check it with kpay-rotator status", slot.Name, versionID, err)
	}
	if back.VersionID != versionID {
		return fmt.Errorf("repair %s: wrote version %s, but the secret's current version is now %s: someone else wrote it meanwhile; check what it holds (kpay-rotator status), then run repair again if fields are still missing",
			slot.Name, versionID, back.VersionID)
	}
	if held, err := back.Pair(slot.APIKeyField, slot.SecretKeyField); err != nil || held.Fingerprint() != pair.Fingerprint() {
		return fmt.Errorf("repair %s: version %s does not hold the pair %s it was based on; check the secret now (kpay-rotator status)", slot.Name, versionID, pair.Mask())
	}
	fmt.Fprintf(e.stdout, "repaired: %s version %s holds %s again (copied from version %s); the pair %s is unchanged\n", slot.SecretID, versionID, list, src.VersionID, pair.Mask())
	fmt.Fprintf(e.stdout, "the daemon clears secret_fields_lost at its next look at the secret of %s (drift_schedule; now: kpay-rotator rotate %s)\n", slot.Name, slot.Name)
	return nil
}

// acceptLoss records, for the daemon, that the fields reported lost from
// slot's secret were removed on purpose as of versionID.
func acceptLoss(e *env, cfg *config.Config, slot config.Slot, versionID string) error {
	dir := cfg.Daemon.InboxDir
	if err := prepareStageInbox(dir); err != nil {
		return err
	}
	uid, gid, err := inbox.Owner(dir)
	if err != nil {
		return err
	}
	err = inbox.WriteAcceptance(dir, inbox.Acceptance{Slot: slot.Name, VersionID: versionID, By: whoami(), At: time.Now().UTC()}, uid, gid)
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("cannot write to inbox %s: permission denied; run as root or as the daemon's user (sudo -u kpay-rotator kpay-rotator repair %s --accept)", dir, slot.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "accepted: the fields missing from %s version %s stay removed; the daemon ends secret_fields_lost at its next look at the secret of %s (drift_schedule; now: kpay-rotator rotate %s); nothing was written to the secret\n",
		slot.SecretID, versionID, slot.Name, slot.Name)
	return nil
}

// rotationInFlight refuses a repair while the daemon may be writing the
// slot's secret: its write would race ours.
func rotationInFlight(cfg *config.Config, slot config.Slot) error {
	dir := cfg.Daemon.InboxDir
	if _, err := inbox.Read(dir, slot.Name); err == nil {
		return fmt.Errorf("repair %s: a pair is staged for %s and not yet written; wait for it (kpay-rotator status), then repair; nothing was written", slot.Name, slot.Name)
	}
	if _, err := inbox.ReadWindow(dir, slot.Name); err == nil {
		return fmt.Errorf("repair %s: a rotation of %s is open (stage is waiting for the new pair); finish or cancel it first (kpay-rotator stage --cancel %s); nothing was written", slot.Name, slot.Name, slot.Name)
	}
	doc, err := daemon.ReadStatus(cfg, time.Now())
	if err != nil {
		return nil // the inbox said enough
	}
	if r := slotOf(doc, slot.Name).Rotation; r != nil && (r.State == "open" || r.State == "staged" || r.State == "verified") {
		return fmt.Errorf("repair %s: rotation %s of %s is in progress (%s); wait until it is written (kpay-rotator status), then repair; nothing was written", slot.Name, r.ID, slot.Name, r.State)
	}
	return nil
}
