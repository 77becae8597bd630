package gateway

import (
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
)

// benchServers are the PostgreSQL and MariaDB servers that the
// benchmarks' gateways store their state in (benchStores,
// BenchmarkReplicas): each started by the first benchmark that needs it,
// stopped once every test and benchmark has run. Tests alone start none.
var benchServers dbtest.Shared

func TestMain(m *testing.M) {
	defer benchServers.Close()
	m.Run()
}
