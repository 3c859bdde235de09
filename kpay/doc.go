// Package kpay holds the KPay key-pair domain types shared by every part of
// kpay-rotator: environments, the masked Secret type, pairs, fingerprints
// and the local format checks a pair must pass before anything trusts it.
//
// Nothing in this package performs I/O.
package kpay
