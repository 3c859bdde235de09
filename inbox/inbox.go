// Package inbox is the hand-over point between `kpay-rotator stage` and the
// daemon: one file per slot holding a new pair, written atomically with mode
// 0600 into a directory on tmpfs (/run/kpay-rotator/inbox under systemd) so
// the pair never reaches a disk, and one result file per slot where the
// daemon says what became of it.
//
// The request file is the only place besides memory and Secrets Manager
// where a pair's value lives; the daemon removes it once the pair is
// written or rejected.
//
// A third file, the window, holds no secret: stage writes it before it
// asks the admin to regenerate the pair, so the daemon knows a rotation is
// under way and that the current pair is about to stop working.
//
// Files here are written without fsync (atomicfile's Volatile variants):
// the inbox lives on tmpfs, where fsync does nothing, and a staged pair
// must not outlive a reboot anyway (the journal then asks for it again).
// That keeps the disk off the path while payments are down.
package inbox

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"kpay-rotator/internal/atomicfile"
	"kpay-rotator/kpay"
)

// Errors; match with errors.Is.
var (
	ErrNoRequest     = errors.New("no pair staged")
	ErrAlreadyStaged = errors.New("a pair is already staged for this slot")
	ErrLoosePerms    = errors.New("inbox file is readable or writable by group or others")
	ErrMalformed     = errors.New("inbox file is malformed")
	ErrNoResult      = errors.New("no result yet")
	ErrNoWindow      = errors.New("no rotation window open")
	ErrNoAcceptance  = errors.New("no acceptance of lost fields")
	errTooLarge      = errors.New("inbox file is too large")
)

const (
	maxRequestSize = 16 << 10
	requestSuffix  = ".pair"
	resultSuffix   = ".result"
	windowSuffix   = ".window"
	acceptSuffix   = ".fields-accepted"
)

// Request is a staged pair.
type Request struct {
	// ID names the rotation this request starts; the result carries it
	// back so `stage` knows the answer is for its own request.
	ID       string
	Slot     string
	Pair     kpay.Pair
	Born     time.Time // zero unless the admin gave --born
	StagedAt time.Time
	// Application is the KPay application id the admin confirmed with
	// --application; empty unless given.
	Application string
}

// fileRequest is the on-disk form: the only place the secret is written in
// clear, which is why kpay.Secret's masking marshaller is not used here.
type fileRequest struct {
	ID          string    `json:"id"`
	Slot        string    `json:"slot"`
	APIKey      string    `json:"api_key"`
	SecretKey   string    `json:"secret_key"`
	Born        time.Time `json:"born,omitzero"`
	StagedAt    time.Time `json:"staged_at"`
	Application string    `json:"application_id,omitempty"`
}

// NewID returns a fresh rotation id.
func NewID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("rot_%s_%s", now.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}

// RequestPath is where slot's staged pair lives in dir.
func RequestPath(dir, slot string) string { return filepath.Join(dir, slot+requestSuffix) }

// ResultPath is where the daemon answers for slot.
func ResultPath(dir, slot string) string { return filepath.Join(dir, slot+resultSuffix) }

// Write stages r in dir, atomically and with mode 0600. It refuses when a
// pair is already staged for the slot. owner, when >= 0, is the uid/gid the
// file is handed to (root staging for a daemon running as its own user).
func Write(dir string, r Request, uid, gid int) error {
	path := RequestPath(dir, r.Slot)
	b, err := json.Marshal(fileRequest{ID: r.ID, Slot: r.Slot, APIKey: r.Pair.APIKey, SecretKey: r.Pair.SecretKey.Reveal(), Born: r.Born, StagedAt: r.StagedAt, Application: r.Application})
	if err != nil {
		return fmt.Errorf("encode staged pair: %w", err)
	}
	err = atomicfile.CreateExclusiveVolatile(path, b, 0o600, uid, gid)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s exists", ErrAlreadyStaged, path)
	}
	return err
}

// Read returns the pair staged for slot. A file with loose permissions is
// refused (and should be removed by the caller): anyone could have read
// the pair, or swapped it.
func Read(dir, slot string) (Request, error) {
	r, _, err := readRequest(dir, slot)
	return r, err
}

