package notifier

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"kpay-rotator/kpay"
)

// URLOptions configure a receiver whose webhook URL is its credential:
// Slack, Discord, Microsoft Teams, Google Chat and Mattermost.
type URLOptions struct {
	// URL is the webhook URL; it is the credential, read at every send.
	URL SecretRef
	// HTTPClient or Transport replace the default transport (tests,
	// egress proxies); optional.
	HTTPClient *http.Client
	Transport  http.RoundTripper
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates; default time.Now.
	Now func() time.Time
}

// Endpoint is what those receivers share: where to post, and how.
type Endpoint struct {
	URL  SecretRef
	Post *Poster
}

// NewEndpoint checks o for the receiver type name: a missing URL gets an
// error naming what is needed and where it comes from (need, hint); an
// inline URL must pass parse (nil: ParseURL). Credentials from files, the
// environment or systemd are checked at send time.
func NewEndpoint(name, need, hint string, o URLOptions, parse func(kpay.Secret, string) (*url.URL, error)) (Endpoint, error) {
	if o.URL == nil {
		return Endpoint{}, fmt.Errorf("%s: %s is required (%s)", name, need, hint)
	}
	if parse == nil {
		parse = ParseURL
	}
	if err := CheckInline(o.URL, func(s kpay.Secret) error {
		_, err := parse(s, o.URL.Describe())
		return err
	}); err != nil {
		return Endpoint{}, errors.New(name + ": " + err.Error())
	}
	return Endpoint{URL: o.URL, Post: NewPoster(PosterOptions{HTTPClient: o.HTTPClient, Transport: o.Transport, Timeout: o.Timeout, Now: o.Now})}, nil
}
