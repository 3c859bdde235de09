// Package atomicfile writes files so that a reader, or the next start after
// a crash, sees either the old content or the new, never a mix.
//
// Write, WriteOwned and CreateExclusive are durable: data and rename are
// fsynced, so the file survives a crash of the host. The Volatile variants
// skip the fsyncs: a reader still sees old or new whole, and the file
// survives a crash of the process, but not of the host. They are for
// files on tmpfs (where fsync does nothing) or that must not outlive a
// reboot anyway, written where every millisecond counts.
//
// Hand-written rather than a dependency: temp file, fsync, rename and
// directory fsync are a few lines over os, and google/renameio, the
// closest library, always fsyncs, never syncs the directory and always
// replaces, so neither the Volatile variants nor CreateExclusive would fit.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path with mode via a temporary file in the same
// directory, fsync and rename, then syncs the directory so the rename
// itself survives a crash.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, nil)
}

// CreateExclusive is WriteOwned for a file that must not exist yet: the
// complete file appears under path through link(2), which fails when path
// exists, so of two racing writers exactly one wins and the other gets an
// error matching fs.ErrExist.
func CreateExclusive(path string, data []byte, mode os.FileMode, uid, gid int) error {
	return writeWith(path, data, mode, owner(uid, gid), os.Link, true)
}

// CreateExclusiveVolatile is CreateExclusive without the fsyncs.
func CreateExclusiveVolatile(path string, data []byte, mode os.FileMode, uid, gid int) error {
	return writeWith(path, data, mode, owner(uid, gid), os.Link, false)
}

// WriteVolatile is WriteOwned without the fsyncs.
func WriteVolatile(path string, data []byte, mode os.FileMode, uid, gid int) error {
	return writeWith(path, data, mode, owner(uid, gid), os.Rename, false)
}

func owner(uid, gid int) func(*os.File) error {
	if uid < 0 {
		return nil
	}
	return func(f *os.File) error { return f.Chown(uid, gid) }
}

func write(path string, data []byte, mode os.FileMode, prepare func(*os.File) error) error {
	return writeWith(path, data, mode, prepare, os.Rename, true)
}

func writeWith(path string, data []byte, mode os.FileMode, prepare func(*os.File) error, publish func(oldpath, newpath string) error, sync bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed; drops the link's spare name
	err = tmp.Chmod(mode)
	if err == nil && prepare != nil {
		err = prepare(tmp)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = publish(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !sync {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteOwned is Write, with the file handed to uid/gid before it becomes
// visible (when uid >= 0): root staging a pair for a daemon that runs as its
// own user must not leave it a file it cannot read.
func WriteOwned(path string, data []byte, mode os.FileMode, uid, gid int) error {
	return write(path, data, mode, owner(uid, gid))
}
