package config

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

// Canaries planted as inline secrets: no problem, error or printed Config
// may contain them. canary5ecret is in base64's alphabet, so a whsec_
// secret can hold it verbatim.
const (
	canaryToken   = "123456789:canary-5ecret-AAAAAAAAAAAAAA"
	canarySigning = "whsec_canary5ecretAAAAAAAAAAAAAAAAAAAAAAA="
)

func TestParse_NotifierRules(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("canary5ecret-16b"))
	tests := []struct {
		name  string
		toml  string
		wants []want
	}{
		// Type.
		{"unknown notifier type", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slak"`,
			`url_file = "/x"`,
		), []want{{3, "notifier[ops].type", `unknown notifier type "slak"; did you mean "slack"? use one of: slack, discord, teams, googlechat, mattermost, telegram, webhook`}}},
		{"unknown type: values still checked, nothing required", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "sms"`,
			`url_env = "1SLACK"`,
		), []want{
			{3, "notifier[ops].type", `unknown notifier type "sms"`},
			{4, "notifier[ops].url_env", "is not an environment variable name"},
		}},

		// One source per secret.
		{"url and url_file both set", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url = "https://hooks.slack.com/services/T/B/canary-5ecret"`,
			`url_file = "/x"`,
		), []want{{5, "notifier[ops].url_file", "conflicts with url (line 4); set only one of url, url_file, url_env, url_credential"}}},
		{"three url sources, reported once", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "discord"`,
			`url_credential = "discord-ops"`,
			`url_env = "DISCORD_URL"`,
			`url_file = "/x"`,
		), []want{{5, "notifier[ops].url_env", "conflicts with url_credential (line 4) and url_file (line 6); set only one of url, url_file, url_env, url_credential"}}},
		{"token and token_credential both set", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = 42`,
			`token = "`+canaryToken+`"`,
		), []want{{6, "notifier[tg].token", "conflicts with token_credential (line 4); set only one of token, token_file, token_env, token_credential"}}},
		{"secret_env and secret_file both set", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret_env = "HOOK_SECRET"`,
			`secret_file = "/etc/kpay-rotator/hook.secret"`,
		), []want{{6, "notifier[hook].secret_file", "conflicts with secret_env (line 5); set only one of secret, secret_file, secret_env, secret_credential"}}},

		// Required secrets, per type.
		{"slack without a url", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
		), []want{{1, "notifier[ops].url", `missing; a slack notifier needs its webhook URL: set one of url_credential, url_file, url_env or url; e.g. url_credential = "ops" with LoadCredential=ops:/etc/kpay-rotator/ops in the systemd unit, or url_file = "/etc/kpay-rotator/ops"`}}},
		{"telegram without token or chat_id", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
		), []want{
			{1, "notifier[tg].token", `missing; a telegram notifier needs its bot token: set one of token_credential, token_file, token_env or token; e.g. token_credential = "tg-token" with LoadCredential=tg-token:/etc/kpay-rotator/tg-token`},
			{1, "notifier[tg].chat_id", `missing; a telegram notifier needs the chat to post to: chat_id = -1001234567890`},
		}},
		{"webhook without a signing secret", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
		), []want{{1, "notifier[hook].secret", `missing; a webhook notifier needs its signing secret: set one of secret_credential, secret_file, secret_env or secret; e.g. secret_credential = "hook-secret"`}}},
		{"webhook without url or secret; example named by type", src(
			`[[notifier]]`,
			`name = "Hook"`,
			`type = "webhook"`,
		), []want{
			{1, "notifier[1].url", `e.g. url_credential = "webhook" with`},
			{1, "notifier[1].secret", `e.g. secret_credential = "webhook-secret" with`},
			{2, "notifier[1].name", "cannot be used as a notifier name"},
		}},

		// Keys the type does not use.
		{"telegram with a url", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = "@kpayalerts"`,
			`url = "https://api.telegram.org/bot`+canaryToken+`/sendMessage"`,
		), []want{{6, "notifier[tg].url", "is not used by telegram notifiers, which post to the Bot API with the bot token and chat_id; remove it: a telegram notifier needs only its bot token (token_credential, token_file, token_env or token) and chat_id"}}},
		{"slack with token, secret and chat_id", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = "ops"`,
			`token_env = "TOKEN"`,
			`secret = "`+canarySigning+`"`,
			`chat_id = 42`,
		), []want{
			{5, "notifier[ops].token_env", "is used only by telegram notifiers (the bot token); remove it: a slack notifier needs only its webhook URL (url_credential, url_file, url_env or url)"},
			{6, "notifier[ops].secret", "is used only by webhook notifiers (the key that signs each request); remove it"},
			{7, "notifier[ops].chat_id", "is used only by telegram notifiers (the chat to post to); remove it"},
		}},
		{"webhook with a token", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret_credential = "hook-secret"`,
			`token_credential = "hook-token"`,
		), []want{{6, "notifier[hook].token_credential", "a webhook notifier needs only its URL (url_credential, url_file, url_env or url) and signing secret (secret_credential, secret_file, secret_env or secret)"}}},

		// Inline values: checked, never quoted.
		{"webhook url over plain http", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "webhook"`,
			`url = "http://alerts.example.com/hook?token=canary-5ecret"`,
			`secret_credential = "ops-secret"`,
		), []want{{4, "notifier[ops].url", "the URL uses plain http"}}},
		{"inline url without https, example for the type", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "discord"`,
			`url = "discord.com/api/webhooks/1/canary-5ecret"`,
		), []want{{4, "notifier[ops].url", `the URL must start with https://; e.g. url = "https://discord.com/api/webhooks/…"`}}},
		{"teams connector url", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "teams"`,
			`url = "https://contoso.webhook.office.com/webhookb2/canary-5ecret"`,
		), []want{{4, "notifier[ops].url", "Office 365 connector webhook, which Microsoft retired"}}},
		{"inline token malformed", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "canary-5ecret"`,
			`chat_id = 42`,
		), []want{{4, "notifier[tg].token", `the token is not a Telegram bot token; use the token as @BotFather issues it: digits, ':', then 20 or more letters, digits, '_' or '-', e.g. token = "123456789:AA…"`}}},
		{"inline token with the bot prefix", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "bot`+canaryToken+`"`,
			`chat_id = 42`,
		), []want{{4, "notifier[tg].token", `write the token without the "bot" prefix`}}},
		{"inline token as the Bot API URL", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "https://api.telegram.org/bot`+canaryToken+`/"`,
			`chat_id = 42`,
		), []want{{4, "notifier[tg].token", "write only the token, not the Bot API URL"}}},
		{"signing secret without whsec_", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret = "canary5ecretAAAAAAAAAAAAAAAAAAAAAAA="`,
		), []want{{5, "notifier[hook].secret", "the signing secret does not start with whsec_ (Standard Webhooks secrets are whsec_ followed by base64); make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"}}},
		{"signing secret not base64", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret = "whsec_canary5ecret!!!"`,
		), []want{{5, "notifier[hook].secret", "the signing secret is not base64 after whsec_"}}},
		{"signing secret too short", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret = "`+short+`"`,
		), []want{{5, "notifier[hook].secret", "the signing secret holds 16 bytes after whsec_; Standard Webhooks asks for at least 24 random bytes"}}},

		// Source names.
		{"url_env not a variable name", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_env = "SLACK-URL"`,
		), []want{{4, "notifier[ops].url_env", `is not an environment variable name (letters, digits and '_', not starting with a digit; the value is not shown in case it is the secret itself); e.g. url_env = "SLACK_OPS_URL"`}}},
		{"token_env holding the token itself", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_env = "`+canaryToken+`"`,
			`chat_id = 42`,
		), []want{{4, "notifier[tg].token_env", `the value looks like a bot token itself (not shown); put the value in an environment variable and give its name here, e.g. token_env = "TELEGRAM_BOT_TOKEN"`}}},
		{"url_file holding the url itself", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "https://hooks.slack.com/services/T/B/canary-5ecret"`,
		), []want{{4, "notifier[ops].url_file", "the value looks like a webhook URL itself (not shown); put the value in a file (mode 0600) and give its path here"}}},
		{"secret_credential holding the secret itself", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret_credential = "`+canarySigning+`"`,
		), []want{{5, "notifier[hook].secret_credential", "the value looks like a signing secret itself (not shown); load the value with LoadCredential=NAME:/path in the systemd unit and give NAME here"}}},
		{"credential name with a path", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = "/etc/kpay-rotator/slack"`,
		), []want{{4, "notifier[ops].url_credential", `contains '/' or '\': a credential name is the NAME of LoadCredential=NAME:/path in the systemd unit, not a path; e.g. url_credential = "slack-ops", or for a path use url_file`}}},
		{"credential name ..", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = ".."`,
		), []want{{4, "notifier[ops].url_credential", `is not a credential name: ".." is a directory`}}},
		{"credential name too long", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = "`+strings.Repeat("c", 256)+`"`,
		), []want{{4, "notifier[ops].url_credential", "is 256 bytes long; a credential name is a file name, at most 255 bytes"}}},
		{"empty url_file", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = ""`,
		), []want{{4, "notifier[ops].url_file", `is empty; set a value (e.g. url_file = "/etc/kpay-rotator/slack-ops.url")`}}},
		{"credential name not a string", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = 7`,
		), []want{{4, "notifier[ops].url_credential", `must be a string, not a whole number; e.g. url_credential = "slack-ops"`}}},

		// chat_id.
		{"chat_id without @", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = "kpayalerts"`,
		), []want{{5, "notifier[tg].chat_id", `"kpayalerts" is not a Telegram chat id; did you mean "@kpayalerts"? use the numeric id`}}},
		{"chat_id as a t.me link", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = "https://t.me/kpayalerts"`,
		), []want{{5, "notifier[tg].chat_id", `did you mean "@kpayalerts"?`}}},
		{"chat_id channel name too short", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = "@kpay"`,
		), []want{{5, "notifier[tg].chat_id", `"@kpay" is not a Telegram chat id; use the numeric id (e.g. chat_id = -1001234567890; groups and channels have negative ids) or a public channel's "@name" (a letter, then 4 to 31 letters, digits or '_')`}}},
		{"chat_id fractional", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg-token"`,
			`chat_id = -100.5`,
		), []want{{5, "notifier[tg].chat_id", "must be a whole number or a string, not a fractional number; e.g. chat_id = -1001234567890"}}},

		// Severity and durations.
		{"bad min_severity", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`min_severity = "error"`,
		), []want{{5, "notifier[ops].min_severity", "not one of: info, resolved, warning, critical"}}},
		{"zero repeat_interval", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`repeat_interval = "0s"`,
		), []want{{5, "notifier[ops].repeat_interval", "longer than zero"}}},
		{"zero max_delivery_age", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`max_delivery_age = "0s"`,
		), []want{{5, "notifier[ops].max_delivery_age", `must be longer than zero; e.g. max_delivery_age = "24h"`}}},
		{"negative group_wait", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`group_wait = "-1s"`,
		), []want{{5, "notifier[ops].group_wait", "is negative"}}},
		{"group_wait equal to max_delivery_age", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`max_delivery_age = "1h"`,
			`group_wait = "1h"`,
		), []want{{6, "notifier[ops].group_wait", "group_wait (1h) must be shorter than max_delivery_age (1h), or every alert expires while it waits to be grouped; lower group_wait or raise max_delivery_age"}}},
		{"max_delivery_age below the default group_wait", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`max_delivery_age = "5s"`,
		), []want{{5, "notifier[ops].max_delivery_age", "group_wait (10s, built-in default) must be shorter than max_delivery_age (5s)"}}},

		// Fallback.
		{"fallback names an unknown notifier", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`fallback = "pagr"`,
			`[[notifier]]`,
			`name = "pager"`,
			`type = "discord"`,
			`url_file = "/y"`,
		), []want{{5, "notifier[ops].fallback", `names notifier "pagr", which is not defined; did you mean "pager"? add a [[notifier]] with name = "pagr" or remove the line`}}},
		{"fallback to itself", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`fallback = "ops"`,
		), []want{{5, "notifier[ops].fallback", "names this notifier itself; a fallback is another [[notifier]]"}}},
		{"fallback cycle of two, reported once", src(
			`[[notifier]]`,
			`name = "a"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`fallback = "b"`,
			`[[notifier]]`,
			`name = "b"`,
			`type = "slack"`,
			`url_file = "/b"`,
			`fallback = "a"`,
		), []want{{5, "notifier[a].fallback", "fallback cycle: a → b → a (fallback at lines 5 and 10); an alert none of them can deliver would be handed round for ever; remove fallback from one of them"}}},
		{"fallback cycle of three, entered from outside", src(
			`[[notifier]]`,
			`name = "x"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`fallback = "b"`,
			`[[notifier]]`,
			`name = "a"`,
			`type = "slack"`,
			`url_file = "/a"`,
			`fallback = "b"`,
			`[[notifier]]`,
			`name = "b"`,
			`type = "slack"`,
			`url_file = "/b"`,
			`fallback = "c"`,
			`[[notifier]]`,
			`name = "c"`,
			`type = "slack"`,
			`url_file = "/c"`,
			`fallback = "a"`,
		), []want{{10, "notifier[a].fallback", "fallback cycle: a → b → c → a (fallback at lines 10, 15 and 20)"}}},
		{"fallback not a string", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`fallback = ["pager"]`,
		), []want{{5, "notifier[ops].fallback", `must be a string, not an array; e.g. fallback = "ops-telegram"`}}},

		// Unknown keys.
		{"unknown notifier key", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_file = "/x"`,
			`channel = "#ops"`,
		), []want{{5, "notifier[ops].channel", "unknown key"}}},
		{"bot_token suggests token", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`chat_id = 42`,
			`bot_token = "`+canaryToken+`"`,
		), []want{
			{1, "notifier[tg].token", "missing"},
			{5, "notifier[tg].bot_token", "unknown key; did you mean token?"},
		}},
		{"signing_secret_file suggests secret_file", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`signing_secret_file = "/x"`,
		), []want{
			{1, "notifier[hook].secret", "missing"},
			{5, "notifier[hook].signing_secret_file", "unknown key; did you mean secret_file?"},
		}},
		{"misspelt source key", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`chat_id = 42`,
			`token_credentials = "tg"`,
		), []want{
			{1, "notifier[tg].token", "missing"},
			{5, "notifier[tg].token_credentials", "unknown key; did you mean token_credential?"},
		}},
		{"chat suggests chat_id", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "tg"`,
			`chat = 42`,
		), []want{
			{1, "notifier[tg].chat_id", "missing"},
			{5, "notifier[tg].chat", "unknown key; did you mean chat_id?"},
		}},
		{"secret in a slot suggests its own keys", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret = "prod/payments/kpay"`,
		), []want{
			{1, "slot[a].secret_id", "missing"},
			{4, "slot[a].secret", "unknown key; did you mean secret_id or secret_key_field?"},
		}},
		{"url_credential in a slot belongs in [[notifier]]", src(
			`[[slot]]`,
			`name = "a"`,
			`environment = "live"`,
			`secret_id = "s"`,
			`url_credential = "x"`,
		), []want{{5, "slot[a].url_credential", "url_credential belongs in [[notifier]], not [[slot]]"}}},

		// Syntax errors near secrets.
		{"syntax error on a token line", src(
			`[[notifier]]`,
			`name = "tg"`,
			`token = `+strings.TrimPrefix(canaryToken, "123456789:"),
		), []want{{3, "", `TOML syntax error: in the value of token (not shown: a bot token is a secret); check its quotes and escapes, e.g. token = "123456789:AA…"`}}},
		{"syntax error on a secret line", src(
			`[[notifier]]`,
			`name = "hook"`,
			`"secret" = "`+canarySigning+`\q"`,
		), []want{{3, "", "in the value of secret (not shown: a signing secret is never shown)"}}},
		{"syntax error inside a multi-line secret", src(
			`[[notifier]]`,
			`name = "hook"`,
			`secret = """`,
			canarySigning+`\q`,
			`"""`,
		), []want{{4, "", "in the value of secret (not shown"}}},
		{"syntax error in an inline table holding a token", src(
			`notifier = [{name = "tg", token = "` + canaryToken + `\q"}]`,
		), []want{{1, "", "in the value of token (not shown"}}},
		{"syntax error after a multi-line value is not hidden", src(
			`[[notifier]]`,
			`secret = """`,
			`x`,
			`"""`,
			`name = ops`,
		), []want{{5, "", "unexpected character U+006F 'o' at start of value"}}},
		{"duplicate token key names the key", src(
			`[[notifier]]`,
			`token = "`+canaryToken+`"`,
			`token = "`+canaryToken+`"`,
		), []want{{3, "", "key token is already defined"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "config.toml")
			ps := problemsOf(t, err)
			checkProblems(t, ps, tt.wants)
			for _, p := range ps {
				if p.File != "config.toml" {
					t.Errorf("got File %q, want config.toml", p.File)
				}
				if s := p.String(); strings.Contains(s, "canary-5ecret") || strings.Contains(s, "canary5ecret") {
					t.Errorf("problem leaks the secret: %s", p)
				}
			}
		})
	}
}

func TestParse_NotifierAccepts(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(t *testing.T, c *Config)
	}{
		{"telegram with a credential and a numeric chat_id; built-in defaults", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token_credential = "telegram-bot"`,
			`chat_id = -1001234567890`,
		), func(t *testing.T, c *Config) {
			n, _ := c.Notifier("tg")
			want := Notifier{
				Name: "tg", Type: "telegram", Token: SecretSource{Credential: "telegram-bot"}, ChatID: "-1001234567890",
				MinSeverity: defaultMinSeverity, RepeatInterval: 4 * time.Hour, GroupWait: 10 * time.Second, MaxDeliveryAge: 24 * time.Hour,
			}
			if n != want {
				t.Errorf("got  %+v\nwant %+v", n, want)
			}
		}},
		{"telegram with an inline token and a channel", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "`+canaryToken+`"`,
			`chat_id = "@kpay_alerts"`,
		), func(t *testing.T, c *Config) {
			n, _ := c.Notifier("tg")
			if n.Token.Inline.Reveal() != canaryToken || n.ChatID != "@kpay_alerts" || !n.URL.IsZero() {
				t.Errorf("got %+v", n)
			}
		}},
		{"webhook with every setting", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook-url"`,
			`secret = "`+canarySigning+`"`,
			`min_severity = "info"`,
			`repeat_interval = "1h"`,
			`group_wait = "0s"`,
			`max_delivery_age = "2d"`,
			`fallback = "ops"`,
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_env = "SLACK_OPS_URL"`,
		), func(t *testing.T, c *Config) {
			n, _ := c.Notifier("hook")
			if n.URL != (SecretSource{Credential: "hook-url"}) || n.Secret.Inline.Reveal() != canarySigning ||
				n.MinSeverity.String() != "info" || n.RepeatInterval != time.Hour || n.GroupWait != 0 || n.MaxDeliveryAge != 48*time.Hour || n.Fallback != "ops" {
				t.Errorf("got %+v", n)
			}
			if o, _ := c.Notifier("ops"); o.URL != (SecretSource{Env: "SLACK_OPS_URL"}) {
				t.Errorf("got %+v", o)
			}
		}},
		{"file paths resolve against the config file's directory", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_file = "hook.url"`,
			`secret_file = "/etc/kpay-rotator/../secrets/hook"`,
		), func(t *testing.T, c *Config) {
			n, _ := c.Notifier("hook")
			if n.URL.File != "/etc/kpay-rotator/hook.url" || n.Secret.File != "/etc/secrets/hook" {
				t.Errorf("got %+v", n)
			}
		}},
		{"inline signing secret without padding", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url = "https://alerts.example.com/kpay"`,
			`secret = "`+strings.TrimRight(canarySigning, "=")+`"`,
		), func(t *testing.T, c *Config) {
			if n, _ := c.Notifier("hook"); n.Secret.Inline.IsZero() {
				t.Errorf("got %+v", n)
			}
		}},
		{"every url type, http to loopback", src(
			`[[notifier]]`,
			`name = "a"`,
			`type = "discord"`,
			`url = "http://127.0.0.1:8080/api/webhooks/1/x"`,
			`[[notifier]]`,
			`name = "b"`,
			`type = "teams"`,
			`url = "https://prod-01.westeurope.logic.azure.com/workflows/x"`,
			`[[notifier]]`,
			`name = "c"`,
			`type = "googlechat"`,
			`url = "http://localhost/v1/spaces/x"`,
			`[[notifier]]`,
			`name = "d"`,
			`type = "mattermost"`,
			`url = "http://[::1]/hooks/x"`,
		), func(t *testing.T, c *Config) {
			if len(c.Notifiers) != 4 {
				t.Errorf("got %d notifiers", len(c.Notifiers))
			}
		}},
		{"fallback chain without a cycle", src(
			`[[notifier]]`,
			`name = "a"`,
			`type = "slack"`,
			`url_credential = "a"`,
			`fallback = "b"`,
			`[[notifier]]`,
			`name = "b"`,
			`type = "slack"`,
			`url_credential = "b"`,
			`fallback = "c"`,
			`[[notifier]]`,
			`name = "c"`,
			`type = "slack"`,
			`url_credential = "c"`,
		), func(t *testing.T, c *Config) {
			if a, _ := c.Notifier("a"); a.Fallback != "b" {
				t.Errorf("got %+v", a)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "/etc/kpay-rotator/config.toml")
			if err != nil {
				t.Fatalf("got error:\n%v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestSecretSource_Describe(t *testing.T) {
	tests := []struct {
		src  SecretSource
		want string
	}{
		{SecretSource{File: "/run/x"}, "file /run/x"},
		{SecretSource{Env: "SLACK_URL"}, "environment variable SLACK_URL"},
		{SecretSource{Credential: "slack-ops"}, "systemd credential slack-ops"},
		{SecretSource{Inline: kpay.NewSecret(canaryToken)}, "inline value in the configuration"},
		{SecretSource{}, "no source"},
	}
	for _, tt := range tests {
		if got := tt.src.Describe(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
		if got := tt.src.IsZero(); got != (tt.want == "no source") {
			t.Errorf("IsZero() of %s = %v", tt.want, got)
		}
	}
}

// TestParse_NoSecretInConfigOutput plants inline secrets and prints the
// Config every way a caller might.
func TestParse_NoSecretInConfigOutput(t *testing.T) {
	c, err := Parse([]byte(src(
		`[[notifier]]`,
		`name = "hook"`,
		`type = "webhook"`,
		`url = "https://alerts.example.com/canary-5ecret"`,
		`secret = "`+canarySigning+`"`,
		`[[notifier]]`,
		`name = "tg"`,
		`type = "telegram"`,
		`token = "`+canaryToken+`"`,
		`chat_id = 42`,
	)), "config.toml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s %v %+v", c, c, c, js, c.Notifiers[0].URL, c.Notifiers[1].Token)
	for _, n := range c.Notifiers {
		out += n.URL.Describe() + n.Token.Describe() + n.Secret.Describe()
	}
	if strings.Contains(out, "canary-5ecret") || strings.Contains(out, "canary5ecret") {
		t.Errorf("output leaks a secret:\n%s", out)
	}
}

func TestLoad_PermissionsCoverEverySecret(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []want
	}{
		{"inline token", src(
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "`+canaryToken+`"`,
			`chat_id = 42`,
		), []want{{4, "notifier[tg].token", "config.toml holds a bot token (a secret) but is readable by group or others (mode 0644); run: chmod 600 PATH, or move it out of the file with token_credential (or the _file or _env form)"}}},
		{"inline signing secret", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret = "`+canarySigning+`"`,
		), []want{{5, "notifier[hook].secret", "holds a signing secret (a secret)"}}},
		{"every kind, counted", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url = "https://alerts.example.com/canary-5ecret"`,
			`secret = "`+canarySigning+`"`,
			`[[notifier]]`,
			`name = "tg"`,
			`type = "telegram"`,
			`token = "`+canaryToken+`"`,
			`chat_id = 42`,
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url = "https://hooks.slack.com/services/T/B/canary-5ecret"`,
		), []want{{4, "notifier[hook].url", "config.toml holds 4 secrets (2 webhook URLs, a signing secret, a bot token) but is readable by group or others (mode 0644); run: chmod 600 PATH, or move them out of the file with url_credential, secret_credential or token_credential (or the _file or _env form)"}}},
		{"an unwanted inline secret is still in the file", src(
			`[[notifier]]`,
			`name = "ops"`,
			`type = "slack"`,
			`url_credential = "ops"`,
			`token = "`+canaryToken+`"`,
		), []want{
			{5, "notifier[ops].token", "is used only by telegram notifiers"},
			{5, "notifier[ops].token", "holds a bot token (a secret)"},
		}},
		{"an invalid inline secret is still in the file", src(
			`[[notifier]]`,
			`name = "hook"`,
			`type = "webhook"`,
			`url_credential = "hook"`,
			`secret = "canary5ecret"`,
		), []want{
			{5, "notifier[hook].secret", "does not start with whsec_"},
			{5, "notifier[hook].secret", "holds a signing secret (a secret)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			for i := range tt.want {
				tt.want[i].frag = strings.ReplaceAll(tt.want[i].frag, "PATH", path)
			}
			checkProblems(t, problemsOf(t, err), tt.want)
			if s := err.Error(); strings.Contains(s, "canary-5ecret") || strings.Contains(s, "canary5ecret") {
				t.Errorf("error leaks the secret: %v", err)
			}
			// The same file at 0600 has no mode problem.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = Load(path)
			if err != nil && strings.Contains(err.Error(), "chmod") {
				t.Errorf("got a mode problem at 0600:\n%v", err)
			}
		})
	}
}

// TestParse_ExampleConfigCommented checks the commented-out examples in
// ../config.toml: with every "# key = value" and "# [[table]]" line
// uncommented, the file must still be valid.
func TestParse_ExampleConfigCommented(t *testing.T) {
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`^# ([a-z_]+ = |\[\[)`)
	lines := strings.Split(string(data), "\n")
	uncommented := 0
	for i, l := range lines {
		if setting.MatchString(l) {
			lines[i] = strings.TrimPrefix(l, "# ")
			uncommented++
		}
	}
	c, err := Parse([]byte(strings.Join(lines, "\n")), "config.toml")
	if err != nil {
		t.Fatalf("config.toml with its examples uncommented has problems:\n%v", err)
	}
	tg, ok := c.Notifier("ops-telegram")
	if !ok || tg.Token.Credential == "" || tg.ChatID == "" {
		t.Errorf("got telegram example %+v", tg)
	}
	hook, ok := c.Notifier("audit")
	if !ok || hook.URL.Credential == "" || hook.Secret.Credential == "" || hook.Fallback != "ops" {
		t.Errorf("got webhook example %+v", hook)
	}
	if ops, _ := c.Notifier("ops"); ops.Fallback != "ops-telegram" {
		t.Errorf("got ops %+v", ops)
	}
}
