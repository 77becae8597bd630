package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
)

// fakeClock is a clock the test moves; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// guestsYAML: a guest is a B2B user (#EXT# userName); access lasts 30
// days from creation, with a notice 3 days before; the default grace of
// 30 days.
const guestsYAML = `
rules:
  - upnExternal: true
expiry: {lifetime: 720h}
notices: [72h]
`

// guestGateway runs a gateway with a memory target and the guest
// lifecycle of guestsYAML on clock, whose notices go to the returned
// sender; the lifecycle polls rarely: the test runs RunDue.
func guestGateway(t *testing.T, clock *fakeClock) (*Gateway, *recordingSender) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	if err := yaml.Unmarshal([]byte(crmTarget), &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(guestsYAML), &cfg.Guests); err != nil {
		t.Fatal(err)
	}
	cfg.Notifications = &notify.Config{SMTP: &notify.SMTP{Host: "127.0.0.1", TLS: "none", From: "scimgate@example.com"}}
	sender := &recordingSender{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		guest:  func(o *guest.LifecycleOptions) { o.Now, o.Poll = clock.Now, time.Hour },
		sender: sender,
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g, sender
}

// TestGuestAdminAPI calls the guest calls of the admin API against a
// gateway with a guests section on a fake clock: the list (guests only,
// by userName, with rule, expiry and next step), one guest by id and by
// userName, the block at expiry, an extension for 90 days that unblocks
// (audited with the admin credential), an extension until a date, the
// delete after the grace period, and the errors of each call.
func TestGuestAdminAPI(t *testing.T) {
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	g, sender := guestGateway(t, clock)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	c := client{t: t, base: g.BaseURL()}
	const (
		carolUPN = "carol_fabrikam.example#EXT#@contoso.example"
		daveUPN  = "dave_partner.example#EXT#@contoso.example"
	)
	boss := c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": "boss@contoso.example", "displayName": "The Boss",
		"emails": []any{map[string]any{"value": "boss@contoso.example", "primary": true}}}).body["id"].(string)
	created := c.must(http.StatusCreated, "POST", "/Users", map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName": carolUPN, "displayName": "Carol (guest)",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": boss}}}).body
	carol := created["id"].(string)
	carolCreated, err := time.Parse(time.RFC3339Nano, created["meta"].(map[string]any)["created"].(string))
	if err != nil {
		t.Fatal(err)
	}
	dave := c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": daveUPN}).body["id"].(string)

	call := func(want int, method, path, body string) map[string]any {
		t.Helper()
		status, _, m := adminDo(t, base, method, path, body)
		if status != want {
			t.Fatalf("%s %s %s: %d, want %d: %v", method, path, body, status, want, m)
		}
		return m
	}
	// The planner tells the lifecycle of the new users.
	waitFor(t, "the guests tracked", func() (bool, string) {
		gs := call(200, "GET", "/guests", "")["guests"].([]any)
		return len(gs) == 2, fmt.Sprint(gs)
	})
	gs := call(200, "GET", "/guests", "")["guests"].([]any)
	first, second := gs[0].(map[string]any), gs[1].(map[string]any)
	expiry := carolCreated.Add(720 * time.Hour).UTC()
	if first["user"] != carol || first["userName"] != carolUPN || first["displayName"] != "Carol (guest)" || first["status"] != "active" ||
		first["rule"] != "rules[0].upnExternal" || first["why"] != "expiry.lifetime" || first["expiry"] != expiry.Format(time.RFC3339Nano) ||
		first["extendedUntil"] != nil || first["lastError"] != nil {
		t.Errorf("carol: %v", first)
	}
	if next, _ := first["next"].(map[string]any); next["kind"] != "notice" || next["at"] != expiry.Add(-72*time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("carol's next step: %v", first["next"])
	}
	if second["user"] != dave || second["status"] != "active" {
		t.Errorf("dave: %v", second)
	}
	byName := call(200, "GET", "/guests/"+url.PathEscape(carolUPN), "")
	if byID := call(200, "GET", "/guests/"+carol, ""); fmt.Sprint(byID) != fmt.Sprint(byName) || fmt.Sprint(byName) != fmt.Sprint(first) {
		t.Errorf("carol by id %v, by userName %v, listed %v", byID, byName, first)
	}
	for _, tc := range []struct{ user, want string }{
		{"boss@contoso.example", `guest: the user is not a guest: no guest rule matches "boss@contoso.example"`},
		{boss, "no guest rule matches"},
		{"nobody@contoso.example", `no user has the id or userName "nobody@contoso.example"`},
	} {
		if status, _, m := adminDo(t, base, "GET", "/guests/"+url.PathEscape(tc.user), ""); status != 404 || !strings.Contains(m["error"].(string), tc.want) {
			t.Errorf("GET /guests/%s: %d %v, want 404 %q", tc.user, status, m, tc.want)
		}
	}

	// 3 days before: the notice to carol's manager (dave has none:
	// skipped); next, the block at expiry.
	clock.Set(expiry.Add(-72*time.Hour + time.Minute))
	if _, err := g.guests.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := sender.sent(); len(e) != 1 || e[0].To[0] != "boss@contoso.example" {
		t.Errorf("notices sent: %+v", e)
	}
	got := call(200, "GET", "/guests/"+carol, "")
	if next, _ := got["next"].(map[string]any); got["status"] != "active" || next["kind"] != "block" || next["at"] != expiry.Format(time.RFC3339Nano) {
		t.Errorf("carol after the notice: %v", got)
	}
	// At expiry: the block, a hold over every target.
	clock.Set(expiry.Add(time.Minute))
	if _, err := g.guests.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	got = call(200, "GET", "/guests/"+carol, "")
	if next, _ := got["next"].(map[string]any); got["status"] != "blocked" || next["kind"] != "delete" ||
		next["at"] != expiry.Add(guest.DefaultGrace).Format(time.RFC3339Nano) {
		t.Errorf("carol after expiry: %v", got)
	}
	if hs := call(200, "GET", "/Users/"+carol, "")["holds"].([]any); len(hs) != 1 || hs[0].(map[string]any)["source"] != "guest" {
		t.Errorf("carol's holds when blocked: %v", hs)
	}

	// Extended for 90 days from the lifecycle's now: active again, the
	// hold released.
	now := clock.Now()
	got = call(200, "POST", "/guests/"+url.PathEscape(carolUPN)+"/extend", `{"for": "90d"}`)
	until := now.Add(90 * 24 * time.Hour).UTC()
	if next, _ := got["next"].(map[string]any); got["status"] != "active" || got["extendedUntil"] != until.Format(time.RFC3339Nano) || got["expiry"] != until.Format(time.RFC3339Nano) ||
		got["why"] != "extended" || next["kind"] != "notice" {
		t.Errorf("carol extended: %v", got)
	}
	if hs, _ := call(200, "GET", "/Users/"+carol, "")["holds"].([]any); len(hs) != 0 {
		t.Errorf("carol's holds after the extension: %v", hs)
	}
	// Until a date: midnight UTC.
	date := now.AddDate(0, 0, 10).Format(time.DateOnly)
	got = call(200, "POST", "/guests/"+dave+"/extend", `{"until": "`+date+`"}`)
	if got["status"] != "active" || got["expiry"] != date+"T00:00:00Z" {
		t.Errorf("dave extended until %s: %v", date, got)
	}
	got = call(200, "POST", "/guests/"+dave+"/extend", `{"until": "`+date+`T12:00:00+02:00"}`)
	if got["expiry"] != date+"T10:00:00Z" {
		t.Errorf("dave extended until %sT12:00:00+02:00: %v", date, got)
	}

	for _, tc := range []struct {
		name, user, body string
		status           int
		want             string
	}{
		{"in the past", carol, `{"until": "2020-01-01"}`, 400, "guest: invalid extension: 2020-01-01T00:00:00Z is not in the future"},
		{"both", carol, `{"until": "2099-01-01", "for": "90d"}`, 400, "give exactly one of until"},
		{"neither", carol, `{}`, 400, "give exactly one of until"},
		{"no body", carol, ``, 400, "the body must be"},
		{"an unknown field", carol, `{"days": 90}`, 400, `unknown field "days"`},
		{"zero days", carol, `{"for": "0d"}`, 400, `for: "0d": want a number of days from 1 to 3660`},
		{"a bad duration", carol, `{"for": "soon"}`, 400, `for: "soon"`},
		{"a negative duration", carol, `{"for": "-36h"}`, 400, `for: "-36h"`},
		{"a bad date", carol, `{"until": "tomorrow"}`, 400, `until: "tomorrow": want a date`},
		{"a member", "boss@contoso.example", `{"for": "90d"}`, 404, "no guest rule matches"},
		{"nobody", "nobody", `{"for": "90d"}`, 404, `no user has the id or userName "nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, m := adminDo(t, base, "POST", "/guests/"+url.PathEscape(tc.user)+"/extend", tc.body)
			if status != tc.status || !strings.Contains(fmt.Sprint(m["error"]), tc.want) {
				t.Errorf("%d %v, want %d %q", status, m, tc.status, tc.want)
			}
		})
	}

	// Past dave's expiry and grace: blocked, then deleted; a deleted
	// guest cannot be extended.
	clock.Set(now.AddDate(0, 0, 10).Add(guest.DefaultGrace + time.Hour))
	if _, err := g.guests.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got = call(200, "GET", "/guests/"+dave, ""); got["status"] != "deleted" || got["next"] != nil {
		t.Errorf("dave after grace: %v", got)
	}
	if m := call(400, "POST", "/guests/"+dave+"/extend", `{"for": "1d"}`); !strings.Contains(m["error"].(string), "was deleted; invite the guest again") {
		t.Errorf("extending a deleted guest: %v", m)
	}

	// Each extension is audited with the admin credential; refusals are not.
	entries, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ext []string
	for _, e := range entries {
		if e.Action == "guest extend" {
			ext = append(ext, e.ID+" by "+e.Actor+": "+e.Detail)
		}
	}
	want := []string{
		dave + " by admin: static token #1: access extended until " + date + "T10:00:00Z",
		dave + " by admin: static token #1: access extended until " + date + "T00:00:00Z",
		carol + " by admin: static token #1: access extended until " + until.Format(time.RFC3339),
	}
	if strings.Join(ext, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(ext, "\n"), strings.Join(want, "\n"))
	}
}

// TestGuestAdminWithoutGuests: a gateway without the guests section has
// no lifecycle and answers the guest calls 404, saying so.
func TestGuestAdminWithoutGuests(t *testing.T) {
	g := startTargetsGateway(t, []byte(crmTarget), nil)
	if g.guests != nil {
		t.Fatal("a guest lifecycle without the guests section")
	}
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/guests", ""}, {"GET", "/guests/alice", ""}, {"POST", "/guests/alice/extend", `{"for": "90d"}`},
	} {
		if status, _, m := adminDo(t, base, c.method, c.path, c.body); status != 404 ||
			m["error"] != "no guest lifecycle is configured (the guests section of the configuration)" {
			t.Errorf("%s %s: %d %v", c.method, c.path, status, m)
		}
	}
}
