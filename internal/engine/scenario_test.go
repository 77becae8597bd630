package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/server"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// An engine scenario (testdata/scenarios/*.yaml, format in README.md
// there) drives a real store, the SCIM server's own handlers and the
// engine on a fake clock against memory targets, step by step, and states
// the exact operations each target receives.
type engineScenario struct {
	Description string `yaml:"description"`
	// Bug names the engine bug that makes the scenario fail; only, and
	// always, in a *.bug.yaml file, which the harness skips (see -bugs).
	Bug        string           `yaml:"bug"`
	Start      time.Time        `yaml:"start"`
	Engine     scenarioEngine   `yaml:"engine"`
	Policy     policy.Config    `yaml:"policy"`
	Connectors map[string]memCf `yaml:"connectors"`
	Steps      []engineStep     `yaml:"steps"`
}

type scenarioEngine struct {
	MaxAttempts int           `yaml:"maxAttempts"`
	BackoffBase time.Duration `yaml:"backoffBase"`
	BackoffMax  time.Duration `yaml:"backoffMax"`
	MaxAge      time.Duration `yaml:"maxAge"`
}

// memCf configures a memory target of a scenario.
type memCf struct {
	Capabilities *targets.Capabilities `yaml:"capabilities"`
	Unique       map[string][]string   `yaml:"unique"`
}

type engineStep struct {
	Name    string        `yaml:"name"`
	Advance time.Duration `yaml:"advance"`
	// Restart closes the engine and starts a new one with this policy
	// (targets keep their memory connectors by name, also across an
	// absence).
	Restart *policy.Config `yaml:"restart"`
	// Faults are injected into the targets before the step's deliveries;
	// Clear removes a target's faults first.
	Clear  []string                   `yaml:"clear"`
	Faults map[string][]scenarioFault `yaml:"faults"`
	// Down makes a target's Health fail with the text (targets.HealthChecker);
	// "" makes it pass again.
	Down map[string]string `yaml:"down"`
	// Outside are changes made in a target behind the gateway's back,
	// before the step's SCIM changes.
	Outside map[string][]outsideChange `yaml:"outside"`
	Put     struct {
		Users  []map[string]any `yaml:"users"`
		Groups []map[string]any `yaml:"groups"`
	} `yaml:"put"`
	Patch struct {
		Users  map[string][]map[string]any `yaml:"users"`
		Groups map[string][]map[string]any `yaml:"groups"`
	} `yaml:"patch"`
	Delete struct {
		Users  []string `yaml:"users"`
		Groups []string `yaml:"groups"`
	} `yaml:"delete"`
	// Admin actions, run after planning the step's changes.
	Admin []scenarioAdmin `yaml:"admin"`
	// ReconcileDue runs the scheduled reconciliations that are due
	// (Engine.ReconcileDue), after the admin actions.
	ReconcileDue bool `yaml:"reconcileDue"`
	// Deliver: false plans without delivering.
	Deliver *bool        `yaml:"deliver"`
	Expect  engineExpect `yaml:"expect"`
}

type scenarioFault struct {
	Method memory.Method `yaml:"method"`
	Kind   targets.Kind  `yaml:"kind"`
	Object string        `yaml:"object"` // a scenario key
	Error  string        `yaml:"error"`  // transient, permanent, notfound: text
	Times  int           `yaml:"times"`
	// Applied: the call takes effect before failing (a lost answer).
	Applied bool `yaml:"applied"`
}

// outsideChange deletes an object in a target, or changes it, without the
// gateway knowing.
type outsideChange struct {
	Delete string         `yaml:"delete"` // a scenario key
	Update string         `yaml:"update"` // a scenario key
	Attrs  map[string]any `yaml:"attrs"`  // with update and create
	// Disabled, with update, disables (true) or enables (false) the user.
	Disabled *bool `yaml:"disabled"`
	// AddMembers and RemoveMembers, with update of a group, add or remove
	// the accounts of these keys.
	AddMembers    []string `yaml:"addMembers"`
	RemoveMembers []string `yaml:"removeMembers"`
	// Create adds an account the gateway does not know (an app's existing
	// user), of Kind (default User), linked to the object LinkedTo (a
	// scenario key; default none), disabled with Disabled; Key names it in
	// the lines the harness prints (default its anchor).
	Create   bool         `yaml:"create"`
	Kind     targets.Kind `yaml:"kind"`
	LinkedTo string       `yaml:"linkedTo"`
	Key      string       `yaml:"key"`
}

