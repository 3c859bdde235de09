// Package config reads kpay-rotator's TOML configuration (DESIGN §7)
// strictly: unknown keys, wrong types, bad durations and cron specs,
// missing or duplicate names and unsafe settings are all errors, and all of
// them are reported at once, each with its file, line, key path and fix.
//
// Defaults are applied in three layers: built-ins, then [defaults], then
// each [[slot]]. A Config returned without error is complete and valid;
// callers need not check it again.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/store"
)

// DefaultPath is where the daemon looks for its configuration when
// --config is not given.
const DefaultPath = "/etc/kpay-rotator/config.toml"

// maxFileSize bounds what Load reads, so a mistaken --config /dev/zero
// fails instead of exhausting memory. Thousands of slots fit in well under
// a megabyte.
const maxFileSize = 16 << 20

// Config is a parsed, validated configuration with every default applied.
type Config struct {
	// Path is the absolute path of the file; "" when parsed from bytes
	// with no name.
	Path string
	// Checksum is the hex SHA-256 of the file's bytes, so a reload can
	// tell that nothing changed.
	Checksum  string
	Daemon    Daemon
	Store     Store
	Retention Retention
	KPay      KPay
	AWS       AWS
	Slots     []Slot // in file order
	Notifiers []Notifier

	slotIndex, notifierIndex map[string]int
}

// Daemon is the [daemon] table.
type Daemon struct {
	StateDir string // bbolt lives here; default /var/lib/kpay-rotator
	InboxDir string // staged pairs arrive here (tmpfs); default /run/kpay-rotator/inbox
	Listen   string // HTTP host:port; default 127.0.0.1:9477
}

// Retention is the [retention] table: how much history the state database
// keeps. Events and probes are the store's to prune (Store); the records
// of pairs done with are the rotator's.
type Retention struct {
	MaxEvents    int           // newest events kept; default 10,000, >= 1
	MaxEventAge  time.Duration // older events go; default 365d, > 0
	ProbeHistory int           // probes kept per pair; default 20, >= 1
	MaxProbeAge  time.Duration // older probes of a pair go; default 30d, > 0
	// MaxRevokedPairs is how many records of pairs revoked or unwatched
	// each slot keeps (newest first); default 10, >= 1.
	MaxRevokedPairs int
	// MaxRevokedPairAge: such a record (and its probes) goes this long
	// after the pair was revoked or unwatched; default 90d, at least
	// RevokedShown.
	MaxRevokedPairAge time.Duration
}

// Store is the part of r the state store enforces as it writes.
func (r Retention) Store() store.Retention {
	return store.Retention{Events: r.MaxEvents, EventAge: r.MaxEventAge, ProbeHistory: r.ProbeHistory, ProbeAge: r.MaxProbeAge}
}

// RevokedShown is how long status lists a pair after it was revoked or
// unwatched. max_revoked_pair_age may not be shorter: status must never
// lose a pair it would show.
const RevokedShown = 7 * 24 * time.Hour

// KPay is the [kpay] table.
type KPay struct {
	// BaseURL has no trailing "/"; https unless the host is loopback.
	// Default https://admin.kpay.site.
	BaseURL string
	// Timeout bounds each KPay call; default 10s.
	Timeout time.Duration
	// RequestsPerMinute is the daemon's global budget, 1 to 100; default
	// 30, leaving KPay's ~100/min mostly to production traffic.
	RequestsPerMinute int
	// Concurrency bounds probes in flight; default 4.
	Concurrency int
}

// AWS is the [aws] table. Both fields are optional: empty means the SDK's
// default chain (AWS_REGION, AWS_ENDPOINT_URL_SECRETS_MANAGER, …).
type AWS struct {
	Region   string
	Endpoint string // no trailing "/"
	// Concurrency bounds Secrets Manager calls in flight during a pass
	// over every slot (start, reload, SIGUSR1, drift_schedule); default 8.
	Concurrency int
}