// readRequest is Read, also returning what the file was when it was read
// (nil if it could not be opened), so a removal can tell it is still the
// same file.
func readRequest(dir, slot string) (Request, fs.FileInfo, error) {
	path := RequestPath(dir, slot)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return Request{}, nil, ErrNoRequest
	}
	if err != nil {
		return Request{}, nil, fmt.Errorf("open staged pair %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Request{}, nil, fmt.Errorf("stat staged pair %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Request{}, fi, fmt.Errorf("%w: %s is not a regular file", ErrMalformed, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Request{}, fi, fmt.Errorf("%w: %s has mode %04o; stage the pair again with kpay-rotator stage, which writes it with mode 0600",
			ErrLoosePerms, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRequestSize+1))
	if err != nil {
		return Request{}, fi, fmt.Errorf("read staged pair %s: %w", path, err)
	}
	if int64(len(b)) > maxRequestSize {
		return Request{}, fi, fmt.Errorf("%w: %s: %v", ErrMalformed, path, errTooLarge)
	}
	var fr fileRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil || fr.ID == "" || fr.Slot != slot {
		// Never echo the decoder's error: it may quote the secret.
		return Request{}, fi, fmt.Errorf("%w: %s is not a staged pair for slot %s; stage it again", ErrMalformed, path, slot)
	}
	return Request{ID: fr.ID, Slot: fr.Slot, Pair: kpay.Pair{APIKey: fr.APIKey, SecretKey: kpay.NewSecret(fr.SecretKey)}, Born: fr.Born, StagedAt: fr.StagedAt, Application: fr.Application}, fi, nil
}

// Remove deletes slot's staged pair; a missing file is not an error.
func Remove(dir, slot string) error {
	if err := os.Remove(RequestPath(dir, slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove staged pair: %w", err)
	}
	return nil
}

// Pending lists the slots with a staged pair or an open window in dir,
// each once.
func Pending(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list inbox %s: %w", dir, err)
	}
	var slots []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), requestSuffix)
		if !ok {
			name, ok = strings.CutSuffix(e.Name(), windowSuffix)
		}
		if ok && !strings.HasPrefix(name, ".") && !slices.Contains(slots, name) {
			slots = append(slots, name)
		}
	}
	return slots, nil
}

// Outcome of a staged pair.
type Outcome string

// Outcomes.
const (
	Written  Outcome = "written"
	Rejected Outcome = "rejected"
	// Refused: the pair was not taken at all (it is the one the secret
	// already holds); no rotation was started or journaled.
	Refused Outcome = "refused"
)

