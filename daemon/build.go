package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/healthcheck"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/notifier/receivers"
	"kpay-rotator/rotator"
)

// ErrConfig marks configuration errors found outside config.Parse (a file
// that cannot be read, a listen address in use): commands exit 78 on it.
var ErrConfig = errors.New("configuration error")

// LoadConfig loads path, turning a missing or unreadable file into a
// configuration error that says what to do.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrConfig, missingConfig(path))
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%w: cannot read configuration file %s: permission denied; run as the kpay-rotator user or fix the file's owner", ErrConfig, path)
	case err != nil:
		return nil, err
	}
	return cfg, nil
}

// missingConfig says which file is missing and how to make it. make
// install lays out only the example (config.toml.example), so that an
// enabled unit never runs, and alerts for, the example's slots.
func missingConfig(path string) string {
	example := path + ".example"
	if _, err := os.Stat(example); err == nil {
		return fmt.Sprintf("configuration file %s does not exist; create it from the example: cp %s %s, edit it ([aws] region, the slots, the notifiers), then check it: kpay-rotator check-config --config %s",
			path, example, path, path)
	}
	return fmt.Sprintf("configuration file %s does not exist; copy the commented example there (%s.example once installed, config.toml in the source tree), edit it ([aws] region, the slots, the notifiers), then check it: kpay-rotator check-config --config %s; or pass --config FILE",
		path, config.DefaultPath, path)
}

// secretRef turns a configured secret source into the notifier's.
func secretRef(s config.SecretSource) notifier.SecretRef {
	switch {
	case s.File != "":
		return notifier.FileSecret{Path: s.File}
	case s.Env != "":
		return notifier.EnvSecret{Name: s.Env}
	case s.Credential != "":
		return notifier.CredentialSecret{Name: s.Credential}
	case !s.Inline.IsZero():
		return notifier.InlineSecret{Value: s.Inline}
	}
	return nil
}

// buildReceivers builds every configured receiver. Credentials are read
// at send time, so a missing file is not an error here.
func buildReceivers(cfg *config.Config) ([]outbox.Receiver, error) {
	var out []outbox.Receiver
	for _, n := range cfg.Notifiers {
		r, err := receivers.Build(receiverSpec(n))
		if err != nil {
			return nil, fmt.Errorf("%w: notifier %s: %v", ErrConfig, n.Name, err)
		}
		every, burst := r.Rate()
		out = append(out, outbox.Receiver{
			Name: n.Name, Sender: r, Every: every, Burst: burst,
			MinSeverity: n.MinSeverity, RepeatInterval: n.RepeatInterval, GroupWait: n.GroupWait,
			MaxDeliveryAge: n.MaxDeliveryAge, Fallback: n.Fallback,
		})
	}
	return out, nil
}

func receiverSpec(n config.Notifier) receivers.Spec {
	return receivers.Spec{
		Name: n.Name, Type: n.Type, ChatID: n.ChatID,
		URL: secretRef(n.URL), Token: secretRef(n.Token), SigningSecret: secretRef(n.Secret),
	}
}

// CheckCredentials reads every notifier's credentials now and checks them
// as a send would (receivers.Check).
func CheckCredentials(cfg *config.Config) (warnings []string, errs []error) {
	for _, n := range cfg.Notifiers {
		w, e := receivers.Check(receiverSpec(n))
		warnings, errs = append(warnings, w...), append(errs, e...)
	}
	return warnings, errs
}

// routes sends a slot's events to its notify list, and security events
// (a possible compromise) to its security_notify list too.
func routes(cfg *config.Config) func(event.Event) []string {
	return func(e event.Event) []string {
		s, ok := cfg.Slot(e.Slot)
		if !ok {
			return nil
		}
		if e.Kind.Security() && len(s.SecurityNotify) > 0 {
			return append(slices.Clone(s.Notify), s.SecurityNotify...)
		}
		return s.Notify
	}
}

// newProber builds the KPay probe for k; an error is a configuration
// error.
func newProber(k config.KPay, log *slog.Logger, version string) (*healthcheck.Prober, error) {
	p, err := healthcheck.New(healthcheck.Options{
		BaseURL:           k.BaseURL,
		Timeout:           k.Timeout,
		RequestsPerMinute: k.RequestsPerMinute,
		Concurrency:       k.Concurrency,
		Logger:            log,
		UserAgent:         "kpay-rotator/" + version,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return p, nil
}

// CheckBuild builds what the daemon builds from cfg, in the daemon's
// order (probe, receivers, schedules), and returns the first error the
// daemon would stop at, in the same words: check-config runs it. It
// leaves out what depends on the host rather than the file (the state
// database, the inbox, AWS credentials) and reads no credential
// (CheckCredentials does).
func CheckBuild(cfg *config.Config) error {
	p, err := newProber(cfg.KPay, nil, "check")
	if err != nil {
		return err
	}
	p.Close()
	if _, err := buildReceivers(cfg); err != nil {
		return err
	}
	if err := rotator.CheckSchedules(cfg, time.Now()); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}
