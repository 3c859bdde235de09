// Package secretdoc is the secret document a slot's pair lives in: each
// version of the secret is one JSON object, two of whose fields hold the
// KPay pair and the rest belong to the services that read the secret.
//
// It owns the rules every reader and writer of that document shares: how
// the pair is found in it, how a write replaces the pair and keeps every
// other field byte for byte, how the request token of a write is derived,
// how a version that dropped fields is told apart, and the errors a store
// of such documents reports. It knows nothing of where the document is
// kept: the awssecrets adapter reads and writes it in AWS Secrets Manager
// and turns the SDK's failures into this package's errors, so the domain
// (rotator) needs no SDK.
//
// Values leave this package only inside kpay.Secret, and no error quotes
// one.
package secretdoc

import (
	"errors"
	"time"

	"kpay-rotator/kpay"
)

// Version is one version of a secret.
type Version struct {
	SecretID  string
	VersionID string
	// Created is the version's creation date, UTC; zero when the store
	// gave none.
	Created time.Time
	// Value is the whole document, as stored.
	Value kpay.Secret
}

// VersionInfo describes a version without its value.
type VersionInfo struct {
	VersionID string
	Created   time.Time
}

// Description is what the store says about a secret, values aside.
type Description struct {
	// DeletedDate is when the secret was scheduled for deletion; zero if
	// it is not.
	DeletedDate time.Time
	// RotationEnabled: the store's own rotation (a Secrets Manager
	// Lambda) is on and would overwrite what kpay-rotator writes.
	RotationEnabled bool
	// RotationLambdaARN is the function that rotation runs.
	RotationLambdaARN string
	// CurrentVersionID is the version labelled AWSCURRENT: what a read of
	// the value would return, learned without reading it.
	CurrentVersionID string
}

// Sentinel errors; match with errors.Is. The wrapping error names the
// secret and says what to fix. The store's adapter returns them too, for
// the failures it classifies, so callers never look at a backend's own
// error types.
var (
	ErrNotFound     = errors.New("secret not found")
	ErrDeleted      = errors.New("secret scheduled for deletion")
	ErrAccessDenied = errors.New("access denied")
	ErrNotJSON      = errors.New("secret value is not a JSON object")
	ErrMissingField = errors.New("secret field missing")
	ErrLimit        = errors.New("secrets manager quota exceeded")
	ErrTransient    = errors.New("secrets manager unavailable")
	ErrCredentials  = errors.New("no usable AWS credentials")
	ErrUnsupported  = errors.New("operation not supported by this endpoint")
	ErrRejected     = errors.New("request rejected by secrets manager")
	// ErrVersionExists: the request token names a version that holds
	// another value; versions are immutable, so the same put can never
	// succeed.
	ErrVersionExists = errors.New("a version with this request token exists")
)
