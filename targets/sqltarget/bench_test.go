package sqltarget_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
)

// BenchmarkCreate measures the connector alone: Creates of users with a
// mail (a user row and a child row, one transaction each) from 8
// goroutines, as the engine's 8 delivery workers call it, on MariaDB and
// PostgreSQL.
func BenchmarkCreate(b *testing.B) {
	for _, start := range []func(testing.TB) *dbtest.Server{dbtest.StartMariaDB, dbtest.StartPostgres} {
		srv := start(b)
		b.Run(srv.Dialect, func(b *testing.B) {
			db, _ := srv.NewDatabase(b)
			cfg := smallConfig(srv, db, false)
			cfg.Pool.MaxOpen = 8
			c := open(b, cfg)
			var n atomic.Int64
			b.SetParallelism(4) // 2 cores x 4 = 8 goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					name := fmt.Sprintf("bench%07d@contoso.com", i)
					_, err := c.Create(context.Background(), targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: targets.User,
						Attrs: map[string]any{"userName": name, "displayName": "Given Family", "mail": []string{name}}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}
