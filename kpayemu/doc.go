// Package kpayemu is an in-process emulator of the KPay payment API, made for
// tests and demos of kpay-rotator. It is never a real KPay: every key it
// hands out is its own fake, minted from crypto/rand, and valid nowhere else.
//
// It answers what the daemon touches, as /work/shared/kpay-api.md describes
// KPay:
//
//   - GET /api/v1/payments/me, authenticated by X-API-Key and X-Secret-Key,
//     answering 200 with application, company and environment, or 401 with
//     the documented envelope
//     {"statusCode":401,"message":"Invalid API credentials","error":"Unauthorized"}
//     for every kind of bad pair (missing header, unknown key, wrong secret,
//     other environment, revoked, regenerated), because KPay does not tell
//     them apart either;
//   - GET /api/v1/payments/balance (authenticated) and
//     GET /api/public/platform-info (public, with a maintenance flag);
//   - NestJS-style 404 envelopes ("Cannot POST /x") for everything else, the
//     way an Express router answers unknown routes and wrong methods.
//
// Applications are what the KPay dashboard would show: each has one test and
// one live pair. Regenerate and Revoke act as the dashboard does: the old
// pair is rejected from that instant, with no grace period.
//
// Faults (latency, any status, 429 with Retry-After, hangs, connection
// resets, non-JSON gateway pages, 403) and an optional per-key sliding-minute
// rate limit let a test drive a client through every branch of its error
// classification. Counters record what the emulator saw, so a test can assert
// that a client stopped, retried or backed off.
//
// Everything under /_emulator/ is the emulator's own admin API, not KPay's;
// it exists for the kpay-sandbox binary and for black-box tests, and it
// returns fake keys in clear because handing them out is its job. Logs, in
// contrast, only ever carry masked keys.
//
// Use Start (or StartOn) for a real loopback listener, or New with Handler
// for httptest. A Server is safe for concurrent use.
package kpayemu
