package sqltarget

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
)

// TestClassify provokes real errors on both servers and checks their
// class for the engine, and that refusals name the column or constraint.
func TestClassify(t *testing.T) {
	for _, start := range []func(testing.TB) *dbtest.Server{dbtest.StartMariaDB, dbtest.StartPostgres} {
		srv := start(t)
		t.Run(srv.Dialect, func(t *testing.T) { testClassify(t, srv) })
	}
}

func testClassify(t *testing.T, srv *dbtest.Server) {
	ctx := context.Background()
	_, db := srv.NewDatabase(t)
	my := srv.Dialect == MySQL
	ph := func(n int) string {
		if my {
			return "?"
		}
		return "$" + strconv.Itoa(n)
	}
	for _, q := range []string{
		"CREATE TABLE parent (id VARCHAR(10) PRIMARY KEY)",
		"CREATE TABLE t (id VARCHAR(10) PRIMARY KEY, login VARCHAR(5) NOT NULL, n BIGINT, p VARCHAR(10) REFERENCES parent (id), CONSTRAINT n_positive CHECK (n > 0))",
		"INSERT INTO t (id, login) VALUES ('a', 'x'), ('b', 'y')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	insert := "INSERT INTO t (id, login, n, p) VALUES (" + ph(1) + ", " + ph(2) + ", " + ph(3) + ", " + ph(4) + ")"
	tests := []struct {
		name      string
		err       func(t *testing.T) error
		class     error
		wantInMsg string
	}{
		{"duplicate key", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, insert, "a", "z", nil, nil)
			return err
		}, targets.ErrConflict, ""},
		{"not null", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, insert, "c", nil, nil, nil)
			return err
		}, targets.ErrPermanent, "login"},
		{"check constraint", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, insert, "c", "z", int64(-1), nil)
			return err
		}, targets.ErrPermanent, "n_positive"},
		{"foreign key", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, insert, "c", "z", nil, "nope")
			return err
		}, targets.ErrPermanent, "parent"},
		{"unknown column", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, "UPDATE t SET nope = 1")
			return err
		}, targets.ErrPermanent, "nope"},
		{"type", func(t *testing.T) error {
			_, err := db.ExecContext(ctx, insert, "c", "z", "many", nil)
			return err
		}, targets.ErrPermanent, ""},
		{"deadlock", func(t *testing.T) error { return deadlock(t, db, ph) }, targets.ErrTransient, ""},
		{"lock wait timeout", func(t *testing.T) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, "UPDATE t SET n = 1 WHERE id = 'a'"); err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			set := "SET SESSION innodb_lock_wait_timeout = 1"
			if !my {
				set = "SET lock_timeout = '200ms'"
			}
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
			_, err = conn.ExecContext(ctx, "UPDATE t SET n = 2 WHERE id = 'a'")
			return err
		}, targets.ErrTransient, ""},
		{"connection killed", func(t *testing.T) error {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var id int64
			q, kill := "SELECT CONNECTION_ID()", "KILL "
			if !my {
				q, kill = "SELECT pg_backend_pid()", "SELECT pg_terminate_backend("
			}
			if err := conn.QueryRowContext(ctx, q).Scan(&id); err != nil {
				t.Fatal(err)
			}
			stmt := kill + strconv.FormatInt(id, 10)
			if !my {
				stmt += ")"
			}
			srv.Exec(t, stmt)
			time.Sleep(100 * time.Millisecond)
			_, err = conn.ExecContext(ctx, "UPDATE t SET n = 3 WHERE id = 'b'")
			return err
		}, targets.ErrTransient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.err(t)
			if raw == nil {
				t.Fatal("no error")
			}
			err := classify("write", raw)
			if got := targets.Class(err); got != tt.class {
				t.Errorf("classify(%v) = %v, class %v; want %v", raw, err, got, tt.class)
			}
			if !errors.Is(err, raw) {
				t.Errorf("classify(%v) = %v does not keep the driver's error", raw, err)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("classify(%v) = %v, want it to name %q", raw, err, tt.wantInMsg)
			}
		})
	}
}

// deadlock makes two transactions lock rows a and b in opposite orders
// and returns the error of the one the server picks as the victim.
func deadlock(t *testing.T, db *sql.DB, ph func(int) string) error {
	ctx := context.Background()
	update := "UPDATE t SET n = 5 WHERE id = " + ph(1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var victim error
	locked := make(chan struct{}, 2)
	proceed := make(chan struct{})
	for _, order := range [][2]string{{"a", "b"}, {"b", "a"}} {
		wg.Go(func() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, update, order[0]); err != nil {
				t.Error(err)
				return
			}
			locked <- struct{}{}
			<-proceed
			if _, err := tx.ExecContext(ctx, update, order[1]); err != nil {
				mu.Lock()
				victim = err
				mu.Unlock()
				return
			}
			tx.Commit()
		})
	}
	<-locked
	<-locked
	close(proceed)
	wg.Wait()
	return victim
}
