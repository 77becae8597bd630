package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/storetest"
)

// portable are this package's tests that hold on every database but
// reach into the implementation (its writer queue, reader pool, tables):
// they open their stores with openTest. What the contract alone can check
// is in storetest.
var portable = []struct {
	name string
	test func(*testing.T)
}{
	{"QueryEndsWithContext", TestQueryEndsWithContext},
	{"QueryReadersNotStarved", TestQueryReadersNotStarved},
	{"Leases", TestLeases},
	{"EnsureKey", TestEnsureKey},
	{"WriteConflictInOneBatch", TestWriteConflictInOneBatch},
	{"WriteCancelled", TestWriteCancelled},
	{"TxAfterWrite", TestTxAfterWrite},
	{"UpdateIndexDiff", TestUpdateIndexDiff},
}

// TestPostgres runs the conformance suite and the portable tests on a
// throwaway PostgreSQL server, each on a fresh database.
func TestPostgres(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	runPortable(t, func(t testing.TB) func(testing.TB) *SQL {
		name, _ := srv.NewDatabase(t)
		return func(t testing.TB) *SQL { return mustOpen(t)(OpenPostgres(context.Background(), srv.DSN(name))) }
	})
}

// TestMySQL runs the conformance suite and the portable tests on a
// throwaway MariaDB server, each on a fresh database.
func TestMySQL(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	runPortable(t, func(t testing.TB) func(testing.TB) *SQL {
		name, _ := srv.NewDatabase(t)
		return func(t testing.TB) *SQL { return mustOpen(t)(OpenMySQL(context.Background(), srv.DSN(name))) }
	})
}

// runPortable runs the store's conformance suite (storetest) and the
// portable tests of this package on databases that newDB creates; the
// function it returns opens a store on its database.
func runPortable(t *testing.T, newDB func(testing.TB) func(testing.TB) *SQL) {
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) func(testing.TB) store.Store {
			open := newDB(t)
			return func(t testing.TB) store.Store { return open(t) }
		})
	})
	defer func(old func(testing.TB) *SQL) { openTest = old }(openTest)
	openTest = func(t testing.TB) *SQL { return newDB(t)(t) }
	for _, tc := range portable {
		t.Run(tc.name, tc.test)
	}
}

// TestConformance runs the store's conformance suite on SQLite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) func(testing.TB) store.Store {
		path := filepath.Join(t.TempDir(), "scimgate.db")
		return func(t testing.TB) store.Store { return mustOpen(t)(OpenSQLite(context.Background(), path)) }
	})
}

// mustOpen returns a function that fails t on an error of an Open and
// closes the store at cleanup.
func mustOpen(t testing.TB) func(*SQL, error) *SQL {
	return func(s *SQL, err error) *SQL {
		t.Helper()
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// TestPostgresRestart stops the server under a store and starts it again:
// while it is down, writes fail with ErrUnavailable and change nothing,
// reads fail; once it is back, the store's writer and readers reconnect
// by themselves.
func TestPostgresRestart(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	name, _ := srv.NewDatabase(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, srv.DSN(name))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	defer s.Close()
	mustCreate(t, s, store.Resource{Type: "User", ID: "before", Unique: "before"})

	srv.Stop()
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "User", ID: "down", Unique: "down"})
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write while the server is down: %v, want ErrUnavailable", err)
	}
	if s.Health() == nil {
		t.Error("Health is nil while the server is down")
	}
	if _, err := s.Get(ctx, "User", "before"); err == nil {
		t.Error("read while the server is down succeeded")
	}

	srv.Start(t)
	mustCreate(t, s, store.Resource{Type: "User", ID: "after", Unique: "after"})
	if err := s.Health(); err != nil {
		t.Errorf("Health after a write: %v", err)
	}
	for id, want := range map[string]error{"before": nil, "after": nil, "down": store.ErrNotFound} {
		// Every reader reconnects: read more times than there are readers.
		for range 2 * cap(s.readers) {
			if _, err := s.Get(ctx, "User", id); !errors.Is(err, want) {
				t.Fatalf("Get %s after the restart: %v, want %v", id, err, want)
			}
		}
	}
}

