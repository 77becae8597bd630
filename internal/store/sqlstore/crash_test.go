package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/storetest"
)

// TestCrashDurability runs the conformance suite's crash check on each
// database: a process writing to the store is killed with SIGKILL.
func TestCrashDurability(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.RunCrash(t, storetest.Crasher{
			Locate: func(t testing.TB) string { return filepath.Join(t.TempDir(), "crash.db") },
			Open:   func(ctx context.Context, at string) (store.Store, error) { return OpenSQLite(ctx, at) },
		})
	})
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
		open  func(context.Context, string) (*SQL, error)
	}{
		{"postgres", dbtest.StartPostgres, OpenPostgres},
		{"mysql", dbtest.StartMariaDB, OpenMySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.RunCrash(t, storetest.Crasher{
				Locate: func(t testing.TB) string {
					srv := tc.start(t)
					name, _ := srv.NewDatabase(t)
					return srv.DSN(name)
				},
				Open: func(ctx context.Context, at string) (store.Store, error) { return tc.open(ctx, at) },
			})
		})
	}
}
