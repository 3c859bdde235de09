// Package receivers builds a chat receiver from its configuration. It is
// the only package that imports every receiver, and it registers each
// platform once (platforms): its name, the credentials it takes, the shape
// of its webhook URL and how it is checked and built. Adding a platform
// adds one entry there; config (which keys a type takes, its URL rule)
// and the daemon learn of it through Types, CredsOf, CheckURL, ExampleURL
// and Build, and see only notifier.Sender and a rate.
package receivers

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/discord"
	"kpay-rotator/notifier/googlechat"
	"kpay-rotator/notifier/mattermost"
	"kpay-rotator/notifier/slack"
	"kpay-rotator/notifier/teams"
	"kpay-rotator/notifier/telegram"
	"kpay-rotator/notifier/webhook"
)

// Spec is one configured receiver.
type Spec struct {
	Name, Type string
	// URL is the webhook URL (every type but telegram).
	URL notifier.SecretRef
	// Token is the telegram bot token.
	Token notifier.SecretRef
	// SigningSecret is the webhook type's whsec_ secret.
	SigningSecret notifier.SecretRef
	// ChatID is the telegram chat.
	ChatID string
	// APIBase replaces the Telegram Bot API address; for tests.
	APIBase string
}

// Receiver is what Build returns: a Sender and the pace its platform
// allows, for the outbox's per-destination limiter.
type Receiver interface {
	notifier.Sender
	Rate() (every time.Duration, burst int)
}

// Creds says which credentials a receiver type takes.
type Creds struct {
	URL           bool // a webhook URL
	Token         bool // a Telegram bot token
	SigningSecret bool // a Standard Webhooks whsec_ secret
	ChatID        bool // a Telegram chat
}

// platform is one receiver type.
type platform struct {
	name  string
	creds Creds
	// exampleURL is the shape of its webhook URL, for messages.
	exampleURL string
	// checkURL checks its webhook URL as every send does; nil is
	// notifier.CheckURL.
	checkURL func(s kpay.Secret, what string) (*url.URL, error)
	build    func(Spec) (Receiver, error)
}

var platforms = []platform{
	{name: "slack", creds: Creds{URL: true}, exampleURL: "https://hooks.slack.com/services/…",
		build: func(s Spec) (Receiver, error) { return slack.New(slack.Options{URL: s.URL}) }},
	{name: "discord", creds: Creds{URL: true}, exampleURL: "https://discord.com/api/webhooks/…",
		build: func(s Spec) (Receiver, error) { return discord.New(discord.Options{URL: s.URL}) }},
	{name: "teams", creds: Creds{URL: true}, exampleURL: "https://….logic.azure.com/workflows/…", checkURL: teams.CheckURL,
		build: func(s Spec) (Receiver, error) { return teams.New(teams.Options{URL: s.URL}) }},
	{name: "googlechat", creds: Creds{URL: true}, exampleURL: "https://chat.googleapis.com/v1/spaces/…",
		build: func(s Spec) (Receiver, error) { return googlechat.New(googlechat.Options{URL: s.URL}) }},
	{name: "mattermost", creds: Creds{URL: true}, exampleURL: "https://mattermost.example.com/hooks/…",
		build: func(s Spec) (Receiver, error) { return mattermost.New(mattermost.Options{URL: s.URL}) }},
	{name: "telegram", creds: Creds{Token: true, ChatID: true},
		build: func(s Spec) (Receiver, error) {
			return telegram.New(telegram.Options{Token: s.Token, ChatID: s.ChatID, APIBase: s.APIBase})
		}},
	{name: "webhook", creds: Creds{URL: true, SigningSecret: true}, exampleURL: "https://alerts.example.com/kpay",
		build: func(s Spec) (Receiver, error) {
			return webhook.New(webhook.Options{URL: s.URL, SigningSecret: s.SigningSecret})
		}},
}

// Types lists the receiver types Build knows, in the order messages list
// them.
var Types = func() []string {
	var names []string
	for _, p := range platforms {
		names = append(names, p.name)
	}
	return names
}()

func lookup(typ string) (platform, bool) {
	i := slices.IndexFunc(platforms, func(p platform) bool { return p.name == typ })
	if i < 0 {
		return platform{}, false
	}
	return platforms[i], true
}

// CredsOf says which credentials typ takes; false for an unknown type.
func CredsOf(typ string) (Creds, bool) {
	p, ok := lookup(typ)
	return p.creds, ok
}

// ExampleURL is the shape of typ's webhook URL, for messages; "" when it
// takes none or is unknown.
func ExampleURL(typ string) string {
	p, _ := lookup(typ)
	return p.exampleURL
}

