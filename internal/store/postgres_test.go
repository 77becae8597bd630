package store

import (
	"context"
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
	defer func(old func(testing.TB) *SQL) { openTest = old }(openTest)
	openTest = func(t testing.TB) *SQL {
		t.Helper()
		name, _ := srv.NewDatabase(t)
		s, err := OpenPostgres(context.Background(), srv.DSN(name))
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, tc := range portable {
		t.Run(tc.name, tc.test)
	}
}
