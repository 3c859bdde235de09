package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier/receivers"
	"kpay-rotator/notifier/telegram"
	"kpay-rotator/notifier/webhook"
)

// A [[notifier]]'s credentials are secrets (DESIGN §8): a webhook URL
// carries its token, a bot token posts as the bot, a signing secret forges
// alerts. Each comes from exactly one of four keys, e.g. for the URL:
// url (inline, which makes the whole file a secret), url_file, url_env or
// url_credential (a systemd credential). No message ever quotes an inline
// value, nor a source key's value that looks like one (a URL pasted into
// url_file).

// secretSpec describes one kind of notifier secret.
type secretSpec struct {
	key      string // the inline key, and the prefix of its _file, _env and _credential forms
	what     string // "webhook URL", for messages
	example  string // an inline value for messages, never a real one
	notShown string // why a syntax error in the value is not quoted
	credName string // suffix of the credential name in examples: "ops" + "-token"
}

var (
	urlSpec = secretSpec{
		key: "url", what: "webhook URL", example: `"https://hooks.slack.com/services/…"`,
		notShown: "a webhook URL is a secret",
	}
	tokenSpec = secretSpec{
		key: "token", what: "bot token", example: `"123456789:AA…"`,
		notShown: "a bot token is a secret", credName: "-token",
	}
	signingSpec = secretSpec{
		key: "secret", what: "signing secret", example: `"whsec_…"`,
		notShown: "a signing secret is never shown", credName: "-secret",
	}
	secretSpecs = []secretSpec{urlSpec, tokenSpec, signingSpec}
	// inlineSpecs finds the spec of an inline key, for syntax errors.
	inlineSpecs = map[string]secretSpec{"url": urlSpec, "token": tokenSpec, "secret": signingSpec}
)

// keys are the four keys that can provide the secret, in the order
// messages list them when saying "only one".
func (s secretSpec) keys() []string {
	return []string{s.key, s.key + "_file", s.key + "_env", s.key + "_credential"}
}

// article is "a webhook URL".
func (s secretSpec) article() string { return "a " + s.what }

// count is "a webhook URL" or "2 webhook URLs".
func (s secretSpec) count(n int) string {
	if n == 1 {
		return s.article()
	}
	return fmt.Sprintf("%d %ss", n, s.what)
}

// sources lists the keys as the fix recommends them: the credential
// first, inline last.
func (s secretSpec) sources() string {
	return fmt.Sprintf("%s_credential, %s_file, %s_env or %s", s.key, s.key, s.key, s.key)
}

// looksLike reports whether a source key's value is the secret itself,
// pasted into url_file or token_env instead of url or token.
func (s secretSpec) looksLike(v string) bool {
	switch s.key {
	case "url":
		return strings.Contains(v, "://")
	case "token":
		return telegram.CheckTokenShape(kpay.NewSecret(v)) == nil || strings.Contains(v, "api.telegram.org")
	}
	return strings.HasPrefix(v, "whsec_")
}

// needs says which secrets a notifier type takes, and whether it takes a
// chat_id, as its receiver registers them (receivers.CredsOf).
func needs(typ string) ([]secretSpec, bool) {
	c, _ := receivers.CredsOf(typ)
	var specs []secretSpec
	for _, n := range []struct {
		takes bool
		spec  secretSpec
	}{{c.URL, urlSpec}, {c.Token, tokenSpec}, {c.SigningSecret, signingSpec}} {
		if n.takes {
			specs = append(specs, n.spec)
		}
	}
	return specs, c.ChatID
}

// needsText says what a type needs, for the fix of a key it does not use.
func needsText(typ string) string {
	switch typ {
	case "telegram":
		return "a telegram notifier needs only its bot token (" + tokenSpec.sources() + ") and chat_id"
	case "webhook":
		return "a webhook notifier needs only its URL (" + urlSpec.sources() + ") and signing secret (" + signingSpec.sources() + ")"
	}
	return "a " + typ + " notifier needs only its webhook URL (" + urlSpec.sources() + ")"
}

