package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/smtptest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// accessReviewYAML is a gateway with two access reviews, both starting on
// %[2]s for 7 days: the users of a MariaDB target (app, %[1]s: its DSN
// file; what leaves its scope is deleted) reviewed by their managers,
// denied when not reviewed, applied at the end; and the guests of a
// memory target (crm; what leaves its scope is disabled), denied guests
// blocked then deleted by the guest lifecycle after its 30 days.
const accessReviewYAML = `
notifications:
  smtp: {host: localhost, port: 25, tls: starttls, from: scimgate@contoso.example}
guests:
  rules: [{upnExternal: true}]
  expiry: {lifetime: 17520h}
targets:
  - name: crm
    type: memory
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
  - name: app
    type: sql
    config:
      dialect: mysql
      dsn_file: %[1]s
      create_schema: true
      users:
        table: app_users
        anchor: id
        object_id: scim_id
        attributes:
          userName: {column: login, unique: true}
        disable: {column: status, mode: status, enabled_value: active, disabled_value: suspended}
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
    lifecycle: {outOfScope: delete}
reviews:
  - name: app-access
    descriptionForReviewers: Who still needs the app?
    resource: {target: app}
    reviewers: {type: manager}
    fallbackReviewers: [audit@contoso.example]
    recurrence: {durationDays: 7, startDate: "%[2]s"}
    settings: {defaultDecision: deny, autoApply: true}
  - name: crm-guests
    scope: guestsOnly
    resource: {target: crm}
    reviewers: {type: manager}
    recurrence: {durationDays: 7, startDate: "%[2]s"}
    settings: {justificationRequired: true, autoApply: true, deniedGuests: blockThenDelete}
`

