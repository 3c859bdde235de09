package kpayemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"kpay-rotator/kpay"
)

// adminRoot is where the emulator's own API lives. KPay has no such path,
// so it cannot shadow an endpoint a client uses.
const adminRoot = "/_emulator"

// KeyPair is a pair in clear text, as the admin API and kpay-sandbox print
// it. Handing out its fake keys is the emulator's job; never put a real
// pair in one.
type KeyPair struct {
	Environment kpay.Environment `json:"environment"`
	APIKey      string           `json:"apiKey"`
	SecretKey   string           `json:"secretKey"`
}

// Pair converts p to the domain type.
func (p KeyPair) Pair() kpay.Pair {
	return kpay.Pair{APIKey: p.APIKey, SecretKey: kpay.NewSecret(p.SecretKey)}
}

// ApplicationKeys is an application with its current pairs (nil when
// revoked) and what /payments/me reports for each environment.
type ApplicationKeys struct {
	Application
	Test                *KeyPair                    `json:"test"`
	Live                *KeyPair                    `json:"live"`
	ReportedEnvironment map[kpay.Environment]string `json:"reportedEnvironment"`
}

// ApplicationKeys returns the application appID with its pairs in clear.
func (s *Server) ApplicationKeys(appID string) (ApplicationKeys, bool) {
	st := s.reg.snapshot(appID)
	if len(st) == 0 {
		return ApplicationKeys{}, false
	}
	return st[0].keys(), true
}

func (st appState) keys() ApplicationKeys {
	out := ApplicationKeys{Application: st.Application, ReportedEnvironment: st.reported}
	for env, p := range st.pairs {
		kp := clearPair(env, p)
		if env == kpay.Live {
			out.Live = &kp
		} else {
			out.Test = &kp
		}
	}
	return out
}

func clearPair(env kpay.Environment, p kpay.Pair) KeyPair {
	return KeyPair{Environment: env, APIKey: p.APIKey, SecretKey: p.SecretKey.Reveal()}
}

// faultJSON is a Fault on the wire, durations as Go duration strings
// ("150ms", "2s").
type faultJSON struct {
	Kind           string  `json:"kind"`
	Count          int     `json:"count,omitempty"`
	Latency        string  `json:"latency,omitempty"`
	Status         int     `json:"status,omitempty"`
	RetryAfter     string  `json:"retryAfter,omitempty"`
	OmitRetryAfter bool    `json:"omitRetryAfter,omitempty"`
	APIKey         string  `json:"apiKey,omitempty"`
	Probability    float64 `json:"probability,omitempty"`
}

func (fj faultJSON) fault() (Fault, error) {
	// The kind is required: a missing one would otherwise decode as
	// FaultLatency, an invisible fault on every request.
	kind, err := ParseFaultKind(fj.Kind)
	if err != nil {
		return Fault{}, err
	}
	f := Fault{Kind: kind, Count: fj.Count, Status: fj.Status, OmitRetryAfter: fj.OmitRetryAfter, APIKey: fj.APIKey, Probability: fj.Probability}
	if fj.Latency != "" {
		if f.Latency, err = time.ParseDuration(fj.Latency); err != nil {
			return Fault{}, fmt.Errorf("latency: %w", err)
		}
	}
	if fj.RetryAfter != "" {
		if f.RetryAfter, err = time.ParseDuration(fj.RetryAfter); err != nil {
			return Fault{}, fmt.Errorf("retryAfter: %w", err)
		}
	}
	return f, f.Validate()
}

func faultToJSON(f Fault) faultJSON {
	fj := faultJSON{Kind: f.Kind.String(), Count: f.Count, Status: f.Status, OmitRetryAfter: f.OmitRetryAfter, APIKey: f.APIKey, Probability: f.Probability}
	if f.Latency > 0 {
		fj.Latency = f.Latency.String()
	}
	if f.RetryAfter > 0 {
		fj.RetryAfter = f.RetryAfter.String()
	}
	return fj
}