type scenarioAdmin struct {
	Retry        *struct{ Target, Object string } `yaml:"retry"` // every dead letter of the object ("": of the target)
	Release      string                           `yaml:"release"`
	Discard      string                           `yaml:"discard"` // the guard's held operations
	Resync       string                           `yaml:"resync"`
	ResyncObject *struct{ Target, Object string } `yaml:"resyncObject"`
	// Reconcile reconciles a target (Engine.Reconcile).
	Reconcile *struct {
		Target string
		DryRun bool `yaml:"dryRun"`
	} `yaml:"reconcile"`
}

type engineExpect struct {
	// Preview is what engine.Preview lists per target before the step is
	// planned ("queued" marks queued operations).
	Preview map[string][]string `yaml:"preview"`
	// Operations are the calls each target received in the step, in
	// order; a target not listed received none.
	Operations map[string][]string `yaml:"operations"`
	// Contents are the objects each listed target holds after the step.
	Contents map[string][]string `yaml:"contents"`
	// Queue are the outbox counts of each listed target after the step.
	Queue map[string]scenarioQueue `yaml:"queue"`
	// Health of each listed target as Engine.Targets reports it.
	Health map[string]string `yaml:"health"`
	// Objects: per target and object key, its provisioning state as
	// Engine.Object reports it (see stateLine).
	Objects map[string]map[string]string `yaml:"objects"`
	// Audit are the audit log entries written in the step, in order per
	// object (see auditLine).
	Audit []string `yaml:"audit"`
	// Reconcile is, per target, the report of the step's last
	// reconciliation of it (see reportLines); a target listed must have
	// been reconciled in the step, and a target not listed must not.
	Reconcile map[string]scenarioReport `yaml:"reconcile"`
}

// scenarioReport is the expected report of a reconciliation: its summary
// line and its items, one line each.
type scenarioReport struct {
	Summary string   `yaml:"summary"`
	Items   []string `yaml:"items"`
}

type scenarioQueue struct {
	Pending   int `yaml:"pending"`
	Scheduled int `yaml:"scheduled"`
	Dead      int `yaml:"dead"`
	Held      int `yaml:"held"`
}

// healthConn is a memory target that can tell its health.
type healthConn struct {
	*memory.Connector
	mu     sync.Mutex
	down   string
	probes int
}

func (c *healthConn) Health(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probes++
	if c.down != "" {
		return targets.Transient(errors.New(c.down))
	}
	return nil
}

func (c *healthConn) setDown(reason string) {
	c.mu.Lock()
	c.down = reason
	c.mu.Unlock()
}

// scenarioWorld is a running scenario.
type scenarioWorld struct {
	t     *testing.T
	sc    engineScenario
	now   time.Time
	st    store.Store
	api   *server.Server
	pol   *policy.Policy
	e     *Engine
	conns map[string]*healthConn
	ids   map[string]string       // scenario key → SCIM id
	keys  map[string]string       // SCIM id → scenario key
	kinds map[string]targets.Kind // scenario key → kind
	// anchors maps an anchor of any target to the object key.
	anchors map[string]string
	rand    *rand.ChaCha8 // RandomString, Guid
	// reports are the reconciliations of the step, by target.
	reports map[string]Report
}

// runBugs runs the scenarios of known engine bugs (*.bug.yaml), which the
// harness skips otherwise.
var runBugs = flag.Bool("bugs", false, "run the engine scenarios of known bugs (testdata/scenarios/*.bug.yaml)")

func TestEngineScenarios(t *testing.T) {
	runScenarios(t, func(t *testing.T) *sqlstore.SQL {
		st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestEngineScenariosOnServers runs the scenarios with the store on a
// PostgreSQL and a MariaDB server, a fresh database each.
func TestEngineScenariosOnServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
		open  func(context.Context, string) (*sqlstore.SQL, error)
	}{
		{"postgres", dbtest.StartPostgres, sqlstore.OpenPostgres},
		{"mysql", dbtest.StartMariaDB, sqlstore.OpenMySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			runScenarios(t, func(t *testing.T) *sqlstore.SQL {
				name, _ := srv.NewDatabase(t)
				st, err := tc.open(t.Context(), srv.DSN(name))
				if err != nil {
					t.Fatal(err)
				}
				return st
			})
		})
	}
}

// runScenarios runs every scenario of testdata/scenarios, each on a store
// that open opens.
func runScenarios(t *testing.T, open func(*testing.T) *sqlstore.SQL) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var sc engineScenario
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			switch bug := strings.HasSuffix(file, ".bug.yaml"); {
			case bug && sc.Bug == "":
				t.Fatalf("%s: a *.bug.yaml scenario names its bug in bug:", file)
			case !bug && sc.Bug != "":
				t.Fatalf("%s: bug: belongs in a *.bug.yaml file, which the harness skips", file)
			case bug && !*runBugs:
				t.Skipf("SKIPPED: KNOWN ENGINE BUG, this scenario fails until it is fixed (run it with -args -bugs): %s", sc.Bug)
			}
			runScenario(t, sc, open(t))
		})
	}
}

