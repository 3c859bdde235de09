package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"kpay-rotator/awssecrets/endpoint"
	"kpay-rotator/healthcheck"
	"kpay-rotator/internal/credurl"
	"kpay-rotator/kpay"
)

// build walks the decoded file and fills cfg, collecting problems.
func (p *parser) build(raw map[string]any, cfg *Config) {
	root := p.newTable(raw, nil, "", &topSchema)
	root.unknown()

	daemon := root.sub("daemon", &daemonSchema)
	storeT := root.sub("store", &storeSchema)
	retention := root.sub("retention", &retentionSchema)
	kp := root.sub("kpay", &kpaySchema)
	aws := root.sub("aws", &awsSchema)
	defs := root.sub("defaults", &defaultsSchema)
	for _, t := range []*table{daemon, storeT, retention, kp, aws, defs} {
		t.unknown()
	}
	cfg.Daemon = p.daemon(daemon)
	cfg.Store = p.store(storeT)
	cfg.Retention = p.retention(retention)
	cfg.KPay = p.kpay(kp)
	cfg.AWS = p.aws(aws)
	inherited := p.overlay(defs, builtinLayer(), "the built-in defaults")

	notifierTables := root.array("notifier", &notifierSchema, "notifier")
	for _, t := range notifierTables {
		cfg.Notifiers = append(cfg.Notifiers, p.notifier(t))
	}
	slotTables := root.array("slot", &slotSchema, "slot")
	for _, t := range slotTables {
		cfg.Slots = append(cfg.Slots, p.slot(t, inherited))
	}

	p.checkNames("slot", slotTables)
	p.checkNames("notifier", notifierTables)
	p.checkFallbacks(notifierTables)
	for _, k := range []string{"notify", "security_notify"} {
		p.checkNotify(defs, k, notifierTables)
		for _, t := range slotTables {
			p.checkNotify(t, k, notifierTables)
		}
	}
	p.checkSharedFields(cfg.Slots, slotTables)
}

func (p *parser) daemon(t *table) Daemon {
	d := Daemon{StateDir: defaultStateDir, InboxDir: defaultInboxDir, Listen: defaultListen}
	if s, ok := t.str("state_dir"); ok {
		d.StateDir = p.resolve(s)
	}
	if s, ok := t.str("inbox_dir"); ok {
		d.InboxDir = p.resolve(s)
	}
	if s, ok := t.str("listen"); ok {
		if err := checkListen(s); err != nil {
			t.problem("listen", "%v", err)
		} else {
			d.Listen = s
		}
	}
	if d.StateDir == d.InboxDir && !t.bad["state_dir"] && !t.bad["inbox_dir"] {
		k := "inbox_dir"
		if !t.has(k) {
			k = "state_dir"
		}
		t.problem(k, "state_dir and inbox_dir are both %s; keep the inbox apart (on tmpfs, e.g. /run/kpay-rotator/inbox) so handed-over pairs never reach the disk", d.StateDir)
	}
	return d
}

func (p *parser) retention(t *table) Retention {
	r := Retention{
		MaxEvents: defaultMaxEvents, MaxEventAge: defaultMaxEventAge,
		ProbeHistory: defaultProbeHistory, MaxProbeAge: defaultMaxProbeAge,
		MaxRevokedPairs: defaultMaxRevokedPairs, MaxRevokedPairAge: defaultMaxRevokedPairAge,
	}
	for _, c := range []struct {
		key, what string
		v         *int
		def       int
	}{
		{"max_events", "events", &r.MaxEvents, defaultMaxEvents},
		{"probe_history", "probes of each pair", &r.ProbeHistory, defaultProbeHistory},
		{"max_revoked_pairs", "records of revoked pairs per slot (status shows the latest)", &r.MaxRevokedPairs, defaultMaxRevokedPairs},
	} {
		if n, ok := t.integer(c.key); ok {
			if n < 1 {
				t.problem(c.key, "is %d; keep at least 1 of the %s; e.g. %s = %d (the default), or remove the line", n, c.what, c.key, c.def)
			} else {
				*c.v = n
			}
		}
	}
	for _, c := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{
		{"max_event_age", &r.MaxEventAge, defaultMaxEventAge},
		{"max_probe_age", &r.MaxProbeAge, defaultMaxProbeAge},
	} {
		if d, ok := t.duration(c.key); ok {
			if d <= 0 {
				t.problem(c.key, "must be longer than zero; e.g. %s = %q (the default), or remove the line", c.key, formatDuration(c.def))
			} else {
				*c.v = d
			}
		}
	}
	if d, ok := t.duration("max_revoked_pair_age"); ok {
		if d < RevokedShown {
			t.problem("max_revoked_pair_age", "is %s; status shows a revoked pair for %s, so keep its record at least that long; e.g. max_revoked_pair_age = %q (the default)",
				formatDuration(d), formatDuration(RevokedShown), formatDuration(defaultMaxRevokedPairAge))
		} else {
			r.MaxRevokedPairAge = d
		}
	}
	return r
}