// TestReplicasWrite: two stores on one database (two replicas) write at
// once: distinct users, and read-modify-write updates of shared counters
// that conflict. The database's conflicts (serialization failures,
// deadlocks) are run again inside the store, so that callers see only
// the store's errors (ErrModified for a lost optimistic update), every
// increment counts once, and each change is journalled once.
func TestReplicasWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
		open  func(context.Context, string) (*SQL, error)
	}{
		{"postgres", dbtest.StartPostgres, OpenPostgres},
		{"mysql", dbtest.StartMariaDB, OpenMySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			name, _ := srv.NewDatabase(t)
			ctx := context.Background()
			a := mustOpen(t)(tc.open(ctx, srv.DSN(name)))
			b := mustOpen(t)(tc.open(ctx, srv.DSN(name)))
			const counters, writers, rounds = 3, 4, 25
			for i := range counters {
				mustCreate(t, a, store.Resource{Type: "Group", ID: fmt.Sprintf("c%d", i), Data: []byte(`0`)})
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2*writers*rounds)
			for _, s := range []*SQL{a, b} {
				for w := range writers {
					wg.Go(func() {
						for r := range rounds {
							id := fmt.Sprintf("c%d", (w+r)%counters)
							for {
								err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
									if err := tx.Create(ctx, &store.Resource{Type: "User", ID: fmt.Sprintf("%p-%d-%d", s, w, r)}); err != nil {
										return err
									}
									c, err := tx.Get(ctx, "Group", id)
									if err != nil {
										return err
									}
									var n int
									if err := json.Unmarshal(c.Data, &n); err != nil {
										return err
									}
									c.Data = []byte(strconv.Itoa(n + 1))
									return tx.Update(ctx, &c)
								})
								if errors.Is(err, store.ErrModified) {
									continue // the other replica's update came first
								}
								if err != nil {
									errs <- err
								}
								break
							}
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("write: %v", err)
			}
			total := 0
			for i := range counters {
				c, err := b.Get(ctx, "Group", fmt.Sprintf("c%d", i))
				if err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.Atoi(string(c.Data))
				total += n
			}
			if want := 2 * writers * rounds; total != want {
				t.Errorf("the counters add up to %d, want %d", total, want)
			}
			users, err := a.Find(ctx, "User", nil)
			if err != nil || len(users) != 2*writers*rounds {
				t.Errorf("%d users (%v), want %d", len(users), err, 2*writers*rounds)
			}
			t.Logf("batches run again after a conflict: %d and %d", a.conflicts.Load(), b.conflicts.Load())
		})
	}
}

// TestReplicasMigrate: replicas that start at once on a fresh database
// migrate it once, under the database's lock (each version recorded
// once, every opener succeeds), and a replica that knows fewer
// migrations refuses the database.
func TestReplicasMigrate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
		open  func(context.Context, string, []migration, ...func(*SQL)) (*SQL, error)
	}{
		{"postgres", dbtest.StartPostgres, openPostgres},
		{"mysql", dbtest.StartMariaDB, openMySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			name, db := srv.NewDatabase(t)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					s, err := tc.open(ctx, srv.DSN(name), migrations)
					if err == nil {
						err = s.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
			var n, distinct, top int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_migrations").Scan(&n, &distinct, &top); err != nil {
				t.Fatal(err)
			}
			if n != len(migrations) || distinct != n || top != len(migrations) {
				t.Errorf("schema_migrations: %d rows, %d versions, up to %d; want each of 1..%d once", n, distinct, top, len(migrations))
			}
			if _, err := tc.open(ctx, srv.DSN(name), migrations[:len(migrations)-1]); !errors.Is(err, store.ErrSchemaTooNew) {
				t.Errorf("an older replica opens the database: %v, want ErrSchemaTooNew", err)
			}
		})
	}
}

