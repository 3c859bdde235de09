package healthcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"kpay-rotator/internal/textsafe"
	"kpay-rotator/kpay"
)

// Outcome is what one probe says about a pair (DESIGN §3).
type Outcome string

// The outcomes of a probe.
const (
	// Healthy: KPay answered 200 for the expected environment and
	// application.
	Healthy Outcome = "healthy"
	// Rejected: 401. The keys are invalid, revoked, regenerated or
	// mismatched; KPay's answer does not say which.
	Rejected Outcome = "rejected"
	// WrongEnvironment: 200, but KPay names the other environment (TEST vs
	// PRODUCTION/LIVE) or one it never documented.
	WrongEnvironment Outcome = "wrong_environment"
	// WrongApplication: 200, but application.id differs from
	// Expect.ApplicationID.
	WrongApplication Outcome = "wrong_application"
	// Unexpected: 403, another 4xx, a redirect, or a pair that could not
	// be sent. Worth a warning; never a reason to mark the pair dead,
	// because a 403 proves the keys authenticated (kpay-api.md §3.2).
	Unexpected Outcome = "unexpected"
	// Transient: 408, 429, 5xx, an unreadable 200, a timeout, a reset, an
	// exhausted budget or cooldown. Says nothing about the keys.
	Transient Outcome = "transient"
)

// Outcomes lists every outcome Probe gives, so a metric can start each
// at 0 (an alert on its increase then fires on the first one).
func Outcomes() []Outcome {
	return []Outcome{Healthy, Rejected, WrongEnvironment, WrongApplication, Unexpected, Transient}
}

// IsRejection reports whether KPay's answer counts against the pair: it
// refused the keys, or accepted them for another environment or
// application.
func (o Outcome) IsRejection() bool {
	switch o {
	case Rejected, WrongEnvironment, WrongApplication:
		return true
	}
	return false
}

// Expect is what a healthy answer must say.
type Expect struct {
	// Environment the keys must reach. Probe takes it from the X-API-Key
	// prefix when empty; Classify needs it set.
	Environment kpay.Environment
	// ApplicationID the keys must belong to. Empty accepts any application
	// and reports it, so the caller can learn it from a first probe.
	ApplicationID string
}

// Result is the outcome of a probe and what KPay said. Every string in it
// is cleaned: control characters removed, length bounded, and (in Probe)
// the pair's key values removed, so a Result can be logged or sent to chat
// as it is.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status of the last attempt; 0 when KPay did not
	// answer.
	Status int
	// Environment, ApplicationID, ApplicationName and CompanyID are what
	// KPay reported on a 2xx, whatever the outcome.
	Environment     string
	ApplicationID   string
	ApplicationName string
	CompanyID       string
	// Detail says in one human sentence why this is the outcome.
	Detail string
	// Attempts is the number of HTTP requests the probe sent.
	Attempts int
	// Latency is that of the last attempt, until its body was read.
	Latency time.Duration
	// RetryAfter is how long to wait before asking KPay again: from the
	// last 429/503 Retry-After, or, when a probe gave up because the next
	// wait would pass its deadline, that wait.
	RetryAfter time.Duration
	// At is when the probe finished.
	At time.Time
	// Authenticated: KPay itself answered and its answer proves the keys
	// authenticated (a /payments/me body, or its JSON error envelope on a
	// 4xx other than 401, 408 and 429). Nothing else is proof that a pair
	// still works: a proxy or WAF page is not KPay.
	Authenticated bool
	// Queued is how long the probe waited (for a probe slot, the request
	// budget, a cooldown) before its first request left: the answer
	// describes the pair as it was that long after the probe began.
	Queued time.Duration
}

// Bounds on text taken from KPay. Its messages are one line in practice;
// anything longer is an HTML error page or junk, and Detail ends up in logs
// and chat alerts.
const (
	maxMessage = 200
	maxField   = 200
)

// Classify turns one answer to GET /api/v1/payments/me into a Result: by
// status code, then, for a 2xx, by the decoded body. It never looks at
// message text. It performs no I/O and reads no clock, except to measure a
// Retry-After given as an HTTP-date when the answer has no Date header.
//
// Classify knows no pair, so it cannot redact one; Probe can and does.
// Attempts, Latency and At are left for the caller.
func Classify(status int, header http.Header, body []byte, want Expect) Result {
	return classify(status, header, body, want, time.Now(), nil)
}