// TestAccessReviews runs access reviews in a gateway on a fake clock over
// a MariaDB target and a memory target, with a real SMTP server: the
// instances start with the managers' notices (the fallback reviewer's
// for a user without a manager), a manager approves one user and denies
// a guest, another user is not reviewed; at the end the default denial
// deletes that user's account in MariaDB through the engine, the approved
// one stays, and the denied guest is blocked at once (his account in the
// app is gone: nobody approved it there) and deleted 30 days later by the
// guest lifecycle.
func TestAccessReviews(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	dbName, db := srv.NewDatabase(t)
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(srv.DSN(dbName)), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	cfgFile := filepath.Join(t.TempDir(), "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, accessReviewYAML, dsn, t0.Format(time.RFC3339)), 0o600); err != nil {
		t.Fatal(err)
	}
	mail := smtptest.Start(t, smtptest.Config{})
	clock := &graphtest.Clock{}
	clock.Set(t0.Add(-time.Hour))
	cfg, err := config.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Notifications.SMTP.Host, cfg.Notifications.SMTP.Port = mail.Host, mail.Port
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		guest:  func(o *guest.LifecycleOptions) { o.Now, o.Poll = clock.Now, time.Hour }, // runs when the test says
		review: func(o *review.Options) { o.Now, o.Poll = clock.Now, time.Hour },
		notify: notify.Options{RootCAs: mail.CertPool(), Now: clock.Now},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	c := client{t: t, base: g.BaseURL()}
	crm := g.conns["crm"].(*memory.Connector)
	idle := func() {
		t.Helper()
		waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	}
	// at moves the clock and runs the due work of the reviews, then of
	// the guest lifecycle.
	at := func(when time.Time) {
		t.Helper()
		clock.Set(when)
		if _, err := g.reviews.RunDue(t.Context()); err != nil {
			t.Fatalf("reviews at %s: %v", when, err)
		}
		idle()
		if _, err := g.guests.RunDue(t.Context()); err != nil {
			t.Fatalf("guests at %s: %v", when, err)
		}
		idle()
	}
	state := func(upn string) string {
		t.Helper()
		crmState := "gone"
		for _, o := range crm.Snapshot() {
			if o.Kind == targets.User && o.Attrs["userName"] == upn {
				crmState = map[bool]string{true: "disabled", false: "enabled"}[o.Disabled]
			}
		}
		appState := "gone"
		if rows := dbtest.Dump(t, db, "SELECT status FROM app_users WHERE login = '"+strings.ReplaceAll(upn, "'", "''")+"'"); len(rows) == 1 {
			appState = map[string]string{"active": "enabled", "suspended": "disabled"}[rows[0]]
		}
		return "crm " + crmState + ", app " + appState
	}
	user := func(upn, manager string) string {
		t.Helper()
		body := map[string]any{"userName": upn, "active": true}
		if !strings.Contains(upn, "#EXT#") {
			body["emails"] = []any{map[string]any{"value": upn, "primary": true}}
		}
		if manager != "" {
			body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
		}
		return c.must(201, "POST", "/Users", body).body["id"].(string)
	}
	mia := user("mia@contoso.example", "")
	ada := user("ada@contoso.example", mia)
	user("bob@contoso.example", mia)
	gus := user("gus_fabrikam.com#EXT#@contoso.example", mia)
	idle()
	for _, u := range []string{"ada@contoso.example", "bob@contoso.example", "gus_fabrikam.com#EXT#@contoso.example"} {
		if got := state(u); got != "crm enabled, app enabled" {
			t.Fatalf("%s: %s", u, got)
		}
	}

	// The start: Mia reviews ada, bob and gus in app, gus in crm; the
	// auditor reviews Mia herself (she has no manager).
	at(t0)
	ins, err := g.reviews.Instances(t.Context(), "")
	if err != nil || len(ins) != 2 {
		t.Fatalf("instances %+v, %v", ins, err)
	}
	byName := map[string]review.Instance{}
	for _, in := range ins {
		byName[in.Definition] = in
	}
	app, guests := byName["app-access"], byName["crm-guests"]
	if app.Progress.Total != 4 || guests.Progress.Total != 1 {
		t.Fatalf("app %d items, crm guests %d; want 4 and 1", app.Progress.Total, guests.Progress.Total)
	}
	var notices []string
	for _, m := range mail.Wait(t, 3) {
		notices = append(notices, strings.Join(m.To, ",")+": "+m.Subject)
	}
	slices.Sort(notices)
	end := t0.AddDate(0, 0, 7).Format("2006-01-02 15:04 UTC")
	if want := []string{
		"audit@contoso.example: Access review app-access: 1 decision(s) to make by " + end,
		"mia@contoso.example: Access review app-access: 3 decision(s) to make by " + end,
		"mia@contoso.example: Access review crm-guests: 1 decision(s) to make by " + end,
	}; !slices.Equal(notices, want) {
		t.Errorf("start notices:\n got %q\nwant %q", notices, want)
	}

	// Mia approves ada in app and denies gus in crm; nobody decides bob.
	items, err := g.reviews.ReviewerItems(t.Context(), mia)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		var d review.Decision
		switch {
		case it.Instance == app.ID && it.User == ada:
			d = review.Decision{Item: it.Index, Decision: review.Approve}
		case it.Instance == guests.ID && it.User == gus:
			d = review.Decision{Item: it.Index, Decision: review.Deny, Justification: "the project is over"}
		default:
			continue
		}
		if err := g.reviews.Decide(t.Context(), mia, it.Instance, []review.Decision{d}); err != nil {
			t.Fatal(err)
		}
	}
	at(t0.AddDate(0, 0, 6))
	if got := state("bob@contoso.example"); got != "crm enabled, app enabled" {
		t.Errorf("bob before the end: %s", got)
	}

	// The end: bob's account in app is deleted (the default denial), ada
	// keeps hers; gus is blocked by the guest lifecycle.
	at(t0.AddDate(0, 0, 7))
	for u, want := range map[string]string{
		"ada@contoso.example":                   "crm enabled, app enabled",
		"bob@contoso.example":                   "crm enabled, app gone",
		"gus_fabrikam.com#EXT#@contoso.example": "crm disabled, app gone", // blocked; and not reviewed in app
		"mia@contoso.example":                   "crm enabled, app gone",  // the auditor did not answer either
	} {
		if got := state(u); got != want {
			t.Errorf("%s after the end: %s, want %s", u, got, want)
		}
	}
	for _, in := range []review.Instance{app, guests} {
		got, err := g.reviews.Instance(t.Context(), in.ID)
		if err != nil || got.Status != store.ReviewApplied {
			t.Errorf("%s: %s, %v", in.Definition, got.Status, err)
		}
	}
	// 30 days later the guest lifecycle deletes gus.
	at(t0.AddDate(0, 0, 36))
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "crm disabled, app gone" {
		t.Errorf("gus before the grace period's end: %s", got)
	}
	at(t0.AddDate(0, 0, 37))
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "crm gone, app gone" {
		t.Errorf("gus after the grace period: %s", got)
	}
}
