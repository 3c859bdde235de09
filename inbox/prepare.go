package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLooseDir: the inbox directory is open to group or others, who could
// read staged pairs or put their own.
var ErrLooseDir = errors.New("inbox directory is open to group or others")

// Prepare makes dir ready to hold staged pairs; the daemon calls it at
// every start and reload, stage and repair before they write. A missing
// directory is created with mode 0700, with any missing parents; made by
// root, it is handed to the owner of its parent, so that root staging
// before the daemon's first start leaves an inbox the daemon's user can
// use. A directory that group or others may open is refused
// (ErrLooseDir): staged pairs are secrets.
func Prepare(dir string) error {
	_, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent, perr := os.Stat(filepath.Dir(dir))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create inbox %s: %w", dir, err)
		}
		if st, ok := statOwner(parent, perr); ok && os.Geteuid() == 0 {
			// Best effort: a failure shows as the daemon's
			// own "permission denied" on the inbox, which names it.
			_ = os.Chown(dir, int(st.Uid), int(st.Gid))
		}
	case err != nil:
		return fmt.Errorf("inbox %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("inbox %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("inbox %s is not a directory; remove it or set inbox_dir", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: inbox %s has mode %04o, so others could read staged pairs; run: chmod 700 %s", ErrLooseDir, dir, fi.Mode().Perm(), dir)
	}
	return nil
}

func statOwner(fi fs.FileInfo, err error) (*syscall.Stat_t, bool) {
	if err != nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// Owner is whom a file written into dir must belong to, as the uid and
// gid to pass to Write, OpenWindow and WriteAcceptance: the directory's
// owner when root writes for a daemon running as its own user, so the
// daemon can remove what it took; else -1, -1 (the writer).
func Owner(dir string) (uid, gid int, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return -1, -1, fmt.Errorf("inbox %s: %w", dir, err)
	}
	if st, ok := statOwner(fi, nil); ok && os.Geteuid() == 0 && st.Uid != 0 {
		return int(st.Uid), int(st.Gid), nil
	}
	return -1, -1, nil
}
