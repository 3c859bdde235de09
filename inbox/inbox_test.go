package inbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kpay-rotator/inbox"
	"kpay-rotator/kpay"
)

var pair = kpay.Pair{
	APIKey:    "kpay_live_0123456789abcdef0123456789abcdef0123456789abcdef",
	SecretKey: kpay.NewSecret("sk_live_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
}

func TestWriteRead_RoundTripMode0600(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	req := inbox.Request{ID: inbox.NewID(now), Slot: "payments-live", Pair: pair, StagedAt: now, Born: now.Add(-time.Hour)}
	if err := inbox.Write(dir, req, -1, -1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(inbox.RequestPath(dir, "payments-live"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", fi.Mode().Perm())
	}
	got, err := inbox.Read(dir, "payments-live")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != req.ID || !got.Pair.Equal(pair) || !got.Born.Equal(req.Born) {
		t.Errorf("read back %+v", got)
	}
	if slots, _ := inbox.Pending(dir); len(slots) != 1 || slots[0] != "payments-live" {
		t.Errorf("Pending = %v", slots)
	}
	if err := inbox.Remove(dir, "payments-live"); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.Read(dir, "payments-live"); !errors.Is(err, inbox.ErrNoRequest) {
		t.Errorf("after remove: %v", err)
	}
}

func TestWrite_SecondStageRefusedEvenWhenRacing(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = inbox.Write(dir, inbox.Request{ID: inbox.NewID(time.Now()), Slot: "s", Pair: pair}, -1, -1)
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, inbox.ErrAlreadyStaged):
			t.Errorf("unexpected error %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won, want exactly 1", won)
	}
}

func TestRead_RefusesBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    error
	}{
		{"group readable", `{"id":"rot_1","slot":"s","api_key":"a","secret_key":"SECRETVALUE"}`, 0o640, inbox.ErrLoosePerms},
		{"garbage", "SECRETVALUE garbage", 0o600, inbox.ErrMalformed},
		{"unknown field", `{"id":"rot_1","slot":"s","api_key":"a","secret_key":"SECRETVALUE","x":1}`, 0o600, inbox.ErrMalformed},
		{"other slot", `{"id":"rot_1","slot":"t","api_key":"a","secret_key":"SECRETVALUE"}`, 0o600, inbox.ErrMalformed},
		{"too large", `{"id":"rot_1","slot":"s","api_key":"` + strings.Repeat("a", 1<<20) + `","secret_key":"SECRETVALUE"}`, 0o600, inbox.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := inbox.RequestPath(dir, "s")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			_, err := inbox.Read(dir, "s")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error quotes the file: %v", err)
			}
		})
	}
}

func TestRead_RefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte(`{}`), 0o600)
	if err := os.Symlink(target, inbox.RequestPath(dir, "s")); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.Read(dir, "s"); err == nil {
		t.Fatal("Read followed a symlink")
	}
}

func TestResult_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := inbox.ReadResult(dir, "s"); !errors.Is(err, inbox.ErrNoResult) {
		t.Errorf("no result: %v", err)
	}
	r := inbox.Result{ID: "rot_1", Slot: "s", Outcome: inbox.Written, VersionID: "v2", At: time.Now().UTC()}
	if err := inbox.WriteResult(dir, r, -1, -1); err != nil {
		t.Fatal(err)
	}
	got, err := inbox.ReadResult(dir, "s")
	if err != nil || got.ID != "rot_1" || got.Outcome != inbox.Written || got.VersionID != "v2" {
		t.Errorf("ReadResult = %+v, %v", got, err)
	}
}

func TestWindow_OpenReadCloseAndPendingListsEachSlotOnce(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if _, err := inbox.ReadWindow(dir, "payments-live"); !errors.Is(err, inbox.ErrNoWindow) {
		t.Fatalf("no window yet: got %v, want ErrNoWindow", err)
	}
	w := inbox.Window{ID: inbox.NewID(now), Slot: "payments-live", OpenedAt: now, OpenedBy: "root@ops-1"}
	if err := inbox.OpenWindow(dir, w, -1, -1); err != nil {
		t.Fatal(err)
	}
	if !inbox.Exists(dir, "payments-live") || inbox.Exists(dir, "checkout-test") {
		t.Errorf("Exists: want true for the slot with a window only")
	}
	got, err := inbox.ReadWindow(dir, "payments-live")
	if err != nil || got != w {
		t.Fatalf("ReadWindow = %+v, %v; want %+v", got, err, w)
	}
	// A pair following the window makes no second entry.
	if err := inbox.Write(dir, inbox.Request{ID: w.ID, Slot: "payments-live", Pair: pair, StagedAt: now}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if slots, _ := inbox.Pending(dir); len(slots) != 1 || slots[0] != "payments-live" {
		t.Errorf("Pending with a window and a pair = %v, want [payments-live]", slots)
	}
	if err := inbox.CloseWindow(dir, "payments-live"); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.ReadWindow(dir, "payments-live"); !errors.Is(err, inbox.ErrNoWindow) {
		t.Errorf("after close: got %v, want ErrNoWindow", err)
	}
	if err := os.WriteFile(inbox.WindowPath(dir, "checkout-test"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.ReadWindow(dir, "checkout-test"); !errors.Is(err, inbox.ErrMalformed) {
		t.Errorf("garbage window: got %v, want ErrMalformed", err)
	}
}
