// Package storetest is the conformance suite of the store's contract
// (package store): every backend runs it from a few lines, as sqlstore's
// tests do for SQLite, PostgreSQL and MariaDB:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) store.Store { return openFresh(t) })
//	}
package storetest

import (
	"context"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// Opener returns a fresh, empty store, closed when t ends.
type Opener func(t testing.TB) store.Store

// Run runs every check of the suite as a subtest of t, each on a store
// that open returns.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Opener)
	}{
		{"Alerts", testAlerts},
		{"AuditDetail", testAuditDetail},
		{"Holds", testHolds},
		{"Guests", testGuests},
		{"HeldOutbox", testHeldOutbox},
		{"ClaimOutbox", testClaimOutbox},
		{"ProvisionedMembers", testProvisionedMembers},
		{"Reconciliations", testReconciliations},
		{"Reviews", testReviews},
		{"ReviewDefinitionDelete", testReviewDefinitionDelete},
		{"WorkflowRuns", testWorkflowRuns},
		{"WorkflowSchedulesSnapshotsStates", testWorkflowSchedulesSnapshotsStates},
		{"Journal", testJournal},
		{"JournalSeqAndPrune", testJournalSeqAndPrune},
		{"EngineState", testEngineState},
		{"QuerySortAndPaging", testQuerySortAndPaging},
		{"WriteErrors", testWriteErrors},
		{"WriteConcurrent", testWriteConcurrent},
		{"WriteSeesEarlierWrites", testWriteSeesEarlierWrites},
		{"UpdateAndDelete", testUpdateAndDelete},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open) })
	}
}

// mustCreate creates the resources in one Write and returns them as stored.
func mustCreate(t testing.TB, s store.Store, rs ...store.Resource) []store.Resource {
	t.Helper()
	err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
		for i := range rs {
			if err := tx.Create(ctx, &rs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return rs
}

// entries builds index entries from path, value pairs (element 0).
func entries(kv ...string) []store.IndexEntry {
	var es []store.IndexEntry
	for i := 0; i+1 < len(kv); i += 2 {
		es = append(es, store.IndexEntry{Path: kv[i], Str: kv[i+1]})
	}
	return es
}

func pageIDs(p store.Page) []string {
	ids := []string{}
	for _, r := range p.Resources {
		ids = append(ids, r.ID)
	}
	return ids
}

func user(id, unique string) store.Resource {
	return store.Resource{Type: "User", ID: id, Unique: unique, Data: []byte(`{"id":"` + id + `"}`),
		Index: entries("username", unique)}
}

func write(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func eq(path, v string) store.Compare {
	return store.Compare{Paths: []string{path}, Op: store.Eq, Str: v}
}
