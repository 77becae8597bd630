package ldaptarget

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// BenchmarkCreate creates users through the connector from 8 goroutines
// over its pool of 8 connections (Add, then a read of entryUUID; with an
// object id attribute, a search for it first).
func BenchmarkCreate(b *testing.B) {
	for _, objectID := range []bool{false, true} {
		b.Run(fmt.Sprintf("object_id=%v", objectID), func(b *testing.B) {
			s := ldaptest.Start(b)
			cfg := testConfig(b, s)
			cfg.PoolSize = 8
			if !objectID {
				cfg.Users.ObjectIDAttribute = ""
			}
			c := open(b, cfg)
			var n atomic.Int64
			b.SetParallelism(4) // 2 cores x 4 = 8 goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					name := fmt.Sprintf("bench%d@contoso.com", i)
					op := newOp(targets.User, map[string]any{"uid": name, "cn": name, "sn": "F", "displayName": name, "givenName": "G", "mail": name, "userPassword": "Aa1!aaaaaaaaaaaa"})
					if _, err := c.Create(b.Context(), op); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}
