package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/notifier"
)

// NotifyTestResult is one receiver's answer to a test message.
type NotifyTestResult struct {
	Notifier  string `json:"notifier"`
	Delivered bool   `json:"delivered"`
	Retry     bool   `json:"retry"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
}

// SendTests sends a test message through every receiver of cfg, or only
// the one called name, exactly as the daemon would send an alert.
func SendTests(ctx context.Context, cfg *config.Config, name string) ([]NotifyTestResult, error) {
	rcvs, err := buildReceivers(cfg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var out []NotifyTestResult
	for _, r := range rcvs {
		if name != "" && r.Name != name {
			continue
		}
		ev := event.New(event.NotificationTest, time.Now(), "", fmt.Sprintf("Test message from kpay-rotator on %s to notifier %s: if you can read this, alerts reach you.", host, r.Name))
		ev.Action = "nothing to do"
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res := r.Sender.Send(ctx, notifier.Alert{ID: testID(), Events: []event.Event{ev}, Test: true})
		cancel()
		out = append(out, NotifyTestResult{Notifier: r.Name, Delivered: res.Delivered, Retry: res.Retry, Status: res.Status, Detail: res.Detail})
	}
	return out, nil
}

func testID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tst_" + hex.EncodeToString(b[:])
}
