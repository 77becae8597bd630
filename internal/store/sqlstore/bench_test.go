package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// benchUser is a typical user: 8 index entries, ~300 bytes of JSON.
func benchUser(i int) store.Resource {
	name := fmt.Sprintf("user%07d@example.com", i)
	return store.Resource{
		Type:   "User",
		ID:     fmt.Sprintf("%08x-2c4e-4b7a-9d61-%012x", i, i),
		Unique: name,
		Data: fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,`+
			`"name":{"givenName":"Given%d","familyName":"Family%d"},"emails":[{"value":%q,"type":"work","primary":true}],`+
			`"active":true,"externalId":"ext-%d"}`, name, i, i, name, i),
		Index: []store.IndexEntry{
			{Path: "username", Str: name},
			{Path: "externalid", Str: fmt.Sprintf("ext-%d", i)},
			{Path: "name.givenname", Str: fmt.Sprintf("given%d", i)},
			{Path: "name.familyname", Str: fmt.Sprintf("family%d", i)},
			{Path: "active", Str: "true"},
			{Path: "emails.value", Str: name},
			{Path: "emails.type", Str: "work"},
			{Path: "emails.primary", Str: "true"},
		},
	}
}

// benchBackends are the databases the benchmarks run on, each as a
// sub-benchmark store=NAME, SQLite first (the baseline of the same run):
// open returns a fresh store, closed at cleanup; on PostgreSQL and
// MariaDB, on a fresh database of the server the benchmarks share.
var benchBackends = []struct {
	name string
	open func(testing.TB) *SQL
}{
	{"sqlite", openSQLiteTest},
	{"postgres", func(tb testing.TB) *SQL {
		srv := servers.Postgres(tb)
		name, _ := srv.NewDatabase(tb)
		return mustOpen(tb)(OpenPostgres(context.Background(), srv.DSN(name)))
	}},
	{"mysql", func(tb testing.TB) *SQL {
		srv := servers.MariaDB(tb)
		name, _ := srv.NewDatabase(tb)
		return mustOpen(tb)(OpenMySQL(context.Background(), srv.DSN(name)))
	}},
}

// onBackends runs bench as the sub-benchmark store=NAME of each of
// benchBackends, with the function that opens a store there.
func onBackends(b *testing.B, bench func(b *testing.B, open func(testing.TB) *SQL)) {
	for _, be := range benchBackends {
		b.Run("store="+be.name, func(b *testing.B) { bench(b, be.open) })
	}
}

// BenchmarkCreateParallel: concurrent writers, one create per Write, as
// the SCIM layer issues them. Throughput depends on how many writes share
// each commit (and fsync), hence the writer counts.
func BenchmarkCreateParallel(b *testing.B) {
	onBackends(b, benchCreateParallel)
}

func benchCreateParallel(b *testing.B, open func(testing.TB) *SQL) {
	for _, writers := range []int{16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					ctx := context.Background()
					for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
						r := benchUser(i)
						if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) }); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// seed creates n benchmark users, 1000 per Write.
func seed(b *testing.B, s store.Store, n int) {
	b.Helper()
	for start := 0; start < n; start += 1000 {
		err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
			for i := start; i < min(n, start+1000); i++ {
				r := benchUser(i)
				if err := tx.Create(ctx, &r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryEq: userName eq lookups; the cost must not grow with the
// number of resources. b.Loop runs each sub-benchmark's body once: the
// store is seeded once.
func BenchmarkQueryEq(b *testing.B) {
	onBackends(b, benchQueryEq)
}

func benchQueryEq(b *testing.B, open func(testing.TB) *SQL) {
	for _, size := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("resources=%d", size), func(b *testing.B) {
			s := open(b)
			seed(b, s, size)
			r := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			for b.Loop() {
				want := benchUser(r.IntN(size))
				p, err := s.Query(ctx, "User", store.Query{Filter: eq("username", want.Unique), Count: 10})
				if err != nil || p.Total != 1 || p.Resources[0].ID != want.ID {
					b.Fatalf("Query = %v, %v", pageIDs(p), err)
				}
			}
		})
	}
}

// BenchmarkGet: Get by id among 10,000 resources.
func BenchmarkGet(b *testing.B) {
	onBackends(b, benchGet)
}

func benchGet(b *testing.B, open func(testing.TB) *SQL) {
	const size = 10_000
	s := open(b)
	seed(b, s, size)
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for b.Loop() {
		want := benchUser(r.IntN(size))
		if got, err := s.Get(ctx, "User", want.ID); err != nil || got.Unique != want.Unique {
			b.Fatalf("Get = %+v, %v", got, err)
		}
	}
}
