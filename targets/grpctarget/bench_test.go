package grpctarget_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

// nop is a connector whose Update does nothing: the benchmarks measure
// the protocol, not a target.
type nop struct{ *memory.Connector }

func (nop) Update(ctx context.Context, op targets.Op) error { return ctx.Err() }

// BenchmarkProtocol measures operations over one connection: an Update
// with three attributes sent by the grpc target to an SDK connector and
// answered, over a real loopback socket. "parallel" keeps the target's
// window full (the engine with a high concurrency); "serial" is one call at
// a time, its ns/op the round-trip latency.
func BenchmarkProtocol(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel int // goroutines per GOMAXPROCS; 0: serial
		window   int
	}{
		{"serial", 0, 64},
		{"parallel-window64", 64, 64},
		{"parallel-window256", 128, 256},
	} {
		b.Run(bc.name, func(b *testing.B) {
			gw := openGateway(b, func(c *grpctarget.Config, _ *targets.Env) { c.Window = bc.window })
			startSDK(b, gw, nop{memory.New(memory.Config{})}, func(o *sdk.Options) { o.Window = bc.window })
			waitInstances(b, gw, 1)
			var n atomic.Int64
			op := func() targets.Op {
				i := strconv.FormatInt(n.Add(1), 10)
				return targets.Op{ID: "op-" + i, ObjectID: "obj-" + i, Kind: targets.User, Anchor: "user-" + i,
					Attrs: map[string]any{"userName": "u" + i + "@example.com", "displayName": "User " + i, "active": true}}
			}
			ctx := context.Background()
			b.ResetTimer()
			if bc.parallel == 0 {
				for b.Loop() {
					if err := gw.Update(ctx, op()); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(bc.parallel)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := gw.Update(ctx, op()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
