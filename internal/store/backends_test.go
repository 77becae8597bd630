package store

import (
	"context"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
)

// portable are the store's tests that hold on every database: they open
// their stores with openTest. TestPostgres runs them on PostgreSQL.
var portable = []struct {
	name string
	test func(*testing.T)
}{
	{"Alerts", TestAlerts},
	{"AuditDetail", TestAuditDetail},
	{"QueryEndsWithContext", TestQueryEndsWithContext},
	{"QueryReadersNotStarved", TestQueryReadersNotStarved},
	{"QueryManyTerms", TestQueryManyTerms},
	{"Journal", TestJournal},
	{"JournalSeqAndPrune", TestJournalSeqAndPrune},
	{"EngineState", TestEngineState},
	{"Holds", TestHolds},
	{"Guests", TestGuests},
	{"Members", TestMembers},
	{"MembersNoChangeNoJournal", TestMembersNoChangeNoJournal},
	{"HeldOutbox", TestHeldOutbox},
	{"ProvisionedMembers", TestProvisionedMembers},
	{"Query", TestQuery},
	{"QueryInvalidCond", TestQueryInvalidCond},
	{"QuerySortAndPaging", TestQuerySortAndPaging},
	{"QueryHostileLiterals", TestQueryHostileLiterals},
	{"Reconciliations", TestReconciliations},
	{"QueryRandom", TestQueryRandom},
	{"Reviews", TestReviews},
	{"ReviewSessions", TestReviewSessions},
	{"WorkflowRuns", TestWorkflowRuns},
	{"WorkflowSchedulesSnapshotsStates", TestWorkflowSchedulesSnapshotsStates},
	{"WriteConcurrent", TestWriteConcurrent},
	{"WriteFailureIsolated", TestWriteFailureIsolated},
	{"WriteSeesEarlierWrites", TestWriteSeesEarlierWrites},
	{"WriteErrors", TestWriteErrors},
	{"WriteConflictInOneBatch", TestWriteConflictInOneBatch},
	{"UpdateAndDelete", TestUpdateAndDelete},
	{"WriteCancelled", TestWriteCancelled},
	{"TxAfterWrite", TestTxAfterWrite},
	{"UpdateIndexDiff", TestUpdateIndexDiff},
}

// TestPostgres runs the portable tests on a throwaway PostgreSQL server,
// each on a fresh database.
func TestPostgres(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	runPortable(t, func(t testing.TB) *SQL {
		name, _ := srv.NewDatabase(t)
		return mustOpen(t)(OpenPostgres(context.Background(), srv.DSN(name)))
	})
}

// TestMySQL runs the portable tests on a throwaway MariaDB server, each on
// a fresh database.
func TestMySQL(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	runPortable(t, func(t testing.TB) *SQL {
		name, _ := srv.NewDatabase(t)
		return mustOpen(t)(OpenMySQL(context.Background(), srv.DSN(name)))
	})
}

// runPortable runs the portable tests with openTest opening stores with
// open.
func runPortable(t *testing.T, open func(testing.TB) *SQL) {
	defer func(old func(testing.TB) *SQL) { openTest = old }(openTest)
	openTest = open
	for _, tc := range portable {
		t.Run(tc.name, tc.test)
	}
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
	mustCreate(t, s, Resource{Type: "User", ID: "before", Unique: "before"})

	srv.Stop()
	err = s.Write(ctx, func(ctx context.Context, tx Tx) error {
		return tx.Create(ctx, &Resource{Type: "User", ID: "down", Unique: "down"})
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write while the server is down: %v, want ErrUnavailable", err)
	}
	if s.Health() == nil {
		t.Error("Health is nil while the server is down")
	}
	if _, err := s.Get(ctx, "User", "before"); err == nil {
		t.Error("read while the server is down succeeded")
	}

	srv.Start(t)
	mustCreate(t, s, Resource{Type: "User", ID: "after", Unique: "after"})
	if err := s.Health(); err != nil {
		t.Errorf("Health after a write: %v", err)
	}
	for id, want := range map[string]error{"before": nil, "after": nil, "down": ErrNotFound} {
		// Every reader reconnects: read more times than there are readers.
		for range 2 * cap(s.readers) {
			if _, err := s.Get(ctx, "User", id); !errors.Is(err, want) {
				t.Fatalf("Get %s after the restart: %v, want %v", id, err, want)
			}
		}
	}
}
