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

	"github.com/BurntSushi/toml"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
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
	StallAfter  time.Duration // rotation_stalled when a verified pair is still unwritten after this; default 2m
	Jitter      time.Duration // random delay before each probe; default 30s

	// Cron specs accepted by cron.ParseStandard; defaults "*/5 * * * *"
	// and "* * * * *".
	ProbeSchedule, RetiredSchedule string

	FailureThreshold int      // consecutive rejections before failing; default 2, >= 1
	Notify           []string // notifier names, each defined; default from [defaults], else none
	CreateIfMissing  bool     // create the secret if it does not exist; default false

	Line int // line of the [[slot]] header
}

// Notifier is one [[notifier]]: a chat destination for alerts.
type Notifier struct {
	Name string
	Type string // slack|discord|teams|googlechat|mattermost|telegram|webhook
	// Exactly one of URL (inline; makes the file a secret) and URLFile
	// (read at send time, e.g. a systemd credential) is set.
	URL            kpay.Secret
	URLFile        string
	MinSeverity    event.Severity // default warning
	RepeatInterval time.Duration  // an active condition repeats this often; default 4h
	Line           int            // line of the [[notifier]] header
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
// DefaultPath when it exists, else ./config.toml.
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
	return "./config.toml"
}

// Load reads and parses the file at path. Besides Parse's checks, it
// refuses a file that holds a secret (an inline notifier url) while its
// mode lets group or others in, as ssh does. Problems in the file come back
// as Problems (errors.Is(err, ErrInvalid)); a file that cannot be read
// comes back as the wrapped I/O error.
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
		return nil, fmt.Errorf("read config: %s is a directory, not a file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read config: %s is larger than %d MiB; is it the right file?", path, maxFileSize>>20)
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

// modeProblems applies DESIGN §8: a file holding a secret must not be open
// to group or others.
func modeProblems(path string, mode fs.FileMode, secrets []Problem) Problems {
	perm := mode.Perm()
	if len(secrets) == 0 || perm&0o077 == 0 {
		return nil
	}
	what, it := "a webhook URL (a secret)", "the URL"
	if len(secrets) > 1 {
		what, it = fmt.Sprintf("%d webhook URLs (secrets)", len(secrets)), "the URLs"
	}
	access := "readable"
	if perm&0o044 == 0 {
		access = "writable"
	}
	return Problems{{
		File: path,
		Line: secrets[0].Line,
		Key:  secrets[0].Key,
		Message: fmt.Sprintf("%s holds %s but is %s by group or others (mode %04o); run: chmod 600 %s, or move %s to url_file",
			filepath.Base(path), what, access, perm, path, it),
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
func parse(data []byte, filename string) (*Config, Problems, []Problem) {
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
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.add(pe.Position.Line, "", "TOML syntax error: %s", syntaxMessage(data, pe))
		} else {
			p.add(0, "", "TOML: %v", err)
		}
		return nil, p.probs, nil
	}
	p.lines = indexLines(string(data))
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
// the TOML library echoes the text it choked on, which on a url line is
// part of a webhook URL.
func syntaxMessage(data []byte, pe toml.ParseError) string {
	lines := strings.Split(string(data), "\n")
	if n := pe.Position.Line; n >= 1 && n <= len(lines) {
		if keys, _ := parseKey(strings.TrimLeft(lines[n-1], " \t"), "="); len(keys) > 0 && keys[len(keys)-1] == "url" {
			return "in the value of url (not shown: a webhook URL is a secret); check its quotes and escapes, e.g. url = \"https://hooks.slack.com/services/…\""
		}
	}
	if strings.Contains(pe.Message, "://") {
		return "near a URL (not shown: it may be a secret); check its quotes and escapes"
	}
	return pe.Message
}