// CheckURL checks a webhook URL for typ as its receiver does at start and
// at every send; an unknown type gets the rule every URL meets
// (notifier.CheckURL). what names the URL in errors, which never quote it.
func CheckURL(typ string, s kpay.Secret, what string) error {
	_, err := lookupURLCheck(typ)(s, what)
	return err
}

func lookupURLCheck(typ string) func(kpay.Secret, string) (*url.URL, error) {
	if p, ok := lookup(typ); ok && p.checkURL != nil {
		return p.checkURL
	}
	return notifier.CheckURL
}

// Build returns the receiver s describes. Its errors name the receiver
// and say what to add; they never hold a credential.
func Build(s Spec) (Receiver, error) {
	p, err := s.check()
	if err != nil {
		return nil, fmt.Errorf("notifier[%s]: %w", s.Name, err)
	}
	r, err := p.build(s)
	if err != nil {
		return nil, fmt.Errorf("notifier[%s]: %w", s.Name, err)
	}
	return r, nil
}

// check says, before any receiver is built, what a type needs and what it
// does not take: a token given to slack is a mistake worth naming rather
// than ignoring.
func (s Spec) check() (platform, error) {
	p, ok := lookup(s.Type)
	if !ok {
		return p, fmt.Errorf("type %q is not one of: %s", s.Type, strings.Join(Types, ", "))
	}
	var missing, unused []string
	for _, c := range []struct {
		takes, set bool
		need, key  string
	}{
		{p.creds.URL, s.URL != nil, "a webhook URL (url_file)", "url"},
		{p.creds.Token, s.Token != nil, "a bot token (token_file)", "token"},
		{p.creds.SigningSecret, s.SigningSecret != nil, "a signing secret (secret_file or secret_credential, whsec_…)", "secret"},
		{p.creds.ChatID, s.ChatID != "", "chat_id", "chat_id"},
	} {
		switch {
		case c.takes && !c.set:
			missing = append(missing, c.need)
		case !c.takes && c.set:
			unused = append(unused, c.key)
		}
	}
	switch {
	case len(missing) > 0:
		return p, fmt.Errorf("a %s receiver needs %s", s.Type, strings.Join(missing, " and "))
	case len(unused) > 0:
		return p, fmt.Errorf("a %s receiver does not use %s; remove it", s.Type, strings.Join(unused, ", "))
	}
	return p, nil
}

// Check reads s's credentials now, where it can, and checks each as a send
// would (URL rule, token and signing-secret format): check-config runs it,
// and the daemon logs it at start and reload. A file that cannot be read,
// or a value a send would refuse, is an error naming the source. A systemd
// credential asked for outside the service, or an environment variable not
// set here, is only a warning: either may exist only where the daemon runs,
// and is checked at every send.
func Check(s Spec) (warnings []string, errs []error) {
	p, _ := lookup(s.Type)
	type source struct {
		ref   notifier.SecretRef
		check func(kpay.Secret, string) error
	}
	var sources []source
	if p.creds.URL {
		checkURL := lookupURLCheck(s.Type)
		sources = append(sources, source{s.URL, func(v kpay.Secret, from string) error { _, err := checkURL(v, "the URL in "+from); return err }})
	}
	if p.creds.Token {
		sources = append(sources, source{s.Token, telegram.CheckToken})
	}
	if p.creds.SigningSecret {
		sources = append(sources, source{s.SigningSecret, func(v kpay.Secret, from string) error {
			_, err := webhook.SigningKey(v, "the signing secret in "+from)
			return err
		}})
	}
	for _, src := range sources {
		if src.ref == nil {
			continue
		}
		v, err := src.ref.Load()
		switch {
		case err != nil && elsewhere(src.ref):
			warnings = append(warnings, fmt.Sprintf("notifier[%s]: %v; it is checked at every send", s.Name, err))
		case err != nil:
			errs = append(errs, fmt.Errorf("notifier[%s]: %w", s.Name, err))
		default:
			if err := src.check(v, src.ref.Describe()); err != nil {
				errs = append(errs, fmt.Errorf("notifier[%s]: %w", s.Name, err))
			}
		}
	}
	return warnings, errs
}

// elsewhere reports whether ref may be readable only by the daemon's own
// process: an environment variable of the unit, or a systemd credential.
// Outside the service there is no credentials directory, and systemd 252
// does not give ExecReload= (where check-config runs) the service's
// credentials when the unit has a mount namespace (ProtectSystem=): the
// directory is set but unreadable there.
func elsewhere(ref notifier.SecretRef) bool {
	switch ref.(type) {
	case notifier.CredentialSecret, notifier.EnvSecret:
		return true
	}
	return false
}
