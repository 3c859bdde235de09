package kpayemu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"kpay-rotator/kpay"
)

// Errors of the dashboard operations.
var (
	// ErrUnknownApplication: no application has the given id.
	ErrUnknownApplication = errors.New("kpayemu: unknown application")
	// ErrUnknownEnvironment: the environment is neither kpay.Test nor kpay.Live.
	ErrUnknownEnvironment = errors.New("kpayemu: environment is not test or live")
	// ErrNoPair: the application has no valid pair in that environment
	// (it was revoked) and the operation needs one.
	ErrNoPair = errors.New("kpayemu: application has no pair in that environment")
)

// Application is one KPay application, as the dashboard's Applications
// screen shows it.
type Application struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	CompanyID   string `json:"companyId"`
	CompanyName string `json:"companyName"`
}

type application struct {
	Application
	creds    map[kpay.Environment]*credential // absent: revoked
	reported map[kpay.Environment]string      // absent: the documented value
}

// credential is a pair that authenticates, and what it resolves to.
type credential struct {
	app  *application
	env  kpay.Environment
	pair kpay.Pair
}

// identity is what /payments/me reports for a credential.
type identity struct {
	app      Application
	env      kpay.Environment
	reported string
}

// registry holds applications and the index of valid public keys. Only
// current pairs are in byKey, so a regenerated or revoked key is unknown
// from the instant it is replaced, as KPay documents.
type registry struct {
	log        *slog.Logger
	mu         sync.Mutex
	apps       map[string]*application
	order      []*application
	companies  map[string]string // id → name
	byKey      map[string]*credential
	prefixless bool
}

func newRegistry(log *slog.Logger, prefixless bool) *registry {
	return &registry{
		log:        log,
		apps:       map[string]*application{},
		companies:  map[string]string{},
		byKey:      map[string]*credential{},
		prefixless: prefixless,
	}
}

var environments = [...]kpay.Environment{kpay.Test, kpay.Live}

func checkEnvironment(env kpay.Environment) error {
	if env != kpay.Test && env != kpay.Live {
		return fmt.Errorf("%w: %q", ErrUnknownEnvironment, env)
	}
	return nil
}

// defaultReported is what KPay documents /payments/me to answer.
func defaultReported(env kpay.Environment) string {
	if env == kpay.Live {
		return "PRODUCTION"
	}
	return "TEST"
}

// CreateApplication creates an application in a company of its own, with
// both a test and a live pair.
func (s *Server) CreateApplication(name string) Application {
	return s.CreateApplicationIn("", name)
}

// CreateApplicationIn creates an application in the company companyID (made
// on first use; "" makes a new one), with both a test and a live pair.
func (s *Server) CreateApplicationIn(companyID, name string) Application {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if companyID == "" {
		companyID = newUUID()
		r.companies[companyID] = "Company of " + name
	} else if _, ok := r.companies[companyID]; !ok {
		r.companies[companyID] = "Company " + companyID
	}
	a := &application{
		Application: Application{ID: newUUID(), Name: name, CompanyID: companyID, CompanyName: r.companies[companyID]},
		creds:       map[kpay.Environment]*credential{},
		reported:    map[kpay.Environment]string{},
	}
	r.apps[a.ID] = a
	r.order = append(r.order, a)
	for _, env := range environments {
		r.issueLocked(a, env)
	}
	r.log.Info("application created", "application_id", a.ID, "company_id", companyID,
		"test_key", a.creds[kpay.Test].pair, "live_key", a.creds[kpay.Live].pair)
	return a.Application
}

// Applications lists the applications in creation order.
func (s *Server) Applications() []Application {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Application, 0, len(r.order))
	for _, a := range r.order {
		out = append(out, a.Application)
	}
	return out
}

// Pair returns the application's current pair in env; false when the
// application is unknown or its pair there is revoked.
func (s *Server) Pair(appID string, env kpay.Environment) (kpay.Pair, bool) {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.apps[appID]; ok {
		if c, ok := a.creds[env]; ok {
			return c.pair, true
		}
	}
	return kpay.Pair{}, false
}

// Regenerate gives the application a new pair in env (both keys new). The
// old pair is rejected (401) from that instant, with no grace period, as
// the real dashboard does. It also restores a revoked environment.
func (s *Server) Regenerate(appID string, env kpay.Environment) (kpay.Pair, error) {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.appLocked(appID, env)
	if err != nil {
		return kpay.Pair{}, err
	}
	old := r.dropLocked(a, env)
	c := r.issueLocked(a, env)
	r.log.Info("pair regenerated", "application_id", appID, "environment", env, "old_key", old, "new_key", c.pair)
	return c.pair, nil
}

