package review_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/server"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// world is a gateway's core on a fake clock: a store with the SCIM API
// in front, an engine over memory targets, a recording sender, and the
// review service (and guest lifecycle) the test configures.
type world struct {
	t      *testing.T
	now    time.Time
	st     *sqlstore.SQL
	api    http.Handler
	pol    *policy.Policy
	eng    *engine.Engine
	conns  map[string]*memory.Connector
	mail   *mailbox
	signIn *signIns
	guests *guest.Lifecycle
	svc    *review.Service
}

// newWorld starts a world at now with the targets of policyYAML (a
// policy configuration; "" none).
func newWorld(t *testing.T, now time.Time, policyYAML string) *world {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	api, err := server.New(server.Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()},
		BasePath: "/scim/v2", MaxBodyBytes: 1 << 20, MaxResults: 1000, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, now: now, st: st, api: api, conns: map[string]*memory.Connector{}, mail: &mailbox{}, signIn: &signIns{}}
	var cfg policy.Config
	if policyYAML != "" {
		if cfg, err = policy.ParseConfig([]byte(policyYAML)); err != nil {
			t.Fatal(err)
		}
	}
	if w.pol, err = policy.Compile(cfg); err != nil {
		t.Fatal(err)
	}
	conns := map[string]targets.Connector{}
	for _, tp := range w.pol.Targets() {
		c := memory.New(memory.Config{})
		w.conns[tp.Name()], conns[tp.Name()] = c, c
	}
	w.eng, err = engine.New(engine.Options{Store: st, Policy: w.pol, Connectors: conns, Now: w.clock, OnChanges: w.onChanges})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) clock() time.Time { return w.now }

// onChanges tells the guest lifecycle, when there is one, of the changes.
func (w *world) onChanges(ctx context.Context, tx store.Tx, ch []store.Change) error {
	if w.guests == nil {
		return nil
	}
	return w.guests.OnChanges(ctx, tx, ch)
}

// withGuests adds the guest lifecycle of cfg.
func (w *world) withGuests(cfg guest.Config) {
	w.t.Helper()
	rules, err := guest.Compile(cfg, guest.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	if w.guests, err = guest.NewLifecycle(guest.LifecycleOptions{Store: w.st, Rules: rules, Engine: w.eng, Now: w.clock,
		Entra: w.signIn, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		w.t.Fatal(err)
	}
}

// start creates the review service of defs (tune adjusts its options).
func (w *world) start(defs []review.Config, tune ...func(*review.Options)) *review.Service {
	w.t.Helper()
	o := review.Options{Store: w.st, Definitions: defs, Policy: w.pol, Engine: w.eng, Sender: w.mail, Entra: w.signIn, Now: w.clock}
	if w.guests != nil {
		o.Guests = w.guests
	}
	for _, f := range tune {
		f(&o)
	}
	svc, err := review.New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svc = svc
	return svc
}

// scim sends a SCIM request and returns the response body; a status
// other than 2xx fails the test.
func (w *world) scim(method, path string, body any) map[string]any {
	w.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			w.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequestWithContext(store.WithActor(w.t.Context(), "scim: test"), method, "/scim/v2"+path, rd)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		w.t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	out := map[string]any{}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			w.t.Fatal(err)
		}
	}
	return out
}

// user creates a user (its manager's id, or ""), with more attributes.
func (w *world) user(userName, manager string, more map[string]any) string {
	w.t.Helper()
	body := map[string]any{"userName": userName, "displayName": strings.Split(userName, "@")[0], "active": true}
	if strings.Contains(userName, "@") && !strings.Contains(userName, "#EXT#") {
		body["emails"] = []any{map[string]any{"value": userName, "primary": true}}
	}
	if manager != "" {
		body[scim.URNEnterpriseUser] = map[string]any{"manager": map[string]any{"value": manager}}
	}
	for k, v := range more {
		body[k] = v
	}
	return w.scim("POST", "/Users", body)["id"].(string)
}

// group creates a group with members.
func (w *world) group(name string, members ...string) string {
	w.t.Helper()
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return w.scim("POST", "/Groups", map[string]any{"displayName": name, "members": ms})["id"].(string)
}

