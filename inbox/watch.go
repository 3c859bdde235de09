package inbox

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watcher reports changes to an inbox directory (inotify): a pair staged,
// a window opened or closed. The daemon takes staged pairs on them even
// when stage could not signal it, without looking at the inbox on a
// timer. Files that appear complete (atomicfile links or renames them in)
// are all it reports; temporary files and results are not.
type Watcher struct {
	f *os.File
	c chan struct{}
}

// watchMask: names appearing or going, and the directory itself going.
const watchMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_MOVED_FROM |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// Watch starts watching dir. It fails where inotify is unavailable or
// out of watches; the caller then looks at the inbox on a timer.
func Watch(dir string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("watch inbox %s: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch inbox %s: %w", dir, err)
	}
	// Non-blocking, so the file reads through the runtime's poller: no
	// thread sits in read(2) for it.
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify "+dir), c: make(chan struct{}, 1)}
	go w.read()
	return w, nil
}

// Changes receives one value per burst of changes (a send never blocks:
// changes arriving while one is pending fold into it). It is closed when
// the watch ends: Close, or the directory removed or moved away.
func (w *Watcher) Changes() <-chan struct{} { return w.c }

// Close ends the watch.
func (w *Watcher) Close() error { return w.f.Close() }

func (w *Watcher) read() {
	defer close(w.c)
	buf := make([]byte, 16<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		changed, gone := inotifyEvents(buf[:n])
		if changed {
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
		if gone {
			w.f.Close()
			return
		}
	}
}

// inotifyEvents reads a buffer of inotify events: changed if one concerns
// a staged pair or a window (or events were lost), gone if the watch
// ended.
func inotifyEvents(b []byte) (changed, gone bool) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		switch {
		case ev.Mask&unix.IN_Q_OVERFLOW != 0:
			changed = true
		case ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED|unix.IN_UNMOUNT) != 0:
			gone = true
		case watched(name):
			changed = true
		}
	}
	return changed, gone
}

// watched reports whether name is a staged pair or a window, as Pending
// reads them.
func watched(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return strings.HasSuffix(name, requestSuffix) || strings.HasSuffix(name, windowSuffix)
}