// TestReplicasJournalOrder: a reader that moves a cursor over the journal,
// as the engine's planner does, never passes an entry that another replica
// has yet to commit. Replica a journals a create and keeps its transaction
// open; replica b's create must wait for it (for the journal's lock):
// committed first, b's entry, with the larger sequence number, would let a
// reader move its cursor past a's, which it would then never see.
func TestReplicasJournalOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		start   func(testing.TB) *dbtest.Server
		open    func(context.Context, string) (*SQL, error)
		waiting string // counts the transactions waiting for a lock
	}{
		{"postgres", dbtest.StartPostgres, OpenPostgres, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"},
		{"mysql", dbtest.StartMariaDB, OpenMySQL, "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			name, db := srv.NewDatabase(t)
			ctx := context.Background()
			a := mustOpen(t)(tc.open(ctx, srv.DSN(name)))
			b := mustOpen(t)(tc.open(ctx, srv.DSN(name)))
			journalled, release := make(chan struct{}), make(chan struct{})
			aDone, bDone := make(chan error, 1), make(chan error, 1)
			go func() {
				aDone <- a.Write(ctx, func(ctx context.Context, tx store.Tx) error {
					if err := tx.Create(ctx, &store.Resource{Type: "User", ID: "a"}); err != nil {
						return err
					}
					close(journalled)
					<-release
					return nil
				})
			}()
			<-journalled
			go func() {
				bDone <- b.Write(ctx, func(ctx context.Context, tx store.Tx) error {
					return tx.Create(ctx, &store.Resource{Type: "User", ID: "b"})
				})
			}()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case err := <-bDone:
					ch, _ := a.Changes(ctx, 0, 10)
					t.Errorf("replica b's create (%v) committed while a's transaction was open: a reader sees the journal %+v and moves its cursor past a's entry", err, ch)
					bDone <- err
					break wait
				case <-tick.C:
					var n int
					if err := db.QueryRowContext(ctx, tc.waiting).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n > 0 {
						break wait // b waits for a
					}
				case <-timeout:
					close(release)
					t.Fatal("b neither committed nor waited for a lock in 30s")
				}
			}
			close(release)
			if err := <-aDone; err != nil {
				t.Fatal(err)
			}
			if err := <-bDone; err != nil {
				t.Fatal(err)
			}
			ch, err := a.Changes(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ch) != 2 || ch[0].ID != "a" || ch[1].ID != "b" {
				t.Errorf("journal %+v, want a's entry, then b's", ch)
			}
		})
	}
}

// TestAnalyzeAt: the writer refreshes the statistics at 256 writes and at
// each fourfold growth up to about a million, once per point passed.
func TestAnalyzeAt(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after int64
		want          bool
	}{
		{"below the first point", 0, 255, false},
		{"reaching it", 255, 256, true},
		{"past it in one batch", 200, 300, true},
		{"between points", 256, 1023, false},
		{"the second", 1000, 1024, true},
		{"a later one", 16383, 16400, true},
		{"the last", (1 << 20) - 1, 1 << 20, true},
		{"beyond", 1 << 20, 1<<22 + 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := analyzeAt(tc.before, tc.after); got != tc.want {
				t.Errorf("analyzeAt(%d, %d) = %v, want %v", tc.before, tc.after, got, tc.want)
			}
		})
	}
}

// TestPostgresAnalyze: the statistics refresh names the store's tables (a
// wrong name fails the statement) and gives the planner statistics to
// choose by: a lookup by key takes the key index, not the anchor's or the
// primary key's.
func TestPostgresAnalyze(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	name, db := srv.NewDatabase(t)
	s := mustOpen(t)(OpenPostgres(t.Context(), srv.DSN(name)))
	ctx := t.Context()
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range 2000 {
			p := store.Provisioned{Target: "t", Type: "User", ID: fmt.Sprintf("u%05d", i), Anchor: fmt.Sprintf("a%d", i),
				State: []byte("{}"), Key: fmt.Sprintf("e%d", i)}
			if err := tx.PutProvisioned(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.read(ctx, func(ctx context.Context, c *conn) error {
		_, err := c.c.ExecContext(ctx, s.d.analyze)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", s.d.analyze, err)
	}
	for _, tc := range []struct {
		name, q, arg, index string
	}{
		{"by key", provByKeySQL, "e5", "provisioned_key"},
		{"by id", provSQL, "u00005", "provisioned_pkey"},
		{"by anchor", provByAnchorSQL, "a5", "provisioned_anchor"},
	} {
		var plan string
		if err := db.QueryRowContext(ctx, "EXPLAIN "+s.d.rebind(tc.q), "t", "User", tc.arg).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tc.index) {
			t.Errorf("lookup %s after the analysis: %s, want %s", tc.name, plan, tc.index)
		}
	}
}
