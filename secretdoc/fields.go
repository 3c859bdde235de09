package secretdoc

import "slices"

// FieldMemory is what is kept of a secret's field names between reads:
// names only, never values, so that a version which dropped fields (a
// console paste of the pair alone) is told apart from the one before it.
type FieldMemory struct {
	// VersionID is the version last read.
	VersionID string
	// Names are that version's field names; empty when none was read yet.
	Names []string
	// Lost are the names some version dropped and none has held since,
	// sorted.
	Lost []string
	// LostFrom is the last version known to hold Lost; empty when
	// nothing is lost.
	LostFrom string
}

// TrackFields folds the field names of version versionID, just read, into
// what was kept from the versions before it. fresh lists the names this
// version is the first to lack; a name still lost from earlier is not
// fresh, and a name that is back leaves Lost. A version read again drops
// nothing: only a change of version can lose a field.
func TrackFields(prev FieldMemory, versionID string, names []string) (next FieldMemory, fresh []string) {
	var dropped []string
	if len(prev.Names) > 0 && versionID != prev.VersionID {
		dropped = missingFrom(prev.Names, names)
	}
	lost := missingFrom(prev.Lost, names) // some may be back
	from := prev.LostFrom
	if len(lost) == 0 {
		from = ""
	}
	for _, f := range dropped {
		if !slices.Contains(lost, f) {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) > 0 && from == "" {
		// The version read before this one is the last to hold them.
		from = prev.VersionID
	}
	lost = append(lost, fresh...)
	slices.Sort(lost)
	return FieldMemory{VersionID: versionID, Names: names, Lost: lost, LostFrom: from}, fresh
}

// missingFrom lists the names in want that have lacks.
func missingFrom(want, have []string) []string {
	var out []string
	for _, n := range want {
		if !slices.Contains(have, n) {
			out = append(out, n)
		}
	}
	return out
}

// FieldsToCopy is what a repair copies from a source version's fields
// (src) into the current version's (cur): the names in only when given
// (lacking lists those src does not have), else every name src has that
// cur lacks. Names in skip (the pair's two fields) are never copied: a
// repair never writes a pair.
func FieldsToCopy(src, cur, only, skip []string) (copyNames, lacking []string) {
	want := only
	if len(want) == 0 {
		want = src
	}
	for _, f := range want {
		switch {
		case len(only) > 0 && !slices.Contains(src, f):
			lacking = append(lacking, f)
		case slices.Contains(cur, f), slices.Contains(skip, f), slices.Contains(copyNames, f):
		default:
			copyNames = append(copyNames, f)
		}
	}
	return copyNames, lacking
}
