package review_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// TestDefinitionsThroughTheAPI: a review defined through the admin API is
// kept in the store: a service started later loads it beside the
// configured ones; a configured review of the same name wins; invalid
// ones are refused naming the field, as are a taken name and a change of a
// configured review.
func TestDefinitionsThroughTheAPI(t *testing.T) {
	ctx := store.WithActor(t.Context(), "admin: test")
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
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