func runScenario(t *testing.T, sc engineScenario, st *sqlstore.SQL) {
	w := newWorldOn(t, sc, st)
	w.restart(sc.Policy)
	for i, step := range sc.Steps {
		where := fmt.Sprintf("step %d (%s)", i+1, step.Name)
		w.step(where, step)
	}
}

// newWorld is newWorldOn a SQLite store in a temporary directory.
func newWorld(t *testing.T, sc engineScenario) *scenarioWorld {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	return newWorldOn(t, sc, st)
}

// newWorldOn is a scenario world on st, which it closes at cleanup.
func newWorldOn(t *testing.T, sc engineScenario, st *sqlstore.SQL) *scenarioWorld {
	t.Helper()
	t.Cleanup(func() { _ = st.Close() })
	api, err := server.New(server.Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()},
		BasePath: "/scim/v2", MaxBodyBytes: 1 << 20, MaxResults: 1000, DefaultCount: 100,
		BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := &scenarioWorld{t: t, sc: sc, now: sc.Start, st: st, api: api, conns: map[string]*healthConn{},
		ids: map[string]string{}, keys: map[string]string{}, kinds: map[string]targets.Kind{}, anchors: map[string]string{}, rand: rand.NewChaCha8([32]byte{})}
	if w.now.IsZero() {
		w.now = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	}
	t.Cleanup(func() {
		if w.e != nil {
			w.e.Close()
		}
	})
	return w
}

// restart replaces the engine with one for cfg.
func (w *scenarioWorld) restart(cfg policy.Config) {
	t := w.t
	t.Helper()
	if w.e != nil {
		w.e.Close()
	}
	pol, err := policy.Compile(cfg, policy.WithClock(func() time.Time { return w.now }), policy.WithRand(w.rand))
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]targets.Connector{}
	for _, tp := range pol.Targets() {
		name := tp.Name()
		c, ok := w.conns[name]
		if !ok {
			mc := memory.Config{}
			if cf, ok := w.sc.Connectors[name]; ok {
				mc.Capabilities = cf.Capabilities
				if cf.Unique != nil {
					mc.Unique = map[targets.Kind][]string{}
					for k, v := range cf.Unique {
						mc.Unique[targets.Kind(k)] = v
					}
				}
			}
			c = &healthConn{Connector: memory.New(mc)}
			w.conns[name] = c
		}
		conns[name] = c
	}
	w.start(pol, conns, slog.New(slog.DiscardHandler))
}

// start starts an engine on the world's store and clock.
func (w *scenarioWorld) start(pol *policy.Policy, conns map[string]targets.Connector, log *slog.Logger) {
	e, err := New(Options{Store: w.st, Policy: pol, Connectors: conns, Now: func() time.Time { return w.now },
		MaxAttempts: w.sc.Engine.MaxAttempts, BackoffBase: w.sc.Engine.BackoffBase, BackoffMax: w.sc.Engine.BackoffMax,
		MaxAge: w.sc.Engine.MaxAge, Logger: log})
	if err != nil {
		w.t.Fatal(err)
	}
	w.e, w.pol = e, pol
}

func (w *scenarioWorld) step(where string, step engineStep) {
	t := w.t
	t.Helper()
	ctx := t.Context()
	audited := w.lastAudit()
	w.now = w.now.Add(step.Advance)
	if step.Restart != nil {
		w.restart(*step.Restart)
	}
	w.outside(where, step.Outside)
	w.scimChanges(where, step)
	for _, name := range step.Clear {
		w.conn(where, name).ClearFaults()
	}
	for name, fs := range step.Faults {
		c := w.conn(where, name)
		for _, f := range fs {
			id := ""
			if f.Object != "" {
				id = w.id(where, f.Object)
			}
			c.Inject(memory.Fault{Method: f.Method, Kind: f.Kind, ObjectID: id, Err: faultError(t, where, f.Error), Times: f.Times,
				Applied: f.Applied})
		}
	}
	for name, reason := range step.Down {
		w.conn(where, name).setDown(reason)
	}
	for _, c := range w.conns {
		c.ResetCalls()
	}
	w.reports = map[string]Report{}
	if step.Expect.Preview != nil {
		ops, err := Preview(ctx, w.st, w.pol)
		if err != nil {
			t.Fatalf("%s: preview: %v", where, err)
		}
		got := map[string][]string{}
		for _, o := range ops {
			got[o.Target] = append(got[o.Target], w.previewLine(o))
		}
		w.compare(where, "preview", got, step.Expect.Preview)
	}
	if err := w.e.PlanOnce(ctx); err != nil {
		t.Fatalf("%s: plan: %v", where, err)
	}
	for _, a := range step.Admin {
		w.admin(where, a)
	}
	if step.ReconcileDue {
		reps, err := w.e.ReconcileDue(ctx)
		if err != nil {
			t.Fatalf("%s: scheduled reconciliations: %v", where, err)
		}
		for _, r := range reps {
			w.reported(r)
		}
	}
	if step.Deliver == nil || *step.Deliver {
		for round := 0; ; round++ {
			if err := w.e.PlanOnce(ctx); err != nil {
				t.Fatalf("%s: plan: %v", where, err)
			}
			n, err := w.e.DeliverDue(ctx)
			if err != nil {
				t.Fatalf("%s: deliver: %v", where, err)
			}
			if n == 0 {
				break
			}
			if round > 100 {
				t.Fatalf("%s: deliveries do not settle", where)
			}
		}
	}
	w.check(where, step.Expect, audited)
}