func (p *parser) kpay(t *table) KPay {
	k := KPay{BaseURL: defaultBaseURL, Timeout: defaultTimeout, RequestsPerMinute: defaultRequestsPerMinute, Concurrency: defaultConcurrency}
	if s, ok := t.str("base_url"); ok {
		if u, err := healthcheck.CheckBaseURL(s, credurl.Show(s)); err != nil {
			t.problem("base_url", "%v; e.g. base_url = %s", err, t.schema.example("base_url"))
		} else {
			k.BaseURL = u
		}
	}
	if d, ok := t.duration("timeout"); ok {
		if d <= 0 {
			t.problem("timeout", "must be longer than zero; e.g. timeout = \"10s\"")
		} else {
			k.Timeout = d
		}
	}
	if n, ok := t.integer("requests_per_minute"); ok {
		if n < 1 || n > maxRequestsPerMinute {
			t.problem("requests_per_minute", "is %d; it must be 1 to %d, since KPay allows about %d a minute shared with the production traffic that uses the same pairs; e.g. requests_per_minute = %d",
				n, maxRequestsPerMinute, maxRequestsPerMinute, defaultRequestsPerMinute)
		} else {
			k.RequestsPerMinute = n
		}
	}
	if n, ok := t.integer("concurrency"); ok {
		if n < 1 {
			t.problem("concurrency", "is %d; it must be at least 1; e.g. concurrency = %d", n, defaultConcurrency)
		} else {
			k.Concurrency = n
		}
	}
	return k
}

