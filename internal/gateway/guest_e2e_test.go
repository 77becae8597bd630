package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/smtptest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// guestLifecycleYAML is a gateway with the guest lifecycle over a memory target
// (crm), a MariaDB target (app, %[1]s: its DSN file) and Entra: guests are
// B2B users (#EXT#) and users outside contoso.example; access expires at
// the custom extension's accessExpiresAt, 180 days after creation, or 90
// days after the last sign-in in Entra, the earliest; notices 14 and 3
// days before, by email to the manager; blocked at expiry, deleted 30
// days later, in the targets and in Entra.
const guestLifecycleYAML = `
scim:
  custom_extensions:
    - urn: urn:ietf:params:scim:schemas:extension:Contoso:2.0:User
      resource: User
      attributes:
        - {name: accessExpiresAt, type: dateTime}
entra:
  tenant_id: contoso.onmicrosoft.com
  client_id: 00000000-0000-0000-0000-000000000000
  credential: client_secret
  client_secret_env: ENTRA_CLIENT_SECRET
  features: {enable_disable: true, delete_users: true, sign_in_activity: true}
notifications:
  smtp: {host: localhost, port: 25, tls: starttls, from: scimgate@contoso.example}
guests:
  rules:
    - upnExternal: true
    - homeDomains: [contoso.example]
  expiry:
    attribute: urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:accessExpiresAt
    lifetime: 4320h
    inactivity: 2160h
  notices: [336h, 72h]
  blockInEntra: true
  deleteInEntra: true
targets:
  - name: crm
    type: memory
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
        - {target: active, source: active}
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
`

