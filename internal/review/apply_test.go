package review_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// appPolicy: crm holds the members of crm-users (what leaves its scope is
// disabled, the default) and every group; hr holds everyone, and deletes
// what leaves its scope.
const appPolicy = `
targets:
  - name: crm
    users:
      scope: {groups: [crm-users]}
      mapping: [{target: userName, source: userName}]
    groups:
      scope: {all: true}
      mapping: [{target: displayName, source: displayName}]
  - name: hr
    users:
      scope: {all: true}
      mapping: [{target: userName, source: userName}]
    lifecycle: {outOfScope: delete}
`

// TestApply: three reviews over a real engine and memory targets: the
// users of crm reviewed by their managers (a fallback reviewer for the
// user without one; recommendations from Entra's sign-ins and from the
// engine's scope; justification required; default decision: the
// recommendations; auto-apply), the users of hr by a named reviewer who
// accepts the recommendations (stopped early, applied by an
// administrator), and the members of a group by themselves (default
// deny). A reviewer cannot decide another's item, a batch with one such
// item changes nothing; decisions change until the end; the results are
// applied as the targets' lifecycles say (crm: disabled; hr: deleted; the
// group: removed in crm); everything is audited and exported.
func TestApply(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, appPolicy)
	ctx := t.Context()
	mia := w.user("mia@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", mia, nil)
	bob := w.user("bob@contoso.example", mia, nil)
	cy := w.user("cy@contoso.example", mia, nil)
	dee := w.user("dee@contoso.example", "", nil)
	crmUsers := w.group("crm-users", ada, bob, cy, dee)
	salesGroup := w.group("Sales", ada, bob, mia)
	w.settle()
	w.members(crmUsers, "remove", cy) // cy leaves crm's scope: disabled there
	w.signIn.set("ada@contoso.example", t0.AddDate(0, 0, -2))
	w.signIn.set("bob@contoso.example", t0.AddDate(0, 0, -100))
	w.signIn.set("cy@contoso.example", t0.AddDate(0, 0, -1))
	w.signIn.set("mia@contoso.example", time.Time{}) // never signed in: inactive since created (now)
	w.settle()
	if got := w.account("crm", "cy@contoso.example"); got != "disabled" {
		t.Fatalf("cy in crm: %s", got)
	}
	oneTime := review.RecurrenceConfig{DurationDays: 7, StartDate: t0.Format(time.RFC3339)}
	w.start([]review.Config{
		{Name: "crm-access", Resource: review.ResourceConfig{Target: "crm"}, Reviewers: review.ReviewersConfig{Type: review.ReviewersManager},
			FallbackReviewers: []string{"audit@contoso.example"}, Recurrence: oneTime,
			Settings: review.SettingsConfig{JustificationRequired: true, DefaultDecision: review.DefaultRecommendation, AutoApply: true}},
		{Name: "hr-access", Resource: review.ResourceConfig{Target: "hr"}, Recurrence: oneTime,
			Reviewers: review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"mia@contoso.example"}},
			Settings:  review.SettingsConfig{DefaultDecision: review.DefaultDeny}},
		{Name: "sales-members", Resource: review.ResourceConfig{Group: "Sales"}, Reviewers: review.ReviewersConfig{Type: review.ReviewersSelf},
			Recurrence: oneTime, Settings: review.SettingsConfig{DefaultDecision: review.DefaultDeny, AutoApply: true}},
	})
	w.at(t0)
	crm, hr, sales := w.instances("crm-access")[0], w.instances("hr-access")[0], w.instances("sales-members")[0]
	for _, c := range []struct {
		in   int64
		want []string
	}{
		{crm.ID, []string{
			"ada@contoso.example: Approve (signed in on 2026-05-30) [" + mia + "] NotReviewed ",
			"bob@contoso.example: Deny (no sign-in for 100 days (last 2026-02-21)) [" + mia + "] NotReviewed ",
			"cy@contoso.example: Deny (no longer in the scope of target crm) [" + mia + "] NotReviewed ",
			"dee@contoso.example: Approve (no sign-in information) [audit@contoso.example] NotReviewed ",
		}},
		{hr.ID, []string{
			"ada@contoso.example: Approve (signed in on 2026-05-30) [" + mia + "] NotReviewed ",
			"bob@contoso.example: Deny (no sign-in for 100 days (last 2026-02-21)) [" + mia + "] NotReviewed ",
			"cy@contoso.example: Approve (signed in on 2026-05-31) [" + mia + "] NotReviewed ",
			"dee@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
			"mia@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
		}},
		{sales.ID, []string{
			"ada@contoso.example: Approve (signed in on 2026-05-30) [" + ada + "] NotReviewed ",
			"bob@contoso.example: Deny (no sign-in for 100 days (last 2026-02-21)) [" + bob + "] NotReviewed ",
			"mia@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
		}},
	} {
		if got := sorted(w.items(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("instance %d items:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	// Mia's page: her items in the instances in progress.
	mine, err := w.svc.ReviewerItems(ctx, mia)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 3+5+1 {
		t.Errorf("mia has %d items, want 9", len(mine))
	}
	item := func(in int64, user string) int { return w.item(in, user) }

	// crm: decisions refused as a whole, then made.
	for _, c := range []struct {
		name string
		ds   []review.Decision
		want error
	}{
		{"another's item in the batch", []review.Decision{{Item: item(crm.ID, "ada@contoso.example"), Decision: review.Approve, Justification: "ok"},
			{Item: item(crm.ID, "dee@contoso.example"), Decision: review.Deny, Justification: "x"}}, review.ErrNotReviewer},
		{"no justification", []review.Decision{{Item: item(crm.ID, "ada@contoso.example"), Decision: review.Approve, Justification: " "}}, review.ErrBadDecision},
		{"no decision", []review.Decision{{Item: item(crm.ID, "ada@contoso.example"), Decision: "Maybe"}}, review.ErrBadDecision},
		{"no such item", []review.Decision{{Item: 99, Decision: review.Approve, Justification: "x"}}, review.ErrNotFound},
	} {
		if err := w.svc.Decide(ctx, mia, crm.ID, c.ds); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := w.svc.Decide(ctx, mia, 999, nil); err != nil {
		t.Errorf("no decisions: %v", err)
	}
	if got := w.items(crm.ID)[item(crm.ID, "ada@contoso.example")-1]; !strings.HasSuffix(got, "NotReviewed ") {
		t.Errorf("a refused batch changed ada: %s", got)
	}
	// Mia approves Ada, then denies her, then approves her again.
	for _, d := range []string{review.Approve, review.Deny, review.Approve} {
		w.now = w.now.Add(time.Hour)
		if err := w.svc.Decide(ctx, mia, crm.ID, []review.Decision{{Item: item(crm.ID, "ada@contoso.example"), Decision: d,
			Justification: "=cmd|' /C calc'!A0 still on the account"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.svc.Decide(ctx, "audit@contoso.example", crm.ID, []review.Decision{{Item: item(crm.ID, "dee@contoso.example"),
		Decision: review.DontKnow}}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Reassign(ctx, "audit@contoso.example", crm.ID, []int{item(crm.ID, "bob@contoso.example")}, "nina"); !errors.Is(err, review.ErrUnknownReviewer) {
		t.Errorf("reassign to nobody: %v", err)
	}
	if err := w.svc.Reassign(ctx, "audit@contoso.example", crm.ID, []int{item(crm.ID, "bob@contoso.example")}, "mia@contoso.example"); !errors.Is(err, review.ErrNotReviewer) {
		t.Errorf("reassign of another's item: %v", err)
	}
	// hr: Mia accepts the recommendations; an administrator stops it and
	// applies it later.
	if n, err := w.svc.AcceptRecommendations(ctx, mia, hr.ID, ""); err != nil || n != 5 {
		t.Fatalf("AcceptRecommendations = %d, %v", n, err)
	}
	if _, err := w.svc.Apply(ctx, hr.ID); !errors.Is(err, review.ErrNotEnded) {
		t.Errorf("apply in progress: %v", err)
	}
	admin := store.WithActor(ctx, "admin: ops")
	w.now = t0.AddDate(0, 0, 2)
	if err := w.svc.Stop(admin, hr.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Stop(admin, hr.ID); !errors.Is(err, review.ErrNotInProgress) {
		t.Errorf("stopped twice: %v", err)
	}
	if err := w.svc.Decide(ctx, mia, hr.ID, []review.Decision{{Item: 1, Decision: review.Deny}}); !errors.Is(err, review.ErrNotInProgress) {
		t.Errorf("a decision after the stop: %v", err)
	}
	w.settle()
	if got := w.account("hr", "bob@contoso.example"); got != "enabled" {
		t.Errorf("bob in hr before the apply: %s", got)
	}
	if n, err := w.svc.Apply(admin, hr.ID); err != nil || n != 5 {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	w.settle()
	if got := w.account("hr", "bob@contoso.example"); got != "gone" {
		t.Errorf("bob in hr after the apply: %s", got)
	}
	if got := w.account("hr", "ada@contoso.example"); got != "enabled" {
		t.Errorf("ada in hr: %s", got)
	}
	got, err := w.svc.Instance(ctx, hr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.ReviewApplied || got.EndedBy != "admin: ops" || got.AppliedBy != "admin: ops" || !got.End.Equal(t0.AddDate(0, 0, 2)) ||
		got.Progress != (review.Progress{Total: 5, Approved: 4, Denied: 1}) {
		t.Errorf("hr instance: %+v", got)
	}
	// sales: Ada keeps her membership; Bob and Mia do not answer.
	if err := w.svc.Decide(ctx, ada, sales.ID, []review.Decision{{Item: item(sales.ID, "ada@contoso.example"), Decision: review.Approve}}); err != nil {
		t.Fatal(err)
	}
	if got := w.groupMembers("crm", "Sales"); !slices.Equal(got, []string{"ada@contoso.example", "bob@contoso.example"}) {
		t.Fatalf("Sales in crm before: %q", got)
	}

	// The end (day 7): default decisions, auto-apply.
	w.at(t0.AddDate(0, 0, 7))
	for _, c := range []struct {
		in   int64
		want []string
	}{
		{crm.ID, []string{
			"ada@contoso.example: Approve (signed in on 2026-05-30) [" + mia + "] Approve Applied",
			"bob@contoso.example: Deny (no sign-in for 100 days (last 2026-02-21)) [" + mia + "] Deny Applied",
			"cy@contoso.example: Deny (no longer in the scope of target crm) [" + mia + "] Deny Applied",
			"dee@contoso.example: Approve (no sign-in information) [audit@contoso.example] DontKnow ",
		}},
		{sales.ID, []string{
			"ada@contoso.example: Approve (signed in on 2026-05-30) [" + ada + "] Approve Applied",
			"bob@contoso.example: Deny (no sign-in for 100 days (last 2026-02-21)) [" + bob + "] Deny Applied",
			"mia@contoso.example: Approve (no sign-in information) [" + mia + "] Deny Applied",
		}},
	} {
		if got := sorted(w.items(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("instance %d items at the end:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	for user, want := range map[string]string{"ada@contoso.example": "enabled", "bob@contoso.example": "disabled",
		"cy@contoso.example": "disabled", "dee@contoso.example": "enabled"} {
		if got := w.account("crm", user); got != want {
			t.Errorf("%s in crm: %s, want %s", user, got, want)
		}
	}
	if got := w.groupMembers("crm", "Sales"); !slices.Equal(got, []string{"ada@contoso.example"}) {
		t.Errorf("Sales in crm after: %q", got)
	}
	hs, err := w.st.Holds(ctx, store.HoldQuery{Source: review.HoldSource})
	if err != nil {
		t.Fatal(err)
	}
	var holds []string
	for _, h := range hs {
		holds = append(holds, h.User+" "+h.Target+" "+h.Group+" "+h.Action)
	}
	slices.Sort(holds)
	if len(holds) != 5 || !slices.Contains(holds, bob+" hr  delete") || !slices.Contains(holds, bob+" crm  disable") ||
		!slices.Contains(holds, cy+" crm  disable") {
		t.Errorf("holds %q", holds)
	}
	crmNow, err := w.svc.Instance(ctx, crm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if crmNow.Status != store.ReviewApplied || crmNow.EndedBy != "schedule" || crmNow.AppliedBy != "scimgate (autoApply)" ||
		crmNow.Progress != (review.Progress{Total: 4, Approved: 1, Denied: 2, DontKnow: 1}) ||
		!slices.Equal(crmNow.Reviewers, sortedProgress([]review.ReviewerProgress{{Reviewer: mia, Progress: review.Progress{Total: 3, Approved: 1, Denied: 2}},
			{Reviewer: "audit@contoso.example", Progress: review.Progress{Total: 1, DontKnow: 1}}})) {
		t.Errorf("crm instance: %+v", crmNow)
	}
	// A second apply applies nothing again.
	if n, err := w.svc.Apply(admin, crm.ID); err != nil || n != 0 {
		t.Errorf("second Apply = %d, %v", n, err)
	}
	// The audit log tells bob's story in crm.
	entries, err := w.st.Audit(ctx, store.AuditQuery{ID: bob, Target: "crm", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "review") || e.Action == "hold" {
			story = append(story, e.Actor+" "+e.Action+": "+e.Detail)
		}
	}
	slices.Reverse(story)
	if want := []string{
		"access review sales-members hold: remove: group " + salesGroup + " in crm (review, until released): denied in access review sales-members (instance 3) by default decision: reviewers did not respond; default decision deny",
		"access review crm-access hold: disable the account in crm (review, until released): denied in access review crm-access (instance 1) by default decision: reviewers did not respond; default decision recommendation",
		"scimgate (autoApply) review apply: crm-access, instance 1, item 2 (bob@contoso.example in target crm): Deny: Applied: account disabled in crm",
	}; !slices.Equal(story, want) {
		t.Errorf("bob's audit:\n got %q\nwant %q", story, want)
	}

	// Export for the auditors.
	var b bytes.Buffer
	if err := w.svc.Export(ctx, crm.ID, review.FormatCSV, &b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "review" || rows[0][16] != "decision" {
		t.Fatalf("CSV: %q", rows)
	}
	for _, r := range rows[1:] {
		if r[6] == "ada@contoso.example" && (r[16] != "Approve" || r[17] != "'=cmd|' /C calc'!A0 still on the account" || r[18] != mia || r[20] != "Applied") {
			t.Errorf("ada's CSV row: %q", r)
		}
	}
	b.Reset()
	if err := w.svc.Export(ctx, crm.ID, review.FormatJSON, &b); err != nil {
		t.Fatal(err)
	}
	var js []review.Row
	if err := json.Unmarshal(b.Bytes(), &js); err != nil || len(js) != 4 || js[1].UserName != "bob@contoso.example" ||
		js[1].ReviewedBy != "default decision" || js[1].ApplyDetail != "account disabled in crm" || js[1].Review != "crm-access" {
		t.Errorf("JSON export: %+v, %v", js, err)
	}
	if err := w.svc.Export(ctx, crm.ID, "xml", &b); err == nil {
		t.Error("export as xml")
	}
}

// sortedProgress sorts reviewers' progress by reviewer.
func sortedProgress(ps []review.ReviewerProgress) []review.ReviewerProgress {
	slices.SortFunc(ps, func(a, b review.ReviewerProgress) int { return strings.Compare(a.Reviewer, b.Reviewer) })
	return ps
}
