package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// queryInt runs a query returning one integer on a reader connection.
func queryInt(s *SQL, q string) (n int, err error) {
	err = s.read(context.Background(), func(ctx context.Context, c *conn) error {
		return c.c.QueryRowContext(ctx, q).Scan(&n)
	})
	return n, err
}

// schemaVersion reads the migration version recorded in the database.
func schemaVersion(t *testing.T, s *SQL) int {
	t.Helper()
	v, err := queryInt(s, "SELECT MAX(version) FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	next := append(append([]migration{}, migrations...), migration{
		`CREATE TABLE extra (x INTEGER)`,
		`INSERT INTO extra (x) VALUES (42)`,
	})

	s, err := openSQLite(ctx, path, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, s); v != len(migrations) {
		t.Errorf("new database at version %d, want %d", v, len(migrations))
	}
	mustCreate(t, s, user("a", "alice"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("reopen keeps data", func(t *testing.T) {
		s := reopen(t, path)
		if _, err := s.Get(ctx, "User", "a"); err != nil {
			t.Error(err)
		}
		if v := schemaVersion(t, s); v != len(migrations) {
			t.Errorf("version %d, want %d", v, len(migrations))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("missing migrations are applied", func(t *testing.T) {
		s, err := openSQLite(ctx, path, next)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v := schemaVersion(t, s); v != len(next) {
			t.Errorf("version %d, want %d", v, len(next))
		}
		if x, err := queryInt(s, "SELECT x FROM extra"); err != nil || x != 42 {
			t.Errorf("new migration not applied: %d, %v", x, err)
		}
		if _, err := s.Get(ctx, "User", "a"); err != nil {
			t.Error(err)
		}
	})

	t.Run("newer database is refused", func(t *testing.T) {
		s, err := openSQLite(ctx, path, migrations)
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Errorf("err = %v, want ErrSchemaTooNew", err)
		}
		if s != nil {
			_ = s.Close()
		}
	})

	t.Run("failing migration is rolled back", func(t *testing.T) {
		bad := append(append([]migration{}, next...), migration{
			`CREATE TABLE half (x INTEGER)`,
			`THIS IS NOT SQL`,
		})
		if _, err := openSQLite(ctx, path, bad); err == nil {
			t.Fatal("open with a broken migration succeeded")
		}
		s, err := openSQLite(ctx, path, next)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v := schemaVersion(t, s); v != len(next) {
			t.Errorf("version %d, want %d", v, len(next))
		}
		if n, err := queryInt(s, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'"); err != nil || n != 0 {
			t.Errorf("table of the failed migration exists: %d, %v", n, err)
		}
	})
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"question marks", false, "a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)"},
		{"numbered", true, "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"no placeholders", true, "SELECT 1", "SELECT 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &dialect{numbered: tc.numbered}
			if got := d.rebind(tc.in); got != tc.want {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
