package inbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"kpay-rotator/inbox"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		want    error // nil: ready, with mode 0700
		mention string
	}{
		{name: "missing, with its parent, is created", setup: func(*testing.T, string) {}},
		{name: "private is kept", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }},
		{name: "open to others is refused", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o755) },
			want: inbox.ErrLooseDir, mention: "chmod 700"},
		{name: "open to its group is refused", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o710) },
			want: inbox.ErrLooseDir, mention: "0710"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run", "inbox")
			tt.setup(t, dir)
			err := inbox.Prepare(dir)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) {
					t.Fatalf("Prepare = %v, want %v mentioning %q", err, tt.want, tt.mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare = %v, want nil", err)
			}
			fi, err := os.Stat(dir)
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Errorf("inbox %v (err %v), want a directory with mode 0700", fi.Mode(), err)
			}
		})
	}
	t.Run("a file in its place is refused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "inbox")
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := inbox.Prepare(dir); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("Prepare = %v, want an error saying it is not a directory", err)
		}
	})
}

// Root staging before the daemon's first start hands the new inbox to
// the owner of its parent (the daemon's user), not to root.
func TestPrepare_ByRootOwnedLikeItsParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand a directory to another user")
	}
	parent := filepath.Join(t.TempDir(), "run")
	mkdir(t, parent, 0o700)
	const uid, gid = 4321, 4322
	if err := os.Chown(parent, uid, gid); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "inbox")
	if err := inbox.Prepare(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
		t.Errorf("inbox owned by %d:%d, want its parent's %d:%d", st.Uid, st.Gid, uid, gid)
	}
}

// Files root writes into a daemon user's inbox go to that user, so the
// daemon can take and remove them; anyone else writes as themselves.
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand a directory to another user")
	}
	own := filepath.Join(t.TempDir(), "own")
	mkdir(t, own, 0o700)
	if uid, gid, err := inbox.Owner(own); err != nil || uid != -1 || gid != -1 {
		t.Errorf("Owner(root's inbox) = %d, %d, %v; want -1, -1 (the writer)", uid, gid, err)
	}
	daemons := filepath.Join(t.TempDir(), "daemons")
	mkdir(t, daemons, 0o700)
	if err := os.Chown(daemons, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if uid, gid, err := inbox.Owner(daemons); err != nil || uid != 4321 || gid != 4322 {
		t.Errorf("Owner(daemon user's inbox) = %d, %d, %v; want 4321, 4322", uid, gid, err)
	}
	if _, _, err := inbox.Owner(filepath.Join(own, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Owner(missing dir) = %v, want an error naming it", err)
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