// Result is the daemon's answer to a request. It holds no secret.
type Result struct {
	ID        string    `json:"id"`
	Slot      string    `json:"slot"`
	Outcome   Outcome   `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	VersionID string    `json:"version_id,omitempty"`
	Pair      string    `json:"pair,omitempty"` // masked
	Gap       string    `json:"cutover_gap,omitempty"`
	At        time.Time `json:"at"`
}

// WriteResult publishes r for `stage` to read, readable by the same users
// who may stage (mode 0640 is not needed: stage runs as root or the
// daemon's user).
func WriteResult(dir string, r Result, uid, gid int) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteVolatile(ResultPath(dir, r.Slot), append(b, '\n'), 0o600, uid, gid)
}

// RemoveResult deletes slot's result; a missing file is not an error.
func RemoveResult(dir, slot string) error {
	if err := os.Remove(ResultPath(dir, slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove result: %w", err)
	}
	return nil
}

// ReadResult reads slot's latest result.
func ReadResult(dir, slot string) (Result, error) {
	var r Result
	b, err := os.ReadFile(ResultPath(dir, slot))
	if errors.Is(err, os.ErrNotExist) {
		return r, ErrNoResult
	}
	if err != nil {
		return r, fmt.Errorf("read result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: result file for %s: %v", ErrMalformed, slot, err)
	}
	return r, nil
}

// Window is an open rotation window: stage tells the daemon a rotation of
// Slot has started before it asks the admin to regenerate the pair, so the
// daemon expects the current pair to be rejected. It holds no secret; the
// pair that follows carries the same ID.
type Window struct {
	ID       string    `json:"id"`
	Slot     string    `json:"slot"`
	OpenedAt time.Time `json:"opened_at"`
	// OpenedBy is who ran stage, user@host.
	OpenedBy string `json:"opened_by,omitempty"`
}

// WindowPath is where slot's open window lives in dir.
func WindowPath(dir, slot string) string { return filepath.Join(dir, slot+windowSuffix) }

// OpenWindow records w in dir, replacing an older window of the slot.
func OpenWindow(dir string, w Window, uid, gid int) error {
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode rotation window: %w", err)
	}
	return atomicfile.WriteVolatile(WindowPath(dir, w.Slot), b, 0o600, uid, gid)
}

// ReadWindow returns slot's open window, or ErrNoWindow.
func ReadWindow(dir, slot string) (Window, error) {
	w, _, err := readWindow(dir, slot)
	return w, err
}

// readWindow is ReadWindow, also returning what the file was when read.
func readWindow(dir, slot string) (Window, fs.FileInfo, error) {
	var w Window
	b, fi, err := readSmall(WindowPath(dir, slot))
	if errors.Is(err, os.ErrNotExist) {
		return w, nil, ErrNoWindow
	}
	if err != nil {
		return w, nil, fmt.Errorf("read rotation window: %w", err)
	}
	if len(b) > maxRequestSize || json.Unmarshal(b, &w) != nil || w.ID == "" || w.Slot != slot {
		return Window{}, fi, fmt.Errorf("%w: %s is not a rotation window for slot %s; remove it and run kpay-rotator stage %s again", ErrMalformed, WindowPath(dir, slot), slot, slot)
	}
	return w, fi, nil
}

// readSmall reads a file that holds no secret (a window),
// at most maxRequestSize+1 bytes, with what it was when read.
func readSmall(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRequestSize+1))
	return b, fi, err
}

// CloseWindow removes slot's window; a missing file is not an error.
func CloseWindow(dir, slot string) error {
	if err := os.Remove(WindowPath(dir, slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("close rotation window: %w", err)
	}
	return nil
}

// Exists reports whether slot has a staged pair or an open window in dir:
// a rotation is under way, even before the daemon has journaled it.
func Exists(dir, slot string) bool {
	for _, p := range []string{RequestPath(dir, slot), WindowPath(dir, slot)} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// Acceptance is an admin's word (kpay-rotator repair --accept) that the
// fields reported lost from Slot's secret were removed on purpose, as of
// its version VersionID. It holds no secret.
type Acceptance struct {
	Slot      string    `json:"slot"`
	VersionID string    `json:"version_id"`
	By        string    `json:"by,omitempty"`
	At        time.Time `json:"at"`
}

// AcceptancePath is where slot's acceptance lives in dir.
func AcceptancePath(dir, slot string) string { return filepath.Join(dir, slot+acceptSuffix) }

// WriteAcceptance records a in dir, replacing an older one of the slot.
func WriteAcceptance(dir string, a Acceptance, uid, gid int) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode acceptance: %w", err)
	}
	return atomicfile.WriteVolatile(AcceptancePath(dir, a.Slot), b, 0o600, uid, gid)
}

// ReadAcceptance returns slot's acceptance, or ErrNoAcceptance.
func ReadAcceptance(dir, slot string) (Acceptance, error) {
	var a Acceptance
	b, err := os.ReadFile(AcceptancePath(dir, slot))
	if errors.Is(err, os.ErrNotExist) {
		return a, ErrNoAcceptance
	}
	if err != nil {
		return a, fmt.Errorf("read acceptance: %w", err)
	}
	if len(b) > maxRequestSize || json.Unmarshal(b, &a) != nil || a.VersionID == "" || a.Slot != slot {
		return Acceptance{}, fmt.Errorf("%w: %s is not an acceptance for slot %s; remove it and run kpay-rotator repair %s --accept again", ErrMalformed, AcceptancePath(dir, slot), slot, slot)
	}
	return a, nil
}

// RemoveAcceptance removes slot's acceptance; a missing file is not an
// error.
func RemoveAcceptance(dir, slot string) error {
	if err := os.Remove(AcceptancePath(dir, slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove acceptance: %w", err)
	}
	return nil
}