func (p *parser) notifier(t *table) Notifier {
	n := Notifier{
		MinSeverity: defaultMinSeverity, RepeatInterval: defaultRepeatInterval,
		GroupWait: defaultGroupWait, MaxDeliveryAge: defaultMaxDeliveryAge,
	}
	n.Name = p.name(t, "notifier")
	t.unknown()
	if s, ok := t.str("type"); ok {
		if !slices.Contains(receivers.Types, s) {
			hint := ""
			if c, ok := closest(s, receivers.Types); ok {
				hint = fmt.Sprintf("did you mean %q? ", c)
			}
			t.problem("type", "unknown notifier type %q; %suse one of: %s", s, hint, strings.Join(receivers.Types, ", "))
		} else {
			n.Type = s
		}
	} else if !t.has("type") {
		t.missing("type", "a type ("+strings.Join(receivers.Types, "|")+")")
	}

	// Without a usable type it is unknown which secrets are required;
	// the values set are still checked.
	known := n.Type != ""
	wanted, wantsChat := needs(n.Type)
	for _, spec := range secretSpecs {
		var src SecretSource
		if known && !slices.Contains(wanted, spec) {
			p.unused(t, spec, n.Type)
		} else {
			src = p.secretSource(t, spec, n, known)
		}
		switch spec {
		case urlSpec:
			n.URL = src
		case tokenSpec:
			n.Token = src
		case signingSpec:
			n.Secret = src
		}
	}

	switch {
	case known && !wantsChat && t.has("chat_id"):
		t.problem("chat_id", "is used only by telegram notifiers (the chat to post to); remove it: %s", needsText(n.Type))
	case t.has("chat_id"):
		if id, ok := t.chatID(); ok {
			n.ChatID = id
		}
	case wantsChat:
		t.bad["chat_id"] = true
		t.p.add(t.line(""), t.keyPath("chat_id"), `missing; a telegram notifier needs the chat to post to: chat_id = -1001234567890 (a group's or channel's numeric id) or chat_id = "@channelname" (a public channel)`)
	}

	if s, ok := t.str("min_severity"); ok {
		if sev, err := event.ParseSeverity(s); err != nil {
			t.problem("min_severity", "%v; e.g. min_severity = \"warning\"", err)
		} else {
			n.MinSeverity = sev
		}
	}
	if d, ok := t.duration("repeat_interval"); ok {
		if d <= 0 {
			t.problem("repeat_interval", "must be longer than zero; e.g. repeat_interval = \"4h\"")
		} else {
			n.RepeatInterval = d
		}
	}
	// ParseDuration refuses negative values, so any group_wait is >= 0.
	if d, ok := t.duration("group_wait"); ok {
		n.GroupWait = d
	}
	if d, ok := t.duration("max_delivery_age"); ok {
		if d <= 0 {
			t.problem("max_delivery_age", "must be longer than zero; e.g. max_delivery_age = \"24h\"")
		} else {
			n.MaxDeliveryAge = d
		}
	}
	if (t.has("group_wait") || t.has("max_delivery_age")) && !t.bad["group_wait"] && !t.bad["max_delivery_age"] && n.GroupWait >= n.MaxDeliveryAge {
		k := "group_wait"
		if !t.has(k) {
			k = "max_delivery_age"
		}
		t.problem(k, "group_wait (%s%s) must be shorter than max_delivery_age (%s%s), or every alert expires while it waits to be grouped; lower group_wait or raise max_delivery_age",
			formatDuration(n.GroupWait), t.defaultNote("group_wait"), formatDuration(n.MaxDeliveryAge), t.defaultNote("max_delivery_age"))
	}
	// Checked against the other notifiers by checkFallbacks.
	if s, ok := t.str("fallback"); ok {
		n.Fallback = s
	}
	return n
}

// defaultNote marks a value in a message as the built-in default when t
// does not set k.
func (t *table) defaultNote(k string) string {
	if t.has(k) {
		return ""
	}
	return ", built-in default"
}

// unused reports each key of spec that t sets although its type takes no
// such secret.
func (p *parser) unused(t *table, spec secretSpec, typ string) {
	why := "is used only by telegram notifiers (the bot token)"
	switch spec {
	case urlSpec:
		why = "is not used by telegram notifiers, which post to the Bot API with the bot token and chat_id"
	case signingSpec:
		why = "is used only by webhook notifiers (the key that signs each request)"
	}
	for _, k := range spec.keys() {
		if !t.has(k) {
			continue
		}
		p.noteInline(t, k, spec)
		t.problem(k, "%s; remove it: %s", why, needsText(typ))
	}
}

// noteInline records an inline secret for Load's mode check: it is in the
// file whether or not it is valid or wanted.
func (p *parser) noteInline(t *table, k string, spec secretSpec) {
	if k != spec.key {
		return
	}
	if s, ok := t.m[k].(string); ok && strings.TrimSpace(s) != "" {
		p.secrets = append(p.secrets, inlineSecret{line: t.line(k), key: t.keyPath(k), spec: spec})
	}
}

