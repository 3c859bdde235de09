// Package healthcheck asks KPay, without side effects, what it thinks of a
// key pair.
//
// The probe is GET /api/v1/payments/me (kpay-api.md §2.1): it needs only the
// two key headers, changes nothing, and answers with the application,
// company and environment the pair resolves to. Classify turns one answer
// into an Outcome by HTTP status, never by message text, which KPay writes
// in English or French and changes without notice.
//
// Prober adds what a daemon needs around that single request: retries for
// transient answers only, a deadline covering every attempt and wait of a
// probe, a request budget shared by all probes, bounded concurrency, and a
// global cooldown that slows every probe down when KPay stops answering.
// KPay has blocked bursty clients at the IP level, and the block looks like
// timeouts rather than 429 (kpay-api.md §4), so silence must never make the
// prober try harder.
//
// Key values leave the process only in the two request headers. Everything
// this package returns or logs passes through a redactor that removes them,
// and pairs are logged by their mask.
//
// What an outcome means for a slot (hysteresis, alerts, learning the
// application id) is the caller's business.
package healthcheck
