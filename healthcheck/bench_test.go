package healthcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, meJSON("PRODUCTION", appID, "Shop"))
	}))
	defer srv.Close()
	p, err := New(Options{BaseURL: srv.URL, RequestsPerMinute: 1 << 30, Burst: 1 << 20, Concurrency: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := p.Probe(ctx, livePair, liveApp); res.Outcome != Healthy {
				b.Fatalf("got %s: %s", res.Outcome, res.Detail)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := p.Probe(ctx, livePair, liveApp); res.Outcome != Healthy {
					b.Errorf("got %s: %s", res.Outcome, res.Detail)
					return
				}
			}
		})
	})
}

func BenchmarkClassify(b *testing.B) {
	body := []byte(meJSON("PRODUCTION", appID, "Shop"))
	b.ReportAllocs()
	for b.Loop() {
		Classify(200, nil, body, liveApp)
	}
}
