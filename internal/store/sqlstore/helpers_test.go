package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// openTest opens a fresh store, closed at cleanup: SQLite in a temporary
// directory, or the database of the backend under test (TestPostgres).
var openTest = openSQLiteTest

func openSQLiteTest(t testing.TB) *SQL {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "data", "scimgate.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
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