// outside makes changes in the targets behind the gateway's back.
func (w *scenarioWorld) outside(where string, changes map[string][]outsideChange) {
	ctx := w.t.Context()
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		c := w.conn(where, name)
		for _, ch := range changes[name] {
			if ch.Create {
				o := targets.Object{Kind: cmp.Or(ch.Kind, targets.User), Attrs: ch.Attrs, Disabled: ch.Disabled != nil && *ch.Disabled}
				if ch.LinkedTo != "" {
					o.ObjectID = w.id(where, ch.LinkedTo)
				}
				anchors, err := c.Seed(o)
				if err != nil {
					w.t.Fatalf("%s: outside change %+v: %v", where, ch, err)
				}
				if ch.Key != "" {
					w.anchors[anchors[0]] = ch.Key
				}
				continue
			}
			key := ch.Delete + ch.Update
			update := ch.Attrs != nil || ch.Disabled != nil || len(ch.AddMembers)+len(ch.RemoveMembers) > 0
			if (ch.Delete == "") == (ch.Update == "") || update != (ch.Update != "") {
				w.t.Fatalf("%s: outside change %+v: want delete: KEY, or update: KEY with attrs, disabled or members", where, ch)
			}
			o := w.account(where, c, key)
			op := targets.Op{ID: "outside", ObjectID: o.ObjectID, Kind: o.Kind, Anchor: o.Anchor, Attrs: ch.Attrs}
			var err error
			switch {
			case ch.Delete != "":
				err = c.Delete(ctx, op)
			case ch.Attrs != nil:
				err = c.Update(ctx, op)
			}
			if err == nil && ch.Disabled != nil {
				if *ch.Disabled {
					err = c.Disable(ctx, op)
				} else {
					err = c.Enable(ctx, op)
				}
			}
			for _, m := range []struct {
				keys []string
				fn   func(context.Context, targets.Op) error
			}{{ch.AddMembers, c.AddMembers}, {ch.RemoveMembers, c.RemoveMembers}} {
				if err != nil || len(m.keys) == 0 {
					continue
				}
				mop := op
				mop.Attrs = nil
				for _, k := range m.keys {
					mop.Members = append(mop.Members, w.account(where, c, k).Anchor)
				}
				err = m.fn(ctx, mop)
			}
			if err != nil {
				w.t.Fatalf("%s: outside change %+v: %v", where, ch, err)
			}
		}
	}
}

// account returns the object a target holds for a key: the object with
// its SCIM id recorded, or an account seeded with that key.
func (w *scenarioWorld) account(where string, c *healthConn, key string) targets.Object {
	id, known := w.ids[key]
	for _, o := range c.Snapshot() {
		if known && o.ObjectID == id || w.anchors[o.Anchor] == key && o.ObjectID == "" {
			return o
		}
	}
	w.t.Fatalf("%s: outside change: the target holds no %s", where, key)
	return targets.Object{}
}

func faultError(t *testing.T, where, spec string) error {
	class, text, _ := strings.Cut(spec, ":")
	text = strings.TrimSpace(text)
	if text == "" {
		text = "injected"
	}
	switch class {
	case "":
		return nil
	case "transient":
		return targets.Transient(errors.New(text))
	case "permanent":
		return targets.Permanent(errors.New(text))
	case "notfound":
		return targets.NotFound(errors.New(text))
	}
	t.Fatalf("%s: fault error %q: want transient, permanent or notfound", where, spec)
	return nil
}

func (w *scenarioWorld) conn(where, name string) *healthConn {
	c, ok := w.conns[name]
	if !ok {
		w.t.Fatalf("%s: no target %q", where, name)
	}
	return c
}

func (w *scenarioWorld) id(where, key string) string {
	id, ok := w.ids[key]
	if !ok {
		w.t.Fatalf("%s: no object %q", where, key)
	}
	return id
}

