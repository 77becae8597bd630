package review_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

// TestDefinitionsThroughTheAPI: a review defined through the admin API is
// kept in the store: a service started later loads it beside the
// configured ones; a configured review of the same name wins; invalid
// ones are refused naming the field, as are a taken name and a change of a
// configured review.
func TestDefinitionsThroughTheAPI(t *testing.T) {
	ctx := store.WithActor(t.Context(), "admin: test")
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	def := func(name string) review.Config {
		return review.Config{Name: name, Resource: review.ResourceConfig{Target: "crm"},
			Reviewers:  review.ReviewersConfig{Type: review.ReviewersSelf},
			Recurrence: review.RecurrenceConfig{DurationDays: 5, StartDate: "2026-04-01"}}
	}
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	svc, err := review.New(review.Options{Store: st, Now: now, Definitions: []review.Config{def("configured")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveDefinition(ctx, def("from-api"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SaveDefinition(ctx, def("FROM-API"), true); !errors.Is(err, review.ErrExists) {
		t.Errorf("a taken name: %v", err)
	}
	if _, err := svc.SaveDefinition(ctx, def("configured"), false); !errors.Is(err, review.ErrReadOnly) {
		t.Errorf("a configured review changed: %v", err)
	}
	bad := def("bad")
	bad.Recurrence.DurationDays = 0
	if _, err := svc.SaveDefinition(ctx, bad, true); !errors.Is(err, review.ErrInvalid) {
		t.Errorf("an invalid review: %v", err)
	}
	later, err := review.New(review.Options{Store: st, Now: now, Definitions: []review.Config{def("configured")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := later.LoadDefinitions(ctx); err != nil {
		t.Fatal(err)
	}
	ds := later.Definitions()
	if len(ds) != 2 || ds[0].Name != "configured" || ds[0].API || ds[1].Name != "from-api" || !ds[1].API {
		t.Fatalf("definitions after a restart: %+v", ds)
	}
	// The configuration now has a review of that name: it counts.
	third, err := review.New(review.Options{Store: st, Now: now, Definitions: []review.Config{def("from-api")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.LoadDefinitions(ctx); err != nil {
		t.Fatal(err)
	}
	if ds := third.Definitions(); len(ds) != 1 || ds[0].API {
		t.Fatalf("a configured review of the same name: %+v", ds)
	}
}

// TestDeleteDefinition: a review defined through the admin API is
// deleted (audited; not loaded again after a restart), its past
// instances staying; a configured one is refused, as is one with an
// instance in progress until it is stopped.
func TestDeleteDefinition(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, "")
	ctx := store.WithActor(t.Context(), "admin: root")
	w.user("ada@contoso.example", "", nil)
	def := func(name string) review.Config {
		return review.Config{Name: name, Resource: review.ResourceConfig{Group: "Sales"},
			Reviewers:  review.ReviewersConfig{Type: review.ReviewersSelf},
			Recurrence: review.RecurrenceConfig{Pattern: review.PatternMonthly, DurationDays: 5, StartDate: "2026-04-01"}}
	}
	w.group("Sales", w.user("bob@contoso.example", "", nil))
	svc := w.start([]review.Config{def("configured")})
	if _, err := svc.SaveDefinition(ctx, def("from-api"), true); err != nil {
		t.Fatal(err)
	}
	w.at(t0)
	ins := w.instances("from-api")
	if len(ins) != 1 {
		t.Fatalf("from-api: %d instances", len(ins))
	}
	if err := svc.DeleteDefinition(ctx, "configured"); !errors.Is(err, review.ErrReadOnly) {
		t.Errorf("delete of a configured review: %v, want ErrReadOnly", err)
	}
	if err := svc.DeleteDefinition(ctx, "nope"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("delete of no review: %v, want ErrNotFound", err)
	}
	if err := svc.DeleteDefinition(ctx, "FROM-API"); !errors.Is(err, review.ErrNotEnded) || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("delete with an instance in progress: %v, want ErrNotEnded", err)
	}
	if err := svc.Stop(ctx, ins[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteDefinition(ctx, "FROM-API"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Definition("from-api"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("deleted review still defined: %v", err)
	}
	// Its past instance stays, and no new one starts.
	w.at(t0.AddDate(0, 1, 0))
	if ins := w.instances("from-api"); len(ins) != 1 || ins[0].Status != store.ReviewCompleted {
		t.Errorf("instances of the deleted review: %+v", ins)
	}
	if ins := w.instances("configured"); len(ins) != 2 {
		t.Errorf("configured: %d instances, want 2", len(ins))
	}
	later, err := review.New(review.Options{Store: w.st, Now: w.clock, Definitions: []review.Config{def("configured")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := later.LoadDefinitions(ctx); err != nil {
		t.Fatal(err)
	}
	if ds := later.Definitions(); len(ds) != 1 {
		t.Errorf("after a restart: %+v", ds)
	}
	entries, err := w.st.Audit(ctx, store.AuditQuery{ID: "from-api", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e store.AuditEntry) bool { return e.Action == "review delete" && e.Actor == "admin: root" }) {
		t.Errorf("no audit entry of the delete: %+v", entries)
	}
}
