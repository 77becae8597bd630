package dbtest

import (
	"context"
	"database/sql"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

func TestServers(t *testing.T) {
	tests := []struct {
		name  string
		start func(testing.TB) *Server
		open  func(dsn string) (*sql.DB, error)
		burn  string // a query that uses about a second of the server's CPU
	}{
		{"MariaDB", StartMariaDB, func(dsn string) (*sql.DB, error) {
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				return nil, err
			}
			c, err := mysql.NewConnector(cfg)
			return sql.OpenDB(c), err
		}, "SELECT BENCHMARK(3000000, MD5('x'))"},
		{"Postgres", StartPostgres, func(dsn string) (*sql.DB, error) {
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				return nil, err
			}
			return stdlib.OpenDB(*cfg), nil
		}, "SELECT count(md5(i::text)) FROM generate_series(1, 1500000) i"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dir string
			t.Run("server", func(t *testing.T) {
				s := tt.start(t)
				dir = s.Dir
				name, db := s.NewDatabase(t)
				if _, err := db.Exec("CREATE TABLE t (v VARCHAR(20))"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(map[string]string{MySQL: "INSERT INTO t VALUES (?)", Postgres: "INSERT INTO t VALUES ($1)"}[s.Dialect], "x'y"); err != nil {
					t.Fatal(err)
				}
				if got := Dump(t, db, "SELECT v FROM t"); !slices.Equal(got, []string{"x'y"}) {
					t.Errorf("rows %q", got)
				}
				// The DSN carries the password, and a wrong one is refused.
				other, err := tt.open(s.DSN(name))
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				if err := other.PingContext(context.Background()); err != nil {
					t.Errorf("DSN: %v", err)
				}
				s2 := *s
				s2.Password = "wrong"
				bad, _ := tt.open(s2.DSN(name))
				defer bad.Close()
				if err := bad.PingContext(context.Background()); err == nil {
					t.Errorf("a wrong password was accepted")
				}
				// CPUTime counts the work of the connection's thread
				// (MariaDB) or backend process (PostgreSQL).
				cpu0, err := s.CPUTime()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.Exec(tt.burn); err != nil {
					t.Fatal(err)
				}
				if cpu, err := s.CPUTime(); err != nil || cpu-cpu0 < 200*time.Millisecond {
					t.Errorf("server CPU time %v, then %v (%v) after a query that burns CPU: want 200ms more", cpu0, cpu, err)
				}
				// Stopped, the server refuses connections; started again,
				// it has its data on the same port.
				s.Stop()
				if err := other.PingContext(context.Background()); err == nil {
					t.Errorf("the stopped server answered")
				}
				s.Start(t)
				if got := Dump(t, other, "SELECT v FROM t"); !slices.Equal(got, []string{"x'y"}) {
					t.Errorf("rows after a restart %q", got)
				}
			})
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the server's directory %s is still there after cleanup (%v)", dir, err)
			}
		})
	}
}

// TestPortTaken: a server whose port another process took meanwhile
// starts on another one.
func TestPortTaken(t *testing.T) {
	for _, start := range []func(testing.TB) *Server{StartMariaDB, StartPostgres} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		taken := l.Addr().(*net.TCPAddr).Port
		picks := 0
		pickPort = func(tb testing.TB) int {
			if picks++; picks == 1 {
				return taken
			}
			return freePort(tb)
		}
		s := start(t)
		pickPort = freePort
		if s.Port == taken || picks != 2 {
			t.Errorf("%s: port %d after %d picks; want a second port after the taken %d", s.Dialect, s.Port, picks, taken)
		}
		s.Exec(t, "SELECT 1")
	}
}

// TestShared: a Shared server is started once, by its first user, and
// outlives the tests that use it until Close stops it and removes its
// directory.
func TestShared(t *testing.T) {
	var p Shared
	t.Cleanup(p.Close) // on a failure before the Close below
	var first *Server
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			s := p.Postgres(t)
			if first == nil {
				first = s
			} else if s != first {
				t.Fatalf("the second user got another server (%s) than the first (%s)", s.Dir, first.Dir)
			}
			_, db := s.NewDatabase(t)
			if err := db.PingContext(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
	if first == nil {
		t.Skip("no server (see above)")
	}
	// The users have ended: the server still runs.
	db := first.OpenDB(t, "")
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("the shared server stopped with its users: %v", err)
	}
	p.Close()
	db.SetMaxIdleConns(0) // a new connection for the next ping
	if err := db.PingContext(context.Background()); err == nil {
		t.Error("the shared server answers after Close")
	}
	if _, err := os.Stat(first.Dir); !os.IsNotExist(err) {
		t.Errorf("the server's directory %s is still there after Close (%v)", first.Dir, err)
	}
}
