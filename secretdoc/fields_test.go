package secretdoc_test

import (
	"slices"
	"testing"

	"kpay-rotator/secretdoc"
)

func TestTrackFields(t *testing.T) {
	abc := []string{"A", "B", "C"}
	tests := []struct {
		name      string
		prev      secretdoc.FieldMemory
		version   string
		names     []string
		want      secretdoc.FieldMemory
		wantFresh []string
	}{
		{name: "first read remembers the names",
			version: "v1", names: abc,
			want: secretdoc.FieldMemory{VersionID: "v1", Names: abc}},
		{name: "a new version with the same fields loses nothing",
			prev:    secretdoc.FieldMemory{VersionID: "v1", Names: abc},
			version: "v2", names: abc,
			want: secretdoc.FieldMemory{VersionID: "v2", Names: abc}},
		{name: "added fields lose nothing",
			prev:    secretdoc.FieldMemory{VersionID: "v1", Names: []string{"A"}},
			version: "v2", names: abc,
			want: secretdoc.FieldMemory{VersionID: "v2", Names: abc}},
		{name: "a new version without two fields loses them, from the one before",
			prev:    secretdoc.FieldMemory{VersionID: "v1", Names: abc},
			version: "v2", names: []string{"B"},
			want:      secretdoc.FieldMemory{VersionID: "v2", Names: []string{"B"}, Lost: []string{"A", "C"}, LostFrom: "v1"},
			wantFresh: []string{"A", "C"}},
		{name: "the same version read again drops nothing",
			prev:    secretdoc.FieldMemory{VersionID: "v1", Names: abc},
			version: "v1", names: []string{"A"},
			want: secretdoc.FieldMemory{VersionID: "v1", Names: []string{"A"}}},
		{name: "still lost is not fresh and keeps its version",
			prev:    secretdoc.FieldMemory{VersionID: "v2", Names: []string{"B"}, Lost: []string{"A", "C"}, LostFrom: "v1"},
			version: "v3", names: []string{"B"},
			want: secretdoc.FieldMemory{VersionID: "v3", Names: []string{"B"}, Lost: []string{"A", "C"}, LostFrom: "v1"}},
		{name: "a field back leaves the lost list",
			prev:    secretdoc.FieldMemory{VersionID: "v2", Names: []string{"B"}, Lost: []string{"A", "C"}, LostFrom: "v1"},
			version: "v3", names: []string{"A", "B"},
			want: secretdoc.FieldMemory{VersionID: "v3", Names: []string{"A", "B"}, Lost: []string{"C"}, LostFrom: "v1"}},
		{name: "all back ends the loss",
			prev:    secretdoc.FieldMemory{VersionID: "v2", Names: []string{"B"}, Lost: []string{"A", "C"}, LostFrom: "v1"},
			version: "v3", names: abc,
			want: secretdoc.FieldMemory{VersionID: "v3", Names: abc}},
		{name: "a further loss joins the earlier one under its version",
			prev:    secretdoc.FieldMemory{VersionID: "v2", Names: []string{"B", "D"}, Lost: []string{"A"}, LostFrom: "v1"},
			version: "v3", names: []string{"B"},
			want:      secretdoc.FieldMemory{VersionID: "v3", Names: []string{"B"}, Lost: []string{"A", "D"}, LostFrom: "v1"},
			wantFresh: []string{"D"}},
		{name: "a loss as the lost fields come back is dated anew",
			prev:    secretdoc.FieldMemory{VersionID: "v2", Names: []string{"A", "B"}, Lost: []string{"C"}, LostFrom: "v1"},
			version: "v3", names: []string{"B", "C"},
			want:      secretdoc.FieldMemory{VersionID: "v3", Names: []string{"B", "C"}, Lost: []string{"A"}, LostFrom: "v2"},
			wantFresh: []string{"A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fresh := secretdoc.TrackFields(tt.prev, tt.version, tt.names)
			if got.VersionID != tt.want.VersionID || !slices.Equal(got.Names, tt.want.Names) ||
				!slices.Equal(got.Lost, tt.want.Lost) || got.LostFrom != tt.want.LostFrom {
				t.Errorf("memory = %+v, want %+v", got, tt.want)
			}
			if !slices.Equal(fresh, tt.wantFresh) {
				t.Errorf("fresh = %v, want %v", fresh, tt.wantFresh)
			}
		})
	}
}

func TestFieldsToCopy(t *testing.T) {
	pair := []string{"PUBLIC", "SECRET"}
	tests := []struct {
		name           string
		src, cur, only []string
		wantCopy       []string
		wantLacking    []string
	}{
		{name: "every field the current version lacks, never the pair",
			src: []string{"PUBLIC", "SECRET", "DB", "REDIS"}, cur: []string{"PUBLIC"},
			wantCopy: []string{"DB", "REDIS"}},
		{name: "nothing lacking, nothing to copy",
			src: []string{"PUBLIC", "SECRET", "DB"}, cur: []string{"DB", "PUBLIC", "SECRET", "EXTRA"}},
		{name: "only the named fields, once each",
			src: []string{"PUBLIC", "SECRET", "DB", "REDIS"}, cur: []string{"PUBLIC", "SECRET"}, only: []string{"REDIS", "REDIS"},
			wantCopy: []string{"REDIS"}},
		{name: "a named field the current version has is not copied",
			src: []string{"DB"}, cur: []string{"DB"}, only: []string{"DB"}},
		{name: "a named field the source lacks is reported",
			src: []string{"DB"}, cur: nil, only: []string{"DB", "GONE"},
			wantCopy: []string{"DB"}, wantLacking: []string{"GONE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotCopy, gotLacking := secretdoc.FieldsToCopy(tt.src, tt.cur, tt.only, pair)
			if !slices.Equal(gotCopy, tt.wantCopy) || !slices.Equal(gotLacking, tt.wantLacking) {
				t.Errorf("FieldsToCopy = copy %v lacking %v, want copy %v lacking %v", gotCopy, gotLacking, tt.wantCopy, tt.wantLacking)
			}
		})
	}
}
