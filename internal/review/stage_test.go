package review_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// stagePolicy: hr holds the members of hr-users and deletes what leaves
// its scope.
const stagePolicy = `
targets:
  - name: hr
    users:
      scope: {groups: [hr-users]}
      mapping: [{target: userName, source: userName}]
    lifecycle: {outOfScope: delete}
`

// stageItems returns an instance's items as "userName stage decision by
// reviewers (stage 1: decision by reviewedBy: justification)", by index.
func (w *world) stageItems(instance int64) []string {
	w.t.Helper()
	its, err := w.svc.Items(w.t.Context(), instance)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, it := range its {
		s := fmt.Sprintf("%s %d %s %v", it.UserName, it.Stage, it.Decision, it.Reviewers)
		if it.Stage1Decision != "" {
			s += fmt.Sprintf(" (stage 1: %s by %s: %s)", it.Stage1Decision, it.Stage1ReviewedBy, it.Stage1Justification)
		}
		out = append(out, s+" "+it.ApplyResult)
	}
	return out
}

// TestSecondStage: a review in two stages of the users of a target. The
// first stage (the managers, the fallback reviewer for the user without
// one, 4 days) approves two, denies one and leaves one; decisions are
// refused once its end came. At its end the approved and the left items
// move to the second stage (a named reviewer, 6 days) with their first
// decision kept, the denied one keeps its decision; the second stage's
// reviewer gets the start notice and its own reminders, the first
// stage's reviewers none, and cannot decide an item that moved nor
// change one that stayed. A restart at the boundary moves nothing again
// and sends nothing again. At the end the default decision (deny)
// applies to the second stage's items not reviewed, and the results are
// applied in the target; the export carries the stages.
func TestSecondStage(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	stage1End, end := t0.AddDate(0, 0, 4), t0.AddDate(0, 0, 10)
	w := newWorld(t, t0, stagePolicy)
	ctx := t.Context()
	mia := w.user("mia@contoso.example", "", nil)
	olga := w.user("olga@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", mia, nil)
	bob := w.user("bob@contoso.example", mia, nil)
	cy := w.user("cy@contoso.example", mia, nil)
	dee := w.user("dee@contoso.example", mia, nil)
	eve := w.user("eve@contoso.example", "", nil) // no manager: the fallback reviewer
	w.group("hr-users", ada, bob, cy, dee, eve)
	w.settle()
	def := review.Config{Name: "hr-two-stage", Resource: review.ResourceConfig{Target: "hr"},
		Reviewers: review.ReviewersConfig{Type: review.ReviewersManager}, FallbackReviewers: []string{"audit@contoso.example"},
		SecondStage: &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"olga@contoso.example"}},
			DurationDays: 6},
		Recurrence: review.RecurrenceConfig{DurationDays: 4, StartDate: t0.Format(time.RFC3339)},
		Settings:   review.SettingsConfig{DefaultDecision: review.DefaultDeny, AutoApply: true}}
	w.start([]review.Config{def})
	w.at(t0)
	in := w.instances("hr-two-stage")[0]
	if in.Stage != 1 || !in.End.Equal(end) {
		t.Fatalf("instance: stage %d, end %s; want 1, %s", in.Stage, in.End, end)
	}
	idx := func(userName string) int { return w.item(in.ID, userName+"@contoso.example") }
	// The first stage's reviewers decide by its end.
	want := []string{
		"audit@contoso.example: Access review hr-two-stage: 1 decision(s) to make by 2026-06-05 08:00 UTC",
		"mia@contoso.example: Access review hr-two-stage: 4 decision(s) to make by 2026-06-05 08:00 UTC",
	}
	if got := w.mail.take(); !slices.Equal(got, want) {
		t.Errorf("start notices:\n got %q\nwant %q", got, want)
	}
	if err := w.svc.Decide(ctx, mia, in.ID, []review.Decision{
		{Item: idx("ada"), Decision: review.Approve, Justification: "runs payroll"},
		{Item: idx("bob"), Decision: review.Approve},
		{Item: idx("cy"), Decision: review.Deny, Justification: "left the team"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Decide(ctx, "audit@contoso.example", in.ID, []review.Decision{{Item: idx("eve"), Decision: review.Approve,
		Justification: "contractor until 2027"}}); err != nil {
		t.Fatal(err)
	}
	// Halfway through the first stage: Mia has Dee pending.
	w.at(t0.AddDate(0, 0, 2))
	if got := w.mail.take(); !slices.Equal(got, []string{"mia@contoso.example: Reminder: access review hr-two-stage has 1 decision(s) pending"}) {
		t.Errorf("first stage halfway: %q", got)
	}
	// The first stage's end came: its decisions are final, before the
	// items move as after.
	w.now = stage1End
	if err := w.svc.Decide(ctx, mia, in.ID, []review.Decision{{Item: idx("dee"), Decision: review.Approve}}); !errors.Is(err, review.ErrNotInProgress) {
		t.Errorf("a decision after the first stage's end: %v", err)
	}
	w.at(stage1End)
	in = w.instances("hr-two-stage")[0]
	if in.Stage != 2 || in.Status != store.ReviewInProgress {
		t.Fatalf("at the first stage's end: stage %d, %s", in.Stage, in.Status)
	}
	wantItems := []string{
		"ada@contoso.example 2 NotReviewed [" + olga + "] (stage 1: Approve by " + mia + ": runs payroll) ",
		"bob@contoso.example 2 NotReviewed [" + olga + "] (stage 1: Approve by " + mia + ": ) ",
		"cy@contoso.example 1 Deny [" + mia + "] ",
		"dee@contoso.example 2 NotReviewed [" + olga + "] (stage 1: NotReviewed by : ) ",
		"eve@contoso.example 2 NotReviewed [" + olga + "] (stage 1: Approve by audit@contoso.example: contractor until 2027) ",
	}
	if got := w.stageItems(in.ID); !slices.Equal(got, wantItems) {
		t.Fatalf("second stage items:\n got %q\nwant %q", got, wantItems)
	}
	if got := w.mail.take(); !slices.Equal(got, []string{"olga@contoso.example: Access review hr-two-stage (second stage): 4 decision(s) to make by 2026-06-11 08:00 UTC"}) {
		t.Errorf("second stage's start notices: %q", got)
	}
	// The first stage's reviewer decides nothing any more: not an item
	// that moved, not the one that stayed; accepting recommendations
	// takes none.
	for _, i := range []int{idx("ada"), idx("cy")} {
		if err := w.svc.Decide(ctx, mia, in.ID, []review.Decision{{Item: i, Decision: review.Deny}}); !errors.Is(err, review.ErrNotReviewer) {
			t.Errorf("Mia decides item %d in the second stage: %v", i, err)
		}
	}
	if err := w.svc.Reassign(ctx, mia, in.ID, []int{idx("cy")}, "olga@contoso.example"); !errors.Is(err, review.ErrNotReviewer) {
		t.Errorf("Mia reassigns her decided item in the second stage: %v", err)
	}
	if err := w.svc.AdminReassign(ctx, in.ID, []int{idx("cy")}, "olga@contoso.example"); !errors.Is(err, review.ErrNotReviewer) {
		t.Errorf("an administrator reassigns a first stage's item in the second stage: %v", err)
	}
	if n, err := w.svc.AcceptRecommendations(ctx, mia, in.ID, ""); n != 0 || err != nil {
		t.Errorf("Mia accepts recommendations in the second stage: %d, %v", n, err)
	}
	if err := w.svc.Decide(ctx, olga, in.ID, []review.Decision{{Item: idx("ada"), Decision: review.Approve, Justification: "confirmed"}}); err != nil {
		t.Fatal(err)
	}
	// A restart at the boundary: nothing moves again, no notice again,
	// Olga's decision stays.
	w.start([]review.Config{def})
	w.at(stage1End.Add(time.Minute))
	wantItems[0] = "ada@contoso.example 2 Approve [" + olga + "] (stage 1: Approve by " + mia + ": runs payroll) "
	if got := w.stageItems(in.ID); !slices.Equal(got, wantItems) {
		t.Errorf("after the restart:\n got %q\nwant %q", got, wantItems)
	}
	if got := w.mail.take(); len(got) != 0 {
		t.Errorf("notices after the restart: %q", got)
	}
	entries, err := w.st.Audit(ctx, store.AuditQuery{ID: "hr-two-stage", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, e := range entries {
		if e.Action == "review stage" {
			stages = append(stages, e.Detail)
		}
	}
	if want := fmt.Sprintf("instance %d: stage 1 ended; stage 2 until 2026-06-11T08:00:00Z: 4 item(s) moved to the second stage's reviewers, 1 kept their first decision", in.ID); !slices.Equal(stages, []string{want}) {
		t.Errorf("audited stages: %q, want [%q]", stages, want)
	}
	if err := w.svc.Decide(ctx, olga, in.ID, []review.Decision{{Item: idx("bob"), Decision: review.Deny, Justification: "moved to sales"}}); err != nil {
		t.Fatal(err)
	}
	// The second stage's reminders: halfway and on its last day, to Olga.
	w.at(stage1End.AddDate(0, 0, 3).Add(-time.Minute))
	if got := w.mail.take(); len(got) != 0 {
		t.Errorf("before the second stage's halfway: %q", got)
	}
	w.at(stage1End.AddDate(0, 0, 3))
	if got := w.mail.take(); !slices.Equal(got, []string{"olga@contoso.example: Reminder: access review hr-two-stage has 2 decision(s) pending"}) {
		t.Errorf("second stage halfway: %q", got)
	}
	w.at(end.AddDate(0, 0, -1))
	if got := w.mail.take(); !slices.Equal(got, []string{"olga@contoso.example: Reminder: access review hr-two-stage ends on 2026-06-11 08:00 UTC"}) {
		t.Errorf("second stage last day: %q", got)
	}
	// The end: the default decision for Dee and Eve, then the results.
	w.at(end)
	in = w.instances("hr-two-stage")[0]
	if in.Status != store.ReviewApplied || in.Stage != 2 {
		t.Fatalf("at the end: %s, stage %d", in.Status, in.Stage)
	}
	its, err := w.svc.Items(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range its {
		got = append(got, fmt.Sprintf("%s %d %s by %s %s", it.UserName, it.Stage, it.Decision, it.ReviewedBy, it.ApplyResult))
	}
	want = []string{
		"ada@contoso.example 2 Approve by " + olga + " Applied",
		"bob@contoso.example 2 Deny by " + olga + " Applied",
		"cy@contoso.example 1 Deny by " + mia + " Applied",
		"dee@contoso.example 2 Deny by default decision Applied",
		"eve@contoso.example 2 Deny by default decision Applied",
	}
	if !slices.Equal(got, want) {
		t.Errorf("final items:\n got %q\nwant %q", got, want)
	}
	for _, c := range []struct{ user, want string }{{"ada", "enabled"}, {"bob", "gone"}, {"cy", "gone"}, {"dee", "gone"}, {"eve", "gone"}} {
		if got := w.account("hr", c.user+"@contoso.example"); got != c.want {
			t.Errorf("%s in hr: %s, want %s", c.user, got, c.want)
		}
	}
	// The export keeps both stages' decisions.
	var b bytes.Buffer
	if err := w.svc.Export(ctx, in.ID, review.FormatCSV, &b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	ada1 := recs[idx("ada")]
	if c := col("stage1Decision"); c < 0 || ada1[col("stage")] != "2" || ada1[c] != review.Approve || ada1[col("stage1ReviewedBy")] != mia ||
		ada1[col("stage1Justification")] != "runs payroll" || ada1[col("stage1ReviewedAt")] == "" || ada1[col("justification")] != "confirmed" {
		t.Errorf("ada's export row: %q (header %q)", ada1, recs[0])
	}
	if cy1 := recs[idx("cy")]; cy1[col("stage")] != "1" || cy1[col("stage1Decision")] != "" {
		t.Errorf("cy's export row: %q", cy1)
	}
}

// TestSecondStageStopped: an instance stopped during its first stage
// ends: no second stage, the default decision for the items left.
func TestSecondStageStopped(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, stagePolicy)
	mia := w.user("mia@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", mia, nil)
	w.group("hr-users", ada)
	w.settle()
	w.start([]review.Config{{Name: "hr-two-stage", Resource: review.ResourceConfig{Target: "hr"},
		Reviewers:   review.ReviewersConfig{Type: review.ReviewersManager},
		SecondStage: &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersSelf}, DurationDays: 3},
		Recurrence:  review.RecurrenceConfig{DurationDays: 4, StartDate: t0.Format(time.RFC3339)},
		Settings:    review.SettingsConfig{DefaultDecision: review.DefaultApprove}}})
	w.at(t0)
	in := w.instances("hr-two-stage")[0]
	w.now = t0.AddDate(0, 0, 1)
	if err := w.svc.Stop(store.WithActor(t.Context(), "admin: ops"), in.ID); err != nil {
		t.Fatal(err)
	}
	w.at(t0.AddDate(0, 0, 5)) // past the first stage's end
	in = w.instances("hr-two-stage")[0]
	if in.Status != store.ReviewCompleted || in.Stage != 1 || !in.End.Equal(t0.AddDate(0, 0, 1)) {
		t.Errorf("stopped instance: %s, stage %d, end %s", in.Status, in.Stage, in.End)
	}
	if got := w.stageItems(in.ID); !slices.Equal(got, []string{"ada@contoso.example 1 Approve [" + mia + "] "}) {
		t.Errorf("items: %q", got)
	}
}

// TestSecondStageFallback: the second stage's reviewers are resolved at
// its start: a user's manager (as the user is then), else the second
// stage's fallback reviewers; with decisionsToNextStage deny only the
// denied item moves, and the default decision at the end also fills in
// the first stage's items nobody reviewed that stayed.
func TestSecondStageFallback(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, stagePolicy)
	ctx := t.Context()
	mia := w.user("mia@contoso.example", "", nil)
	max := w.user("max@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", "", nil)
	bob := w.user("bob@contoso.example", "", nil)
	cy := w.user("cy@contoso.example", "", nil)
	w.group("hr-users", ada, bob, cy)
	w.settle()
	w.start([]review.Config{{Name: "hr-two-stage", Resource: review.ResourceConfig{Target: "hr"},
		Reviewers: review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"mia@contoso.example"}},
		SecondStage: &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersManager},
			FallbackReviewers: []string{"audit@contoso.example"}, DurationDays: 2, DecisionsToNextStage: []string{review.StageDeny}},
		Recurrence: review.RecurrenceConfig{DurationDays: 2, StartDate: t0.Format(time.RFC3339)},
		Settings:   review.SettingsConfig{DefaultDecision: review.DefaultApprove}}})
	w.at(t0)
	in := w.instances("hr-two-stage")[0]
	if err := w.svc.Decide(ctx, mia, in.ID, []review.Decision{
		{Item: w.item(in.ID, "ada@contoso.example"), Decision: review.Deny},
		{Item: w.item(in.ID, "bob@contoso.example"), Decision: review.Deny},
	}); err != nil {
		t.Fatal(err)
	}
	// Ada gets a manager during the first stage; Bob has none.
	w.scim("PATCH", "/Users/"+ada, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
			"value": map[string]any{"value": max}}}})
	w.mail.take()
	w.at(t0.AddDate(0, 0, 2))
	want := []string{
		"ada@contoso.example 2 NotReviewed [" + max + "] (stage 1: Deny by " + mia + ": ) ",
		"bob@contoso.example 2 NotReviewed [audit@contoso.example] (stage 1: Deny by " + mia + ": ) ",
		"cy@contoso.example 1 NotReviewed [" + mia + "] ",
	}
	if got := w.stageItems(in.ID); !slices.Equal(got, want) {
		t.Fatalf("second stage:\n got %q\nwant %q", got, want)
	}
	want = []string{
		"audit@contoso.example: Access review hr-two-stage (second stage): 1 decision(s) to make by 2026-06-05 08:00 UTC",
		"max@contoso.example: Access review hr-two-stage (second stage): 1 decision(s) to make by 2026-06-05 08:00 UTC",
	}
	if got := w.mail.take(); !slices.Equal(got, want) {
		t.Errorf("second stage's notices:\n got %q\nwant %q", got, want)
	}
	w.at(t0.AddDate(0, 0, 4))
	want = []string{
		"ada@contoso.example 2 Approve [" + max + "] (stage 1: Deny by " + mia + ": ) ",
		"bob@contoso.example 2 Approve [audit@contoso.example] (stage 1: Deny by " + mia + ": ) ",
		"cy@contoso.example 1 Approve [" + mia + "] ",
	}
	if got := w.stageItems(in.ID); !slices.Equal(got, want) {
		t.Errorf("at the end:\n got %q\nwant %q", got, want)
	}
}