// kind returns the kind of the object key.
func (w *scenarioWorld) kind(where, key string) targets.Kind {
	w.id(where, key)
	return w.kinds[key]
}

// key returns the scenario key of a SCIM id (the id itself when unknown);
// an orphan's id is "orphan:" and the key of its account.
func (w *scenarioWorld) key(id string) string {
	if k, ok := w.keys[id]; ok {
		return k
	}
	if a, ok := strings.CutPrefix(id, OrphanPrefix); ok && w.anchors[a] != "" {
		return OrphanPrefix + w.anchors[a]
	}
	return id
}

// scimChanges sends the step's changes through the SCIM server.
func (w *scenarioWorld) scimChanges(where string, step engineStep) {
	for _, kind := range []struct {
		path   string
		kind   targets.Kind
		bodies []map[string]any
	}{{"/Users", targets.User, step.Put.Users}, {"/Groups", targets.Group, step.Put.Groups}} {
		for _, b := range kind.bodies {
			b = maps.Clone(b)
			key, _ := b["key"].(string)
			if key == "" {
				w.t.Fatalf("%s: a resource to put needs a key", where)
			}
			delete(b, "key")
			if id, ok := w.ids[key]; ok {
				w.do(where, http.MethodPut, kind.path+"/"+id, b, http.StatusOK)
				continue
			}
			res := w.do(where, http.MethodPost, kind.path, b, http.StatusCreated)
			id, _ := res["id"].(string)
			w.ids[key], w.keys[id], w.kinds[key] = id, key, kind.kind
		}
	}
	for _, kind := range []struct {
		path string
		ops  map[string][]map[string]any
	}{{"/Users", step.Patch.Users}, {"/Groups", step.Patch.Groups}} {
		for _, key := range slices.Sorted(maps.Keys(kind.ops)) {
			body := map[string]any{"schemas": []string{scim.URNPatchOp}, "Operations": kind.ops[key]}
			w.do(where, http.MethodPatch, kind.path+"/"+w.id(where, key), body, 0)
		}
	}
	for _, kind := range []struct {
		path string
		keys []string
	}{{"/Users", step.Delete.Users}, {"/Groups", step.Delete.Groups}} {
		for _, key := range kind.keys {
			w.do(where, http.MethodDelete, kind.path+"/"+w.id(where, key), nil, http.StatusNoContent)
		}
	}
}

// do sends one SCIM request; "$key" in the body stands for an object's id.
func (w *scenarioWorld) do(where, method, path string, body map[string]any, want int) map[string]any {
	t := w.t
	ctx := store.WithActor(t.Context(), "scim")
	var r *http.Request
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range slices.SortedFunc(maps.Keys(w.ids), func(a, b string) int { return len(b) - len(a) }) {
			b = bytes.ReplaceAll(b, []byte("$"+k), []byte(w.ids[k]))
		}
		r = httptest.NewRequestWithContext(ctx, method, "/scim/v2"+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/scim+json")
	} else {
		r = httptest.NewRequestWithContext(ctx, method, "/scim/v2"+path, nil)
	}
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, r)
	if want == 0 && rec.Code/100 != 2 || want != 0 && rec.Code != want {
		t.Fatalf("%s: %s %s: %d %s", where, method, path, rec.Code, rec.Body)
	}
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %s %s: %v", where, method, path, err)
		}
	}
	return out
}

func (w *scenarioWorld) admin(where string, a scenarioAdmin) {
	ctx := store.WithActor(w.t.Context(), "admin")
	var err error
	switch {
	case a.Retry != nil:
		err = w.retryDead(ctx, a.Retry.Target, a.Retry.Object)
	case a.Release != "":
		_, err = w.e.Release(ctx, a.Release)
	case a.Discard != "":
		_, err = w.e.Discard(ctx, a.Discard)
	case a.Resync != "":
		_, err = w.e.ResyncTarget(ctx, a.Resync)
	case a.ResyncObject != nil:
		_, err = w.e.ResyncObject(ctx, a.ResyncObject.Target, w.kind(where, a.ResyncObject.Object), w.id(where, a.ResyncObject.Object))
	case a.Reconcile != nil:
		var r Report
		if r, err = w.e.Reconcile(ctx, a.Reconcile.Target, a.Reconcile.DryRun, nil); err == nil {
			w.reported(r)
		}
	default:
		w.t.Fatalf("%s: empty admin action", where)
	}
	if err != nil {
		w.t.Fatalf("%s: admin %+v: %v", where, a, err)
	}
}

