package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// A rotation drops only its own files. stage may open a new window, or
// stage a new pair, while the daemon finishes an older rotation of the same
// slot; the check "is this file still that rotation's" and the removal
// belong together, here, so that no caller removes a file it did not read.

// DropIf removes slot's staged pair unless it belongs to a rotation other
// than id (a pair staged since for a new rotation stays). A pair nobody
// can own (malformed, loose permissions, unreadable) goes too: the
// rotation it was read for has already said what became of it. A missing
// file is not an error.
func DropIf(dir, slot, id string) error {
	req, fi, err := readRequest(dir, slot)
	switch {
	case errors.Is(err, ErrNoRequest):
		return nil
	case err == nil && req.ID != id:
		return nil
	}
	if err := removeSame(RequestPath(dir, slot), fi); err != nil {
		return fmt.Errorf("remove staged pair: %w", err)
	}
	return nil
}

// CloseWindowIf removes slot's window only if it is rotation id's: a
// window another stage opened since stays, and so does one that cannot be
// read, for the pass that says why it removes it. A missing file is not
// an error.
func CloseWindowIf(dir, slot, id string) error {
	w, fi, err := readWindow(dir, slot)
	if err != nil || w.ID != id {
		return nil
	}
	if err := removeSame(WindowPath(dir, slot), fi); err != nil {
		return fmt.Errorf("close rotation window: %w", err)
	}
	return nil
}

// removeSame removes path if it is still the file fi describes, so a file
// put in its place since it was read (a new window, renamed over the old
// one) stays. With fi nil (the file could not be opened) it removes
// whatever is there. The stat and the removal are not one step, but the
// gap is microseconds, against stage runs seconds apart; and a staged pair
// is created exclusively, so a new one cannot replace an old one at all.
func removeSame(path string, fi fs.FileInfo) error {
	if fi != nil {
		now, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil && !os.SameFile(fi, now) {
			return nil
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