func classify(status int, header http.Header, body []byte, want Expect, now time.Time, red *textsafe.Redactor) Result {
	res := Result{Status: status}
	// A verdict on the keys (rejected, or authenticated but refused) is
	// KPay's only when the body is KPay's JSON error envelope: a 401 or
	// 403 page from a WAF, a CDN or a proxy never reached KPay (DESIGN §3).
	msg, kpayBody := envelope(body, status)
	switch {
	case status >= 200 && status <= 299:
		// /me documents 200 only; any 2xx is judged by its body, which is
		// what says whether the keys are right.
		return classifyOK(res, body, want, red)
	case status == http.StatusRequestTimeout:
		// A 4xx by number, but it means the server gave up waiting for
		// the request (RFC 9110 §15.5.9): about the connection, not the
		// keys, and safe to retry.
		res.Outcome = Transient
		res.Detail = "KPay answered 408, giving up on the request, which says nothing about the keys" + kpaySays(body, red)
	case status == http.StatusTooManyRequests:
		res.Outcome = Transient
		res.RetryAfter = parseRetryAfter(header, now)
		res.Detail = "KPay is rate limiting (429)" + kpaySays(body, red)
	case status >= 400 && status <= 499 && !kpayBody:
		res.Outcome = Transient
		res.Detail = fmt.Sprintf("answer %d %s without KPay's JSON error body (%s): likely a proxy, WAF or CDN in the way, so it says nothing about the keys", status, http.StatusText(status), bodyKind(body))
	case status == http.StatusUnauthorized:
		res.Outcome = Rejected
		res.Detail = "KPay rejected the pair with 401: the keys are invalid, revoked, regenerated or mismatched" + quoted(msg, red)
	case status == http.StatusForbidden:
		res.Outcome, res.Authenticated = Unexpected, true
		res.Detail = "KPay answered 403, which proves the keys authenticated but /payments/me should never refuse, so the pair is not counted as rejected" + quoted(msg, red)
	case status >= 300 && status <= 399:
		// Redirects are not followed (see New): Go would forward
		// X-Secret-Key to wherever they point.
		res.Outcome = Transient
		res.Detail = fmt.Sprintf("KPay answered %d %s, a redirect, which is not followed so the keys go nowhere else; it says nothing about the keys", status, http.StatusText(status))
	case status >= 400 && status <= 499:
		res.Outcome, res.Authenticated = Unexpected, true
		res.Detail = fmt.Sprintf("KPay answered %d %s on /payments/me, which says nothing certain about the keys", status, http.StatusText(status)) + quoted(msg, red)
	case status >= 500 && status <= 599:
		res.Outcome = Transient
		if status == http.StatusServiceUnavailable {
			res.RetryAfter = parseRetryAfter(header, now)
		}
		res.Detail = fmt.Sprintf("KPay answered %d %s, a problem on KPay's side", status, http.StatusText(status)) + kpaySays(body, red)
	case status == 0:
		res.Outcome = Transient
		res.Detail = "KPay did not answer"
	default:
		res.Outcome = Transient
		res.Detail = fmt.Sprintf("KPay answered with the status %d, which HTTP does not define", status)
	}
	return res
}

// envelope reports whether body is KPay's JSON error envelope
// {statusCode, message, error} (kpay-api.md §3.1) for status: a JSON
// object whose statusCode is status, or that has a message (a string or
// an array of strings). msg is its message, or its error phrase.
func envelope(body []byte, status int) (msg string, ok bool) {
	var env struct {
		StatusCode *int            `json:"statusCode"`
		Message    json.RawMessage `json:"message"`
		Error      json.RawMessage `json:"error"`
	}
	if json.Unmarshal(trimBOM(body), &env) != nil {
		return "", false
	}
	message := textOf(env.Message)
	if env.StatusCode != nil && *env.StatusCode == status || message != "" {
		if message == "" {
			message = textOf(env.Error)
		}
		return message, true
	}
	return "", false
}

// bodyKind names what came instead of KPay's envelope.
func bodyKind(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "an empty body"
	}
	if _, isJSON := errorMessage(body); isJSON {
		return "JSON of another shape"
	}
	return "a body that is not JSON"
}

// quoted renders KPay's message as the tail of a Detail sentence.
func quoted(msg string, red *textsafe.Redactor) string {
	if strings.TrimSpace(msg) == "" {
		return ""
	}
	return fmt.Sprintf("; KPay says %q", red.Clean(msg, maxMessage))
}

