package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/targets/memory"
)

// deliveryTarget is a memory target that receives every user with a
// typical mapping.
const deliveryTarget = `
- name: bench
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: mail, source: 'emails[type eq "work"].value'}
      - {target: displayName, expression: 'Join(" ", user.name.givenName, user.name.familyName)'}
      - {target: department, source: department}
      - {target: active, source: active}
`

// Sizes of BenchmarkEngineDelivery.
const (
	deliveryBacklog = 10000 // users queued before the engine starts (1,000 with -short)
	deliverySteady  = 5000  // users created while the engine delivers (500 with -short)
	deliveryClients = 8     // concurrent SCIM clients
)

// BenchmarkEngineDelivery measures the engine's delivery to the in-memory
// connector, whose own cost is negligible, so the figures are the
// gateway's and its store's, on each of benchStores (store=NAME):
//   - backlog: 10,000 users are stored with no target configured; a gateway
//     with the target then starts and plans and delivers them all.
//     ops/s, and CPU time of the whole process per operation (cpu-ms/op:
//     planning, policy, the durable outbox writes, delivery bookkeeping)
//     and, on a database server, the server's (db-cpu-ms/op).
//   - steady: 8 SCIM clients create 5,000 more users while the engine
//     delivers; users/s from the first request to the last delivery, and
//     the lag from queueing to delivery (mean and 99th percentile bucket).
//
// Run it once: go test -run '^$' -bench EngineDelivery -benchtime 1x ./internal/gateway
func BenchmarkEngineDelivery(b *testing.B) {
	backlog, steady := deliveryBacklog, deliverySteady
	if testing.Short() {
		backlog, steady = 1000, 500
	}
	onStores(b, func(b *testing.B, bs benchStore) {
		for range b.N {
			engineDelivery(b, bs, backlog, steady)
		}
	})
}

// engineDelivery runs BenchmarkEngineDelivery once on a fresh store.
func engineDelivery(b *testing.B, bs benchStore, backlog, steady int) {
	dir := b.TempDir()
	st, srv := bs.open(b)
	// Phase 0: the backlog, stored by a gateway without targets.
	func() {
		_, base, stop := benchGatewayOn(b, dir, st, "")
		defer stop()
		postUsers(b, base, 0, backlog, deliveryClients)
	}()

	// Phase 1: a gateway with the target drains it.
	start := time.Now()
	cpu0, db0 := cpuTime(), serverCPU(b, srv)
	g, base, stop := benchGatewayOn(b, dir, st, deliveryTarget)
	defer stop()
	conn := g.conns["bench"].(*memory.Connector)
	waitDelivered(b, g, conn, backlog)
	drain := time.Since(start)
	b.ReportMetric(float64(backlog)/drain.Seconds(), "backlog-ops/s")
	reportCPU(b, srv, backlog, cpuTime()-cpu0, serverCPU(b, srv)-db0)

	// Phase 2: steady SCIM traffic while the engine delivers.
	before := lagHistogram(b, g)
	start = time.Now()
	postUsers(b, base, backlog, steady, deliveryClients)
	scim := time.Since(start)
	waitDelivered(b, g, conn, backlog+steady)
	total := time.Since(start)
	b.ReportMetric(float64(steady)/scim.Seconds(), "scim-creates/s")
	b.ReportMetric(float64(steady)/total.Seconds(), "delivered-users/s")
	mean, p99 := lagSince(before, lagHistogram(b, g))
	b.ReportMetric(mean*1000, "lag-mean-ms")
	b.ReportMetric(p99*1000, "lag-p99-ms")
}

// benchGateway serves a gateway on dir with the given targets until the
// returned function stops it.
func benchGateway(b testing.TB, dir, targetsYAML string) (*Gateway, string, func()) {
	b.Helper()
	return benchGatewayOn(b, dir, config.Store{}, targetsYAML)
}

// benchGatewayOn is benchGateway on the store st (config.Store{}: SQLite in
// dir).
func benchGatewayOn(b testing.TB, dir string, st config.Store, targetsYAML string) (*Gateway, string, func()) {
	b.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	if st.Type != "" {
		st.LeaseTTL = cfg.Store.LeaseTTL
		cfg.Store = st
	}
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Engine.Concurrency = 16
	if err := yaml.Unmarshal([]byte(targetsYAML), &cfg.Targets); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, cfg, nil, slog.New(slog.DiscardHandler), func(o *engine.Options) { o.Poll = 50 * time.Millisecond })
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	return g, g.BaseURL(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

// postUsers creates n Entra-style users numbered from first through SCIM
// with clients concurrent clients, and returns the requests answered per
// second. Every user has a displayName, name, work email and the Sales
// department, so that every benchmark target's mapping and scope hold.
func postUsers(tb testing.TB, base string, first, n, clients int) float64 {
	tb.Helper()
	return postUsersTo(tb, []string{base}, first, n, clients)
}

// postUsersTo is postUsers to several gateways (replicas): the clients
// are spread over them round-robin, each client sending all its requests
// to one (as a load balancer does with kept-alive connections).
func postUsersTo(tb testing.TB, bases []string, first, n, clients int) float64 {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		base := bases[c%len(bases)]
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(first+n) {
					return
				}
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","%[2]s"],"userName":"u%06[1]d@contoso.com","externalId":"e%[1]d","active":true,"displayName":"User %[1]d","name":{"givenName":"Given%[1]d","familyName":"Family"},"emails":[{"type":"work","primary":true,"value":"u%06[1]d@contoso.com"}],"%[2]s":{"department":"Sales"}}`, i, enterprise)
				req, _ := http.NewRequest("POST", base+"/Users", bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := client.Do(req)
				if err != nil {
					tb.Error(err)
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					tb.Errorf("POST %s/Users: status %d: %s", base, resp.StatusCode, out)
					return
				}
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return float64(n) / time.Since(start).Seconds()
}

// waitDelivered waits until nothing is left to plan or deliver, then
// checks that the connector holds n users.
func waitDelivered(b *testing.B, g *Gateway, conn *memory.Connector, n int) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		ch, err := g.store.Changes(ctx, 0, 1)
		if err != nil {
			b.Fatal(err)
		}
		st, err := g.store.OutboxStats(ctx, "bench", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if len(ch) == 0 && st.Pending == 0 {
			if st.Dead > 0 {
				b.Fatalf("%d dead letters", st.Dead)
			}
			if got := len(conn.Snapshot()); got != n {
				b.Fatalf("%d users delivered, want %d", got, n)
			}
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out: %d operations pending", st.Pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lagHistogram returns the delivery lag histogram of the gateway.
func lagHistogram(b *testing.B, g *Gateway) *dto.Histogram {
	b.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "scimgate_engine_delivery_lag_seconds" {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	b.Fatal("no delivery lag histogram")
	return nil
}

// lagSince returns the mean of the observations between two snapshots of
// the lag histogram, and the upper bound of the bucket that holds their
// 99th percentile.
func lagSince(before, after *dto.Histogram) (mean, p99 float64) {
	n := after.GetSampleCount() - before.GetSampleCount()
	if n == 0 {
		return 0, 0
	}
	mean = (after.GetSampleSum() - before.GetSampleSum()) / float64(n)
	want := uint64(0.99 * float64(n))
	for i, bk := range after.GetBucket() {
		if bk.GetCumulativeCount()-before.GetBucket()[i].GetCumulativeCount() >= want {
			return mean, bk.GetUpperBound()
		}
	}
	return mean, after.GetBucket()[len(after.GetBucket())-1].GetUpperBound()
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
