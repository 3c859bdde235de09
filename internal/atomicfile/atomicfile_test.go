package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"kpay-rotator/internal/atomicfile"
)

func TestWrite_ReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "new" {
		t.Errorf("content = %q, want new", b)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
}

func TestWrite_MissingDirectoryFails(t *testing.T) {
	if err := atomicfile.Write(filepath.Join(t.TempDir(), "nope", "f"), nil, 0o600); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}

func TestCreateExclusive_OneWinnerNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := atomicfile.CreateExclusive(path, []byte("first"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.CreateExclusive(path, []byte("second"), 0o600, -1, -1)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("content = %q, want first", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left, want 1", len(entries))
	}
}

func TestVolatile_SameAtomicityWithoutTheSyncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := atomicfile.CreateExclusiveVolatile(path, []byte("one"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.CreateExclusiveVolatile(path, []byte("two"), 0o600, -1, -1); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second exclusive create: got %v, want an error matching fs.ErrExist", err)
	}
	if err := atomicfile.WriteVolatile(path, []byte("three"), 0o640, -1, -1); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "three" || fi.Mode().Perm() != 0o640 {
		t.Errorf("got %q mode %o, want three mode 640", b, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
}
