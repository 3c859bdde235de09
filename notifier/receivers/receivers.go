// Package receivers builds a chat receiver from its configuration. It is
// the only package that imports every receiver, so adding a platform
// touches one switch, and the rest of the daemon sees only
// notifier.Sender and a rate.
package receivers

import (
	"fmt"
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

// Types lists the receiver types Build knows.
var Types = []string{"slack", "discord", "teams", "googlechat", "mattermost", "telegram", "webhook"}

// Build returns the receiver s describes. Its errors name the receiver
// and say what to add; they never hold a credential.
func Build(s Spec) (Receiver, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("notifier[%s]: %w", s.Name, err)
	}
	var (
		r   Receiver
		err error
	)
	switch s.Type {
	case "slack":
		r, err = slack.New(slack.Options{URL: s.URL})
	case "discord":
		r, err = discord.New(discord.Options{URL: s.URL})
	case "teams":
		r, err = teams.New(teams.Options{URL: s.URL})
	case "googlechat":
		r, err = googlechat.New(googlechat.Options{URL: s.URL})
	case "mattermost":
		r, err = mattermost.New(mattermost.Options{URL: s.URL})
	case "telegram":
		r, err = telegram.New(telegram.Options{Token: s.Token, ChatID: s.ChatID, APIBase: s.APIBase})
	case "webhook":
		r, err = webhook.New(webhook.Options{URL: s.URL, SigningSecret: s.SigningSecret})
	}
	if err != nil {
		return nil, fmt.Errorf("notifier[%s]: %w", s.Name, err)
	}
	return r, nil
}

// check says, before any receiver is built, what a type needs and what it
// does not take: a token given to slack is a mistake worth naming rather
// than ignoring.
func (s Spec) check() error {
	if !slices.Contains(Types, s.Type) {
		return fmt.Errorf("type %q is not one of: %s", s.Type, strings.Join(Types, ", "))
	}
	var missing, unused []string
	need := func(ok bool, what string) {
		if !ok {
			missing = append(missing, what)
		}
	}
	refuse := func(set bool, what string) {
		if set {
			unused = append(unused, what)
		}
	}
	switch s.Type {
	case "telegram":
		need(s.Token != nil, "a bot token (token_file)")
		need(s.ChatID != "", "chat_id")
		refuse(s.URL != nil, "url")
		refuse(s.SigningSecret != nil, "secret")
	case "webhook":
		need(s.URL != nil, "a URL (url_file)")
		need(s.SigningSecret != nil, "a signing secret (secret_file or secret_credential, whsec_…)")
		refuse(s.Token != nil, "token")
		refuse(s.ChatID != "", "chat_id")
	default:
		need(s.URL != nil, "a webhook URL (url_file)")
		refuse(s.Token != nil, "token")
		refuse(s.SigningSecret != nil, "secret")
		refuse(s.ChatID != "", "chat_id")
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("a %s receiver needs %s", s.Type, strings.Join(missing, " and "))
	case len(unused) > 0:
		return fmt.Errorf("a %s receiver does not use %s; remove it", s.Type, strings.Join(unused, ", "))
	}
	return nil
}

// Check reads s's credentials now, where it can, and checks each as a send
// would (URL rule, token and signing-secret format): check-config runs it,
// and the daemon logs it at start and reload. A file that cannot be read,
// or a value a send would refuse, is an error naming the source. A systemd
// credential asked for outside the service, or an environment variable not
// set here, is only a warning: either may exist only where the daemon runs,
// and is checked at every send.
func Check(s Spec) (warnings []string, errs []error) {
	parseURL := func(v kpay.Secret, from string) error { _, err := notifier.ParseURL(v, from); return err }
	type source struct {
		ref   notifier.SecretRef
		check func(kpay.Secret, string) error
	}
	var sources []source
	switch s.Type {
	case "telegram":
		sources = []source{{s.Token, telegram.CheckToken}}
	case "webhook":
		sources = []source{{s.URL, parseURL}, {s.SigningSecret, func(v kpay.Secret, from string) error { _, err := webhook.SigningKey(v, from); return err }}}
	case "teams":
		sources = []source{{s.URL, func(v kpay.Secret, from string) error { _, err := teams.ParseURL(v, from); return err }}}
	default:
		sources = []source{{s.URL, parseURL}}
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