// adminRoutes serves the admin API:
//
//	POST   /_emulator/applications {"name":..,"companyId":..}  201 ApplicationKeys
//	GET    /_emulator/applications                             200 []ApplicationKeys
//	GET    /_emulator/applications/{id}                        200 ApplicationKeys
//	POST   /_emulator/applications/{id}/regenerate?environment=test|live        200 KeyPair
//	POST   /_emulator/applications/{id}/regenerate-secret?environment=test|live 200 KeyPair
//	POST   /_emulator/applications/{id}/revoke?environment=test|live            204
//	POST   /_emulator/applications/{id}/reassign?environment=test|live&to={id}  204
//	PUT    /_emulator/applications/{id}/reported-environment?environment=..  {"reported":"LIVE"} 204
//	POST   /_emulator/faults {"kind":"status","status":503,"count":2,"latency":"1s","probability":0.3,..}  201
//	GET    /_emulator/faults, DELETE /_emulator/faults
//	GET    /_emulator/counters[?apiKey=..], DELETE /_emulator/counters
//	PUT    /_emulator/maintenance {"maintenance":true}         204
//
// Errors use the same envelope as KPay; a wrong method gets 405 with Allow.
func (s *Server) adminRoutes() http.Handler {
	m := http.NewServeMux()
	route := func(path string, handlers map[string]http.HandlerFunc) {
		allow := make([]string, 0, len(handlers))
		for method, h := range handlers {
			m.HandleFunc(method+" "+path, h)
			allow = append(allow, method)
		}
		slices.Sort(allow)
		// A method-less pattern is less specific than the ones above, so it
		// only catches the methods they do not serve.
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "Cannot "+r.Method+" "+r.URL.Path)
		})
	}
	apps := adminRoot + "/applications"
	route(apps, map[string]http.HandlerFunc{"GET": s.adminListApps, "POST": s.adminCreateApp})
	route(apps+"/{id}", map[string]http.HandlerFunc{"GET": s.adminGetApp})
	route(apps+"/{id}/regenerate", map[string]http.HandlerFunc{"POST": s.adminRegenerate(s.Regenerate)})
	route(apps+"/{id}/regenerate-secret", map[string]http.HandlerFunc{"POST": s.adminRegenerate(s.RegenerateSecret)})
	route(apps+"/{id}/revoke", map[string]http.HandlerFunc{"POST": s.adminRevoke})
	route(apps+"/{id}/reassign", map[string]http.HandlerFunc{"POST": s.adminReassign})
	route(apps+"/{id}/reported-environment", map[string]http.HandlerFunc{"PUT": s.adminSetReported})
	route(adminRoot+"/faults", map[string]http.HandlerFunc{"GET": s.adminListFaults, "POST": s.adminInject, "DELETE": s.adminClearFaults})
	route(adminRoot+"/counters", map[string]http.HandlerFunc{"GET": s.adminCounters, "DELETE": s.adminResetCounters})
	route(adminRoot+"/maintenance", map[string]http.HandlerFunc{"PUT": s.adminMaintenance})
	m.HandleFunc("/", handleNotFound)
	return m
}

func (s *Server) adminCreateApp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		CompanyID string `json:"companyId"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Name == "" {
		req.Name = fmt.Sprintf("Application %d", len(s.Applications())+1)
	}
	app := s.CreateApplicationIn(req.CompanyID, req.Name)
	keys, _ := s.ApplicationKeys(app.ID)
	writeJSON(w, http.StatusCreated, keys)
}

func (s *Server) adminListApps(w http.ResponseWriter, _ *http.Request) {
	out := []ApplicationKeys{}
	for _, st := range s.reg.snapshot("") {
		out = append(out, st.keys())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminGetApp(w http.ResponseWriter, r *http.Request) {
	keys, ok := s.ApplicationKeys(r.PathValue("id"))
	if !ok {
		writeDashboardError(w, ErrUnknownApplication)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

// adminRegenerate serves both regenerate endpoints, which differ only in
// the dashboard operation they call.
func (s *Server) adminRegenerate(op func(string, kpay.Environment) (kpay.Pair, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		env, ok := queryEnvironment(w, r)
		if !ok {
			return
		}
		p, err := op(r.PathValue("id"), env)
		if err != nil {
			writeDashboardError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, clearPair(env, p))
	}
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	env, ok := queryEnvironment(w, r)
	if !ok {
		return
	}
	if err := s.Revoke(r.PathValue("id"), env); err != nil {
		writeDashboardError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminReassign(w http.ResponseWriter, r *http.Request) {
	env, ok := queryEnvironment(w, r)
	if !ok {
		return
	}
	if err := s.Reassign(r.PathValue("id"), env, r.URL.Query().Get("to")); err != nil {
		writeDashboardError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminSetReported(w http.ResponseWriter, r *http.Request) {
	env, ok := queryEnvironment(w, r)
	if !ok {
		return
	}
	var req struct {
		Reported string `json:"reported"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := s.ApplicationKeys(r.PathValue("id")); !ok {
		writeDashboardError(w, ErrUnknownApplication)
		return
	}
	s.SetReportedEnvironment(r.PathValue("id"), env, req.Reported)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminInject(w http.ResponseWriter, r *http.Request) {
	var fj faultJSON
	if err := decodeBody(w, r, &fj); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := fj.fault()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.Inject(f)
	writeJSON(w, http.StatusCreated, faultToJSON(f))
}

func (s *Server) adminListFaults(w http.ResponseWriter, _ *http.Request) {
	out := []faultJSON{}
	for _, f := range s.Faults() {
		out = append(out, faultToJSON(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminCounters(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Counters
		RequestsForKey *int64 `json:"requestsForKey,omitempty"`
	}{Counters: s.Counters()}
	if k := r.URL.Query().Get("apiKey"); k != "" {
		n := s.RequestsFor(k)
		out.RequestsForKey = &n
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminResetCounters(w http.ResponseWriter, _ *http.Request) {
	s.ResetCounters()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminMaintenance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Maintenance *bool `json:"maintenance"`
	}
	if err := decodeBody(w, r, &req); err != nil || req.Maintenance == nil {
		writeError(w, http.StatusBadRequest, `body must be {"maintenance":true|false}`)
		return
	}
	s.SetMaintenance(*req.Maintenance)
	w.WriteHeader(http.StatusNoContent)
}

// queryEnvironment reads ?environment=test|live, answering 400 when absent
// or wrong.
func queryEnvironment(w http.ResponseWriter, r *http.Request) (kpay.Environment, bool) {
	env, err := kpay.ParseEnvironment(r.URL.Query().Get("environment"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return env, true
}

// decodeBody decodes a JSON body strictly, so a misspelt field is an error
// rather than a silently ignored setting. An empty body leaves v as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("decode body: %w", err)
	}
	if dec.More() {
		return errors.New("decode body: more than one JSON value")
	}
	return nil
}

func writeDashboardError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnknownApplication):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNoPair):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}
