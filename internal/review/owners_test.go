package review_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// TestGroupOwners: reviews of type groupOwners read the owners of each
// group in Entra (the fake tenant), the SCIM group's externalId being
// its object id, at the instance's start: an owner who is a SCIM user
// (by externalId) reviews as that user, one who is not by its mail; a
// group without owners, and one without externalId, go to the fallback
// reviewers with the reason in the start's audit entry. Graph failing
// at the start starts nothing (the instance starts on the next run with
// the right reviewers), and a change of owners after the start changes
// nothing of the instance.
func TestGroupOwners(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	w := newWorld(t, start.Add(-time.Hour), "")

	tenant := graphtest.Start(t)
	const clientID, secret = "11111111-2222-4333-8444-555555555555", "owners-test-secret"
	tenant.AddApp(graphtest.App{ClientID: clientID, Secret: secret, Roles: []string{"User.Read.All", "GroupMember.Read.All"}})
	mia := tenant.AddUser(graphtest.User{UserPrincipalName: "mia@contoso.example", Mail: "mia@contoso.example", DisplayName: "Mia"})
	ext := tenant.AddUser(graphtest.User{UserPrincipalName: "lee_fabrikam.example#EXT#@contoso.example", Mail: "Lee@Fabrikam.example", DisplayName: "Lee"})
	sales := tenant.AddGroup(graphtest.Group{DisplayName: "Sales", Owners: []string{mia.ID, ext.ID}})
	empty := tenant.AddGroup(graphtest.Group{DisplayName: "Ops"})
	t.Setenv("REVIEW_TEST_ENTRA_SECRET", secret)
	clk := &graphtest.Clock{}
	client, err := entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "REVIEW_TEST_ENTRA_SECRET", AuthorityHost: tenant.AuthorityHost, GraphURL: tenant.GraphURL},
		entra.Options{Transport: tenant.Transport(), Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })

	miaID := w.user("mia@contoso.example", "", map[string]any{"externalId": mia.ID})
	ann, bob, cy, dee := w.user("ann@contoso.example", "", nil), w.user("bob@contoso.example", "", nil),
		w.user("cy@contoso.example", "", nil), w.user("dee@contoso.example", "", nil)
	w.scim("POST", "/Groups", map[string]any{"displayName": "Sales", "externalId": sales.ID, "members": []any{map[string]any{"value": ann}, map[string]any{"value": bob}}})
	w.scim("POST", "/Groups", map[string]any{"displayName": "Ops", "externalId": empty.ID, "members": []any{map[string]any{"value": cy}}})
	w.group("Local", dee)

	def := func(name, group string) review.Config {
		return review.Config{Name: name, Resource: review.ResourceConfig{Group: group},
			Reviewers: review.ReviewersConfig{Type: review.ReviewersGroupOwners}, FallbackReviewers: []string{"audit@contoso.example"},
			Recurrence: review.RecurrenceConfig{DurationDays: 7, StartDate: start.Format(time.RFC3339)}}
	}
	// sales-2: named reviewers first, the owners in the second stage,
	// read when the second stage starts.
	two := review.Config{Name: "sales-2", Resource: review.ResourceConfig{Group: "Sales"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"audit@contoso.example"}},
		Recurrence: review.RecurrenceConfig{DurationDays: 7, StartDate: start.Add(time.Hour).Format(time.RFC3339)},
		SecondStage: &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersGroupOwners},
			FallbackReviewers: []string{"audit@contoso.example"}, DurationDays: 3}}
	w.start([]review.Config{def("sales", "Sales"), def("ops", "Ops"), def("local", "Local"), two}, func(o *review.Options) { o.Owners = client })

	// Graph refuses the first request (sales' owners): sales does not
	// start, the others do.
	w.now = start
	tenant.Fail(1, http.StatusForbidden)
	if _, err := w.svc.RunDue(t.Context()); err == nil || !strings.Contains(err.Error(), "review sales") || !strings.Contains(err.Error(), "owners") {
		t.Fatalf("RunDue with Graph failing: %v, want sales' owners failing", err)
	}
	if ins := w.instances("sales"); len(ins) != 0 {
		t.Fatalf("sales started with Graph failing: %+v", ins)
	}
	for _, name := range []string{"ops", "local"} {
		ins := w.instances(name)
		if len(ins) != 1 {
			t.Fatalf("%s: %d instances, want 1", name, len(ins))
		}
		if got, want := w.items(ins[0].ID), []string{map[string]string{"ops": "cy", "local": "dee"}[name] +
			"@contoso.example: Approve (no sign-in information) [audit@contoso.example] NotReviewed "}; !slices.Equal(got, want) {
			t.Errorf("%s items:\n got %q\nwant %q", name, got, want)
		}
	}

	// The next run starts sales with its owners.
	w.at(start.Add(time.Minute))
	ins := w.instances("sales")
	if len(ins) != 1 {
		t.Fatalf("sales: %d instances, want 1", len(ins))
	}
	want := []string{
		"ann@contoso.example: Approve (no sign-in information) [" + miaID + " lee@fabrikam.example] NotReviewed ",
		"bob@contoso.example: Approve (no sign-in information) [" + miaID + " lee@fabrikam.example] NotReviewed ",
	}
	if got := w.items(ins[0].ID); !slices.Equal(got, want) {
		t.Errorf("sales items:\n got %q\nwant %q", got, want)
	}

	// The reasons of the fallbacks are in the audit log.
	entries, err := w.st.Audit(t.Context(), store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, e := range entries {
		if e.Action == "review start" {
			_, note, _ := strings.Cut(e.Detail, "; ")
			starts = append(starts, e.ID+": "+note)
		}
	}
	slices.Sort(starts)
	wantStarts := []string{
		"local: the fallback reviewers decide: the group has no externalId (its Entra object id), so its owners are unknown",
		"ops: the fallback reviewers decide: the group has no owner in Entra (object " + empty.ID + ") who can review",
		"sales: ",
	}
	if !slices.Equal(starts, wantStarts) {
		t.Errorf("start entries:\n got %q\nwant %q", starts, wantStarts)
	}

	// Owners are snapshotted at the start.
	tenant.SetOwners(sales.ID, []string{ext.ID})
	w.at(start.Add(time.Hour))
	if got := w.items(ins[0].ID); !slices.Equal(got, want) {
		t.Errorf("sales items after the owners changed:\n got %q\nwant %q", got, want)
	}

	// sales-2's second stage goes to the owners of its start (Lee only
	// now).
	two2 := w.instances("sales-2")
	if len(two2) != 1 {
		t.Fatalf("sales-2: %d instances, want 1", len(two2))
	}
	w.at(start.Add(time.Hour + 7*24*time.Hour + time.Minute))
	want2 := []string{
		"ann@contoso.example: Approve (no sign-in information) [lee@fabrikam.example] NotReviewed ",
		"bob@contoso.example: Approve (no sign-in information) [lee@fabrikam.example] NotReviewed ",
	}
	if got := w.items(two2[0].ID); !slices.Equal(got, want2) {
		t.Errorf("sales-2 items in the second stage:\n got %q\nwant %q", got, want2)
	}
}
