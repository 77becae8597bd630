package gateway

import (
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
)

// benchStore is a store that the gateway benchmarks run on.
type benchStore struct {
	name   string                          // of the sub-benchmark store=NAME
	server func(testing.TB) *dbtest.Server // the shared server; nil: SQLite
}

// benchStores are the stores of the gateway benchmarks whose cost is the
// store's, SQLite first: the baseline of the same run.
var benchStores = []benchStore{
	{"sqlite", nil},
	{"postgres", benchServers.Postgres},
	{"mysql", benchServers.MariaDB},
}

// onStores runs bench as the sub-benchmark store=NAME of each of
// benchStores.
func onStores(b *testing.B, bench func(b *testing.B, bs benchStore)) {
	for _, bs := range benchStores {
		b.Run("store="+bs.name, func(b *testing.B) { bench(b, bs) })
	}
}

// open returns the configuration of a store for one run, and its server:
// a fresh database on the shared server, dropped at tb's cleanup, or
// config.Store{} (SQLite in the gateway's data directory) and nil.
func (bs benchStore) open(tb testing.TB) (config.Store, *dbtest.Server) {
	tb.Helper()
	if bs.server == nil {
		return config.Store{}, nil
	}
	srv := bs.server(tb)
	name, _ := srv.NewDatabase(tb)
	return storeOn(srv, name), srv
}

// storeOn is the configuration of a store on the database name of srv.
func storeOn(srv *dbtest.Server, name string) config.Store {
	return config.Store{
		Type: map[string]string{dbtest.Postgres: config.StorePostgres, dbtest.MySQL: config.StoreMySQL}[srv.Dialect],
		DSN:  config.Secret(srv.DSN(name)),
	}
}

// startGatewayOn serves a gateway without targets on st (config.Store{}:
// SQLite) until tb ends and returns its SCIM base URL.
func startGatewayOn(tb testing.TB, st config.Store) string {
	tb.Helper()
	return startGatewayWith(tb, func(c *config.Config) {
		if st.Type != "" {
			c.Store.Type, c.Store.DSN = st.Type, st.DSN
		}
	})
}

// serverCPU returns the CPU time that srv has used so far, 0 with no
// server (SQLite: the store's CPU is this process's).
func serverCPU(tb testing.TB, srv *dbtest.Server) time.Duration {
	tb.Helper()
	if srv == nil {
		return 0
	}
	d, err := srv.CPUTime()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// reportCPU reports the CPU per op between two readings, of this process
// (cpu-ms/op: the gateway and its clients) and of the database server
// (db-cpu-ms/op; not with no server).
func reportCPU(b *testing.B, srv *dbtest.Server, ops int, cpu, db time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(ops), "cpu-ms/op")
	if srv != nil {
		b.ReportMetric(float64(db.Microseconds())/1000/float64(ops), "db-cpu-ms/op")
	}
}