// meBody is the documented 200 answer of /payments/me (kpay-api.md §2.1).
// Unknown fields are ignored: KPay adds fields between versions.
type meBody struct {
	Application struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"application"`
	Company struct {
		ID string `json:"id"`
	} `json:"company"`
	Environment string `json:"environment"`
}

// classifyOK judges a 2xx by its body. Anything short of a complete,
// decodable answer is Transient: an unreadable success must never count
// against the keys.
func classifyOK(res Result, body []byte, want Expect, red *textsafe.Redactor) Result {
	res.Outcome = Transient
	body = trimBOM(body)
	if len(bytes.TrimSpace(body)) == 0 {
		res.Detail = fmt.Sprintf("KPay answered %d with an empty body, so the pair can be neither confirmed nor rejected", res.Status)
		return res
	}
	var me meBody
	if err := json.Unmarshal(body, &me); err != nil {
		// Content-Type is not consulted: proxies lie about it in both
		// directions, and decoding is the only test that matters.
		res.Detail = fmt.Sprintf("KPay answered %d with a body that is not the JSON /payments/me documents, so the pair can be neither confirmed nor rejected", res.Status)
		return res
	}
	res.Environment = red.Clean(me.Environment, maxField)
	res.ApplicationID = red.Clean(me.Application.ID, maxField)
	res.ApplicationName = red.Clean(me.Application.Name, maxField)
	res.CompanyID = red.Clean(me.Company.ID, maxField)

	switch {
	case strings.TrimSpace(me.Application.ID) == "":
		res.Detail = fmt.Sprintf("KPay answered %d without application.id, so the pair can be neither confirmed nor rejected", res.Status)
	case strings.TrimSpace(me.Environment) == "":
		res.Detail = fmt.Sprintf("KPay answered %d without environment, so which environment the keys reach cannot be checked", res.Status)
	case !want.Environment.Reported(me.Environment):
		res.Outcome = WrongEnvironment
		if kpay.Test.Reported(me.Environment) || kpay.Live.Reported(me.Environment) {
			res.Detail = fmt.Sprintf("KPay says the keys reach %s, but the pair is expected in %s", res.Environment, envName(want.Environment))
		} else {
			// kpay-api.md §2.1: accept the documented values and the LIVE
			// alias, alert on anything else.
			res.Detail = fmt.Sprintf("KPay answered with the unknown environment %q; the pair is expected in %s", res.Environment, envName(want.Environment))
		}
	case want.ApplicationID != "" && !sameID(me.Application.ID, want.ApplicationID):
		res.Outcome = WrongApplication
		res.Detail = fmt.Sprintf("KPay says the pair belongs to application %s, not the expected %s", res.ApplicationID, red.Clean(want.ApplicationID, maxField))
	default:
		res.Outcome = Healthy
		res.Detail = fmt.Sprintf("KPay accepted the pair for application %s %q in %s", res.ApplicationID, res.ApplicationName, res.Environment)
	}
	// A decoded /me body, right or wrong, came from KPay with the keys.
	res.Authenticated = res.Outcome != Transient
	return res
}

// sameID compares application ids, which are UUIDs: the same UUID may be
// written in either case.
func sameID(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

func envName(e kpay.Environment) string {
	if e == "" {
		return "an unspecified environment"
	}
	return string(e)
}

// kpaySays renders KPay's error message as the tail of a Detail sentence.
func kpaySays(body []byte, red *textsafe.Redactor) string {
	msg, isJSON := errorMessage(body)
	switch {
	case !isJSON && len(bytes.TrimSpace(body)) > 0:
		// An HTML page from a gateway (kpay-api.md §3.1) is noise in an
		// alert; saying it was not JSON is the useful part.
		return " (the body is not KPay's JSON error format)"
	case strings.TrimSpace(msg) == "":
		return ""
	}
	return fmt.Sprintf("; KPay says %q", red.Clean(msg, maxMessage))
}

// errorMessage extracts the message of KPay's error envelope
// {statusCode, message, error} (kpay-api.md §3.1). message may be a string
// or, NestJS validation style, an array of strings, which is joined;
// without it the reason phrase in error is used. isJSON is false when the
// body is not a JSON object.
func errorMessage(body []byte) (msg string, isJSON bool) {
	var env struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(trimBOM(body), &env); err != nil {
		return "", false
	}
	if m := textOf(env.Message); m != "" {
		return m, true
	}
	return textOf(env.Error), true
}

// textOf decodes a JSON string, or the strings of a JSON array joined by
// "; ". Anything else yields "".
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return ""
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		var part string // fresh each time: null leaves it untouched
		if json.Unmarshal(it, &part) == nil && strings.TrimSpace(part) != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, "; ")
}

// trimBOM drops a UTF-8 byte order mark, which encoding/json rejects and
// some Windows-hosted proxies prepend.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }
