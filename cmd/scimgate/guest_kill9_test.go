package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/smtptest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/targets"
)

// guestURN is the custom extension of guestKill9Config, whose
// accessExpiresAt is the guests' expiry.
const guestURN = "urn:ietf:params:scim:schemas:extension:Guests:2.0:User"

// The schedule of TestGuestKill9, on the real clock (the gateway's own):
// a notice 12s and one 6s before expiry, the delete 6s after it. Each gap
// is long beside the time the kills keep the gateway down (a restart
// takes tens of milliseconds; a burst of kills ends within a second): a
// step due while the gateway is down is done when it is back, but a
// downtime longer than a gap would rightly drop a notice (a notice is
// superseded by the next one, and none goes out after the expiry; see
// internal/guest).
const (
	gkNotice0 = 12 * time.Second
	gkNotice1 = 6 * time.Second
	gkGrace   = 6 * time.Second
)

// guestKill9Config is a gateway with a memory target kept in a file,
// guests (anyone outside contoso.example) expiring at their
// accessExpiresAt, and notices emailed to the guest (%d: the SMTP
// server's port; %q: the target's file).
var guestKill9Config = `scim:
  custom_extensions:
    - urn: "` + guestURN + `"
      resource: User
      attributes:
        - {name: accessExpiresAt, type: dateTime}
notifications:
  smtp:
    host: 127.0.0.1
    port: %d
    tls: none
    from: "scimgate <scimgate@contoso.example>"
targets:
  - name: crm
    type: memory
    config: {file: %q}
    users:
      scope: {all: true}
      mapping:
        - {target: login, source: userName}
guests:
  rules:
    - homeDomains: [contoso.example]
  expiry:
    attribute: "` + guestURN + `:accessExpiresAt"
  notices: [` + gkNotice0.String() + `, ` + gkNotice1.String() + `]
  grace: ` + gkGrace.String() + `
  noticeTo: [guest]
`

// TestGuestKill9 runs guests through their whole lifecycle (two notices,
// block, delete) while the gateway is killed with SIGKILL and restarted on
// the same data, again and again: once while the SMTP server holds its
// reply to the first notice (the email is delivered, the gateway never
// learns it), then at varied moments around each step's due time (before
// it, during it, while the engine delivers the block or the delete).
// Every guest expires at a different time, so the kills land on different
// steps of different guests.
//
// At the end: each guest was blocked, then deleted, in the target, never
// before it was due; the audit log records each step of each guest
// exactly once, in order (notice, notice, block, delete), and the engine's
// disable and delete of each guest exactly once; the guest's records and
// holds say the same; the member is untouched; nothing is left queued.
//
// The emails are the exception, and are checked as such: each notice was
// delivered at least once, and a notice may have been delivered twice.
// SMTP cannot be made exactly-once with the record: the gateway sends,
// then records, and a crash between the two (as with the stalled reply)
// sends it again after the restart. There is at most one extra email per
// kill, and the stalled notice must have gone out twice.
func TestGuestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kill -9 test starts gateway processes")
	}
	const guests = 4
	const stagger = 1500 * time.Millisecond // between the guests' expiries
	mail := smtptest.Start(t, smtptest.Config{})
	dir := t.TempDir()
	dataDir, targetFile, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "crm.json"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, guestKill9Config, mail.Port, targetFile), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *gatewayProc { return startProc(t, dataDir, "--config", cfgFile) }
	p := start()

	// The first notice is delivered but not answered until the gateway
	// is killed.
	release := mail.Stall()
	defer release()

	post := func(u map[string]any) string {
		t.Helper()
		status, body, err := scimDo("POST", p.base+"/Users", u)
		var r struct{ ID string }
		if err != nil || status != http.StatusCreated || json.Unmarshal(body, &r) != nil {
			t.Fatalf("creating %v: %d %v %s", u["userName"], status, err, body)
		}
		return r.ID
	}
	member := post(map[string]any{"schemas": []string{coreUser}, "userName": "mia@contoso.example"})
	type guestUser struct {
		id, name string
		expiry   time.Time
	}
	var gs []guestUser
	t0 := time.Now()
	for i := range guests {
		g := guestUser{name: fmt.Sprintf("guest%d@fabrikam.example", i),
			expiry: t0.Add(3*time.Second + gkNotice0 + time.Duration(i)*stagger).UTC().Truncate(time.Millisecond)}
		g.id = post(map[string]any{"schemas": []string{coreUser, guestURN}, "userName": g.name,
			"emails": []any{map[string]any{"value": g.name, "primary": true}},
			guestURN: map[string]any{"accessExpiresAt": g.expiry.Format(time.RFC3339Nano)}})
		gs = append(gs, g)
	}
	if time.Since(t0) > 2*time.Second {
		t.Fatalf("creating the guests took %v: the first notice was already due", time.Since(t0))
	}
	// Every user is provisioned before anything falls due.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n := len(readTarget(t, targetFile)); n == guests+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target holds %d users, want %d", len(readTarget(t, targetFile)), guests+1)
		}
	}

	kills := 0
	kill := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		kills++
	}
	// The stalled notice: the first one due, guest 0's first.
	var first smtptest.Message
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ms := mail.Messages(); len(ms) > 0 {
			first = ms[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notice emailed 30s after the guests were created (the first was due %v after)", gs[0].expiry.Add(-gkNotice0).Sub(t0))
		}
	}
	kill()
	release()
	if len(first.To) != 1 || first.To[0] != gs[0].name {
		t.Fatalf("the first notice went to %v, want %s", first.To, gs[0].name)
	}
	p = start()
	upSince := time.Now()

	// Then kills around each step's due time: a burst of one to three,
	// the first within milliseconds of the step (while it is done or
	// recorded) or up to 800ms later (while the engine delivers it), the
	// next ones within milliseconds of the restart (which does what fell
	// due meanwhile). A burst begins only when the gateway has been up a
	// while and ends within a second: the gateway must have the time to
	// do what is due, or the restarts would outlast a gap. (The waits
	// choose when to kill, on the clock the gateway schedules by; every
	// check of its state polls with a deadline.)
	var due []time.Time
	for _, g := range gs {
		due = append(due, g.expiry.Add(-gkNotice0), g.expiry.Add(-gkNotice1), g.expiry, g.expiry.Add(gkGrace))
	}
	slices.SortFunc(due, func(a, b time.Time) int { return a.Compare(b) })
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	ms := func(n int) time.Duration { return time.Duration(rnd.IntN(n*1000)) * time.Microsecond }
	const minUp = 300 * time.Millisecond
	var left []string
	for _, d := range due[1:] { // the first is the stalled notice's
		at := d.Add(ms(5))
		if rnd.IntN(2) == 0 {
			at = d.Add(ms(800))
		}
		if at.Before(upSince.Add(minUp)) {
			left = append(left, "+"+d.Sub(t0).Round(time.Millisecond).String())
			continue
		}
		for range 1 + rnd.IntN(3) {
			if at.After(d.Add(900 * time.Millisecond)) {
				break
			}
			select {
			case <-time.After(time.Until(at)):
			case <-p.done:
				t.Fatal("the gateway exited on its own")
			}
			kill()
			p = start()
			upSince = time.Now()
			at = upSince.Add(ms(10))
		}
	}
	if len(left) > 0 {
		t.Logf("no kill at %s: the gateway was only just restarted", strings.Join(left, ", "))
	}

	// The last step recorded, the gateway stops, and its store is read.
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	deleted := func(base, id string) bool {
		req, err := http.NewRequest("GET", strings.TrimSuffix(base, "/scim/v2")+"/admin/v1/audit?limit=200&id="+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct {
			Entries []struct{ Actor, Action, Target, Result string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("audit of %s: %d %v", id, resp.StatusCode, err)
		}
		var recorded, delivered bool
		for _, e := range page.Entries {
			recorded = recorded || e.Actor == "guest lifecycle" && e.Action == "guest delete"
			delivered = delivered || e.Actor == "engine" && e.Action == "delete" && e.Target == "crm" && e.Result == store.AuditOK
		}
		return recorded && delivered
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(gs, func(g guestUser) bool { return !deleted(p.base, g.id) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the guests were not all deleted (recorded and delivered) within a minute of the last due time")
		}
	}
	stopProc(t, p)

	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, config.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var audit []store.AuditEntry // oldest first
	for before := int64(0); ; {
		page, err := st.Audit(ctx, store.AuditQuery{Before: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			audit = slices.Insert(audit, 0, e)
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].Seq
	}
	records, err := guest.Records(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	recordOf := map[string]guest.Record{}
	for _, r := range records {
		recordOf[r.User] = r
	}
	emails := map[string]int{}
	for _, m := range mail.Messages() {
		emails[strings.Join(m.To, ",")]++
	}
	target := readTarget(t, targetFile)

	// byUser are the audit entries of each user, oldest first, by kind:
	// the lifecycle's steps ("notice"), its holds ("hold disable"), the
	// engine's operations in the target ("crm create"), and a trail of
	// them all to show when a check fails.
	type entries struct {
		steps, holds, ops []string
		trail             strings.Builder
	}
	byUser := map[string]*entries{}
	for _, e := range audit {
		u := byUser[e.ID]
		if u == nil {
			u = &entries{}
			byUser[e.ID] = u
		}
		fmt.Fprintf(&u.trail, "\n  +%v %s: %s %s %s", e.Time.Sub(t0).Round(time.Microsecond), e.Actor, e.Action, e.Target, e.Result)
		switch {
		case e.Action == "hold":
			what, _, _ := strings.Cut(e.Detail, " ")
			u.holds = append(u.holds, e.Actor+" "+what)
		case e.Actor == "guest lifecycle":
			u.steps = append(u.steps, e.Result+" "+strings.TrimPrefix(e.Action, "guest "))
		case e.Actor == "engine":
			u.ops = append(u.ops, e.Target+" "+e.Action+" "+e.Result)
		}
	}
	at := func(id, actor, action string, nth int) time.Time {
		for _, e := range audit {
			if e.ID == id && e.Actor == actor && e.Action == action {
				if nth == 0 {
					return e.Time
				}
				nth--
			}
		}
		return time.Time{}
	}

	extraHolds, extraEmails := 0, 0
	for i, g := range gs {
		name := fmt.Sprintf("guest %d (%s, expiry +%v)", i, g.name, g.expiry.Sub(t0).Round(time.Millisecond))
		failed := t.Failed()
		u := byUser[g.id]
		if u == nil {
			u = &entries{}
		}
		// Each step recorded once, in order, none before it was due.
		if want := []string{"ok notice", "ok notice", "ok block", "ok delete"}; !slices.Equal(u.steps, want) {
			t.Errorf("%s: the audit log records the steps %q, want %q", name, u.steps, want)
		}
		for _, c := range []struct {
			actor, action string
			nth           int
			due           time.Time
		}{
			{"guest lifecycle", "guest notice", 0, g.expiry.Add(-gkNotice0)},
			{"guest lifecycle", "guest notice", 1, g.expiry.Add(-gkNotice1)},
			{"guest lifecycle", "guest block", 0, g.expiry},
			{"guest lifecycle", "guest delete", 0, g.expiry.Add(gkGrace)},
			{"engine", "disable", 0, g.expiry},
			{"engine", "delete", 0, g.expiry.Add(gkGrace)},
		} {
			if done := at(g.id, c.actor, c.action, c.nth); !done.IsZero() && done.Before(c.due) {
				t.Errorf("%s: %s %s at +%v, before it was due (+%v)", name, c.actor, c.action, done.Sub(t0), c.due.Sub(t0))
			}
		}
		// The block then the delete in the target, once each: the
		// engine's records of its operations. (A connector call may be
		// repeated when a kill comes between the call and its record, as
		// an email may; the engine records it once.)
		if want := []string{"crm create ok", "crm disable ok", "crm delete ok"}; !slices.Equal(u.ops, want) {
			t.Errorf("%s: the engine's operations %q, want %q", name, u.ops, want)
		}
		// The holds behind them: a hold is set again only when a kill
		// came between it and the step's record.
		if got := slices.Compact(slices.Clone(u.holds)); !slices.Equal(got, []string{"guest lifecycle disable", "guest lifecycle delete"}) {
			t.Errorf("%s: holds set %q, want the lifecycle's disable, then its delete", name, u.holds)
		}
		extraHolds += max(len(u.holds)-2, 0)
		// The record and the holds left say the same.
		rec, ok := recordOf[g.id]
		if !ok {
			t.Errorf("%s: no record", name)
		} else if s := rec.State; !s.Deleted || s.Blocked || !s.NoticesFor.Equal(g.expiry) || !slices.Equal(slices.Sorted(slices.Values(s.Sent)), []int{0, 1}) || rec.Next != nil {
			t.Errorf("%s: record %+v; want deleted, both notices sent for %v, nothing next", name, rec, g.expiry)
		}
		hs, err := st.Holds(ctx, store.HoldQuery{User: g.id})
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0].Source != guest.HoldSource || hs[0].Action != store.HoldDelete || hs[0].Target != "" {
			t.Errorf("%s: holds %+v; want the lifecycle's delete, for every target", name, hs)
		}
		// The emails: each notice at least once.
		n := emails[g.name]
		switch {
		case n < 2:
			t.Errorf("%s: %d notice emails, want at least 2", name, n)
		case i == 0 && n < 3:
			t.Errorf("%s: %d notice emails; its first notice was delivered when the gateway was killed, so it went out again: want at least 3", name, n)
		}
		extraEmails += max(n-2, 0)
		if t.Failed() && !failed {
			t.Logf("%s: %d notice emails; its audit entries:%s", name, n, u.trail.String())
		}
	}
	if extraHolds > kills {
		t.Errorf("%d holds set again for %d kills: a block or delete was done twice without a crash in between", extraHolds, kills)
	}
	if extraEmails > kills {
		t.Errorf("%d extra notice emails for %d kills: a notice went out twice without a crash in between", extraEmails, kills)
	}
	if len(emails) != guests {
		t.Errorf("notice emails went to %v, want only the %d guests", emails, guests)
	}

	// The target: the member alone, enabled; the guests gone.
	if len(target) != 1 || target[0].Kind != targets.User || target[0].ObjectID != member || target[0].Disabled {
		t.Errorf("the target holds %+v, want the member %s alone, enabled", target, member)
	}
	if _, ok := recordOf[member]; ok || len(records) != guests {
		t.Errorf("%d records (member's: %v), want the %d guests' only", len(records), ok, guests)
	}
	if u := byUser[member]; u == nil || len(u.steps) != 0 || len(u.holds) != 0 || !slices.Equal(u.ops, []string{"crm create ok"}) {
		t.Errorf("the member's audit entries: %+v, want its create alone", u)
	}
	if hs, err := st.Holds(ctx, store.HoldQuery{User: member}); err != nil || len(hs) != 0 {
		t.Errorf("the member's holds: %+v %v", hs, err)
	}
	st.Close()
	pending, dead := readOutbox(t, filepath.Join(dataDir, config.DatabaseFile), "crm")
	if len(pending) != 0 || len(dead) != 0 {
		t.Errorf("the outbox holds %d pending and %d dead operations, want none", len(pending), len(dead))
	}
	t.Logf("%d kills; %d notice emails beyond one per notice; %d holds set again after a kill between the hold and its record",
		kills, extraEmails, extraHolds)
}
