package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"kpay-rotator/awssecrets/awstest"
	"kpay-rotator/kpay"
	"kpay-rotator/kpayemu"
)

// shippedConfig writes the repository's config.toml as installed, with
// every default it ships, pointed at the emulators: its [daemon], [kpay],
// [aws] and [defaults] as they are (paths, base_url and region aside),
// then n live slots with their pairs in Secrets Manager, and notifier
// "ops" (the name the shipped [defaults] notify) as a signed webhook to
// hook. slotExtra is TOML added to every [[slot]]. It returns the slot
// names; the fixture's own slots are dropped.
func (f *fixture) shippedConfig(n int, hook *hookReceiver, hookSecret string, slotExtra ...string) []string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config.toml"))
	if err != nil {
		f.t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(b), "\n[[slot]]")
	for key, value := range map[string]string{
		"state_dir": "state", "inbox_dir": "inbox", "listen": "127.0.0.1:0",
		"base_url": f.kpay.URL, "region": awstest.Region,
	} {
		re := regexp.MustCompile(`(?m)^` + key + ` = .*$`)
		if !re.MatchString(text) {
			f.t.Fatalf("config.toml has no %s line to point at the test", key)
		}
		text = re.ReplaceAllLiteralString(text, fmt.Sprintf("%s = %q", key, value))
	}
	var cfg strings.Builder
	cfg.WriteString(text)
	names := make([]string, n)
	f.apps = map[string]kpayemu.Application{}
	for i := range names {
		name := fmt.Sprintf("slot-%04d", i)
		names[i] = name
		app := f.kpay.CreateApplication(name)
		f.apps[name] = app
		p, _ := f.kpay.Pair(app.ID, kpay.Live)
		if _, err := f.aws.PutJSON(context.Background(), "prod/"+name, secretJSON(p, "postgres://app@db/app")); err != nil {
			f.t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "\n[[slot]]\nname = %q\nenvironment = \"live\"\nsecret_id = \"prod/%s\"\n%s\n", name, name, strings.Join(slotExtra, "\n"))
	}
	f.addWebhook("ops", hook, hookSecret, &cfg)
	if err := os.WriteFile(f.cfgPath, []byte(cfg.String()), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return names
}

// addWebhook adds a signed-webhook [[notifier]] named name, to hook.
func (f *fixture) addWebhook(name string, hook *hookReceiver, hookSecret string, cfg *strings.Builder) {
	fmt.Fprintf(cfg, "\n[[notifier]]\nname = %q\ntype = \"webhook\"\nurl_file = %q\nsecret_file = %q\n", name,
		writeSecretFile(f.t, f.dir, name+".url", hook.srv.URL), writeSecretFile(f.t, f.dir, name+".secret", hookSecret))
}

// regenerateLive regenerates a shipped-config slot's pair, as the dashboard
// does.
func (f *fixture) regenerateLive(slot string) kpay.Pair {
	f.t.Helper()
	p, err := f.kpay.Regenerate(f.apps[slot].ID, kpay.Live)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}