// TestGuestLifecycle runs the guest lifecycle on a fake clock over a
// memory target, a MariaDB target and the Entra fake, with a real SMTP
// server: notices at 14 and 3 days, once each; the block at expiry in
// every target and in Entra; the delete after the grace period there and
// in the directory; an extension before the block (no block) and after
// it (unblocked everywhere); an expiry from inactivity (the fake's
// signInActivity) that a sign-in moves; a guest who becomes a member
// (unblocked, no longer tracked); an expiry attribute moved later.
func TestGuestLifecycle(t *testing.T) {
	const ext = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
	srv := dbtest.StartMariaDB(t)
	dbName, db := srv.NewDatabase(t)
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(srv.DSN(dbName)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, guestLifecycleYAML, dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	// Day 0 is tomorrow morning: the users' meta.created (the store's
	// real clock) is today, their lifetime (180 days) far after the
	// scenario's expiries.
	t0 := time.Now().UTC().Truncate(24 * time.Hour).Add(33 * time.Hour)
	tenant := graphtest.Start(t)
	tenant.AddApp(graphtest.App{ClientID: entraClientID, Secret: entraSecret, Roles: []string{"User.Read.All",
		"User.EnableDisableAccount.All", "User.ReadWrite.All", "AuditLog.Read.All"}})
	mail := smtptest.Start(t, smtptest.Config{})
	clock := &graphtest.Clock{}
	clock.Set(t0)
	cfg, err := config.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENTRA_CLIENT_SECRET", entraSecret)
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Entra.TenantID, cfg.Entra.ClientID = graphtest.TenantID, entraClientID
	cfg.Entra.AuthorityHost, cfg.Entra.GraphURL = tenant.AuthorityHost, tenant.GraphURL
	cfg.Notifications.SMTP.Host, cfg.Notifications.SMTP.Port = mail.Host, mail.Port
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		entra:  entra.Options{Transport: tenant.Transport(), Now: clock.Now, After: clock.After},
		guest:  func(o *guest.LifecycleOptions) { o.Now, o.Poll = clock.Now, time.Hour }, // runs when the test says
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
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	// at moves the clock to day n and runs the due steps.
	at := func(n int) {
		t.Helper()
		clock.Set(day(n))
		if _, err := g.guests.RunDue(t.Context()); err != nil {
			t.Fatalf("RunDue on day %d: %v", n, err)
		}
		idle()
	}
	record := func(id string) guest.Record {
		t.Helper()
		rec, err := g.guests.Guest(t.Context(), id)
		if err != nil {
			t.Fatalf("record of %s: %v", id, err)
		}
		return rec
	}
	// state says where a user's accounts are: in crm, in app and in
	// Entra, each "enabled", "disabled" or "gone".
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
		entraState := "gone"
		if u, ok := tenant.User(upn); ok && !tenant.Deleted(u.ID) {
			entraState = map[bool]string{true: "enabled", false: "disabled"}[u.AccountEnabled]
		}
		return fmt.Sprintf("crm %s, app %s, entra %s", crmState, appState, entraState)
	}
	want := func(upn, w string) {
		t.Helper()
		if got := state(upn); got != w {
			t.Errorf("%s: %s, want %s", upn, got, w)
		}
	}

	dana := c.must(201, "POST", "/Users", map[string]any{"userName": "dana@contoso.example", "displayName": "Dana Boss",
		"emails": []any{map[string]any{"value": "dana@contoso.example", "primary": true}}}).body["id"].(string)
	// newGuest creates a guest in Entra and in SCIM, managed by Dana.
	newGuest := func(upn string, expires time.Time, lastSignIn time.Time) string {
		t.Helper()
		u := graphtest.User{UserPrincipalName: upn, UserType: "Guest", AccountEnabled: true}
		if !lastSignIn.IsZero() {
			u.SignInActivity = &graphtest.SignInActivity{LastSignInDateTime: lastSignIn, LastSuccessfulSignInDateTime: lastSignIn}
		}
		tenant.AddUser(u)
		body := map[string]any{"userName": upn, "active": true,
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": dana}}}
		if !expires.IsZero() {
			body[ext] = map[string]any{"accessExpiresAt": expires.Format(time.RFC3339)}
		}
		return c.must(201, "POST", "/Users", body).body["id"].(string)
	}
	tenant.AddUser(graphtest.User{UserPrincipalName: "dana@contoso.example", AccountEnabled: true})
	recent := t0.AddDate(0, 0, -1)
	gina := newGuest("gina_fabrikam.com#EXT#@contoso.example", day(20), recent) // the whole sequence
	ed := newGuest("ed@fabrikam.example", day(20), recent)                      // extended before the block
	hal := newGuest("hal@fabrikam.example", day(20), recent)                    // extended after the block
	ivy := newGuest("ivy@fabrikam.example", time.Time{}, t0.AddDate(0, 0, -85)) // inactive: expires on day 5
	mo := newGuest("mo@fabrikam.example", day(20), recent)                      // becomes a member
	pat := newGuest("pat_partner.com#EXT#@contoso.example", day(20), recent)    // the attribute moves
	rae := newGuest("rae@fabrikam.example", day(20), recent)                    // re-invited after the block
	idle()
	clock.Set(t0)
	if _, err := g.guests.Enroll(t.Context()); err != nil {
		t.Fatal(err)
	}
	at(0) // reads the sign-ins
	if r := record(gina); !r.Guest || r.Rule != "rules[0].upnExternal" || !r.Expiry.Equal(day(20)) || r.Why != "expiry.attribute" {
		t.Fatalf("gina's record: %+v", r)
	}
	if r := record(ed); r.Rule != "rules[1].homeDomains" {
		t.Fatalf("ed's rule: %+v", r)
	}
	if r := record(ivy); !r.Expiry.Equal(day(5)) || r.Why != "expiry.inactivity" {
		t.Fatalf("ivy's expiry %v by %s, want day 5 by inactivity", r.Expiry, r.Why)
	}
	// Her 14-day notice is late: it goes out now (the 3-day one is not
	// due yet).
	if msgs := mail.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "ivy@fabrikam.example expires on "+day(5).Format(time.DateOnly)) {
		t.Fatalf("day 0: notices %+v, want ivy's", msgs)
	}
	if _, err := g.guests.Guest(t.Context(), dana); err == nil {
		t.Fatal("dana (a member) is tracked as a guest")
	}
	want("gina_fabrikam.com#EXT#@contoso.example", "crm enabled, app enabled, entra enabled")

	// Ivy signs in on day 2: her expiry moves to day 92; the day-5 block
	// does not happen.
	tenant.SignIn("ivy@fabrikam.example", day(2))
	at(2)
	if r := record(ivy); !r.Expiry.Equal(day(92)) {
		t.Errorf("after a sign-in, ivy expires %v, want %v", r.Expiry, day(92))
	}
	at(5)
	want("ivy@fabrikam.example", "crm enabled, app enabled, entra enabled")

	// Day 6: the 14-day notices of the day-20 guests, to their manager;
	// run again, nothing more.
	at(6)
	at(6)
	msgs := mail.Messages()[1:]
	noticed := map[string]int{}
	for _, m := range msgs {
		if !slices.Equal(m.To, []string{"dana@contoso.example"}) || !strings.Contains(m.Subject, "expires on "+day(20).Format(time.DateOnly)) {
			t.Errorf("notice to %v: %q", m.To, m.Subject)
		}
		for _, u := range []string{"gina", "ed@", "hal@", "mo@", "pat_", "rae@"} {
			if strings.Contains(m.Text, u) {
				noticed[u]++
			}
		}
	}
	if len(msgs) != 6 || len(noticed) != 6 {
		t.Fatalf("day 6: %d notices (%v), want one for each of the 6 day-20 guests", len(msgs), noticed)
	}

	// Day 10: ed is extended until day 60 by an admin; mo becomes a
	// member (a home-domain address); pat's expiry moves to day 40.
	if _, err := g.guests.Extend(store.WithActor(t.Context(), "admin: test"), ed, day(60)); err != nil {
		t.Fatal(err)
	}
	c.must(200, "PATCH", "/Users/"+mo, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "userName", "value": "mo@contoso.example"}}})
	c.must(200, "PATCH", "/Users/"+pat, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": ext + ":accessExpiresAt", "value": day(40).Format(time.RFC3339)}}})
	idle()
	if r := record(ed); !r.Expiry.Equal(day(60)) || r.Why != "extended" {
		t.Errorf("ed after the extension: %v by %s", r.Expiry, r.Why)
	}
	if _, err := g.guests.Guest(t.Context(), mo); err == nil {
		t.Error("mo, now a member, is still tracked")
	}
	if r := record(pat); !r.Expiry.Equal(day(40)) || r.Next == nil || r.Next.Kind != guest.Notice || !r.Next.At.Equal(day(26)) {
		t.Errorf("pat after the move: %+v next %+v", r, r.Next)
	}

	// Day 17: the 3-day notices of gina, hal and rae only.
	at(17)
	if got := len(mail.Messages()); got != 10 {
		t.Fatalf("after day 17: %d emails, want 10 (and the 3-day notices of gina, hal and rae)", got)
	}

	// Day 20: gina and hal are blocked everywhere; ed (extended), mo (a
	// member) and pat (moved) are not.
	at(20)
	want("gina_fabrikam.com#EXT#@contoso.example", "crm disabled, app disabled, entra disabled")
	want("hal@fabrikam.example", "crm disabled, app disabled, entra disabled")
	want("ed@fabrikam.example", "crm enabled, app enabled, entra enabled")
	want("mo@contoso.example", "crm enabled, app enabled, entra gone") // Entra knows her by her old name
	if u, _ := tenant.User("mo@fabrikam.example"); !u.AccountEnabled {
		t.Error("mo was blocked in Entra")
	}
	want("pat_partner.com#EXT#@contoso.example", "crm enabled, app enabled, entra enabled")
	if r := record(gina); r.Status() != "blocked" || r.Next == nil || r.Next.Kind != guest.Delete || !r.Next.At.Equal(day(50)) {
		t.Errorf("gina blocked: %s, next %+v", r.Status(), r.Next)
	}
	// A SCIM change does not unblock a blocked guest.
	c.must(200, "PATCH", "/Users/"+gina, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": "Gina G."}}})
	idle()
	want("gina_fabrikam.com#EXT#@contoso.example", "crm disabled, app disabled, entra disabled")

	// Day 25: hal is extended after the block: unblocked at once.
	clock.Set(day(25))
	if _, err := g.guests.Extend(store.WithActor(t.Context(), "admin: test"), hal, day(90)); err != nil {
		t.Fatal(err)
	}
	idle()
	want("hal@fabrikam.example", "crm enabled, app enabled, entra enabled")
	if r := record(hal); r.Status() != "active" {
		t.Errorf("hal after the extension: %s", r.Status())
	}

	// Day 30: rae, blocked since day 20, is invited again: her access
	// now expires on day 120. She is unblocked, keeping her accounts.
	anchor := func() string {
		for _, o := range crm.Snapshot() {
			if o.Attrs["userName"] == "rae@fabrikam.example" {
				return o.Anchor
			}
		}
		return ""
	}
	before := anchor()
	want("rae@fabrikam.example", "crm disabled, app disabled, entra disabled")
	clock.Set(day(30))
	c.must(200, "PATCH", "/Users/"+rae, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": ext + ":accessExpiresAt", "value": day(120).Format(time.RFC3339)}}})
	idle()
	at(30)
	want("rae@fabrikam.example", "crm enabled, app enabled, entra enabled")
	if a := anchor(); a != before || a == "" {
		t.Errorf("rae's crm account %q, was %q: re-created instead of unblocked", a, before)
	}

	// Day 50: gina's grace period is over: deleted in every target and
	// removed from Entra.
	at(49)
	want("gina_fabrikam.com#EXT#@contoso.example", "crm disabled, app disabled, entra disabled")
	at(50)
	want("gina_fabrikam.com#EXT#@contoso.example", "crm gone, app gone, entra gone")
	if r := record(gina); r.Status() != "deleted" || r.Next != nil {
		t.Errorf("gina deleted: %s, next %+v", r.Status(), r.Next)
	}
	if _, err := g.guests.Extend(t.Context(), gina, day(90)); err == nil {
		t.Error("a deleted guest was extended")
	}

	// Each step is in the audit log once, with the engine's holds it set
	// (block, delete) in the lifecycle's name.
	entries, err := g.store.Audit(t.Context(), store.AuditQuery{ID: gina, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]int{}
	for _, e := range entries {
		if e.Actor == "guest lifecycle" {
			steps[e.Action]++
		}
	}
	if w := map[string]int{"guest notice": 2, "guest block": 1, "guest delete": 1, "hold": 2}; !maps.Equal(steps, w) {
		t.Errorf("gina's audited steps %v, want %v", steps, w)
	}
}

// TestGuestInactivityFromTarget: with expiry.lastLogin, a guest's last
// sign-in is the last login a reconciliation reads in a MariaDB target's
// column: it gives the expiry, a later login moves it, and the guest is
// blocked only when the later one's inactivity runs out.
func TestGuestInactivityFromTarget(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	dbName, db := srv.NewDatabase(t)
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(srv.DSN(dbName)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, `
guests:
  rules: [{homeDomains: [contoso.example]}]
  expiry:
    inactivity: 720h
    lastLogin: {target: app, attribute: lastLogin}
targets:
  - name: app
    type: sql
    config:
      dialect: mysql
      dsn_file: %s
      create_schema: true
      users:
        table: app_users
        anchor: id
        object_id: scim_id
        attributes:
          userName: {column: login, unique: true}
          lastLogin: {column: last_login}
        disable: {column: status, mode: status, enabled_value: active, disabled_value: suspended}
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
`, dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	t0 := time.Now().UTC().Truncate(24 * time.Hour).Add(33 * time.Hour)
	clock := &graphtest.Clock{}
	clock.Set(t0)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		guest:  func(o *guest.LifecycleOptions) { o.Now, o.Poll = clock.Now, time.Hour },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	c := client{t: t, base: g.BaseURL()}
	idle := func() {
		t.Helper()
		waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	}
	id := c.must(201, "POST", "/Users", map[string]any{"userName": "sam@fabrikam.example"}).body["id"].(string)
	idle()
	login := func(at time.Time) {
		t.Helper()
		if _, err := db.Exec("UPDATE app_users SET last_login = ? WHERE login = ?", at.Format(time.DateTime), "sam@fabrikam.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := g.engine.Reconcile(t.Context(), "app", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	status := func() string {
		t.Helper()
		return dbtest.Dump(t, db, "SELECT status FROM app_users")[0]
	}
	if r, err := g.guests.Guest(t.Context(), id); err != nil || !r.Expiry.IsZero() {
		t.Fatalf("before any login is known: %+v %v; want no expiry", r, err)
	}
	login(t0.AddDate(0, 0, -25))
	r, err := g.guests.Guest(t.Context(), id)
	if err != nil || !r.Expiry.Equal(t0.AddDate(0, 0, 5)) || r.Why != "expiry.inactivity" {
		t.Fatalf("after the reconciliation: expiry %v by %q (%v), want day 5 by inactivity", r.Expiry, r.Why, err)
	}
	login(t0.AddDate(0, 0, 3))
	clock.Set(t0.AddDate(0, 0, 5))
	if _, err := g.guests.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	idle()
	if s := status(); s != "active" {
		t.Fatalf("day 5, after a login on day 3: %s, want active", s)
	}
	clock.Set(t0.AddDate(0, 0, 33))
	if _, err := g.guests.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	idle()
	if s := status(); s != "suspended" {
		t.Fatalf("day 33, 30 days after the last login: %s, want suspended", s)
	}
}