// secretSource reads the keys of spec: at most one may be set and, when
// the type is known (required), one must be.
func (p *parser) secretSource(t *table, spec secretSpec, n Notifier, required bool) SecretSource {
	var set []string
	for _, k := range spec.keys() {
		if t.has(k) {
			set = append(set, k)
		}
	}
	slices.SortStableFunc(set, func(a, b string) int { return cmp.Compare(t.line(a), t.line(b)) })

	var src SecretSource
	for _, k := range set {
		p.noteInline(t, k, spec)
		v, ok := t.str(k)
		if !ok {
			continue
		}
		var err error
		switch strings.TrimPrefix(k, spec.key) {
		case "":
			// The value is a secret: these messages never quote it.
			if err = checkInline(spec, v, n.Type); err == nil {
				src.Inline = kpay.NewSecret(v)
			}
		case "_file":
			if spec.looksLike(v) {
				err = pastedSecret(spec, k)
			} else {
				src.File = p.resolve(v)
			}
		case "_env":
			if err = checkEnvName(spec, k, v); err == nil {
				src.Env = v
			}
		case "_credential":
			if err = checkCredentialName(spec, k, v); err == nil {
				src.Credential = v
			}
		}
		if err != nil {
			t.problem(k, "%v", err)
		}
	}

	switch {
	case len(set) > 1:
		var others []string
		for _, k := range slices.Delete(slices.Clone(set), 1, 2) {
			others = append(others, fmt.Sprintf("%s (line %d)", k, t.line(k)))
		}
		t.problem(set[1], "conflicts with %s; set only one of %s", andList(others), strings.Join(spec.keys(), ", "))
		return SecretSource{}
	case len(set) == 0 && required:
		t.bad[spec.key] = true
		cred := exampleCredential(n) + spec.credName
		t.p.add(t.line(""), t.keyPath(spec.key), "missing; a %s notifier needs its %s: set one of %s; e.g. %s_credential = %q with LoadCredential=%s:/etc/kpay-rotator/%s in the systemd unit, or %s_file = \"/etc/kpay-rotator/%s\"",
			n.Type, spec.what, spec.sources(), spec.key, cred, cred, cred, spec.key, cred)
	}
	return src
}

// exampleCredential names a credential for n in examples: its name when
// usable, else its type.
func exampleCredential(n Notifier) string {
	if validName(n.Name) {
		return n.Name
	}
	return n.Type
}

var envRE = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkInline checks an inline secret value of a notifier of type typ
// ("" when unknown) with the rule its receiver applies at start and at
// every send, so that a file check-config accepts also starts. Its
// messages never quote the value.
func checkInline(spec secretSpec, v, typ string) error {
	s := kpay.NewSecret(v)
	switch spec {
	case urlSpec:
		if err := receivers.CheckURL(typ, s, "the URL"); err != nil {
			return fmt.Errorf("%w; e.g. url = %s", err, exampleWebhookURL(typ))
		}
	case tokenSpec:
		if err := telegram.CheckTokenShape(s); err != nil {
			return fmt.Errorf("the token is not a Telegram bot token; %w, e.g. token = %s", err, tokenSpec.example)
		}
	case signingSpec:
		if _, err := webhook.SigningKey(s, "the signing secret"); err != nil {
			return err
		}
	}
	return nil
}

// exampleWebhookURL is the shape of a webhook URL of type typ, quoted.
func exampleWebhookURL(typ string) string {
	if e := receivers.ExampleURL(typ); e != "" {
		return strconv.Quote(e)
	}
	return urlSpec.example
}

// pastedSecret is the problem of a source key holding the secret itself.
func pastedSecret(spec secretSpec, k string) error {
	var fix string
	switch strings.TrimPrefix(k, spec.key) {
	case "_file":
		fix = "put the value in a file (mode 0600) and give its path here"
	case "_env":
		fix = "put the value in an environment variable and give its name here"
	default:
		fix = "load the value with LoadCredential=NAME:/path in the systemd unit and give NAME here"
	}
	return fmt.Errorf("the value looks like %s itself (not shown); %s, e.g. %s = %s", spec.article(), fix, k, notifierSchema.example(k))
}

// checkEnvName checks an environment variable name; a bad one is not
// quoted, as it may be the secret pasted in.
func checkEnvName(spec secretSpec, k, v string) error {
	if envRE().MatchString(v) {
		return nil
	}
	if spec.looksLike(v) {
		return pastedSecret(spec, k)
	}
	return fmt.Errorf("is not an environment variable name (letters, digits and '_', not starting with a digit; the value is not shown in case it is the secret itself); e.g. %s = %s", k, notifierSchema.example(k))
}