// Slot is one [[slot]]: a KPay pair as used by one service, kept in one
// Secrets Manager secret. Inherited values are already resolved.
type Slot struct {
	Name        string // ^[a-z0-9][a-z0-9._-]{0,62}$, unique
	Environment kpay.Environment
	SecretID    string // secret name or ARN

	// Fields of the secret's JSON that hold the pair; defaults
	// KPAY_API_KEY and KPAY_SECRET_KEY.
	APIKeyField, SecretKeyField string

	// ApplicationID is the expected KPay application id (a UUID, lower
	// case); empty means it is learned from the first good probe.
	ApplicationID string

	MaxAge      time.Duration // default 90d
	WarnBefore  time.Duration // due at MaxAge-WarnBefore; default 14d, < MaxAge
	RevokeGrace time.Duration // a retired pair still alive after this warns; default 24h
	// RetiredWatch: a retired pair not revoked this long after it was
	// retired is given up (unwatched) with one event; default 7 times
	// RevokeGrace, at least 7d; always longer than RevokeGrace.
	RetiredWatch time.Duration
	// RetiredWatchMax is how many retired pairs of the slot are watched at
	// once; retiring one more gives up the oldest; default 3, >= 1.
	RetiredWatchMax int
	StallAfter      time.Duration // rotation_stalled when a verified pair is still unwritten after this; default 2m
	Jitter          time.Duration // random delay before each probe; default 30s

	// Cron specs accepted by cron.ParseStandard; ProbeSchedule may also be
	// AutoSchedule, its default. RetiredSchedule defaults to "* * * * *".
	ProbeSchedule, RetiredSchedule string
	// DriftSchedule is when the secret is looked at for a change made
	// outside kpay-rotator (a version id, not the value, unless it
	// changed); default "@hourly". Probes never read the secret.
	DriftSchedule string

	FailureThreshold int      // consecutive rejections before failing; default 2, >= 1
	Notify           []string // notifier names, each defined; default from [defaults], else none
	// SecurityNotify: notifier names that also get the events that may
	// mean a compromise (unplanned_revocation); default none.
	SecurityNotify  []string
	CreateIfMissing bool // create the secret if it does not exist; default false
	// AllowSecretsManagerRotation lets stage write a secret that Secrets
	// Manager also rotates (a Lambda); default false: the two would
	// overwrite each other's pairs.
	AllowSecretsManagerRotation bool
}

// Notifier is one [[notifier]]: a chat destination for alerts. Which
// credentials are set depends on Type: telegram has Token and ChatID,
// webhook has URL and Secret, every other type has URL alone.
type Notifier struct {
	Name string
	Type string // one of receivers.Types (slack, telegram, webhook, …)

	URL    SecretSource // url, url_file, url_env, url_credential
	Token  SecretSource // token, token_file, token_env, token_credential (telegram)
	Secret SecretSource // secret, secret_file, …: the whsec_ signing secret (webhook)
	// ChatID is where telegram posts: a numeric chat id (negative for
	// groups and channels) or "@channelname".
	ChatID string

	MinSeverity    event.Severity // default warning
	RepeatInterval time.Duration  // an active condition repeats this often; default 4h, > 0
	// GroupWait: alerts for this notifier arriving within it go out as one
	// message; default 10s, >= 0 and < MaxDeliveryAge.
	GroupWait time.Duration
	// MaxDeliveryAge: delivery of an alert is given up after this; default
	// 24h, > 0.
	MaxDeliveryAge time.Duration
	// Fallback names another notifier that gets the alerts this one cannot
	// deliver; "" for none. Fallback chains never loop.
	Fallback string
}

// SecretSource says where a secret (webhook URL, bot token, signing
// secret) comes from. In a parsed Config exactly one field is set; only
// Inline holds the value, the others are read at send time, so replacing a
// file or credential needs no reload.
type SecretSource struct {
	// Inline is the value written in the file (url = "…"); Load then
	// requires the file to be mode 0600 or stricter.
	Inline kpay.Secret
	// File is a path (url_file), made absolute against the configuration
	// file's directory.
	File string
	// Env is the name of an environment variable (url_env).
	Env string
	// Credential is the name of a systemd credential (url_credential):
	// the file $CREDENTIALS_DIRECTORY/Credential, filled from
	// LoadCredential= in the unit.
	Credential string
}

// IsZero reports whether no source is set.
func (s SecretSource) IsZero() bool {
	return s.Inline.IsZero() && s.File == "" && s.Env == "" && s.Credential == ""
}

