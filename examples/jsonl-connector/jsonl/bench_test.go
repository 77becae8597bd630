package jsonl_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/examples/jsonl-connector/jsonl"
	"github.com/scimgate/scimgate/targets"
)

// BenchmarkCreate10k creates 10,000 users with 64 concurrent callers, as
// the engine with a concurrency of 64 does: each durable before it
// returns, concurrent ones sharing a write.
func BenchmarkCreate10k(b *testing.B) {
	for b.Loop() {
		c, err := jsonl.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := n.Add(1); i <= 10000; i = n.Add(1) {
					s := strconv.FormatInt(i, 10)
					if _, err := c.Create(context.Background(), targets.Op{ID: s, ObjectID: s, Kind: targets.User,
						Attrs: map[string]any{"userName": "u" + s + "@example.com", "displayName": "User " + s, "active": true}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "creates/s")
}
