package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testReconciliations: reports are kept per target, newest first, with
// their items only when one is asked for by id, dry runs left out on
// request, and the oldest beyond keep dropped.
func testReconciliations(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	add := func(id, target string, dry bool) {
		t.Helper()
		err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.AddReconciliation(ctx, store.Reconciliation{ID: id, Target: target, DryRun: dry, Started: at,
				Summary: []byte(`{"id":"` + id + `"}`), Items: []byte(`[` + id + `]`)}, 3)
		})
		if err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	ids := func(q store.ReconciliationQuery) []string {
		t.Helper()
		rs, err := s.Reconciliations(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range rs {
			if r.Target == "" || r.Started.IsZero() || string(r.Summary) != `{"id":"`+r.ID+`"}` {
				t.Errorf("report %+v", r)
			}
			if (q.ID != "") != (r.Items != nil) || r.Items != nil && string(r.Items) != "["+r.ID+"]" {
				t.Errorf("report %s: items %q with query %+v", r.ID, r.Items, q)
			}
			out = append(out, fmt.Sprintf("%s/%s/%t", r.Target, r.ID, r.DryRun))
		}
		return out
	}
	add("a1", "app", false)
	add("c1", "crm", false)
	add("a2", "app", true)
	for _, tc := range []struct {
		name string
		q    store.ReconciliationQuery
		want []string
	}{
		{"all", store.ReconciliationQuery{Limit: 10}, []string{"app/a2/true", "crm/c1/false", "app/a1/false"}},
		{"one target", store.ReconciliationQuery{Target: "app", Limit: 10}, []string{"app/a2/true", "app/a1/false"}},
		{"no dry runs", store.ReconciliationQuery{Target: "app", NoDryRuns: true, Limit: 10}, []string{"app/a1/false"}},
		{"limit", store.ReconciliationQuery{Target: "app", Limit: 1}, []string{"app/a2/true"}},
		{"by id", store.ReconciliationQuery{Target: "app", ID: "a1", Limit: 1}, []string{"app/a1/false"}},
		{"by id of another target", store.ReconciliationQuery{Target: "crm", ID: "a1", Limit: 1}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("keeps the newest 3 per target", func(t *testing.T) {
		add("a3", "app", false)
		add("a4", "app", false)
		want := []string{"app/a4/false", "app/a3/false", "app/a2/true"}
		if got := ids(store.ReconciliationQuery{Target: "app", Limit: 10}); !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		if got := ids(store.ReconciliationQuery{Target: "crm", Limit: 10}); !slices.Equal(got, []string{"crm/c1/false"}) {
			t.Errorf("crm: got %v", got)
		}
	})
}
