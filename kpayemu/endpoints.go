package kpayemu

import (
	"net/http"

	"kpay-rotator/kpay"
)

// ref is the {id, name} object /payments/me uses for application and company.
type ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// meResponse is the documented body of GET /api/v1/payments/me.
type meResponse struct {
	Application ref    `json:"application"`
	Company     ref    `json:"company"`
	Environment string `json:"environment"`
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(r)
	if !ok {
		writeUnauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, meResponse{
		Application: ref{ID: id.app.ID, Name: id.app.Name},
		Company:     ref{ID: id.app.CompanyID, Name: id.app.CompanyName},
		Environment: id.reported,
	})
}

// wallet is one element of GET /api/v1/payments/balance.
type wallet struct {
	Currency         string  `json:"currency"`
	Balance          float64 `json:"balance"`
	ReservedBalance  float64 `json:"reservedBalance"`
	AvailableBalance float64 `json:"availableBalance"`
}

// handleBalance answers one funded XAF wallet in test and none in live, so
// a client meets both the small array and the empty one KPay can return.
func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(r)
	if !ok {
		writeUnauthorized(w)
		return
	}
	wallets := []wallet{}
	if id.env == kpay.Test {
		wallets = append(wallets, wallet{Currency: "XAF", Balance: 125000, ReservedBalance: 5000, AvailableBalance: 120000})
	}
	writeJSON(w, http.StatusOK, wallets)
}

// platformInfo carries the values KPay's docs show for platform-info. The
// docs only show a rendered table, so the field names are this emulator's
// guess; clients should decode them leniently.
type platformInfo struct {
	DepositFeePercent float64 `json:"depositFeePercent"`
	PayoutFeePercent  float64 `json:"payoutFeePercent"`
	MinWithdrawal     int     `json:"minWithdrawal"`
	MaxWithdrawal     int     `json:"maxWithdrawal"`
	Currency          string  `json:"currency"`
	SupportEmail      string  `json:"supportEmail"`
	Maintenance       bool    `json:"maintenance"`
}

// handlePlatformInfo is public: it sits under /api/public/ and needs no key.
func (s *Server) handlePlatformInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, platformInfo{
		DepositFeePercent: 5,
		PayoutFeePercent:  5,
		MinWithdrawal:     100,
		MaxWithdrawal:     500000,
		Currency:          "XAF",
		SupportEmail:      "support@kpay-emulator.invalid",
		Maintenance:       s.maintenance.Load(),
	})
}