// Describe names the source for messages and logs, never the value:
// "file /run/…", "environment variable SLACK_URL", "systemd credential
// slack-ops", "inline value in the configuration".
func (s SecretSource) Describe() string {
	switch {
	case s.File != "":
		return "file " + s.File
	case s.Env != "":
		return "environment variable " + s.Env
	case s.Credential != "":
		return "systemd credential " + s.Credential
	case !s.Inline.IsZero():
		return "inline value in the configuration"
	}
	return "no source"
}

// Slot returns the slot called name.
func (c *Config) Slot(name string) (Slot, bool) {
	if i, ok := c.slotIndex[name]; ok && i < len(c.Slots) && c.Slots[i].Name == name {
		return c.Slots[i], true
	}
	// Not built by Parse, or changed since: search.
	for _, s := range c.Slots {
		if s.Name == name {
			return s, true
		}
	}
	return Slot{}, false
}

// Notifier returns the notifier called name.
func (c *Config) Notifier(name string) (Notifier, bool) {
	if i, ok := c.notifierIndex[name]; ok && i < len(c.Notifiers) && c.Notifiers[i].Name == name {
		return c.Notifiers[i], true
	}
	for _, n := range c.Notifiers {
		if n.Name == name {
			return n, true
		}
	}
	return Notifier{}, false
}

// Resolve picks the configuration file: the --config flag when set, else
// DefaultPath when it exists, else ./config.toml when that exists, else
// DefaultPath (so the error names the file a host needs).
func Resolve(flagValue string) string { return resolvePath(flagValue, DefaultPath) }

func resolvePath(flagValue, defaultPath string) string {
	if flagValue != "" {
		return flagValue
	}
	// Anything but "does not exist" (e.g. permission denied) still picks
	// the default, so that Load reports the real problem with it rather
	// than quietly using another file.
	if _, err := os.Stat(defaultPath); !errors.Is(err, fs.ErrNotExist) {
		return defaultPath
	}
	if _, err := os.Stat("./config.toml"); !errors.Is(err, fs.ErrNotExist) {
		return "./config.toml"
	}
	return defaultPath
}

// Load reads and parses the file at path. Besides Parse's checks, it
// refuses a file that holds a secret (an inline notifier url, token or
// secret) while its mode lets group or others in, as ssh does. Problems in
// the file come back as Problems (errors.Is(err, ErrInvalid)); a file that
// cannot be read comes back as the wrapped I/O error.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the bytes read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory, not a file; pass --config FILE", ErrInvalid, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB; is it the right file?", ErrInvalid, path, maxFileSize>>20)
	}
	cfg, probs, secrets := parse(data, path)
	if cfg != nil {
		probs = append(probs, modeProblems(path, info.Mode(), secrets)...)
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	return cfg, nil
}

// inlineSecret is where the file holds a secret value, for Load's mode
// check.
type inlineSecret struct {
	line int
	key  string     // key path, e.g. notifier[ops].token
	spec secretSpec // which kind of secret
}

// modeProblems applies DESIGN §8: a file holding a secret must not be open
// to group or others. One problem, at the first secret, counts them all.
func modeProblems(path string, mode fs.FileMode, secrets []inlineSecret) Problems {
	perm := mode.Perm()
	if len(secrets) == 0 || perm&0o077 == 0 {
		return nil
	}
	// Count each kind, in the order first met.
	var kinds []secretSpec
	count := map[string]int{}
	for _, s := range secrets {
		if count[s.spec.key] == 0 {
			kinds = append(kinds, s.spec)
		}
		count[s.spec.key]++
	}
	var parts, moves []string
	for _, k := range kinds {
		parts = append(parts, k.count(count[k.key]))
		moves = append(moves, k.key+"_credential")
	}
	var what string
	switch {
	case len(kinds) > 1:
		what = fmt.Sprintf("%d secrets (%s)", len(secrets), strings.Join(parts, ", "))
	case len(secrets) > 1:
		what = parts[0] + " (secrets)"
	default:
		what = parts[0] + " (a secret)"
	}
	it := "it"
	if len(secrets) > 1 {
		it = "them"
	}
	access := "readable"
	if perm&0o044 == 0 {
		access = "writable"
	}
	return Problems{{
		File: path,
		Line: secrets[0].line,
		Key:  secrets[0].key,
		Message: fmt.Sprintf("%s holds %s but is %s by group or others (mode %04o); run: chmod 600 %s, or move %s out of the file with %s (or the _file or _env form)",
			filepath.Base(path), what, access, perm, path, it, orList(moves)),
	}}
}