var regionRE = lazyRegexp(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (p *parser) aws(t *table) AWS {
	a := AWS{Concurrency: defaultAWSConcurrency}
	if n, ok := t.integer("concurrency"); ok {
		if n < 1 || n > maxAWSConcurrency {
			t.problem("concurrency", "is %d; it must be 1 to %d (Secrets Manager calls in flight while every slot is read); e.g. concurrency = %d", n, maxAWSConcurrency, defaultAWSConcurrency)
		} else {
			a.Concurrency = n
		}
	}
	if s, ok := t.str("region"); ok {
		if !regionRE().MatchString(s) {
			t.problem("region", "%q is not an AWS region name; e.g. region = \"eu-west-1\", or remove it to use the SDK's default (AWS_REGION)", s)
		} else {
			a.Region = s
		}
	}
	if s, ok := t.str("endpoint"); ok {
		if u, err := endpoint.Check(s, credurl.Show(s)); err != nil {
			t.problem("endpoint", "%v; e.g. endpoint = %s", err, t.schema.example("endpoint"))
		} else {
			a.Endpoint = u
		}
	}
	return a
}

func (p *parser) slot(t *table, inherited layer) Slot {
	s := Slot{APIKeyField: defaultAPIKeyField, SecretKeyField: defaultSecretKeyField}
	s.Name = p.name(t, "slot")
	t.unknown()

	if v, ok := t.str("environment"); ok {
		if env, err := kpay.ParseEnvironment(v); err != nil {
			t.problem("environment", "%v; write environment = \"live\" for kpay_live_ keys or \"test\" for kpay_test_ keys", err)
		} else {
			s.Environment = env
		}
	} else if !t.has("environment") {
		t.missing("environment", `an environment ("live" or "test")`)
	}
	if v, ok := t.str("secret_id"); ok {
		if err := checkSecretID(v); err != nil {
			t.problem("secret_id", "%v", err)
		} else {
			s.SecretID = v
		}
	} else if !t.has("secret_id") {
		t.missing("secret_id", "the Secrets Manager secret (name or ARN) that holds the pair")
	}
	if v, ok := t.str("api_key_field"); ok {
		s.APIKeyField = v
	}
	if v, ok := t.str("secret_key_field"); ok {
		s.SecretKeyField = v
	}
	if s.APIKeyField == s.SecretKeyField && !t.bad["api_key_field"] && !t.bad["secret_key_field"] {
		k := "secret_key_field"
		if !t.has(k) {
			k = "api_key_field"
		}
		t.problem(k, "api_key_field and secret_key_field are both %q; the two halves of the pair need two fields of the secret's JSON", s.APIKeyField)
	}
	if v, ok := t.str("application_id"); ok {
		if !kpay.IsApplicationID(v) {
			t.problem("application_id", "%q is not a UUID (8-4-4-4-12 hex digits); copy application.id from GET /api/v1/payments/me, or remove the line to learn it from the first good probe", v)
		} else {
			// UUIDs compare case-insensitively; KPay answers in lower case.
			s.ApplicationID = strings.ToLower(v)
		}
	}
	if b, ok := t.boolean("create_if_missing"); ok {
		s.CreateIfMissing = b
	}
	if b, ok := t.boolean("allow_secrets_manager_rotation"); ok {
		s.AllowSecretsManagerRotation = b
	}

	l := p.overlay(t, inherited, "[defaults]")
	s.MaxAge, s.WarnBefore, s.RevokeGrace, s.Jitter = l.MaxAge, l.WarnBefore, l.RevokeGrace, l.Jitter
	s.RetiredWatch, s.RetiredWatchMax = l.RetiredWatch, l.RetiredWatchMax
	if s.RetiredWatch == 0 {
		s.RetiredWatch = retiredWatchFor(s.RevokeGrace)
	}
	s.StallAfter = l.StallAfter
	s.ProbeSchedule, s.RetiredSchedule, s.DriftSchedule = l.ProbeSchedule, l.RetiredSchedule, l.DriftSchedule
	s.FailureThreshold = l.FailureThreshold
	s.Notify = l.Notify
	s.SecurityNotify = l.SecurityNotify
	return s
}

// validName keeps slot and notifier names safe as command-line arguments,
// file names, metric labels and bbolt keys: 1 to 63 of a-z, 0-9, '.',
// '_' and '-', starting with a letter or digit. (Counted repetitions make
// regexps slow to compile and match; every command pays for it at start.)
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

// validHostname: dot-separated labels of 1 to 63 letters, digits and
// inner hyphens.
func validHostname(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// validSecretName: a Secrets Manager name is 1 to 512 letters, digits and
// /_+=.@-.
func validSecretName(s string) bool {
	if len(s) == 0 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("/_+=.@-", rune(c)) {
			return false
		}
	}
	return true
}

// name reads the required name of a slot or notifier and, when it is
// usable, labels the table with it: slot[payments-live].
func (p *parser) name(t *table, noun string) string {
	v, ok := t.str("name")
	if !ok {
		if !t.has("name") {
			t.missing("name", "a name")
		}
		return ""
	}
	if !validName(v) {
		hint := ""
		if s := suggestName(v); s != "" && s != v {
			hint = fmt.Sprintf(", e.g. %q", s)
		}
		t.problem("name", "%q cannot be used as a %s name: it appears on command lines and in file names, so use 1 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit%s", v, noun, hint)
		return v
	}
	t.label = fmt.Sprintf("%s[%s]", noun, v)
	return v
}

// suggestName turns an unusable name into a usable one, when it can.
func suggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '/' || r == ':':
			b.WriteByte('-')
		}
	}
	out := strings.TrimLeft(b.String(), "._-")
	if len(out) > 63 {
		out = out[:63]
	}
	if !validName(out) {
		return ""
	}
	return out
}

// checkNames reports names used by two tables, at the second, pointing to
// the first.
func (p *parser) checkNames(noun string, tables []*table) {
	first := map[string]*table{}
	for _, t := range tables {
		v, ok := t.m["name"].(string)
		if !ok || v == "" || t.bad["name"] {
			continue
		}
		f, dup := first[v]
		if !dup {
			first[v] = t
			continue
		}
		where := ""
		if l := f.line("name"); l > 0 {
			where = fmt.Sprintf(" at line %d", l)
		}
		t.problem("name", "duplicate %s name %q: also used by the %s%s; %s names must be unique, rename one", noun, v, f.schema.section, where, noun)
	}
}

