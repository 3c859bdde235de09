package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"kpay-rotator/config"
	"kpay-rotator/event"
	"kpay-rotator/kpay"
	"kpay-rotator/notifier"
	"kpay-rotator/notifier/outbox"
	"kpay-rotator/notifier/receivers"
	"kpay-rotator/store"
	"kpay-rotator/store/bboltstore"
)

// BenchmarkFirstAttemptLatency: from an event committed with its outbox
// entry to the receiver's Send being called, with the delivery loops
// running and group_wait 0. Reports p50 and p99 over 200 events.
func BenchmarkFirstAttemptLatency(b *testing.B) {
	st, err := bboltstore.Open(filepath.Join(b.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sent := make(chan time.Time, 1)
	sender := senderFunc(func(context.Context, notifier.Alert) notifier.Result {
		sent <- time.Now()
		return notifier.Result{Delivered: true}
	})
	ob, err := outbox.New(outbox.Options{Store: st, Receivers: []outbox.Receiver{{Name: "ops", Sender: sender, Every: time.Microsecond, Burst: 1000, MinSeverity: event.Warning}},
		Routes: func(event.Event) []string { return []string{"ops"} }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		e := event.New(event.KeyFailing, time.Now(), fmt.Sprintf("slot-%d", i), "failing")
		start := time.Now()
		err := st.Update(func(tx store.Tx) error {
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
			return ob.Enqueue(tx, e)
		})
		if err != nil {
			b.Fatal(err)
		}
		ob.Committed([]event.Event{e})
		lat = append(lat, (<-sent).Sub(start))
	}
	cancel()
	<-done
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func kpaySecret(s string) kpay.Secret { return kpay.NewSecret(s) }

type senderFunc func(context.Context, notifier.Alert) notifier.Result

func (f senderFunc) Send(ctx context.Context, a notifier.Alert) notifier.Result { return f(ctx, a) }

// BenchmarkDrainAfterOutage: 1,000 alerts queued while a receiver was
// down (each already tried once, so none are grouped) are drained through
// the real receiver of each platform, against a local HTTP server, at the
// platform's rate limit. Simulated time (the rate limit) and wall time
// (rendering, HTTP, bbolt) are reported per platform.
func BenchmarkDrainAfterOutage(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/botTOKEN:x/sendMessage" || len(r.URL.Path) > 4 && r.URL.Path[:4] == "/bot":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true,"result":{"message_id":1}}`)
		case r.URL.Query().Get("wait") == "true":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"1"}`)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	url := notifier.InlineSecret{Value: kpaySecret(srv.URL + "/hooks/x")}
	specs := []receivers.Spec{
		{Name: "slack", Type: "slack", URL: url},
		{Name: "discord", Type: "discord", URL: url},
		{Name: "teams", Type: "teams", URL: notifier.InlineSecret{Value: kpaySecret(srv.URL + "/powerautomate/automations/direct/workflows/x")}},
		{Name: "googlechat", Type: "googlechat", URL: url},
		{Name: "mattermost", Type: "mattermost", URL: url},
		{Name: "telegram", Type: "telegram", Token: notifier.InlineSecret{Value: kpaySecret("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")}, ChatID: "-1001234567890", APIBase: srv.URL},
		{Name: "webhook", Type: "webhook", URL: url, SigningSecret: notifier.InlineSecret{Value: kpaySecret("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")}},
	}
	for _, spec := range specs {
		b.Run(spec.Name, func(b *testing.B) {
			rcv, err := receivers.Build(spec)
			if err != nil {
				b.Fatal(err)
			}
			every, burst := rcv.Rate()
			st, err := bboltstore.Open(filepath.Join(b.TempDir(), bboltstore.FileName), bboltstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
			now := t0
			var delivered atomic.Int64
			counting := senderFunc(func(ctx context.Context, a notifier.Alert) notifier.Result {
				res := rcv.Send(ctx, a)
				if res.Delivered {
					delivered.Add(1)
				}
				return res
			})
			ob, err := outbox.New(outbox.Options{Store: st, Now: func() time.Time { return now },
				Receivers: []outbox.Receiver{{Name: spec.Name, Sender: counting, Every: every, Burst: burst, MaxDeliveryAge: 48 * time.Hour}}})
			if err != nil {
				b.Fatal(err)
			}
			// 1,000 alerts, each tried once during the outage.
			err = st.Update(func(tx store.Tx) error {
				for i := 0; i < 1000; i++ {
					e := event.New(event.KeyFailing, t0, fmt.Sprintf("slot-%04d", i), "KPay rejects the current pair")
					e.Action = "kpay-rotator stage " + e.Slot
					if err := tx.PutDelivery(&store.Delivery{ID: fmt.Sprintf("alr_%d", i), Receiver: spec.Name, Events: []event.Event{e},
						CreatedAt: t0, DueAt: t0, Attempts: 1}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for delivered.Load() < 1000 {
				if err := ob.Flush(context.Background(), now); err != nil {
					b.Fatal(err)
				}
				now = now.Add(every) // the next token
			}
			wall := time.Since(start)
			b.ReportMetric(now.Sub(t0).Seconds(), "simulated-s")
			b.ReportMetric(float64(wall.Milliseconds()), "wall-ms")
		})
	}
}

// BenchmarkRecoveryToFirstDelivery: a Slack receiver with the shipped
// defaults (config's notifier defaults, Slack's rate, the outbox's
// back-off) is down for an outage, with an alert queued as it starts and
// another every 10 minutes of it; reported is the time from its recovery
// to its first successful delivery, in simulated time, for 100 moments of
// recovery per outage length (median and worst). The outbox is driven as
// Run's loop drives it: a pass when the last one said (a minute when it
// said nothing), and one on every new alert. Run also passes every 30 s
// for reminders, which can only make it sooner: these are upper bounds.
func BenchmarkRecoveryToFirstDelivery(b *testing.B) {
	cfg, err := config.Parse([]byte("[[slot]]\nname = \"s\"\nenvironment = \"live\"\nsecret_id = \"x\"\n"+
		"[[notifier]]\nname = \"ops\"\ntype = \"slack\"\nurl_env = \"SLACK_URL\"\n"), "")
	if err != nil {
		b.Fatal(err)
	}
	n := cfg.Notifiers[0]
	rcv, err := receivers.Build(receivers.Spec{Name: n.Name, Type: n.Type, URL: notifier.EnvSecret{Name: "SLACK_URL"}})
	if err != nil {
		b.Fatal(err)
	}
	every, burst := rcv.Rate()
	shipped := outbox.Receiver{Name: n.Name, Every: every, Burst: burst, MinSeverity: n.MinSeverity,
		RepeatInterval: n.RepeatInterval, GroupWait: n.GroupWait, MaxDeliveryAge: n.MaxDeliveryAge}
	for _, outage := range []time.Duration{3 * time.Minute, time.Hour} {
		b.Run("outage="+outage.String(), func(b *testing.B) {
			var lags []time.Duration
			for range b.N {
				lags = lags[:0]
				for k := range 100 {
					// Recovery moments spread over more than a back-off.
					lags = append(lags, recoveryLag(b, shipped, outage+time.Duration(k)*337*time.Millisecond))
				}
			}
			slices.Sort(lags)
			b.ReportMetric(lags[len(lags)/2].Seconds(), "p50-s")
			b.ReportMetric(lags[len(lags)-1].Seconds(), "max-s")
		})
	}
}

// recoveryLag is one outage of BenchmarkRecoveryToFirstDelivery.
func recoveryLag(b *testing.B, r outbox.Receiver, outage time.Duration) time.Duration {
	st, err := bboltstore.Open(filepath.Join(b.TempDir(), bboltstore.FileName), bboltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now, recovery := t0, t0.Add(outage)
	var first time.Time
	r.Sender = senderFunc(func(context.Context, notifier.Alert) notifier.Result {
		if now.Before(recovery) {
			return notifier.Result{Retry: true, Status: 503}
		}
		if first.IsZero() {
			first = now
		}
		return notifier.Result{Delivered: true, Status: 200}
	})
	ob, err := outbox.New(outbox.Options{Store: st, Receivers: []outbox.Receiver{r}, Now: func() time.Time { return now },
		Routes: func(event.Event) []string { return []string{r.Name} }})
	if err != nil {
		b.Fatal(err)
	}
	alert := func(i int) {
		e := event.New(event.KeyFailing, now, fmt.Sprintf("slot-%d", i), "KPay rejects the current pair")
		if err := st.Update(func(tx store.Tx) error {
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
			return ob.Enqueue(tx, e)
		}); err != nil {
			b.Fatal(err)
		}
	}
	nextAlert, alerts := t0, 0
	for first.IsZero() && now.Before(recovery.Add(time.Hour)) {
		if !now.Before(nextAlert) && now.Before(recovery) {
			alert(alerts)
			alerts++
			nextAlert = nextAlert.Add(10 * time.Minute)
		}
		next := ob.DeliverAt(context.Background(), r.Name, now)
		wait := time.Minute
		if !next.IsZero() {
			wait = max(next.Sub(now), 10*time.Millisecond)
		}
		if now.Before(recovery) && nextAlert.Before(now.Add(wait)) {
			wait = max(nextAlert.Sub(now), 0) // woken by the alert's commit
		}
		now = now.Add(wait)
	}
	if first.IsZero() {
		b.Fatalf("outage %v: nothing delivered within an hour of recovery", outage)
	}
	return first.Sub(recovery)
}
