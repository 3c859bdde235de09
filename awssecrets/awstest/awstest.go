// Package awstest runs the in-process Secrets Manager emulator
// (github.com/sivchari/kumo) behind a small proxy that can inject faults and
// count calls, for tests and the local demo. It is never linked into the
// kpay-rotator binary.
package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/sivchari/kumo"
)

// Region is the region the emulator pretends to be.
const Region = "eu-west-1"

// Fault makes the next Count calls of Op (e.g. "PutSecretValue"; "" for
// every operation) fail with Status and the AWS error Code.
type Fault struct {
	Op     string
	Count  int
	Status int
	Code   string
	// Hook, when set, runs before the call is forwarded instead of failing
	// it (Status and Code are then ignored): tests use it to act at an
	// exact point, e.g. kill a process just before a write lands.
	Hook func()
	// Landed: the call goes through first (a write takes effect), then
	// Hook runs, then the answer is replaced by Status and Code when set:
	// an answer lost after the write landed, or someone else writing
	// right after it.
	Landed bool
}

// Emulator is a running Secrets Manager emulator.
type Emulator struct {
	// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_SECRETS_MANAGER).
	URL string

	kumo  *kumo.Server
	front *httptest.Server

	mu       sync.Mutex
	faults   []Fault
	calls    map[string]int
	observer func(op string, status int)
	serial   sync.Mutex
	// rotation maps a secret name to the Lambda of its Secrets Manager
	// rotation, which kumo cannot enable (it lacks RotateSecret).
	rotation map[string]string
	// previous maps a secret name to its AWSPREVIOUS version id. kumo
	// leaves the label on every older version, so asking it for
	// AWSPREVIOUS answers any of them.
	previous, current map[string]string

	clientOnce sync.Once
	client     *secretsmanager.Client
}