// retryDead retries the dead letters of a target, or of one object.
func (w *scenarioWorld) retryDead(ctx context.Context, target, key string) error {
	dead, err := w.e.DeadLetters(ctx, target, 1000)
	if err != nil {
		return err
	}
	n := 0
	for _, d := range dead {
		if key != "" && w.key(d.ID) != key {
			continue
		}
		if err := w.e.Retry(ctx, target, d.Seq); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no dead letter to retry")
	}
	return nil
}

func (w *scenarioWorld) check(where string, want engineExpect, audited int64) {
	t := w.t
	ctx := t.Context()
	got := map[string][]string{}
	for name, c := range w.conns {
		for _, call := range c.Calls() {
			got[name] = append(got[name], w.callLine(call))
		}
	}
	w.compare(where, "operations", got, want.Operations)
	for _, name := range slices.Sorted(maps.Keys(want.Contents)) {
		var lines []string
		for _, o := range w.conn(where, name).Snapshot() {
			lines = append(lines, w.objectLine(o))
		}
		slices.Sort(lines)
		w.compare(where, "contents", map[string][]string{name: lines}, map[string][]string{name: want.Contents[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(want.Queue)) {
		st, err := w.st.OutboxStats(ctx, name, w.now)
		if err != nil {
			t.Fatal(err)
		}
		q := scenarioQueue{Pending: st.Pending, Scheduled: st.Scheduled, Dead: st.Dead, Held: st.Held}
		if q != want.Queue[name] {
			t.Errorf("%s: queue of %s = %+v, want %+v", where, name, q, want.Queue[name])
		}
	}
	if len(want.Health) > 0 {
		sts, err := w.e.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			h, ok := want.Health[s.Name]
			if !ok {
				continue
			}
			line := s.Health
			if s.HealthError != "" {
				line += ": " + s.HealthError
			}
			if line != h {
				t.Errorf("%s: health of %s = %q, want %q", where, s.Name, line, h)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Objects)) {
		for _, key := range slices.Sorted(maps.Keys(want.Objects[name])) {
			states, err := w.e.Object(ctx, w.kind(where, key), w.id(where, key))
			if err != nil {
				t.Fatal(err)
			}
			line := "unknown target"
			for _, s := range states {
				if s.Target == name {
					line = w.stateLine(s, key, w.conn(where, name))
				}
			}
			if line != want.Objects[name][key] {
				t.Errorf("%s: %s in %s:\n got %s\nwant %s", where, key, name, line, want.Objects[name][key])
			}
		}
	}
	if want.Audit != nil {
		w.compareAudit(where, w.auditSince(audited), want.Audit)
	}
	for _, name := range slices.Sorted(maps.Keys(w.reports)) {
		if _, ok := want.Reconcile[name]; !ok {
			t.Errorf("%s: %s was reconciled (%s), and the step expects no reconciliation of it", where, name, w.summaryLine(w.reports[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Reconcile)) {
		r, ok := w.reports[name]
		if !ok {
			t.Errorf("%s: %s was not reconciled", where, name)
			continue
		}
		wr := want.Reconcile[name]
		if got := w.summaryLine(r); got != wr.Summary {
			t.Errorf("%s: reconciliation of %s:\n got %s\nwant %s", where, name, got, wr.Summary)
		}
		got := w.reportLines(r)
		if g, wt := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wr.Items)); !slices.Equal(g, wt) {
			t.Errorf("%s: reconciliation items of %s:\n got:\n  %s\nwant:\n  %s", where, name, strings.Join(g, "\n  "), strings.Join(wt, "\n  "))
		}
		// The kept report is the one returned.
		kept, err := w.e.Reconciliation(ctx, name, r.ID)
		if err != nil {
			t.Errorf("%s: reading the report of %s: %v", where, name, err)
		} else if gk := w.reportLines(kept); !slices.Equal(slices.Sorted(slices.Values(gk)), slices.Sorted(slices.Values(got))) ||
			w.summaryLine(kept) != w.summaryLine(r) {
			t.Errorf("%s: the kept report of %s differs:\n%s\n  %s", where, name, w.summaryLine(kept), strings.Join(gk, "\n  "))
		}
	}
}

// reported records a reconciliation of the step; its id is "report" in
// the lines the harness prints.
func (w *scenarioWorld) reported(r Report) {
	w.reports[r.Target] = r
	w.keys[r.ID] = "report"
}

// summaryLine prints a report's status and counts: "done[, dry run]: read
// N, matched N, identities N, changes N; outcome N, ..." (outcomes in
// report order, those with a count).
func (w *scenarioWorld) summaryLine(r Report) string {
	line := r.Status
	if r.DryRun {
		line += ", dry run"
	}
	if r.Error != "" {
		line += " (" + w.keyed(r.Error) + ")"
	}
	line += fmt.Sprintf(": read %d, matched %d, identities %d, changes %d", r.Read, r.Matched, r.Identities, r.Changes)
	var counts []string
	for _, o := range Outcomes {
		if n := r.Counts[o]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", o, n))
		}
	}
	if len(counts) > 0 {
		line += "; " + strings.Join(counts, ", ")
	}
	return line
}

// reportLines prints a report's items: "outcome Kind who action[: diffs]
// [(detail)]", who being the identity's key, else the account's key or
// anchor; diffs "attr old → new" (JSON values) or "members +a -b".
func (w *scenarioWorld) reportLines(r Report) []string {
	var out []string
	for _, it := range r.Items {
		who := w.key(it.ID)
		if it.ID == "" {
			who = cmp.Or(w.anchors[it.Anchor], it.Anchor)
		}
		line := fmt.Sprintf("%s %s %s %s", it.Outcome, it.Type, who, it.Action)
		var diffs []string
		for _, d := range it.Diffs {
			if d.Attr == "members" {
				var ms []string
				for _, m := range d.Add {
					ms = append(ms, "+"+w.key(m))
				}
				for _, m := range d.Remove {
					ms = append(ms, "-"+w.key(m))
				}
				diffs = append(diffs, "members "+strings.Join(ms, " "))
				continue
			}
			diffs = append(diffs, fmt.Sprintf("%s %s → %s", d.Attr, jsonValue(d.Old), jsonValue(d.New)))
		}
		if len(diffs) > 0 {
			line += ": " + strings.Join(diffs, ", ")
		}
		if it.Detail != "" {
			line += " (" + w.keyed(it.Detail) + ")"
		}
		out = append(out, line)
	}
	return out
}

// jsonValue prints a value as JSON, <, > and & as they are.
func jsonValue(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// lastAudit returns the sequence number of the newest audit entry.
func (w *scenarioWorld) lastAudit() int64 {
	es, err := w.st.Audit(w.t.Context(), store.AuditQuery{Limit: 1})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(es) == 0 {
		return 0
	}
	return es[0].Seq
}

// auditSince returns the audit entries after seq, oldest first, as lines.
func (w *scenarioWorld) auditSince(seq int64) []string {
	es, err := w.st.Audit(w.t.Context(), store.AuditQuery{Limit: 100_000})
	if err != nil {
		w.t.Fatal(err)
	}
	var lines []string
	for _, e := range slices.Backward(es) {
		if e.Seq > seq {
			lines = append(lines, w.auditLine(e))
		}
	}
	return lines
}

// auditLine prints an audit entry: "actor action [Kind key] [in target]:
// result [(detail)]", ids replaced by their keys.
func (w *scenarioWorld) auditLine(e store.AuditEntry) string {
	line := e.Actor + " " + e.Action
	if e.ID != "" {
		line += " " + e.Type + " " + w.key(e.ID)
	}
	if e.Target != "" {
		line += " in " + e.Target
	}
	line += ": " + e.Result
	if e.Detail != "" {
		line += " (" + w.keyed(e.Detail) + ")"
	}
	return line
}

// auditObject finds the object of an audit line ("" for none).
var auditObject = regexp.MustCompile(`^\S+ [^:]*?\b((?:User|Group) [^\s:]+)`)

// compareAudit compares audit lines grouped by object, each object's lines
// in their order (objects are planned in no fixed order).
func (w *scenarioWorld) compareAudit(where string, got, want []string) {
	group := func(lines []string) []string {
		out := slices.Clone(lines)
		slices.SortStableFunc(out, func(a, b string) int {
			var oa, ob string
			if m := auditObject.FindStringSubmatch(a); m != nil {
				oa = m[1]
			}
			if m := auditObject.FindStringSubmatch(b); m != nil {
				ob = m[1]
			}
			return strings.Compare(oa, ob)
		})
		return out
	}
	if g, wt := group(got), group(want); !slices.Equal(g, wt) {
		w.t.Errorf("%s: audit:\n got:\n  %s\nwant:\n  %s", where, strings.Join(g, "\n  "), strings.Join(wt, "\n  "))
	}
}

// compare compares lines per target. Objects are planned in no fixed
// order, so lines are compared grouped by object (the second and third
// words), each object's lines in their order.
func (w *scenarioWorld) compare(where, what string, got, want map[string][]string) {
	t := w.t
	for _, name := range slices.Sorted(maps.Keys(w.conns)) {
		g, wt := byObject(got[name]), byObject(want[name])
		if slices.Equal(g, wt) {
			continue
		}
		t.Errorf("%s: %s of %s:\n got:\n  %s\nwant:\n  %s", where, what, name, strings.Join(g, "\n  "), strings.Join(wt, "\n  "))
	}
}

// callLine prints a call the connector received: method, kind, object key,
// then attributes (JSON, sorted keys) or members, and "! error" on failure.
func (w *scenarioWorld) callLine(c memory.Call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", c.Method, c.Op.Kind, w.key(c.Op.ObjectID))
	if c.Op.Attrs != nil && (c.Method == memory.Create || c.Method == memory.Update) {
		fmt.Fprintf(&b, " %s", jsonText(c.Op.Attrs))
	}
	if len(c.Op.Members) > 0 {
		b.WriteString(" [" + strings.Join(w.memberKeys(c.Op.Members), " ") + "]")
	}
	if c.Anchor != "" && c.Op.ObjectID != "" {
		w.anchors[c.Anchor] = w.key(c.Op.ObjectID)
	}
	if c.Err != nil {
		fmt.Fprintf(&b, " ! %v", w.keyed(c.Err.Error()))
	}
	return b.String()
}

func (w *scenarioWorld) memberKeys(anchors []string) []string {
	out := make([]string, 0, len(anchors))
	for _, a := range anchors {
		if k, ok := w.anchors[a]; ok {
			a = k
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// objectLine prints an object a target holds.
func (w *scenarioWorld) objectLine(o targets.Object) string {
	line := fmt.Sprintf("%s %s %s", o.Kind, cmp.Or(w.key(o.ObjectID), "-"), jsonText(o.Attrs))
	if o.Disabled {
		line += " disabled"
	}
	if o.Kind == targets.Group {
		line += " [" + strings.Join(w.memberKeys(o.Members), " ") + "]"
	}
	return line
}

func (w *scenarioWorld) previewLine(o PlannedOp) string {
	line := fmt.Sprintf("%s %s %s", o.Op, o.Kind, w.key(o.ID))
	if len(o.Attrs) > 0 {
		line += " " + jsonText(o.Attrs)
	}
	if len(o.Members) > 0 {
		line += " [" + w.idKeys(o.Members) + "]"
	}
	if o.Queued {
		line += " (queued)"
	}
	if o.Held {
		line += " (held)"
	}
	return line
}

// stateLine prints an object's state in a target: its flags; "anchored"
// when its recorded anchor names the object the target holds for it
// ("anchor lost" when the target holds no object with that anchor,
// "anchored to KEY" when it holds it for another object); the members it
// misses, pending and dead operations. "none": nothing recorded, nothing
// queued.
func (w *scenarioWorld) stateLine(s ObjectState, key string, c *healthConn) string {
	var parts []string
	for _, f := range []struct {
		on   bool
		name string
	}{{s.Present, "present"}, {s.InScope, "inScope"}, {s.Disabled, "disabled"}, {s.Deleted, "deleted"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	if s.Anchor != "" {
		anchor := "anchor lost"
		for _, o := range c.Snapshot() {
			if o.Anchor != s.Anchor {
				continue
			}
			anchor = "anchored"
			if k := w.key(o.ObjectID); k != key {
				anchor = "anchored to " + k
			}
		}
		parts = append(parts, anchor)
	}
	if len(s.MissingMembers) > 0 {
		parts = append(parts, "missing ["+w.idKeys(s.MissingMembers)+"]")
	}
	for _, o := range s.Pending {
		parts = append(parts, "pending "+w.opLine(o))
	}
	for _, o := range s.Dead {
		parts = append(parts, "dead "+w.opLine(o))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (w *scenarioWorld) opLine(o Operation) string {
	line := o.Op
	if len(o.Members) > 0 {
		line += " [" + w.idKeys(o.Members) + "]"
	}
	if o.Held {
		line += " held"
	}
	if o.LastError != "" {
		line += " (" + w.keyed(o.LastError) + ")"
	}
	return line
}

// keyed replaces the SCIM ids in s, and the anchors quoted in it, by
// their scenario keys.
func (w *scenarioWorld) keyed(s string) string {
	for id, k := range w.keys {
		s = strings.ReplaceAll(s, id, k)
	}
	for a, k := range w.anchors {
		s = strings.ReplaceAll(s, `"`+a+`"`, `"`+k+`"`)
	}
	return s
}

// jsonText prints attributes as JSON with sorted keys, <, > and & as they
// are.
func jsonText(attrs map[string]any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(attrs); err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// byObject orders lines by their object (words 2 and 3), stably.
func byObject(lines []string) []string {
	object := func(l string) string {
		f := strings.Fields(l)
		if len(f) < 3 {
			return l
		}
		return f[1] + " " + f[2]
	}
	out := slices.Clone(lines)
	slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(object(a), object(b)) })
	return out
}

// idKeys returns the scenario keys of SCIM ids, sorted, space-separated.
func (w *scenarioWorld) idKeys(ids []string) string {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = w.key(id)
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}
