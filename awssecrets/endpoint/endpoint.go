// Package endpoint is the rule for a Secrets Manager endpoint override,
// apart from awssecrets so that config can check one without compiling
// the AWS SDK (and, through config, the domain never does).
package endpoint

import "kpay-rotator/internal/credurl"

// Check checks an endpoint override, to which every request is signed and
// secret values travel, with the rule of every credential's URL
// (credurl.CheckBase): https unless the host is loopback, no user
// information, query or fragment. It returns the endpoint without a
// trailing "/". what names it in errors, which never quote it.
func Check(raw, what string) (string, error) { return credurl.CheckBase(raw, what) }
