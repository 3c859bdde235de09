package config

// The TOML shape of DESIGN §7: which keys each table accepts, with an
// example value each for messages. Anything else is an unknown key.

var (
	topSchema = schema{section: "the top level", keys: []keySpec{
		{"daemon", "{}"}, {"store", "{}"}, {"retention", "{}"}, {"kpay", "{}"}, {"aws", "{}"}, {"defaults", "{}"},
		{"slot", "[]"}, {"notifier", "[]"},
	}}
	daemonSchema = schema{section: "[daemon]", keys: []keySpec{
		{"state_dir", `"/var/lib/kpay-rotator"`},
		{"inbox_dir", `"/run/kpay-rotator/inbox"`},
		{"listen", `"127.0.0.1:9477"`},
	}}
	storeSchema = schema{section: "[store]", keys: []keySpec{
		{"backend", `"bbolt"`},
		{"endpoints", `["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"]`},
		{"prefix", `"/kpay-rotator/"`},
		{"dial_timeout", `"5s"`},
		{"request_timeout", `"5s"`},
		{"lease_ttl", `"10s"`},
		{"cert_file", `"/etc/kpay-rotator/etcd-client.crt"`},
		{"cert_credential", `"etcd-client.crt"`},
		{"key_file", `"/etc/kpay-rotator/etcd-client.key"`},
		{"key_credential", `"etcd-client.key"`},
		{"ca_file", `"/etc/kpay-rotator/etcd-ca.crt"`},
		{"ca_credential", `"etcd-ca.crt"`},
	}}
	retentionSchema = schema{section: "[retention]", keys: []keySpec{
		{"max_events", "10000"},
		{"max_event_age", `"365d"`},
		{"probe_history", "20"},
		{"max_probe_age", `"30d"`},
		{"max_revoked_pairs", "10"},
		{"max_revoked_pair_age", `"90d"`},
	}}
	kpaySchema = schema{section: "[kpay]", keys: []keySpec{
		{"base_url", `"https://admin.kpay.site"`},
		{"timeout", `"10s"`},
		{"requests_per_minute", "30"},
		{"concurrency", "4"},
	}}
	awsSchema = schema{section: "[aws]", keys: []keySpec{
		{"region", `"eu-west-1"`},
		{"endpoint", `"https://secretsmanager.eu-west-1.amazonaws.com"`},
		{"concurrency", "8"},
	}}
	// inheritedKeys are the slot keys [defaults] may set for every slot.
	inheritedKeys = []keySpec{
		{"max_age", `"90d"`},
		{"warn_before", `"14d"`},
		{"probe_schedule", `"auto"`},
		{"retired_schedule", `"* * * * *"`},
		{"drift_schedule", `"@hourly"`},
		{"failure_threshold", "2"},
		{"revoke_grace", `"24h"`},
		{"retired_watch", `"7d"`},
		{"retired_watch_max", "3"},
		{"jitter", `"30s"`},
		{"stall_after", `"2m"`},
		{"notify", `["ops"]`},
		{"security_notify", `["security"]`},
	}
	defaultsSchema = schema{section: "[defaults]", keys: inheritedKeys}
	slotSchema     = schema{section: "[[slot]]", keys: append([]keySpec{
		{"name", `"payments-live"`},
		{"environment", `"live"`},
		{"secret_id", `"prod/payments/kpay"`},
		{"api_key_field", `"KPAY_API_KEY"`},
		{"secret_key_field", `"KPAY_SECRET_KEY"`},
		{"application_id", `"3f0c9a62-1b7e-4c55-9d3a-6a1f2e8b7c10"`},
		{"create_if_missing", "false"},
		{"allow_secrets_manager_rotation", "false"},
	}, inheritedKeys...)}
	// notifierSchema: each secret (url, token, secret) comes from one of
	// four keys: inline, _file, _env or _credential.
	notifierSchema = schema{section: "[[notifier]]", keys: []keySpec{
		{"name", `"ops"`},
		{"type", `"slack"`},
		{"url", `"https://hooks.slack.com/services/…"`},
		{"url_file", `"/etc/kpay-rotator/slack-ops.url"`},
		{"url_env", `"SLACK_OPS_URL"`},
		{"url_credential", `"slack-ops"`},
		{"token", `"123456789:AA…"`},
		{"token_file", `"/etc/kpay-rotator/telegram.token"`},
		{"token_env", `"TELEGRAM_BOT_TOKEN"`},
		{"token_credential", `"telegram-bot"`},
		{"secret", `"whsec_…"`},
		{"secret_file", `"/etc/kpay-rotator/webhook.secret"`},
		{"secret_env", `"WEBHOOK_SIGNING_SECRET"`},
		{"secret_credential", `"webhook-secret"`},
		{"chat_id", "-1001234567890"},
		{"min_severity", `"warning"`},
		{"repeat_interval", `"4h"`},
		{"group_wait", `"10s"`},
		{"max_delivery_age", `"24h"`},
		{"fallback", `"ops-telegram"`},
	}}

	allSchemas = []*schema{&topSchema, &daemonSchema, &storeSchema, &retentionSchema, &kpaySchema, &awsSchema, &defaultsSchema, &slotSchema, &notifierSchema}
)
