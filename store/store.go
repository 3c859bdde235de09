// Package store is kpay-rotator's memory, written down as a contract: the
// records it keeps (slots, pairs by fingerprint and never by value, bounded
// probe history, the rotation journal, the alert outbox, an append-only
// event log with retention) and the interfaces the rotator, the outbox and
// the daemon use to read and change them.
//
// Implementations live in subpackages (bboltstore, the one-host default)
// and must pass the conformance suite in storetest. The contract speaks the
// domain (PutSlot, RecordProbe, AppendEvent), never keys or buckets, so each
// backend keeps its schema to itself.
package store

import (
	"errors"
	"time"

	"kpay-rotator/event"
)

// Store is an open state store.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent
	// state, whatever commits meanwhile.
	View(fn func(Tx) error) error
	// Update runs fn in one read-write transaction: everything fn writes
	// commits together or not at all, and an error from fn writes nothing.
	Update(fn func(Tx) error) error
	// WriteFailure reports whether the last commit failed (a full disk,
	// a lost connection), since when commits have been failing, and why:
	// what readiness and the watchdog need to tell a daemon that can no
	// longer record anything. An error returned by fn is not a failure.
	WriteFailure() (since time.Time, reason string, failing bool)
	// Location says where the state lives, for messages.
	Location() string
	// SetRetention changes what the event log and probe history keep
	// (zero fields: the defaults), from the next transaction on: a reload
	// applies new bounds without reopening the state.
	SetRetention(r Retention)
	Close() error
}

// Tx is one transaction. It must not be used after its function returns
// or from another goroutine.
type Tx interface {
	SlotTx
	HistoryTx
	RotationTx
	OutboxTx
}

// SlotTx reads and writes slots and the pairs they have held.
type SlotTx interface {
	// Slot returns the state of slot name; false if the store has none.
	Slot(name string) (SlotState, bool, error)
	// PutSlot stores st under st.Name (required).
	PutSlot(st SlotState) error
	// Slots returns every slot the store knows, sorted by name.
	Slots() ([]SlotState, error)
	// Pair returns the record of slot's pair with fingerprint fp.
	Pair(slot, fp string) (PairRecord, bool, error)
	// PutPair stores p under its slot and fingerprint (both required).
	PutPair(p PairRecord) error
	// Pairs returns every pair slot has held (only slot's, never those of
	// a slot whose name it prefixes), oldest FirstSeen first.
	Pairs(slot string) ([]PairRecord, error)
	// DeletePair forgets slot's pair fp: its record and its probe history,
	// at a cost bounded by the probe history's bound. Deleting a missing
	// pair is no error.
	DeletePair(slot, fp string) error
}

// HistoryTx keeps probe history and the event log.
type HistoryTx interface {
	// RecordProbe appends p to the pair's history and drops, oldest first,
	// at most PruneStep records past the store's Retention: beyond its
	// ProbeHistory newest, or dated more than ProbeAge before p. History
	// never grows unbounded, and a lowered bound is reached within a few
	// probes.
	RecordProbe(slot, fp string, p ProbeRecord) error
	// Probes returns up to limit (0: all) most recent probes of a pair,
	// newest first.
	Probes(slot, fp string, limit int) ([]ProbeRecord, error)
	// AppendEvent gives e the next sequence number and, unless it has
	// one, a stable unique "evt_" id, and appends it to the event log.
	// e keeps them even if the transaction then rolls back. It then drops,
	// oldest first, at most PruneStep events past the store's Retention:
	// beyond its Events newest, or dated more than EventAge before e.
	// Dropping never renumbers the events kept, and a sequence number
	// once committed is never given again.
	AppendEvent(e *event.Event) error
	// Events returns up to limit (0: all) of the events kept with Seq >
	// after, oldest first.
	Events(after uint64, limit int) ([]event.Event, error)
	// LastEventSeq is the sequence number of the newest event (0: none).
	LastEventSeq() (uint64, error)
}

// RotationTx keeps the rotation journal (DESIGN §4).
type RotationTx interface {
	// PutRotation stores r (ID and Slot required) and keeps the slot's
	// active rotation: a slot has at most one rotation whose state is
	// Active, and storing a second one is refused, writing nothing.
	PutRotation(r Rotation) error
	// Rotation returns slot's rotation with id.
	Rotation(slot, id string) (Rotation, bool, error)
	// ActiveRotation returns slot's active rotation, if any.
	ActiveRotation(slot string) (Rotation, bool, error)
	// ActiveSlots lists the slots that have an active rotation, at a cost
	// that does not grow with the number of slots.
	ActiveSlots() ([]string, error)
	// Rotations returns slot's rotations, newest first (ids start with
	// their UTC time), up to limit (0: all).
	Rotations(slot string, limit int) ([]Rotation, error)
}

// OutboxTx keeps the alert outbox, the conditions active at each receiver
// and each receiver's delivery health.
type OutboxTx interface {
	// PutDelivery stores d (Receiver required), giving it the next
	// sequence number (queue order) if it has none.
	PutDelivery(d *Delivery) error
	// DeleteDelivery removes a delivery; removing a missing one is no
	// error.
	DeleteDelivery(receiver string, seq uint64) error
	// Deliveries returns receiver's deliveries in queue order, up to limit
	// (0: all).
	Deliveries(receiver string, limit int) ([]Delivery, error)
	// Pending counts queued deliveries per receiver.
	Pending() (map[string]int, error)
	// PutAlertState stores s under its receiver, slot and condition.
	PutAlertState(s AlertState) error
	// GetAlertState returns the state of condition at receiver for slot.
	GetAlertState(receiver, slot, condition string) (AlertState, bool, error)
	// DeleteAlertState forgets a resolved condition.
	DeleteAlertState(receiver, slot, condition string) error
	// AlertStates returns every active condition.
	AlertStates() ([]AlertState, error)
	// Receiver returns receiver name's delivery health (zero but named if
	// none is stored).
	Receiver(name string) (ReceiverState, error)
	// PutReceiver stores s under s.Name.
	PutReceiver(s ReceiverState) error
}

// Sentinel errors every backend returns; match with errors.Is.
var (
	// ErrLocked: another process holds the state (a running daemon).
	ErrLocked = errors.New("state database is locked by another process")
	// ErrNewerSchema: the state was written by a newer kpay-rotator.
	ErrNewerSchema = errors.New("state database was written by a newer kpay-rotator")
	// ErrNotOurs: the location holds something other than kpay-rotator
	// state.
	ErrNotOurs = errors.New("file is not a kpay-rotator state database")
	// ErrReadOnly: a write was attempted on a store opened read-only.
	ErrReadOnly = errors.New("store is open read-only")
	// ErrFenced: a write was refused, writing nothing, because this
	// process no longer has the right to write (a backend shared by
	// several daemons made the commit conditional on it, e.g. on still
	// leading).
	ErrFenced = errors.New("state write refused: this daemon no longer holds the right to write")
)
