package kpayemu

import (
	"maps"
	"testing"
	"time"

	"kpay-rotator/kpay"
)

func TestServer_Counters(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, 5*time.Second)
	app := s.CreateApplication("shop")
	p := mustPair(t, s, app.ID, kpay.Test)
	unknown := "kpay_test_" + "0123456789abcdef0123456789abcdef0123456789abcdef"

	do(t, c, "GET", s.URL+mePath, authHeaders(p), "")
	do(t, c, "GET", s.URL+mePath, authHeaders(p), "")
	do(t, c, "GET", s.URL+mePath, map[string]string{"X-API-Key": unknown, "X-Secret-Key": "x"}, "")
	do(t, c, "GET", s.URL+balancePath, nil, "")
	s.Inject(Fault{Kind: FaultStatus, Status: 503, Count: 1})
	do(t, c, "GET", s.URL+mePath, authHeaders(p), "")
	do(t, c, "GET", s.URL+"/x", nil, "")
	// Admin calls are not KPay traffic and are not counted.
	do(t, c, "GET", s.URL+adminRoot+"/counters", nil, "")

	got := s.Counters()
	want := Counters{
		Total:        6,
		ByStatus:     map[int]int64{200: 2, 401: 2, 503: 1, 404: 1},
		ByPath:       map[string]int64{mePath: 4, balancePath: 1, "/x": 1},
		Unauthorized: 2,
		Faults:       1,
	}
	if got.Total != want.Total || got.Unauthorized != want.Unauthorized || got.Faults != want.Faults ||
		!maps.Equal(got.ByStatus, want.ByStatus) || !maps.Equal(got.ByPath, want.ByPath) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for key, want := range map[string]int64{p.APIKey: 3, unknown: 1, "kpay_live_never": 0} {
		if got := s.RequestsFor(key); got != want {
			t.Errorf("RequestsFor(%s): got %d, want %d", kpay.MaskAPIKey(key), got, want)
		}
	}

	// The copy is the caller's: changing it changes nothing inside.
	got.ByStatus[200] = 99
	if s.Counters().ByStatus[200] != 2 {
		t.Error("Counters returned a map shared with the server")
	}
	s.ResetCounters()
	if got := s.Counters(); got.Total != 0 || len(got.ByStatus) != 0 || s.RequestsFor(p.APIKey) != 0 {
		t.Errorf("after ResetCounters got %+v, want zero", got)
	}
}
