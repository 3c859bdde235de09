// Package inbox is the hand-over point between `kpay-rotator stage` and the
// daemon: one file per slot holding a new pair, written atomically with mode
// 0600 into a directory on tmpfs (/run/kpay-rotator/inbox under systemd) so
// the pair never reaches a disk, and one result file per slot where the
// daemon says what became of it.
//
// The request file is the only place besides memory and Secrets Manager
// where a pair's value lives; the daemon removes it once the pair is
// written or rejected.
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
	errTooLarge      = errors.New("inbox file is too large")
)

const (
	maxRequestSize = 16 << 10
	requestSuffix  = ".pair"
	resultSuffix   = ".result"
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
}

// fileRequest is the on-disk form: the only place the secret is written in
// clear, which is why kpay.Secret's masking marshaller is not used here.
type fileRequest struct {
	ID        string    `json:"id"`
	Slot      string    `json:"slot"`
	APIKey    string    `json:"api_key"`
	SecretKey string    `json:"secret_key"`
	Born      time.Time `json:"born,omitzero"`
	StagedAt  time.Time `json:"staged_at"`
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
	b, err := json.Marshal(fileRequest{ID: r.ID, Slot: r.Slot, APIKey: r.Pair.APIKey, SecretKey: r.Pair.SecretKey.Reveal(), Born: r.Born, StagedAt: r.StagedAt})
	if err != nil {
		return fmt.Errorf("encode staged pair: %w", err)
	}
	err = atomicfile.CreateExclusive(path, b, 0o600, uid, gid)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s exists", ErrAlreadyStaged, path)
	}
	return err
}

// Read returns the pair staged for slot. A file with loose permissions is
// refused (and should be removed by the caller): anyone could have read
// the pair, or swapped it.
func Read(dir, slot string) (Request, error) {
	path := RequestPath(dir, slot)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return Request{}, ErrNoRequest
	}
	if err != nil {
		return Request{}, fmt.Errorf("open staged pair %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Request{}, fmt.Errorf("stat staged pair %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Request{}, fmt.Errorf("%w: %s is not a regular file", ErrMalformed, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Request{}, fmt.Errorf("%w: %s has mode %04o; stage the pair again with kpay-rotator stage, which writes it with mode 0600",
			ErrLoosePerms, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRequestSize+1))
	if err != nil {
		return Request{}, fmt.Errorf("read staged pair %s: %w", path, err)
	}
	if int64(len(b)) > maxRequestSize {
		return Request{}, fmt.Errorf("%w: %s: %v", ErrMalformed, path, errTooLarge)
	}
	var fr fileRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil || fr.ID == "" || fr.Slot != slot {
		// Never echo the decoder's error: it may quote the secret.
		return Request{}, fmt.Errorf("%w: %s is not a staged pair for slot %s; stage it again", ErrMalformed, path, slot)
	}
	return Request{ID: fr.ID, Slot: fr.Slot, Pair: kpay.Pair{APIKey: fr.APIKey, SecretKey: kpay.NewSecret(fr.SecretKey)}, Born: fr.Born, StagedAt: fr.StagedAt}, nil
}

// Remove deletes slot's staged pair; a missing file is not an error.
func Remove(dir, slot string) error {
	if err := os.Remove(RequestPath(dir, slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove staged pair: %w", err)
	}
	return nil
}

// Staged lists the slots with a staged pair in dir.
func Staged(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list inbox %s: %w", dir, err)
	}
	var slots []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), requestSuffix); ok && !strings.HasPrefix(name, ".") {
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
	return atomicfile.WriteOwned(ResultPath(dir, r.Slot), append(b, '\n'), 0o600, uid, gid)
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
