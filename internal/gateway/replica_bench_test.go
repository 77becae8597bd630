package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/targets/memory"
)

// Sizes of BenchmarkReplicas.
const (
	replicaUsers   = 3000 // users created per run (500 with -short)
	replicaClients = 16   // concurrent SCIM clients
)

// BenchmarkReplicas measures SCIM creates and their end-to-end delivery
// to a memory target through 1, 2 and 3 gateway replicas on one
// PostgreSQL and on one MariaDB database (throwaway servers on this
// machine), beside one gateway on SQLite, in the same run. Each run
// starts the replicas on a fresh database, waits until one holds the
// lease of the background work, then 16 clients, spread round-robin over
// the replicas, create 3,000 Entra-shaped users while the lease holder
// plans and delivers them (the engine polls every 50ms: it learns of
// other replicas' changes only by polling). Figures:
//   - creates/s: the SCIM requests answered per second; create-cpu-ms/op
//     and create-db-cpu-ms/op: CPU of this process (replicas and clients)
//     and of the database server per create meanwhile;
//   - e2e-users/s: users from the first request until the last user is
//     delivered; e2e-cpu-ms/op, e2e-db-cpu-ms/op: the CPU per user over
//     that time; db-cpu-%: the database server's share of all the CPU
//     used (this process and the server);
//   - writes/commit: the Writes per commit of the replicas' writers (group
//     commit), and conflicts/1k-writes: batches run again after a conflict
//     with another replica.
//
// Run it once: go test -run '^$' -bench Replicas -benchtime 1x ./internal/gateway
func BenchmarkReplicas(b *testing.B) {
	users := replicaUsers
	if testing.Short() {
		users = 500
	}
	pg, my := benchServers.Postgres(b), benchServers.MariaDB(b)
	b.Run("sqlite/replicas=1", func(b *testing.B) {
		for range b.N {
			replicaRun(b, nil, 1, users)
		}
	})
	for _, srv := range []*dbtest.Server{pg, my} {
		for n := 1; n <= 3; n++ {
			b.Run(fmt.Sprintf("%s/replicas=%d", srv.Dialect, n), func(b *testing.B) {
				for range b.N {
					replicaRun(b, srv, n, users)
				}
			})
		}
	}
}

// replicaRun runs n replicas on a fresh database of srv (nil: one gateway
// on SQLite), creates users through them and reports the figures of
// BenchmarkReplicas.
func replicaRun(b *testing.B, srv *dbtest.Server, n, users int) {
	b.StopTimer()
	var st config.Store
	if srv != nil {
		name, _ := srv.NewDatabase(b)
		st = storeOn(srv, name)
	}
	gws := make([]*Gateway, n)
	bases := make([]string, n)
	for i := range n {
		g, base, stop := benchGatewayOn(b, b.TempDir(), st, deliveryTarget)
		defer stop()
		gws[i], bases[i] = g, base
	}
	waitLeader(b, gws)
	stats0 := writerStats(gws)
	cpu0, db0 := cpuTime(), serverCPU(b, srv)
	b.StartTimer()
	start := time.Now()
	postUsersTo(b, bases, 0, users, replicaClients)
	scim := time.Since(start)
	cpu1, db1 := cpuTime(), serverCPU(b, srv)
	waitReplicasDelivered(b, gws, users)
	e2e := time.Since(start)
	cpu2, db2 := cpuTime(), serverCPU(b, srv)
	b.StopTimer()
	stats := writerStats(gws)

	perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(users) }
	b.ReportMetric(float64(users)/scim.Seconds(), "creates/s")
	b.ReportMetric(perOp(cpu1-cpu0), "create-cpu-ms/op")
	b.ReportMetric(perOp(db1-db0), "create-db-cpu-ms/op")
	b.ReportMetric(float64(users)/e2e.Seconds(), "e2e-users/s")
	b.ReportMetric(perOp(cpu2-cpu0), "e2e-cpu-ms/op")
	b.ReportMetric(perOp(db2-db0), "e2e-db-cpu-ms/op")
	b.ReportMetric(100*float64(db2-db0)/float64(db2-db0+cpu2-cpu0), "db-cpu-%")
	commits, writes := stats.Commits-stats0.Commits, stats.Writes-stats0.Writes
	b.ReportMetric(float64(writes)/float64(max(commits, 1)), "writes/commit")
	b.ReportMetric(1000*float64(stats.Conflicts-stats0.Conflicts)/float64(max(writes, 1)), "conflicts/1k-writes")
}

// waitLeader waits until one of the replicas runs the background work
// (on SQLite, the one gateway runs it from the start).
func waitLeader(b *testing.B, gws []*Gateway) {
	b.Helper()
	if !gws[0].shared() {
		return
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for {
		for _, g := range gws {
			if g.leading.Load() {
				return
			}
		}
		select {
		case <-tick.C:
		case <-timeout:
			b.Fatal("no replica took the lease of the background work in a minute")
		}
	}
}

// waitReplicasDelivered waits until nothing is left to plan or deliver,
// then checks that the replicas' memory targets hold n users in all (the
// lease holder's, unless the lease moved).
func waitReplicasDelivered(b *testing.B, gws []*Gateway, n int) {
	b.Helper()
	ctx := context.Background()
	// Not too often: the polls' queries load the database server too.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Minute)
	for {
		idle, detail := idleNow(ctx, gws[0])
		if idle {
			got := 0
			for _, g := range gws {
				got += len(g.conns["bench"].(*memory.Connector).Snapshot())
			}
			if got != n {
				b.Fatalf("%d users delivered, want %d", got, n)
			}
			st, err := gws[0].store.OutboxStats(ctx, "bench", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if st.Dead > 0 {
				b.Fatalf("%d dead letters", st.Dead)
			}
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			b.Fatalf("not delivered after 10 minutes: %s", detail)
		}
	}
}

// writerStats sums the replicas' store writer counts.
func writerStats(gws []*Gateway) sqlstore.WriterStats {
	var sum sqlstore.WriterStats
	for _, g := range gws {
		s := g.store.WriterStats()
		sum.Commits += s.Commits
		sum.Writes += s.Writes
		sum.Conflicts += s.Conflicts
	}
	return sum
}
