package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"kpay-rotator/event"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	statusSchema  = "../../docs/status.schema.json"
	webhookSchema = "../../docs/webhook.schema.json"
)

func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	// date-time is checked, not only annotated.
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

// validate checks doc, a JSON text, against s and returns it decoded.
func validate(t *testing.T, s *jsonschema.Schema, what, doc string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, doc)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match its schema: %v\n%s", what, err, doc)
	}
	return v
}

// statusJSON runs status --json and checks its source.
func (f *fixture) statusJSON(source string) string {
	f.t.Helper()
	out, errOut, code := f.cli("status", "--json")
	if code != 0 {
		f.t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var doc struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Source != source {
		f.t.Fatalf("status --json: source %q (%v), want %q\n%s", doc.Source, err, source, out)
	}
	return out
}

// TestSchema_StatusAndWebhookMatchTheirSchemas: the real output of status
// --json (before the daemon ever ran, from the running daemon, and from
// the database once it stopped) matches docs/status.schema.json, and
// every signed webhook body a real receiver verified and captured
// matches docs/webhook.schema.json. The schemas refuse a document missing
// a key, with a key they do not list, or with a value of the wrong type.
func TestSchema_StatusAndWebhookMatchTheirSchemas(t *testing.T) {
	status, webhook := compileSchema(t, statusSchema), compileSchema(t, webhookSchema)
	f := newFixture(t)
	hook, whsec := newHookReceiver(t)
	f.defaults = `notify = ["hooks"]`
	f.writeConfig("\n[[notifier]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = \"" + hook.srv.URL + "/h\"\nsecret = \"" + whsec + "\"\ngroup_wait = \"0s\"\n")

	validate(t, status, "status --json with no database yet", f.statusJSON("config"))

	p := f.start()
	eventually(t, "start pass", func() bool { return slotOf(f.status(), "payments-live").Health == "healthy" })
	validate(t, status, "status --json from the daemon after the start pass", f.statusJSON("daemon"))

	// An unplanned revocation, then a rotation: a last probe, a
	// rotation and a retired pair to show, and alerts to deliver.
	f.regenerate("payments-live")
	p.signal(syscall.SIGUSR1)
	eventually(t, "rejection", func() bool { return slotOf(f.status(), "payments-live").LastProbe.Outcome == "rejected" })
	p.signal(syscall.SIGUSR1)
	eventually(t, "alert delivered", func() bool { return hook.delivered()["unplanned_revocation"] == 1 })
	newPair, _ := f.kpay.Pair(f.apps["payments-live"].ID, "live")
	if _, stderr, code := f.cliIn(lines(newPair), "stage", "payments-live"); code != 0 {
		t.Fatalf("stage: %s", stderr)
	}
	eventually(t, "key_recovered delivered", func() bool { return hook.delivered()["key_recovered"] == 1 })
	live := f.statusJSON("daemon")
	doc := validate(t, status, "status --json from the daemon after a rotation", live)
	slot := doc.(map[string]any)["slots"].([]any)[0].(map[string]any)
	if slot["rotation"] == nil || len(slot["retired"].([]any)) == 0 || slot["last_probe"] == nil {
		t.Errorf("after a rotation, want a rotation, a retired pair and a last probe to check; got %s", live)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	validate(t, status, "status --json from the database", f.statusJSON("database"))

	hook.mu.Lock()
	bodies, badSig := slices.Clone(hook.bodies), hook.badSig
	hook.mu.Unlock()
	if len(bodies) == 0 || badSig != 0 {
		t.Fatalf("the receiver verified %d bodies and refused %d signatures; want some and none", len(bodies), badSig)
	}
	for i, b := range bodies {
		validate(t, webhook, fmt.Sprintf("webhook body %d", i+1), b)
	}

	// Strict enough to fail: mutations of the real documents.
	for _, tt := range []struct {
		name   string
		schema *jsonschema.Schema
		doc    string
		mutate func(map[string]any)
	}{
		{"status without schema_version", status, live, func(m map[string]any) { delete(m, "schema_version") }},
		{"status with an unknown key", status, live, func(m map[string]any) { m["uptime"] = 1 }},
		{"status with pid as a string", status, live, func(m map[string]any) { m["pid"] = "1" }},
		{"slot without health", status, live, func(m map[string]any) { delete(m["slots"].([]any)[0].(map[string]any), "health") }},
		{"slot with a null retired list", status, live, func(m map[string]any) { m["slots"].([]any)[0].(map[string]any)["retired"] = nil }},
		{"status with a bad time", status, live, func(m map[string]any) { m["generated_at"] = "yesterday" }},
		{"webhook without data", webhook, bodies[0], func(m map[string]any) { delete(m, "data") }},
		{"webhook with omitted_events", webhook, bodies[0], func(m map[string]any) { m["data"].(map[string]any)["omitted_events"] = 3 }},
		{"webhook event of an unknown kind", webhook, bodies[0], func(m map[string]any) {
			m["data"].(map[string]any)["events"].([]any)[0].(map[string]any)["kind"] = "key_exploded"
		}},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(tt.doc), &m); err != nil {
			t.Fatal(err)
		}
		tt.mutate(m)
		if err := tt.schema.Validate(m); err == nil {
			t.Errorf("%s: the schema accepts it", tt.name)
		}
	}
}

// TestSchema_WebhookListsEveryKind: docs/webhook.schema.json names every
// event kind the daemon has, as an event's kind and as a body's type, and
// none it does not have.
func TestSchema_WebhookListsEveryKind(t *testing.T) {
	var doc struct {
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
		Defs struct {
			Event struct {
				Properties struct {
					Kind struct {
						Enum []string `json:"enum"`
					} `json:"kind"`
				} `json:"properties"`
			} `json:"event"`
		} `json:"$defs"`
	}
	compileSchema(t, webhookSchema)
	b, err := os.ReadFile(webhookSchema)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var kinds, types []string
	for _, k := range event.Kinds() {
		kinds = append(kinds, string(k))
		types = append(types, "kpay_rotator."+string(k))
	}
	types = append(types, "kpay_rotator.group")
	for _, c := range []struct {
		what      string
		got, want []string
	}{{"event kinds", doc.Defs.Event.Properties.Kind.Enum, kinds}, {"body types", doc.Properties.Type.Enum, types}} {
		slices.Sort(c.got)
		slices.Sort(c.want)
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: the schema lists %v, the daemon has %v", c.what, c.got, c.want)
		}
	}
}
