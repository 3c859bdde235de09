// Package credurl holds the one rule for a URL that a credential travels
// to (KPay's base URL, the Secrets Manager endpoint, a chat webhook, the
// Telegram Bot API): http or https with a host, and https unless the host
// is loopback, where nothing crosses a network. The packages that talk to
// those systems build their checks on it (healthcheck.CheckBaseURL,
// awssecrets/endpoint.Check, notifier.CheckURL), and config calls theirs,
// so a file check-config accepts is one every component accepts.
//
// Errors name the URL by the caller's what ("the URL in file …", or a
// quote from Show) and never quote it themselves, not even in part, as
// url.Parse's errors do.
package credurl

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// IsLoopback reports whether host is a loopback address or localhost,
// with or without the trailing dot of a fully qualified name, which the
// resolver maps the same way.
func IsLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Parse parses raw as an absolute http or https URL with a host.
func Parse(raw, what string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%s is empty", what)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "":
		return nil, fmt.Errorf("%s is not a valid URL (look for spaces or quotes)", what)
	case u.Scheme != "https" && u.Scheme != "http": // url.Parse lower-cases the scheme
		return nil, fmt.Errorf("%s must start with https://", what)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%s has no host", what)
	}
	return u, nil
}

// CheckTransport refuses plain http to a host that is not loopback, and
// names the host: where to fix it, and no credential.
func CheckTransport(u *url.URL, what string) error {
	if cleartext(u) {
		return plainHTTP(what, " to "+u.Hostname())
	}
	return nil
}

// Check is the rule for a URL that is itself a credential, as a webhook
// URL is (its path or query holds the token): Parse, then CheckTransport.
func Check(raw, what string) (*url.URL, error) {
	u, err := Parse(raw, what)
	if err != nil {
		return nil, err
	}
	if err := CheckTransport(u, what); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckBase is the rule for a service's base URL, to which requests carry
// credentials in their headers or bodies: Parse, https unless loopback,
// and no user information, query or fragment, which a base URL never
// needs and which are where a pasted credential would sit. Plain http is
// refused without naming the host, which could hold such a value too. It
// returns the URL without a trailing "/", for callers to append paths to.
func CheckBase(raw, what string) (string, error) {
	u, err := Parse(raw, what)
	if err != nil {
		return "", err
	}
	switch {
	case cleartext(u):
		return "", plainHTTP(what, "")
	case u.User != nil:
		return "", fmt.Errorf("%s must not contain a user name or password", what)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("%s must not have a query (?…) or fragment (#…)", what)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// cleartext is the rule: plain http is allowed only to a loopback host.
func cleartext(u *url.URL) bool { return u.Scheme == "http" && !IsLoopback(u.Hostname()) }

func plainHTTP(what, to string) error {
	return fmt.Errorf("%s uses plain http%s; use https: credentials would cross the network in clear (plain http is allowed only to a loopback host: 127.0.0.1, ::1, localhost)", what, to)
}

// Show quotes raw for a message without what may be a credential in it:
// a user name and password, a query string, a fragment. A URL that does
// not parse is not quoted at all.
func Show(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "the URL"
	}
	if u.User != nil {
		u.User = url.User("…")
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "…", false
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "…", ""
	}
	return fmt.Sprintf("%q", u.String())
}