// checkCredentialName checks a systemd credential name: a plain file name
// in $CREDENTIALS_DIRECTORY. A bad one is not quoted, as it may be the
// secret pasted in.
func checkCredentialName(spec secretSpec, k, v string) error {
	switch {
	case spec.looksLike(v):
		return pastedSecret(spec, k)
	case strings.ContainsAny(v, `/\`):
		return fmt.Errorf("contains '/' or '\\': a credential name is the NAME of LoadCredential=NAME:/path in the systemd unit, not a path; e.g. %s = %s, or for a path use %s_file", k, notifierSchema.example(k), spec.key)
	case v == "." || v == "..":
		return fmt.Errorf("is not a credential name: %q is a directory; e.g. %s = %s", v, k, notifierSchema.example(k))
	case len(v) > 255:
		return fmt.Errorf("is %d bytes long; a credential name is a file name, at most 255 bytes; e.g. %s = %s", len(v), k, notifierSchema.example(k))
	case strings.ContainsRune(v, 0):
		return fmt.Errorf("contains a NUL character, which no file name can hold; e.g. %s = %s", k, notifierSchema.example(k))
	}
	return nil
}

// chatID reads chat_id: a whole number or a string.
func (t *table) chatID() (string, bool) {
	v := t.m["chat_id"]
	var s string
	switch v := v.(type) {
	case int64:
		s = strconv.FormatInt(v, 10)
	case string:
		var ok bool
		if s, ok = t.str("chat_id"); !ok {
			return "", false
		}
	default:
		t.typeProblem("chat_id", v, "a whole number or a string")
		return "", false
	}
	if err := telegram.CheckChatID(s); err != nil {
		t.problem("chat_id", "%q is not a Telegram chat id; %v", s, err)
		return "", false
	}
	return s, true
}

// checkFallbacks reports fallbacks naming no other notifier, and chains of
// fallbacks that loop: an alert none of them can deliver would go round
// for ever.
func (p *parser) checkFallbacks(tables []*table) {
	var defined []string
	byName := map[string]*table{}
	for _, t := range tables {
		if v, ok := t.m["name"].(string); ok && v != "" && byName[v] == nil {
			defined = append(defined, v)
			byName[v] = t
		}
	}
	next := map[string]string{} // notifier -> its fallback, where usable
	for _, t := range tables {
		fb, ok := t.m["fallback"].(string)
		if !ok || t.bad["fallback"] {
			continue
		}
		name, _ := t.m["name"].(string)
		switch {
		case fb == name:
			t.problem("fallback", "names this notifier itself; a fallback is another [[notifier]], which gets the alerts this one cannot deliver; name one or remove the line")
		case byName[fb] == nil:
			others := slices.DeleteFunc(slices.Clone(defined), func(d string) bool { return d == name })
			var hint string
			switch c, ok := closest(fb, others); {
			case ok:
				hint = fmt.Sprintf("did you mean %q? ", c)
			case len(others) > 0:
				hint = fmt.Sprintf("defined notifiers: %s; ", strings.Join(others, ", "))
			}
			t.problem("fallback", "names notifier %q, which is not defined; %sadd a [[notifier]] with name = %q or remove the line", fb, hint, fb)
		case byName[name] == t:
			next[name] = fb
		}
	}

	// Each notifier has at most one fallback, so following them from a
	// notifier either ends or enters one loop. The loop is reported once,
	// at its member that comes first in the file.
	reported := map[string]bool{}
	for _, name := range defined {
		if reported[name] {
			continue
		}
		chain := []string{name}
		for cur := name; ; {
			nx, ok := next[cur]
			if !ok {
				break
			}
			if i := slices.Index(chain, nx); i >= 0 {
				if i == 0 {
					p.reportCycle(append(chain, nx), byName)
					for _, c := range chain {
						reported[c] = true
					}
				}
				break
			}
			chain = append(chain, nx)
			cur = nx
		}
	}
}

func (p *parser) reportCycle(cycle []string, byName map[string]*table) {
	var lines []string
	for _, name := range cycle[:len(cycle)-1] {
		lines = append(lines, strconv.Itoa(byName[name].line("fallback")))
	}
	t := byName[cycle[0]]
	t.problem("fallback", "fallback cycle: %s (fallback at lines %s); an alert none of them can deliver would be handed round for ever; remove fallback from one of them",
		strings.Join(cycle, " → "), andList(lines))
}

// andList joins items as "a", "a and b", "a, b and c".
func andList(items []string) string { return joinList(items, "and") }

// orList joins items as "a", "a or b", "a, b or c".
func orList(items []string) string { return joinList(items, "or") }

func joinList(items []string, conj string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}
