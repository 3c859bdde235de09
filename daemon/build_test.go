package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/kpay"
)

// CheckBuild stops where the daemon's start would, with a configuration
// error (exit 78). config.Parse refuses all of these first; a Config made
// by hand shows that check-config does not depend on it doing so.
func TestCheckBuild_refusesWhatTheDaemonWould(t *testing.T) {
	good := func(t *testing.T) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte("[[slot]]\nname = \"a\"\nenvironment = \"test\"\nsecret_id = \"s\"\n[[notifier]]\nname = \"ops\"\ntype = \"telegram\"\ntoken = \"123456789:AAbbccddeeffgghhiijjkkll\"\nchat_id = \"@kpay_alerts\"\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if err := CheckBuild(good(t)); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	for _, tt := range []struct {
		name  string
		spoil func(*config.Config)
		want  string
	}{
		{"probe timeout", func(c *config.Config) { c.KPay.Timeout = 10 * time.Millisecond }, "healthcheck: timeout 10ms is too short"},
		{"base URL", func(c *config.Config) { c.KPay.BaseURL = "http://kpay.example" }, "healthcheck: the base URL uses plain http"},
		{"receiver", func(c *config.Config) { c.Notifiers[0].ChatID = "@kpay" }, `notifier ops: notifier[ops]: telegram: chat_id "@kpay" is not a numeric chat id`},
		{"inline token", func(c *config.Config) { c.Notifiers[0].Token.Inline = kpay.NewSecret("s3cret") }, "is not of the form 123456789:AA…"},
		{"retired schedule", func(c *config.Config) { c.Slots[0].RetiredSchedule = "sometimes" }, `slot a: retired_schedule "sometimes"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good(t)
			tt.spoil(cfg)
			err := CheckBuild(cfg)
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a configuration error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}
