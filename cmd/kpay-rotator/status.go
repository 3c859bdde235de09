package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kpay-rotator/daemon"
	"kpay-rotator/notifier"
	"kpay-rotator/rotator"
	"kpay-rotator/store"
)

func cmdStatus(_ context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "status", "[--config FILE] [--json]", `
Show every configured slot: environment, masked pair, age, health and age
state, last and next probe, and retired pairs still watched. Works whether
or not the daemon runs (while it runs, it holds the database, and its
HTTP endpoint answers instead).`)
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	now := time.Now()
	doc, err := daemon.ReadStatus(cfg, now)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	renderStatus(e.stdout, doc, now)
	return nil
}

func renderStatus(w io.Writer, doc rotator.Status, now time.Time) {
	switch doc.Source {
	case "daemon":
		fmt.Fprintf(w, "daemon running (pid %d), status as of %s\n", doc.PID, ago(doc.GeneratedAt, now))
		// With bbolt the one daemon always leads, unelected (no leader
		// named): only several daemons (etcd) make the role worth a line.
		if doc.Role == "follower" || doc.Leader != "" {
			fmt.Fprintf(w, "role: %s; leader: %s\n", doc.Role, cmp.Or(doc.Leader, "none elected yet"))
		}
		if doc.ReloadError != "" {
			fmt.Fprintf(w, "the last reload was refused, the previous configuration runs: %s\n", doc.ReloadError)
		}
		if doc.StateError != "" {
			fmt.Fprintf(w, "%s\n", doc.StateError)
		}
		fmt.Fprintln(w)
	case "database":
		fmt.Fprintf(w, "daemon not running; last recorded state\n\n")
	default:
		fmt.Fprintf(w, "the daemon has not run yet with this state_dir; nothing recorded\n\n")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tENV\tPAIR\tAGE\tSTATE\tLAST PROBE\tNEXT PROBE")
	var notes []string
	for _, s := range doc.Slots {
		pair, age := "-", "-"
		if s.Pair != "" {
			pair = s.Pair
			age = s.Age
			if s.BornSource == string(store.BornFirstSeen) {
				age += "+" // at least: first seen by the daemon, not created
			}
		}
		state := s.Health
		if s.FailingSince != nil && s.Health == "failing" {
			state += " " + shortDuration(now.Sub(*s.FailingSince))
		}
		if s.AgeState != "" {
			state += ", " + s.AgeState
		}
		if s.SourceState != "" {
			state = "secret " + s.SourceState + " (last pair " + state + ")"
		}
		last := "-"
		if p := s.LastProbe; p != nil {
			last = fmt.Sprintf("%s %s", ago(p.At, now), p.Outcome)
			if p.Status != 0 {
				last += fmt.Sprintf(" (%d)", p.Status)
			}
		}
		next := "-"
		if s.NextProbe != nil {
			next = until(*s.NextProbe, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Environment, pair, age, state, last, next)
		for _, r := range s.Retired {
			when := ""
			if r.RevokedAt != nil {
				when = "revoked " + ago(*r.RevokedAt, now)
			} else if r.UnwatchedAt != nil {
				when = "given up " + ago(*r.UnwatchedAt, now) + ", not probed since; may still work"
			} else if r.RetiredAt != nil {
				when = "retired " + ago(*r.RetiredAt, now) + ", still accepted; watching"
			}
			fmt.Fprintf(tw, "  └ previous\t\t%s\t\t%s\t%s\t\n", r.Pair, r.Role, when)
		}
		if r := s.Rotation; r != nil {
			fmt.Fprintf(tw, "  └ rotation\t\t%s\t\t%s\t%s\t\n", orDash(r.NewPair), r.State, rotationNote(r, now))
			if r.State == "open" {
				note := fmt.Sprintf("%s: rotation in progress, waiting for the new pair (opened %s", s.Name, ago(*r.OpenedAt, now))
				if r.OpenedBy != "" {
					note += " by " + r.OpenedBy
				}
				note += ")"
				if s.FailingSince != nil {
					note += fmt.Sprintf("; KPay rejects the current pair: payments failing for %s", shortDuration(now.Sub(*s.FailingSince)))
				}
				notes = append(notes, note)
			}
			if r.LastError != "" && (r.State == "staged" || r.State == "verified") {
				notes = append(notes, fmt.Sprintf("%s: rotation %s not written yet (%s): %s", s.Name, r.ID, notifier.Count(r.Attempts, "attempt", "attempts"), r.LastError))
			}
			if r.State == "rejected" {
				notes = append(notes, fmt.Sprintf("%s: rotation %s rejected: %s", s.Name, r.ID, r.Reason))
			}
		}
		if s.SourceError != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", s.Name, s.SourceError))
		}
		if len(s.FieldsLost) > 0 {
			notes = append(notes, fmt.Sprintf("%s: secret %s lost %s (version %s had them, changed outside kpay-rotator); restore: kpay-rotator repair %s --from %s",
				s.Name, s.SecretID, strings.Join(s.FieldsLost, ", "), s.FieldsLostFrom, s.Name, s.FieldsLostFrom))
		}
		if s.SecretsManagerRotation != "" {
			notes = append(notes, fmt.Sprintf("%s: Secrets Manager also rotates %s (Lambda %s); it would overwrite the pair kpay-rotator writes",
				s.Name, s.SecretID, s.SecretsManagerRotation))
		}
		if p := s.LastProbe; p != nil && p.Detail != "" && p.Outcome != "healthy" {
			notes = append(notes, fmt.Sprintf("%s: last probe: %s", s.Name, p.Detail))
		}
		if s.FailingSince != nil && s.Health == "failing" && (s.Rotation == nil || s.Rotation.State != "open") {
			notes = append(notes, fmt.Sprintf("%s: payments using %s failing for %s (since %s)", s.Name, s.SecretID, shortDuration(now.Sub(*s.FailingSince)), s.FailingSince.UTC().Format(time.DateTime+" UTC")))
		}
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

func until(t, now time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "due now"
	}
	return "in " + shortDuration(d)
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// slotOf returns slot name's status line (zero if absent).
func slotOf(doc rotator.Status, name string) rotator.SlotStatus {
	for _, s := range doc.Slots {
		if s.Name == name {
			return s
		}
	}
	return rotator.SlotStatus{}
}

func rotationNote(r *rotator.RotationStatus, now time.Time) string {
	var note string
	switch r.State {
	case "open":
		note = "waiting for the new pair since " + ago(*r.OpenedAt, now)
	case "cancelled":
		note = "cancelled: " + r.Reason
	case "staged", "verified":
		note = "in flight since " + ago(*r.StagedAt, now)
	case "rejected":
		when := r.OpenedAt
		if r.RejectedAt != nil {
			when = r.RejectedAt
		}
		note = "rejected " + ago(*when, now)
	case "watching":
		note = "written " + ago(*r.WrittenAt, now) + "; old pair still accepted"
	case "done":
		note = "written " + ago(*r.WrittenAt, now) + "; old pair revoked"
	}
	if r.CutoverGap != "" {
		note += ", cutover gap " + r.CutoverGap
	}
	return note
}