// Parse parses and validates a configuration. filename names the file in
// messages and anchors relative paths (state_dir, inbox_dir, url_file);
// with no filename they are relative to the working directory. On any
// problem it returns a nil Config and Problems listing every one.
func Parse(data []byte, filename string) (*Config, error) {
	cfg, probs, _ := parse(data, filename)
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	return cfg, nil
}

// parse returns the config as far as it could be built (nil only on a
// TOML syntax error), its problems, and where it holds secrets.
func parse(data []byte, filename string) (*Config, Problems, []inlineSecret) {
	sum := sha256.Sum256(data)
	cfg := &Config{Checksum: hex.EncodeToString(sum[:])}
	p := &parser{file: filename}
	if filename != "" {
		if abs, err := filepath.Abs(filename); err == nil {
			cfg.Path = abs
			p.base = filepath.Dir(abs)
		}
	}

	var raw map[string]any
	// Editors on Windows may save a byte order mark, which TOML does not
	// allow but is no reason to refuse the file.
	if err := toml.Unmarshal(bytes.TrimPrefix(data, []byte("\ufeff")), &raw); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			p.add(line, "", "TOML syntax error: %s", syntaxMessage(data, line, de))
		} else {
			p.add(0, "", "TOML: %v", err)
		}
		return nil, p.probs, nil
	}
	p.src = string(data)
	p.build(raw, cfg)

	cfg.slotIndex = make(map[string]int, len(cfg.Slots))
	for i, s := range cfg.Slots {
		cfg.slotIndex[s.Name] = i
	}
	cfg.notifierIndex = make(map[string]int, len(cfg.Notifiers))
	for i, n := range cfg.Notifiers {
		cfg.notifierIndex[n.Name] = i
	}
	return cfg, p.probs, p.secrets
}

// syntaxMessage returns the parser's message unless it may quote a secret:
// the TOML library echoes the text it choked on, which in the value of
// url, token or secret is part of a webhook URL, bot token or signing key.
func syntaxMessage(data []byte, line int, de *toml.DecodeError) string {
	// DecodeError.Error is the bare message; String would quote the line.
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	// A duplicate key names the key, never its value.
	if strings.Contains(msg, "already") && strings.Contains(msg, "defined") {
		if key := de.Key(); len(key) > 1 {
			msg += " (" + strings.Join(key, ".") + ")"
		}
		return msg
	}
	if spec, ok := secretAtLine(data, line); ok {
		return fmt.Sprintf("in the value of %s (not shown: %s); check its quotes and escapes, e.g. %s = %s",
			spec.key, spec.notShown, spec.key, spec.example)
	}
	if secretLikeRE().MatchString(msg) {
		return "near what may be a secret (not shown); check the quotes and escapes on this line"
	}
	return msg
}

// secretLikeRE matches text that may be a secret: a URL (webhook URLs
// carry tokens), a signing secret, a Telegram bot token.
var secretLikeRE = lazyRegexp(`://|whsec_|[0-9]+:[A-Za-z0-9_-]{8,}`)

// inlineKeyRE finds an inline secret key assigned anywhere on a line, as
// in an inline table: {name = "ops", token = "…"}.
var inlineKeyRE = lazyRegexp(`(?:^|[\s{,.])["']?(url|token|secret)["']?\s*=`)

// secretAtLine reports whether line n (1-based) of data holds, or lies
// inside a multi-line value of, an inline secret key. data may not be
// valid TOML: the scan is the line index's, which never fails.
func secretAtLine(data []byte, n int) (secretSpec, bool) {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return secretSpec{}, false
	}
	var val valueScanner
	var last string // key whose value the scanner is in
	for i, text := range lines[:n] {
		s := strings.TrimLeft(text, " \t")
		if !val.open() {
			last = ""
			if keys, rest := parseKey(s, "="); len(keys) > 0 {
				last = keys[len(keys)-1]
				if i < n-1 {
					val.scan(rest)
				}
			}
		} else if i < n-1 {
			val.scan(text)
		}
	}
	if spec, ok := inlineSpecs[last]; ok {
		return spec, true
	}
	if m := inlineKeyRE().FindStringSubmatch(lines[n-1]); m != nil {
		return inlineSpecs[m[1]], true
	}
	return secretSpec{}, false
}