// RegenerateSecret replaces only the secret of the application's pair in
// env, keeping its public key. KPay does not say whether regeneration
// replaces one key or both; this lets a client be tested against the other
// possibility. The old secret is rejected at once.
func (s *Server) RegenerateSecret(appID string, env kpay.Environment) (kpay.Pair, error) {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.appLocked(appID, env)
	if err != nil {
		return kpay.Pair{}, err
	}
	c, ok := a.creds[env]
	if !ok {
		return kpay.Pair{}, fmt.Errorf("%w: application %s, %s", ErrNoPair, appID, env)
	}
	c.pair.SecretKey = newSecretKey(env, r.prefixless)
	r.log.Info("secret regenerated", "application_id", appID, "environment", env, "key", c.pair)
	return c.pair, nil
}

// Revoke rejects the application's pair in env; the application has no
// valid pair there until Regenerate. Revoking twice is not an error.
func (s *Server) Revoke(appID string, env kpay.Environment) error {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.appLocked(appID, env)
	if err != nil {
		return err
	}
	old := r.dropLocked(a, env)
	r.log.Info("pair revoked", "application_id", appID, "environment", env, "key", old)
	return nil
}

// Reassign moves the application's current pair in env to the application
// toAppID, whose own pair there is dropped. The pair keeps authenticating,
// but /payments/me now names another application: the "rebound" case of
// kpay-api.md §8. KPay documents no such operation; it exists for tests.
func (s *Server) Reassign(appID string, env kpay.Environment, toAppID string) error {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	from, err := r.appLocked(appID, env)
	if err != nil {
		return err
	}
	to, err := r.appLocked(toAppID, env)
	if err != nil {
		return err
	}
	c, ok := from.creds[env]
	if !ok {
		return fmt.Errorf("%w: application %s, %s", ErrNoPair, appID, env)
	}
	if from == to {
		return nil
	}
	r.dropLocked(to, env)
	delete(from.creds, env)
	c.app = to
	to.creds[env] = c
	r.log.Info("pair reassigned", "from_application_id", appID, "to_application_id", toAppID, "environment", env, "key", c.pair)
	return nil
}

// SetReportedEnvironment overrides what /payments/me says in "environment"
// for the application's pair in env (e.g. "LIVE", or "TEST" for a live
// key), to test aliases and mismatches. "" restores the documented value.
// An unknown application or environment is logged and ignored.
func (s *Server) SetReportedEnvironment(appID string, env kpay.Environment, reported string) {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.appLocked(appID, env)
	if err != nil {
		r.log.Warn("set reported environment", "application_id", appID, "err", err)
		return
	}
	if reported == "" {
		delete(a.reported, env)
		return
	}
	a.reported[env] = reported
}

// SetPrefixlessSecrets chooses the form of secrets minted from now on: bare
// 64 hex characters when on, sk_<env>_ + 64 hex characters when off.
func (s *Server) SetPrefixlessSecrets(on bool) {
	s.reg.mu.Lock()
	s.reg.prefixless = on
	s.reg.mu.Unlock()
}

// lookup resolves a public key to its identity and secret.
func (r *registry) lookup(apiKey string) (identity, kpay.Secret, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byKey[apiKey]
	if !ok {
		return identity{}, kpay.Secret{}, false
	}
	rep, ok := c.app.reported[c.env]
	if !ok {
		rep = defaultReported(c.env)
	}
	return identity{app: c.app.Application, env: c.env, reported: rep}, c.pair.SecretKey, true
}

// appState is a consistent copy of one application for the admin API.
type appState struct {
	Application
	pairs    map[kpay.Environment]kpay.Pair
	reported map[kpay.Environment]string
}

func (r *registry) snapshot(appID string) []appState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []appState
	for _, a := range r.order {
		if appID != "" && a.ID != appID {
			continue
		}
		st := appState{Application: a.Application, pairs: map[kpay.Environment]kpay.Pair{}, reported: map[kpay.Environment]string{}}
		for _, env := range environments {
			if c, ok := a.creds[env]; ok {
				st.pairs[env] = c.pair
			}
			st.reported[env] = defaultReported(env)
			if rep, ok := a.reported[env]; ok {
				st.reported[env] = rep
			}
		}
		out = append(out, st)
	}
	return out
}

func (r *registry) appLocked(appID string, env kpay.Environment) (*application, error) {
	if err := checkEnvironment(env); err != nil {
		return nil, err
	}
	a, ok := r.apps[appID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownApplication, appID)
	}
	return a, nil
}

// issueLocked mints a pair for a in env. A collision of 192 random bits
// will not happen, but a duplicate key would silently alias two pairs, so
// it is ruled out rather than assumed away.
func (r *registry) issueLocked(a *application, env kpay.Environment) *credential {
	key := newAPIKey(env)
	for r.byKey[key] != nil {
		key = newAPIKey(env)
	}
	c := &credential{app: a, env: env, pair: kpay.Pair{APIKey: key, SecretKey: newSecretKey(env, r.prefixless)}}
	a.creds[env] = c
	r.byKey[key] = c
	return c
}

// dropLocked invalidates a's pair in env and returns it (zero if none).
func (r *registry) dropLocked(a *application, env kpay.Environment) kpay.Pair {
	c, ok := a.creds[env]
	if !ok {
		return kpay.Pair{}
	}
	delete(a.creds, env)
	delete(r.byKey, c.pair.APIKey)
	return c.pair
}
