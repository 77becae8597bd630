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

// BenchmarkMembers20k adds 20,000 members to a group in one call, then
// removes them in one call (the users are created first, not timed).
func BenchmarkMembers20k(b *testing.B) {
	const n = 20000
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		c, err := jsonl.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		members := make([]string, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
					s := strconv.FormatInt(i, 10)
					a, err := c.Create(ctx, targets.Op{ID: s, ObjectID: s, Kind: targets.User, Attrs: map[string]any{"userName": "u" + s}})
					if err != nil {
						b.Error(err)
						return
					}
					members[i] = a
				}
			})
		}
		wg.Wait()
		g, err := c.Create(ctx, targets.Op{ID: "g", ObjectID: "g", Kind: targets.Group, Attrs: map[string]any{"displayName": "G"}})
		if err != nil {
			b.Fatal(err)
		}
		op := targets.Op{ID: "add", ObjectID: "g", Kind: targets.Group, Anchor: g, Members: members}
		b.StartTimer()
		if err := c.AddMembers(ctx, op); err != nil {
			b.Fatal(err)
		}
		op.ID = "remove"
		if err := c.RemoveMembers(ctx, op); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "members/s")
}
