// Package storetest is the conformance suite of the store's contract
// (package store). It checks what every backend must do, through the
// contract alone: resources and their index (filters against a reference
// model, with hostile literals; sorting and paging), members, the
// journal, the outbox, provisioned state, the engine's cursors, the audit
// log, reconciliations, workflows, alerts, holds, guests and access
// reviews with the due times that the scheduler's timers read (and the
// outbox's operations scheduled for later), concurrent writes, isolation
// (a failed or cancelled Write leaves nothing; readers never see part of
// a Write) and what a closed store keeps (every acknowledged write,
// nothing of a failed one). RunCrash, apart (it needs to find the database
// from another process), checks what a writing process killed with
// SIGKILL leaves.
//
// A backend runs it from a few lines, as sqlstore's tests do for SQLite,
// PostgreSQL and MariaDB:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) func(testing.TB) store.Store {
//			path := filepath.Join(t.TempDir(), "scimgate.db")
//			return func(t testing.TB) store.Store {
//				s, err := sqlstore.OpenSQLite(context.Background(), path)
//				if err != nil {
//					t.Fatal(err)
//				}
//				t.Cleanup(func() { _ = s.Close() })
//				return s
//			}
//		})
//	}
//
// What a backend's own tests keep is what the contract does not say: its
// schema and migrations, query plans, how writes are batched, its
// connection pools.
package storetest

import (
	"context"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// Opener creates a fresh, empty database and returns a function that
// opens a store on it, closed when the t it is given ends. Most checks
// open one store per database; to check what a store keeps, the suite
// closes it and opens another on the same database.
type Opener func(t testing.TB) func(t testing.TB) store.Store

// fresh opens a store on a fresh database.
func fresh(t testing.TB, open Opener) store.Store { return open(t)(t) }

// Run runs every check of the suite as a subtest of t, each on databases
// that open creates.
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
		{"OutboxSchedule", testOutboxSchedule},
		{"ProvisionedMembers", testProvisionedMembers},
		{"Reconciliations", testReconciliations},
		{"Reviews", testReviews},
		{"ReviewDefinitionDelete", testReviewDefinitionDelete},
		{"ReviewSessions", testReviewSessions},
		{"WorkflowRuns", testWorkflowRuns},
		{"WorkflowSchedulesSnapshotsStates", testWorkflowSchedulesSnapshotsStates},
		{"Journal", testJournal},
		{"JournalSeqAndPrune", testJournalSeqAndPrune},
		{"EngineState", testEngineState},
		{"Query", testQuery},
		{"QueryInvalidCond", testQueryInvalidCond},
		{"QueryHostileLiterals", testQueryHostileLiterals},
		{"QueryManyTerms", testQueryManyTerms},
		{"QueryRandom", testQueryRandom},
		{"QuerySortAndPaging", testQuerySortAndPaging},
		{"Members", testMembers},
		{"MembersNoChangeNoJournal", testMembersNoChangeNoJournal},
		{"WriteErrors", testWriteErrors},
		{"WriteConcurrent", testWriteConcurrent},
		{"WriteSeesEarlierWrites", testWriteSeesEarlierWrites},
		{"WriteFailureIsolated", testWriteFailureIsolated},
		{"WriteConflict", testWriteConflict},
		{"WriteCancelled", testWriteCancelled},
		{"WriteAtomicForReaders", testWriteAtomicForReaders},
		{"UpdateAndDelete", testUpdateAndDelete},
		{"Durability", testDurability},
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

func num(f float64) *float64 { return &f }
