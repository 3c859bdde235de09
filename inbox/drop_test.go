package inbox_test

import (
	"os"
	"testing"
	"time"

	"kpay-rotator/inbox"
)

// A rotation that finishes drops its own files and nobody else's: stage
// may have opened a new window or staged a new pair meanwhile.
func TestDropIf_OnlyTheRotationsOwnFiles(t *testing.T) {
	const slot, mine, theirs = "payments-live", "rot_mine", "rot_theirs"
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	stage := func(id string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := inbox.Write(dir, inbox.Request{ID: id, Slot: slot, Pair: pair, StagedAt: now}, -1, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	open := func(id string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := inbox.OpenWindow(dir, inbox.Window{ID: id, Slot: slot, OpenedAt: now}, -1, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw := func(path func(dir, slot string) string, content string, mode os.FileMode) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(path(dir, slot), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path(dir, slot), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		drop     func(dir, slot, id string) error
		path     func(dir, slot string) string
		wantKept bool
	}{
		{"nothing staged", func(*testing.T, string) {}, inbox.DropIf, inbox.RequestPath, false},
		{"its own pair goes", stage(mine), inbox.DropIf, inbox.RequestPath, false},
		{"a pair staged for another rotation stays", stage(theirs), inbox.DropIf, inbox.RequestPath, true},
		{"a malformed pair goes", raw(inbox.RequestPath, "SECRETVALUE garbage", 0o600), inbox.DropIf, inbox.RequestPath, false},
		{"a pair with loose permissions goes", raw(inbox.RequestPath, `{"id":"rot_theirs","slot":"payments-live","api_key":"a","secret_key":"b"}`, 0o644), inbox.DropIf, inbox.RequestPath, false},
		{"no window", func(*testing.T, string) {}, inbox.CloseWindowIf, inbox.WindowPath, false},
		{"its own window goes", open(mine), inbox.CloseWindowIf, inbox.WindowPath, false},
		{"a window another stage opened stays", open(theirs), inbox.CloseWindowIf, inbox.WindowPath, true},
		{"an unreadable window stays for the pass that reads it", raw(inbox.WindowPath, "{not json", 0o600), inbox.CloseWindowIf, inbox.WindowPath, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			if err := tt.drop(dir, slot, mine); err != nil {
				t.Fatalf("drop: %v", err)
			}
			_, err := os.Lstat(tt.path(dir, slot))
			if kept := err == nil; kept != tt.wantKept {
				t.Errorf("file kept = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

// Dropping the pair leaves the window, and closing the window leaves the
// pair: a cancelled window may be followed by its pair.
func TestDropIf_EachFileOnItsOwn(t *testing.T) {
	dir := t.TempDir()
	const slot, id = "s", "rot_1"
	if err := inbox.OpenWindow(dir, inbox.Window{ID: id, Slot: slot}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Write(dir, inbox.Request{ID: id, Slot: slot, Pair: pair}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if err := inbox.CloseWindowIf(dir, slot, id); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.Read(dir, slot); err != nil {
		t.Errorf("closing the window: pair read = %v, want it still staged", err)
	}
	if err := inbox.OpenWindow(dir, inbox.Window{ID: id, Slot: slot}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if err := inbox.DropIf(dir, slot, id); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.ReadWindow(dir, slot); err != nil {
		t.Errorf("dropping the pair: window read = %v, want it still open", err)
	}
}
