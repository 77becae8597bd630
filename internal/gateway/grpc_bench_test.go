package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/examples/jsonl-connector/jsonl"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

// benchMemoryTarget is the in-memory counterpart of grpcJSONLTarget: the
// same scope and mapping.
const benchMemoryTarget = `
- name: mem
  type: memory
` + everyObjectPolicy

// BenchmarkGRPCEndToEnd measures the delivery of 10,000 SCIM users, in one
// run, to: the in-memory connector inside the gateway ("mem"); the same
// memory connector behind the protocol, served with the SDK over one gRPC
// connection on loopback ("grpcmem": the protocol's own cost); and the
// example connector, a separate process writing users.jsonl durably before
// each answer ("jsonl"). For each, the users are created through SCIM with
// the engine stopped; then the engine starts and the clock runs until every
// operation is planned and delivered. ops/s is users per second of that;
// µs/op is the time one operation spends in flight (Little's law:
// concurrency / throughput), and added-µs/op what gRPC adds to the memory
// connector's. Run it with -benchtime 1x.
func BenchmarkGRPCEndToEnd(b *testing.B) {
	const users = 10000
	for _, concurrency := range []int{4, 64} {
		b.Run(fmt.Sprint("concurrency-", concurrency), func(b *testing.B) {
			var mem, grpcMem, jsonlProc time.Duration
			for range b.N {
				mem += benchDeliver(b, benchMemoryTarget, users, concurrency, false)
				grpcMem += benchDeliver(b, grpcJSONLTarget, users, concurrency, true)
				jsonlProc += benchDeliver(b, grpcJSONLTarget, users, concurrency, false)
			}
			n := float64(b.N * users)
			lat := func(d time.Duration) float64 { return float64(concurrency) * d.Seconds() / n * 1e6 }
			b.ReportMetric(n/mem.Seconds(), "mem-ops/s")
			b.ReportMetric(n/grpcMem.Seconds(), "grpcmem-ops/s")
			b.ReportMetric(n/jsonlProc.Seconds(), "jsonl-ops/s")
			b.ReportMetric(lat(mem), "mem-µs/op")
			b.ReportMetric(lat(grpcMem), "grpcmem-µs/op")
			b.ReportMetric(lat(jsonlProc), "jsonl-µs/op")
			b.ReportMetric(lat(grpcMem)-lat(mem), "added-µs/op")
		})
	}
}

// benchDeliver runs a gateway with the target of targetYAML (with %q for
// a token file when it is the grpc target, served by a memory connector
// with the SDK in this process when viaSDK, by the example connector
// otherwise), creates users through SCIM with the engine stopped, and
// returns how long the engine takes to deliver them.
func benchDeliver(b *testing.B, targetYAML string, users, concurrency int, viaSDK bool) time.Duration {
	b.StopTimer()
	dir := b.TempDir()
	tokenFile := filepath.Join(dir, "connector-token")
	if err := os.WriteFile(tokenFile, []byte("bench-connector-token\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.Tokens = []config.Secret{testToken}
	if targetYAML == grpcJSONLTarget {
		targetYAML = fmt.Sprintf(targetYAML, tokenFile)
	}
	if err := yaml.Unmarshal([]byte(targetYAML), &cfg.Targets); err != nil {
		b.Fatal(err)
	}
	name := cfg.Targets[0].Name
	g, err := newGateway(context.Background(), cfg, nil, slog.New(slog.DiscardHandler), func(o *engine.Options) {
		o.Poll = 20 * time.Millisecond
		o.Concurrency = concurrency
	})
	if err != nil {
		b.Fatal(err)
	}
	// The HTTP server without the engine (Serve would start both).
	go g.srv.Serve(g.ln)
	b.Cleanup(func() {
		g.srv.Close()
		g.Close()
	})
	var (
		files  string            // the example connector's directory
		served *memory.Connector // the memory connector behind the SDK
	)
	if gt, ok := g.conns[name].(*grpctarget.Connector); ok {
		if viaSDK {
			served = memory.New(memory.Config{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = sdk.Run(ctx, served, sdk.Options{Address: gt.Addr(), Name: name, Token: "bench-connector-token", Logger: slog.New(slog.DiscardHandler)})
			}()
			b.Cleanup(func() { cancel(); <-done })
		} else {
			files = filepath.Join(dir, "jsonl")
			gg := &grpcGateway{g: g, target: gt}
			gg.startConnector(b, name, tokenFile, files)
		}
		for len(gt.Instances()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	postUsers(b, g.BaseURL(), 0, users, 16)

	b.StartTimer()
	start := time.Now()
	g.engine.Start(context.Background())
	ctx := context.Background()
	for {
		ch, err := g.store.Changes(ctx, 0, 1)
		if err != nil {
			b.Fatal(err)
		}
		ob, err := g.store.Outbox(ctx, name, false, 1)
		if err != nil {
			b.Fatal(err)
		}
		if len(ch) == 0 && len(ob) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	delivered := 0
	switch {
	case served != nil:
		delivered = len(served.Snapshot())
	case files != "":
		recs, err := jsonl.ReadFile(filepath.Join(files, jsonl.Files[targets.User]))
		if err != nil {
			b.Fatal(err)
		}
		delivered = len(recs)
	default:
		delivered = len(g.conns[name].(*memory.Connector).Snapshot())
	}
	if dead, _ := g.store.Outbox(ctx, name, true, 10); delivered != users || len(dead) > 0 {
		b.Fatalf("%s: %d users delivered, %d dead letters; want %d and none", name, delivered, len(dead), users)
	}
	return elapsed
}
