package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// TestJournalMigration: resources stored before migration 2 are journalled
// by it, so the engine plans them.
func TestJournalMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	old, err := openSQLite(ctx, path, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		// Version 1 has no journal: write the resource row alone.
		_, err := tx.(*sqlTx).w.exec(ctx, insertSQL, "User", "old", "t", "t", nil, []byte("{}"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Changes(ctx, 0, 10); err != nil || len(got) != 1 || got[0].ID != "old" || got[0].Type != "User" {
		t.Errorf("Changes after migration = %v, %v", got, err)
	}
}
