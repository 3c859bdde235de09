package inbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"kpay-rotator/kpay"
)

// A pair staged and a window opened or closed are reported; a removed
// directory ends the watch.
func TestWatch_ReportsStagedPairsAndWindows(t *testing.T) {
	dir := t.TempDir()
	w, err := Watch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	changed := func(what string) {
		t.Helper()
		select {
		case _, ok := <-w.Changes():
			if !ok {
				t.Fatalf("%s: the watch ended", what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no change reported", what)
		}
	}
	pair := kpay.Pair{APIKey: "kpay_live_" + "0123456789abcdef0123456789abcdef", SecretKey: kpay.NewSecret("sk_live_0123456789abcdef0123456789abcdef")}
	if err := Write(dir, Request{ID: "rot_1", Slot: "payments-live", Pair: pair}, -1, -1); err != nil {
		t.Fatal(err)
	}
	changed("a pair staged")
	if err := OpenWindow(dir, Window{ID: "rot_2", Slot: "checkout-test"}, -1, -1); err != nil {
		t.Fatal(err)
	}
	changed("a window opened")
	if err := CloseWindow(dir, "checkout-test"); err != nil {
		t.Fatal(err)
	}
	changed("a window closed")

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-w.Changes():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the watch did not end with its directory")
		}
	}
}

// Only staged pairs and windows count: not the daemon's results, not
// the temporary files atomic writes go through, not acceptances.
func TestInotifyEvents_OnlyPairsAndWindows(t *testing.T) {
	ev := func(mask uint32, name string) []byte {
		n := (len(name) + 1 + 15) / 16 * 16 // NUL-padded, as the kernel does
		b := make([]byte, unix.SizeofInotifyEvent+n)
		e := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		e.Mask, e.Len = mask, uint32(n)
		copy(b[unix.SizeofInotifyEvent:], name)
		return b
	}
	cat := func(bs ...[]byte) (out []byte) {
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tt := range []struct {
		name          string
		buf           []byte
		changed, gone bool
	}{
		{"pair linked in", ev(unix.IN_CREATE, "payments-live.pair"), true, false},
		{"window renamed in", ev(unix.IN_MOVED_TO, "payments-live.window"), true, false},
		{"window removed", ev(unix.IN_DELETE, "payments-live.window"), true, false},
		{"temporary file", ev(unix.IN_CREATE, ".payments-live.pair.123"), false, false},
		{"result", ev(unix.IN_MOVED_TO, "payments-live.result"), false, false},
		{"acceptance", ev(unix.IN_MOVED_TO, "payments-live.fields-accepted"), false, false},
		{"events lost", ev(unix.IN_Q_OVERFLOW, ""), true, false},
		{"directory removed", ev(unix.IN_DELETE_SELF, ""), false, true},
		{"several, one that counts", cat(ev(unix.IN_CREATE, ".x.pair.1"), ev(unix.IN_DELETE, "x.result"), ev(unix.IN_MOVED_TO, "x.pair")), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			changed, gone := inotifyEvents(tt.buf)
			if changed != tt.changed || gone != tt.gone {
				t.Errorf("changed %v gone %v, want %v %v", changed, gone, tt.changed, tt.gone)
			}
		})
	}
}

// A directory that cannot be watched is an error the caller can fall
// back from.
func TestWatch_MissingDirectory(t *testing.T) {
	if _, err := Watch(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("watching a missing directory worked")
	}
}

// Close ends the watch: its reader returns and Changes is closed.
func TestWatch_CloseEndsIt(t *testing.T) {
	w, err := Watch(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w.Changes():
		if ok {
			t.Error("a change reported after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Changes still open after Close")
	}
}