// trackStages records, from a successful CreateSecret or PutSecretValue
// answer (which makes the new version AWSCURRENT), which version is
// AWSPREVIOUS now.
func (e *Emulator) trackStages(op string, reqBody, answer []byte) {
	var in struct{ SecretID, Name string }
	var out struct{ VersionId string }
	if json.Unmarshal(reqBody, &in) != nil || json.Unmarshal(answer, &out) != nil || out.VersionId == "" {
		return
	}
	name := in.SecretID
	if op == "CreateSecret" {
		name = in.Name
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.current[name]; cur != "" && cur != out.VersionId {
		e.previous[name] = cur
	}
	e.current[name] = out.VersionId
}

// resolvePrevious rewrites a GetSecretValue for AWSPREVIOUS into one for
// the version that holds the label in Secrets Manager.
func (e *Emulator) resolvePrevious(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in map[string]any
	if json.Unmarshal(body, &in) != nil || in["VersionStage"] != "AWSPREVIOUS" || in["VersionId"] != nil {
		return
	}
	name, _ := in["SecretId"].(string)
	e.mu.Lock()
	prev := e.previous[name]
	e.mu.Unlock()
	if prev == "" {
		return
	}
	in["VersionId"] = prev
	body, _ = json.Marshal(in)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", fmt.Sprint(len(body)))
}

// SetRotation makes DescribeSecret of secretID (by name) report Secrets
// Manager's own rotation enabled with lambdaARN; "" switches it off.
func (e *Emulator) SetRotation(secretID, lambdaARN string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if lambdaARN == "" {
		delete(e.rotation, secretID)
		return
	}
	e.rotation[secretID] = lambdaARN
}

// withRotation rewrites a DescribeSecret answer to report the rotation
// SetRotation configured; other answers pass unchanged.
func (e *Emulator) withRotation(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		SecretID string `json:"SecretId"`
	}
	_ = json.Unmarshal(body, &in)
	e.mu.Lock()
	lambda, ok := e.rotation[in.SecretID]
	e.mu.Unlock()
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	var doc map[string]any
	if rec.Code == http.StatusOK && json.Unmarshal(out, &doc) == nil {
		doc["RotationEnabled"] = true
		doc["RotationLambdaARN"] = lambda
		doc["RotationRules"] = map[string]any{"AutomaticallyAfterDays": 30}
		out, _ = json.Marshal(doc)
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

// Observe calls f after every call the emulator answers, with the
// operation and status, once the answer is written: a write is readable
// from then on. Benchmarks time hand-overs by it. Nil stops observing.
func (e *Emulator) Observe(f func(op string, status int)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observer = f
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// tokenRule applies what kumo ignores and Secrets Manager enforces for
// PutSecretValue with a ClientRequestToken naming an existing version:
// the same value is a success that changes nothing, another value is
// ResourceExistsException (versions are immutable). It reports whether it
// answered; otherwise the request goes on to kumo, its body intact.
func (e *Emulator) tokenRule(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	var in struct {
		SecretID, SecretString, ClientRequestToken string
	}
	if json.Unmarshal(body, &in) != nil || in.ClientRequestToken == "" {
		return false
	}
	c := secretsmanager.New(secretsmanager.Options{
		Region: Region, BaseEndpoint: aws.String(e.kumo.URL),
		Credentials: credentials.NewStaticCredentialsProvider("emulator", "emulator", ""),
	})
	old, err := c.GetSecretValue(r.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(in.SecretID), VersionId: aws.String(in.ClientRequestToken)})
	if err != nil {
		return false // no such version: a new one
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if aws.ToString(old.SecretString) != in.SecretString {
		w.Header().Set("X-Amzn-Errortype", "ResourceExistsException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ResourceExistsException","message":"You can't modify an existing version, you can only create a new version."}`)
		return true
	}
	out, _ := json.Marshal(map[string]any{"ARN": aws.ToString(old.ARN), "Name": aws.ToString(old.Name), "VersionId": in.ClientRequestToken, "VersionStages": old.VersionStages})
	_, _ = w.Write(out)
	return true
}

// Start starts the emulator on a loopback port.
func Start() *Emulator {
	e := &Emulator{kumo: kumo.NewServer(), calls: map[string]int{}, rotation: map[string]string{}, previous: map[string]string{}, current: map[string]string{}}
	target, _ := url.Parse(e.kumo.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	e.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
		f, ok := e.take(op)
		if ok && f.Landed {
			rec := httptest.NewRecorder()
			e.serial.Lock()
			if op != "PutSecretValue" || !e.tokenRule(rec, r) {
				e.forwardTracking(rec, r, op, proxy)
			}
			e.serial.Unlock()
			if f.Hook != nil {
				f.Hook()
			}
			if f.Status == 0 {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("X-Amzn-Errortype", f.Code)
			w.WriteHeader(f.Status)
			fmt.Fprintf(w, `{"__type":%q,"message":"injected by awstest after the call landed"}`, f.Code)
			return
		}
		if ok {
			if f.Hook != nil {
				f.Hook()
			} else {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.Header().Set("X-Amzn-Errortype", f.Code)
				w.WriteHeader(f.Status)
				fmt.Fprintf(w, `{"__type":%q,"message":"injected by awstest"}`, f.Code)
				return
			}
		}
		// kumo v0.33.1 writes a secret's last-accessed date under its
		// read lock (GetSecretValue racing DescribeSecret trips the race
		// detector): one request at a time keeps its map consistent.
		e.serial.Lock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		switch {
		case op == "PutSecretValue" && e.tokenRule(rec, r):
		case op == "DescribeSecret":
			e.withRotation(rec, r, proxy)
		case op == "GetSecretValue":
			e.resolvePrevious(r)
			proxy.ServeHTTP(rec, r)
		case op == "PutSecretValue" || op == "CreateSecret":
			e.forwardTracking(rec, r, op, proxy)
		default:
			proxy.ServeHTTP(rec, r)
		}
		e.serial.Unlock()
		e.mu.Lock()
		observe := e.observer
		e.mu.Unlock()
		if observe != nil {
			observe(op, rec.status)
		}
	}))
	e.URL = e.front.URL
	return e
}

// forwardTracking forwards r to kumo and, for a write, tracks its stages.
func (e *Emulator) forwardTracking(w http.ResponseWriter, r *http.Request, op string, next http.Handler) {
	if op != "PutSecretValue" && op != "CreateSecret" {
		next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		e.trackStages(op, body, rec.Body.Bytes())
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (e *Emulator) take(op string) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[op]++
	for i, f := range e.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		if f.Count > 0 {
			e.faults[i].Count--
			if e.faults[i].Count == 0 {
				e.faults = append(e.faults[:i], e.faults[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

// Inject adds a fault. Count 0 means until ClearFaults.
func (e *Emulator) Inject(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f)
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// Calls reports how many calls of op reached the emulator front.
func (e *Emulator) Calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[op]
}

// Close stops the emulator.
func (e *Emulator) Close() {
	e.front.Close()
	e.kumo.Close()
}

// Env is the environment a child process needs to reach the emulator with
// the default credential chain and no AWS account.
func (e *Emulator) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.URL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=emulator",
		"AWS_SECRET_ACCESS_KEY=emulator",
		// Never wait on the instance metadata service on a laptop.
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Client returns an SDK client for test setup (creating secrets, reading
// back what the daemon wrote).
func (e *Emulator) Client() *secretsmanager.Client {
	// One client, so its connections are reused: a test that writes
	// 10,000 secrets must not hold 10,000 idle connections.
	e.clientOnce.Do(func() {
		e.client = secretsmanager.New(secretsmanager.Options{
			Region:       Region,
			BaseEndpoint: aws.String(e.URL),
			Credentials:  credentials.NewStaticCredentialsProvider("emulator", "emulator", ""),
		})
	})
	return e.client
}

// PutJSON creates the secret or adds a version holding value.
func (e *Emulator) PutJSON(ctx context.Context, secretID, value string) (versionID string, err error) {
	c := e.Client()
	out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID), SecretString: aws.String(value)})
	if err == nil {
		return aws.ToString(out.VersionId), nil
	}
	cout, cerr := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretID), SecretString: aws.String(value)})
	if cerr != nil {
		return "", fmt.Errorf("put %s: %v; create: %w", secretID, err, cerr)
	}
	return aws.ToString(cout.VersionId), nil
}

// Current returns the AWSCURRENT value of secretID.
func (e *Emulator) Current(ctx context.Context, secretID string) (value, versionID string, err error) {
	out, err := e.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.SecretString), aws.ToString(out.VersionId), nil
}

// VersionCount is how many versions secretID has (DescribeSecret's
// VersionIdsToStages): crash tests assert a rotation made exactly one.
func (e *Emulator) VersionCount(ctx context.Context, secretID string) (int, error) {
	out, err := e.Client().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return 0, err
	}
	return len(out.VersionIdsToStages), nil
}