// members changes a group's members.
func (w *world) members(gid, op string, users ...string) {
	w.t.Helper()
	ms := []any{}
	for _, u := range users {
		ms = append(ms, map[string]any{"value": u})
	}
	w.scim("PATCH", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": op, "path": "members", "value": ms}}})
}

// settle plans and delivers until nothing is left.
func (w *world) settle() {
	w.t.Helper()
	for range 4 {
		if err := w.eng.PlanOnce(w.t.Context()); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.eng.DeliverDue(w.t.Context()); err != nil {
			w.t.Fatal(err)
		}
	}
}

// at moves the clock to at and runs what is due: the reviews, the guest
// lifecycle, the engine.
func (w *world) at(at time.Time) {
	w.t.Helper()
	w.now = at
	w.settle()
	if _, err := w.svc.RunDue(w.t.Context()); err != nil {
		w.t.Fatalf("RunDue at %s: %v", at.Format(time.RFC3339), err)
	}
	if w.guests != nil {
		if _, err := w.guests.RunDue(w.t.Context()); err != nil {
			w.t.Fatal(err)
		}
	}
	w.settle()
}

// account says where a user's account is in a memory target: "enabled",
// "disabled" or "gone".
func (w *world) account(target, userName string) string {
	for _, o := range w.conns[target].Snapshot() {
		if o.Kind == targets.User && o.Attrs["userName"] == userName {
			if o.Disabled {
				return "disabled"
			}
			return "enabled"
		}
	}
	return "gone"
}

// groupMembers returns the userNames of a group's members in a memory
// target, sorted.
func (w *world) groupMembers(target, group string) []string {
	snap := w.conns[target].Snapshot()
	names := map[string]string{}
	for _, o := range snap {
		if o.Kind == targets.User {
			names[o.Anchor], _ = o.Attrs["userName"].(string)
		}
	}
	out := []string{}
	for _, o := range snap {
		if o.Kind == targets.Group && o.Attrs["displayName"] == group {
			for _, m := range o.Members {
				out = append(out, names[m])
			}
		}
	}
	slices.Sort(out)
	return out
}

// instances returns the instances of a review, oldest first.
func (w *world) instances(name string) []review.Instance {
	w.t.Helper()
	ins, err := w.svc.Instances(w.t.Context(), name)
	if err != nil {
		w.t.Fatal(err)
	}
	slices.Reverse(ins)
	return ins
}

// items returns an instance's items as "userName: recommendation (reason)
// [reviewers] decision apply-result", by index.
func (w *world) items(instance int64) []string {
	w.t.Helper()
	its, err := w.svc.Items(w.t.Context(), instance)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, it := range its {
		out = append(out, fmt.Sprintf("%s: %s (%s) %v %s %s", it.UserName, it.Recommendation, it.Reason, it.Reviewers, it.Decision, it.ApplyResult))
	}
	return out
}

// item returns the index of a user's item in an instance.
func (w *world) item(instance int64, userName string) int {
	w.t.Helper()
	its, err := w.svc.Items(w.t.Context(), instance)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, it := range its {
		if it.UserName == userName {
			return it.Index
		}
	}
	w.t.Fatalf("no item of %s in instance %d", userName, instance)
	return 0
}

// mailbox is a notify.Sender that records what it sends; fail, when set,
// says whether (and how) a send to an address fails. The zero value
// records.
type mailbox struct {
	mu     sync.Mutex
	emails []notify.Email
	posts  []string // "channel: title"
	tries  map[string]int
	fail   func(to string) error
}

func (m *mailbox) SendEmail(_ context.Context, e notify.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tries == nil {
		m.tries = map[string]int{}
	}
	to := strings.Join(e.To, ",")
	m.tries[to]++
	if m.fail != nil {
		if err := m.fail(to); err != nil {
			return err
		}
	}
	m.emails = append(m.emails, e)
	return nil
}

func (m *mailbox) Notify(_ context.Context, ch string, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.posts = append(m.posts, ch+": "+msg.Title)
	return nil
}

// take returns the emails sent since the last take as "to: subject".
func (m *mailbox) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []string{}
	for _, e := range m.emails {
		out = append(out, strings.Join(e.To, ",")+": "+e.Subject)
	}
	m.emails = nil
	slices.Sort(out)
	return out
}

// takePosts returns the channel posts since the last take.
func (m *mailbox) takePosts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.posts
	m.posts = nil
	return out
}

// signIns is an Entra that knows the users' last sign-ins (by userName);
// a user it does not know has no signInActivity.
type signIns struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *signIns) set(userName string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]time.Time{}
	}
	s.last[userName] = at
}

func (s *signIns) LookupUser(_ context.Context, key string) (*entra.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &entra.User{UserPrincipalName: key}
	if at, ok := s.last[key]; ok {
		u.SignInActivity = &entra.SignInActivity{LastSignInDateTime: at}
	}
	return u, nil
}

func (s *signIns) Enable(context.Context, string) error     { return nil }
func (s *signIns) Disable(context.Context, string) error    { return nil }
func (s *signIns) DeleteUser(context.Context, string) error { return nil }

// transient is a sender's failure that a retry may overcome.
func transient(msg string) error { return fmt.Errorf("%s: %w", msg, notify.ErrTransient) }
