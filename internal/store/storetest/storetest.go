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
	"fmt"
	"slices"
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

func num(f float64) *float64 { return &f }

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

// userFixture is the data set of TestQuery.
func userFixture() []store.Resource {
	email := func(elem int, typ, value string) []store.IndexEntry {
		return []store.IndexEntry{
			{Path: "emails.type", Elem: elem, Str: typ},
			{Path: "emails.value", Elem: elem, Str: value},
		}
	}
	age := func(n float64) store.IndexEntry {
		return store.IndexEntry{Path: "age", Str: fmt.Sprint(n), Num: num(n)}
	}
	return []store.Resource{
		{Type: "User", ID: "u1", Unique: "alice", Index: slices.Concat(
			entries("username", "alice", "title", "engineer"),
			email(0, "work", "alice@work.com"), email(1, "home", "alice@home.org"),
			[]store.IndexEntry{age(30)})},
		{Type: "User", ID: "u2", Unique: "bob", Index: slices.Concat(
			entries("username", "bob", "title", "manager"),
			email(0, "home", "target@x.com"), email(1, "work", "bob@work.com"),
			[]store.IndexEntry{age(25)})},
		{Type: "User", ID: "u3", Unique: "carol", Index: slices.Concat(
			entries("username", "carol"),
			email(0, "work", "target@x.com"),
			[]store.IndexEntry{age(40)})},
		{Type: "User", ID: "u4", Unique: "dave", Index: entries("username", "dave", "title", "engineering lead")},
		{Type: "User", ID: "u5", Unique: "eve", Index: append(entries("username", "eve"), age(100))},
		// Another type with the same paths and values must never leak in.
		{Type: "Group", ID: "g1", Unique: "alice", Index: entries("username", "alice", "title", "engineer")},
	}
}

func eq(path, v string) store.Compare {
	return store.Compare{Paths: []string{path}, Op: store.Eq, Str: v}
}
