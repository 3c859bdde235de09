package inbox

import (
	"os"
	"path/filepath"
	"testing"
)

// A file put in place of the one read (a window renamed over it) is not
// removed on the strength of the old one's contents.
func TestRemoveSame_KeepsAFileReplacedSinceItWasRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.window")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, old, err := readSmall(path)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(dir, ".next")
	if err := os.WriteFile(next, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if err := removeSame(path, old); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
		t.Fatalf("after removeSame: %q, %v; want the new file kept", b, err)
	}
	_, cur, err := readSmall(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := removeSame(path, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the file read is still there (%v)", err)
	}
}
