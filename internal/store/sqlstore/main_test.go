package sqlstore

import (
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
)

// servers are the PostgreSQL and MariaDB servers of the benchmarks
// (benchBackends): each started by the first benchmark that needs it,
// stopped once every test and benchmark has run. Tests alone start none.
var servers dbtest.Shared

func TestMain(m *testing.M) {
	defer servers.Close()
	m.Run()
}
