package gateway

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// reconcileBenchTarget is deliveryTarget with matching on userName.
const reconcileBenchTarget = `
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
    matching: [userName]
`

// BenchmarkReconcileMemory reconciles 100,000 accounts (10,000 with
// -short) of a memory target: the users are created through SCIM and
// delivered, then 1% are edited in the target, 0.5% deleted and 1% added
// (orphans, reported); a dry run, then a run, read every account. It
// reports accounts/s of each, the process's peak live heap (as the garbage
// collections find it) and RSS while they run, and both before (the
// connector holds the accounts in the same process: the reconciliation's
// own memory is the difference).
// Run it once: go test -run '^$' -bench ReconcileMemory -benchtime 1x -timeout 60m ./internal/gateway
func BenchmarkReconcileMemory(b *testing.B) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for range b.N {
		b.StopTimer()
		g, base, stop := benchGateway(b, b.TempDir(), reconcileBenchTarget)
		postUsers(b, base, 0, n, deliveryClients)
		conn := g.conns["bench"].(*memory.Connector)
		waitDelivered(b, g, conn, n)
		ctx := context.Background()
		edited, deleted, added := 0, 0, 0
		for i, o := range conn.Snapshot() {
			op := targets.Op{ID: "by hand", ObjectID: o.ObjectID, Kind: o.Kind, Anchor: o.Anchor}
			switch {
			case i%100 == 0:
				op.Attrs = map[string]any{"department": "Nowhere"}
				if err := conn.Update(ctx, op); err != nil {
					b.Fatal(err)
				}
				edited++
			case i%200 == 1:
				if err := conn.Delete(ctx, op); err != nil {
					b.Fatal(err)
				}
				deleted++
			}
		}
		conn.ResetCalls() // the record of the creates: not the reconciliation's memory
		for i := range n / 100 {
			if _, err := conn.Seed(targets.Object{Kind: targets.User, Attrs: map[string]any{"userName": fmt.Sprintf("local%06d@contoso.com", i)}}); err != nil {
				b.Fatal(err)
			}
			added++
		}
		b.StartTimer()
		reconcileBench(b, g, "bench", n-deleted+added, edited, deleted, added)
		b.StopTimer()
		stop()
	}
}

// BenchmarkReconcileSQL reconciles 50,000 rows (5,000 with -short) of a
// MariaDB table, the shipped example app's (examples/sql-mariadb.yaml):
// the users are created through SCIM and delivered, then 1% of the rows
// are edited by hand, 0.5% deleted and 1% added (orphans, reported); a
// dry run, then a run, read every row. Reported as for
// BenchmarkReconcileMemory (the database server is another process).
// Run it once: go test -run '^$' -bench ReconcileSQL -benchtime 1x -timeout 60m ./internal/gateway
func BenchmarkReconcileSQL(b *testing.B) {
	n := 50000
	if testing.Short() {
		n = 5000
	}
	srv := dbtest.StartMariaDB(b)
	for range b.N {
		b.StopTimer()
		sg := startSQLGateway(b, srv, 8, func(o *engine.Options) { o.Concurrency = 8 })
		postUsers(b, sg.g.BaseURL(), 0, n, deliveryClients)
		ctx := context.Background()
		deadline := time.Now().Add(30 * time.Minute)
		for {
			var rows int
			if err := sg.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM app_users").Scan(&rows); err != nil {
				b.Fatal(err)
			}
			if done, _ := idleNow(ctx, sg.g); done && rows == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d users delivered after 30 minutes", rows, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		edited, deleted, added := n/100, n/200, n/100
		for _, stmt := range []string{
			fmt.Sprintf("UPDATE app_users SET department = 'Nowhere' WHERE login LIKE '%%0@contoso.com' AND login LIKE '%%00@contoso.com' LIMIT %d", edited),
			fmt.Sprintf("DELETE FROM app_users WHERE login LIKE '%%1@contoso.com' LIMIT %d", deleted),
			"DELETE FROM app_user_mails WHERE user_id NOT IN (SELECT id FROM app_users)",
		} {
			if _, err := sg.db.ExecContext(ctx, stmt); err != nil {
				b.Fatalf("%s: %v", stmt, err)
			}
		}
		for i := range added {
			if _, err := sg.db.ExecContext(ctx, "INSERT INTO app_users (id, login, status) VALUES (?, ?, 'active')",
				fmt.Sprintf("local-%06d", i), fmt.Sprintf("local%06d@contoso.com", i)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		reconcileBench(b, sg.g, "app", n-deleted+added, edited, deleted, added)
		b.StopTimer()
	}
}

// reconcileBench runs a dry run, then a run, of target, checks their
// counts and reports their rates and the memory they use.
func reconcileBench(b *testing.B, g *Gateway, target string, accounts, edited, deleted, added int) {
	b.Helper()
	ctx := context.Background()
	runtime.GC()
	heapBefore, rssBefore := liveHeap(), rss()
	for _, dry := range []bool{true, false} {
		peak := sampleMemory()
		start := time.Now()
		rep, err := g.engine.Reconcile(ctx, target, dry, nil)
		elapsed := time.Since(start)
		heap, rssPeak := peak()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Read != accounts || rep.Counts[engine.OutcomeDrift] != edited || rep.Counts[engine.OutcomeMissing] != deleted ||
			rep.Counts[engine.OutcomeOrphan] != added {
			b.Fatalf("read %d, counts %v; want %d read, %d drift, %d missing, %d orphans", rep.Read, rep.Counts, accounts, edited, deleted, added)
		}
		what := "run"
		if dry {
			what = "dry-run"
		}
		b.ReportMetric(float64(rep.Read)/elapsed.Seconds(), what+"-accounts/s")
		b.ReportMetric(float64(heap)/(1<<20), what+"-live-heap-peak-MiB")
		b.ReportMetric(float64(rssPeak)/(1<<20), what+"-rss-peak-MiB")
	}
	b.ReportMetric(float64(heapBefore)/(1<<20), "live-heap-before-MiB")
	b.ReportMetric(float64(rssBefore)/(1<<20), "rss-before-MiB")
}

// liveHeap is the heap that the last garbage collection found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleMemory samples the live heap (as of the last collection) and the
// RSS every 50 ms until the returned function is called, which returns
// their peaks.
func sampleMemory() func() (heap, rss uint64) {
	var mu sync.Mutex
	var heap, peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		h, r := liveHeap(), rss()
		mu.Lock()
		heap, peak = max(heap, h), max(peak, r)
		mu.Unlock()
	}
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return heap, peak
	}
}

// rss is the resident set size of this process (VmRSS), 0 when unknown.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