// checkNotify reports entries of t's notifier list k (notify,
// security_notify) naming no [[notifier]]. Only where t sets k itself:
// inherited lists are checked at [defaults].
func (p *parser) checkNotify(t *table, k string, notifiers []*table) {
	if !t.has(k) || t.bad[k] {
		return
	}
	var defined []string
	for _, n := range notifiers {
		if v, ok := n.m["name"].(string); ok && v != "" && !slices.Contains(defined, v) {
			defined = append(defined, v)
		}
	}
	names, _ := t.strs(k)
	for _, name := range names {
		if slices.Contains(defined, name) {
			continue
		}
		var hint string
		switch c, ok := closest(name, defined); {
		case ok:
			hint = fmt.Sprintf("did you mean %q? ", c)
		case len(defined) > 0:
			hint = fmt.Sprintf("defined notifiers: %s; ", strings.Join(defined, ", "))
		}
		t.problem(k, "names notifier %q, which is not defined; %sadd a [[notifier]] with name = %q or remove it from the list", name, hint, name)
	}
}

// checkSharedFields reports two slots managing the same field of the same
// secret: each would overwrite the other's pair.
func (p *parser) checkSharedFields(slots []Slot, tables []*table) {
	type field struct{ secret, field string }
	owner := map[field]int{}
	for i, s := range slots {
		if s.SecretID == "" {
			continue
		}
		for _, f := range []string{s.APIKeyField, s.SecretKeyField} {
			key := field{s.SecretID, f}
			j, taken := owner[key]
			if taken && j == i {
				continue // api_key_field == secret_key_field, reported in slot
			}
			if !taken {
				owner[key] = i
				continue
			}
			other := tables[j].label
			if l := tables[j].line("secret_id"); l > 0 {
				other += fmt.Sprintf(" (line %d)", l)
			}
			tables[i].problem("secret_id", "%s also keeps its pair in field %q of secret %q; each slot needs its own secret or its own api_key_field and secret_key_field", other, f, s.SecretID)
			break
		}
	}
}

// schedule reads a cron spec, validated as the scheduler will parse it.
func (t *table) schedule(k string) (string, bool) {
	s, ok := t.str(k)
	if !ok {
		return "", false
	}
	if k == "probe_schedule" && s == AutoSchedule {
		return s, true
	}
	if err := checkCron(s); err != nil {
		t.problem(k, "invalid cron spec %q: %v; use 5 fields (minute hour day-of-month month day-of-week), e.g. %s = %s, or a descriptor such as \"@hourly\" or \"@every 10m\"", s, err, k, t.schema.example(k))
		return "", false
	}
	return s, true
}

func checkCron(spec string) (err error) {
	// cron v3.0.1 panics on "TZ=Zone" with no schedule after it
	// (it slices up to a space it never found).
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("a TZ= prefix must be followed by a space and the schedule")
		}
	}()
	_, err = cron.ParseStandard(spec)
	return err
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port; e.g. listen = \"127.0.0.1:9477\" ([::1]:9477 for IPv6)", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port (a number from 0 to 65535); e.g. listen = \"127.0.0.1:9477\"", s)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("%q has no valid host (an IP address or host name); e.g. listen = \"127.0.0.1:9477\"", s)
	}
	return nil
}

var (
	// ARNs as AWS prints them, in any partition.
	secretARNRE = lazyRegexp(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
)

func checkSecretID(s string) error {
	if strings.HasPrefix(s, "arn:") {
		if !secretARNRE().MatchString(s) {
			return fmt.Errorf("%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX); copy it from the console or `aws secretsmanager describe-secret`, or use the secret's name", s)
		}
		return nil
	}
	if !validSecretName(s) {
		return fmt.Errorf("%q is not a Secrets Manager secret name (1 to 512 letters, digits and /_+=.@-); e.g. secret_id = \"prod/payments/kpay\", or use the secret's ARN", s)
	}
	return nil
}

// resolve makes a path from the file absolute: relative paths are relative
// to the config file's directory, so the file means the same whatever the
// daemon's working directory (systemd runs it in /).
func (p *parser) resolve(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	if p.base == "" {
		if abs, err := filepath.Abs(path); err == nil {
			return abs
		}
		return filepath.Clean(path)
	}
	return filepath.Join(p.base, path)
}

// lazyRegexp compiles expr on first use: every command starts by loading
// this package, and most never need most of its patterns.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
