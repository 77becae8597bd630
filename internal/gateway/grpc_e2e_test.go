package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/examples/jsonl-connector/jsonl"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
)

// everyObjectPolicy is the policy of the gRPC tests' targets: every user
// and group, deleted at once when deleted in SCIM.
const everyObjectPolicy = `  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: displayName, source: displayName}
      - {target: active, source: active}
  groups:
    scope: {all: true}
    mapping:
      - {target: displayName, source: displayName}
  lifecycle:
    deleteGracePeriod: 0s
`

// grpcJSONLTarget is a grpc target served by the example connector, with
// everyObjectPolicy.
const grpcJSONLTarget = `
- name: jsonl
  type: grpc
  config:
    listen: 127.0.0.1:0
    token_file: %q
    keepalive: 1s
` + everyObjectPolicy

// grpcLog is a log sink safe for concurrent writers.
type grpcLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *grpcLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *grpcLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.ReplaceAll(l.b.String(), `\"`, `"`)
}

// grpcGateway is a running gateway with the jsonl grpc target.
type grpcGateway struct {
	g         *Gateway
	c         client
	target    *grpctarget.Connector
	tokenFile string
	log       *grpcLog
}

var (
	exampleOnce sync.Once
	exampleBin  string
	exampleErr  error
)

// exampleConnector builds the example connector once per test binary.
func exampleConnector(tb testing.TB) string {
	tb.Helper()
	exampleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jsonl-connector")
		if err != nil {
			exampleErr = err
			return
		}
		exampleBin = filepath.Join(dir, "jsonl-connector")
		out, err := exec.Command("go", "build", "-o", exampleBin, "github.com/scimgate/scimgate/examples/jsonl-connector").CombinedOutput()
		if err != nil {
			exampleErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if exampleErr != nil {
		tb.Fatalf("building the example connector: %v", exampleErr)
	}
	return exampleBin
}

// startGRPCGateway runs a gateway with the jsonl grpc target and short
// engine timings; concurrency is the engine's delivery concurrency.
func startGRPCGateway(tb testing.TB, concurrency int) *grpcGateway {
	tb.Helper()
	dir := tb.TempDir()
	tokenFile := filepath.Join(dir, "connector-token")
	if err := os.WriteFile(tokenFile, []byte("e2e-connector-token\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.SCIM.MaxResults = 1000
	if err := yaml.Unmarshal(fmt.Appendf(nil, grpcJSONLTarget, tokenFile), &cfg.Targets); err != nil {
		tb.Fatal(err)
	}
	lb := &grpcLog{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, cfg, nil, slog.New(slog.NewTextHandler(lb, nil)), func(o *engine.Options) {
		o.Poll = 50 * time.Millisecond
		o.BackoffBase = 5 * time.Millisecond
		o.BackoffMax = 100 * time.Millisecond
		o.MaxAttempts = 100000
		o.Concurrency = concurrency
	})
	if err != nil {
		cancel()
		tb.Fatalf("gateway: %v", err)
	}
	t, _ := tb.(*testing.T)
	serveUntilCleanup(tb, ctx, cancel, g)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("gateway log:\n%s", lb.String())
		}
	})
	return &grpcGateway{g: g, c: client{t: t, base: g.BaseURL()}, target: g.conns["jsonl"].(*grpctarget.Connector), tokenFile: tokenFile, log: lb}
}

// connectorProc is the example connector running as a process.
type connectorProc struct {
	cmd  *exec.Cmd
	log  *grpcLog
	done chan struct{}
	err  error
}

// startConnector starts the example connector for gg's target, with the
// name and token file given, keeping its files in dir.
func (gg *grpcGateway) startConnector(tb testing.TB, name, tokenFile, dir string) *connectorProc {
	tb.Helper()
	cmd := exec.Command(exampleConnector(tb), "--gateway", gg.target.Addr(), "--name", name, "--token-file", tokenFile, "--dir", dir)
	p := &connectorProc{cmd: cmd, log: &grpcLog{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.kill(tb)
		if tb.Failed() {
			tb.Logf("connector log:\n%s", p.log.String())
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *connectorProc) kill(tb testing.TB) {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		tb.Errorf("the connector process did not end after SIGKILL")
	}
}

// pending returns the number of pending and dead outbox operations.
func (gg *grpcGateway) pending(tb testing.TB) (pending, dead int) {
	ctx := context.Background()
	p, err := gg.g.store.Outbox(ctx, "jsonl", false, 100000)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := gg.g.store.Outbox(ctx, "jsonl", true, 100000)
	if err != nil {
		tb.Fatal(err)
	}
	return len(p), len(d)
}

// registered waits until a connector instance not in seen is registered,
// and adds it to seen.
func (gg *grpcGateway) registered(t *testing.T, seen map[string]bool) {
	t.Helper()
	waitFor(t, "a new connector instance to register", func() (bool, string) {
		in := gg.target.Instances()
		for _, i := range in {
			if !seen[i.ID] {
				seen[i.ID] = true
				return true, ""
			}
		}
		return false, fmt.Sprintf("registered: %+v", in)
	})
}

// idle waits until every change is planned and delivered.
func (gg *grpcGateway) idle(t *testing.T) {
	t.Helper()
	waitFor(t, "the engine to deliver everything", func() (bool, string) { return idleNow(t.Context(), gg.g) })
}

// readJSONL reads the example connector's records of a kind, by object id,
// failing on a duplicate.
func readJSONL(t *testing.T, dir string, kind targets.Kind) map[string]jsonl.Record {
	t.Helper()
	recs, err := jsonl.ReadFile(filepath.Join(dir, jsonl.Files[kind]))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]jsonl.Record{}
	for _, r := range recs {
		if _, dup := out[r.ObjectID]; dup {
			t.Errorf("%s %s is in %s twice", kind, r.ObjectID, jsonl.Files[kind])
		}
		out[r.ObjectID] = r
	}
	return out
}

// TestGRPCEndToEnd: SCIM traffic reaches the example connector over gRPC.
// While no connector is connected the target is down and its operations
// wait in the outbox; once the connector registers they arrive in
// users.jsonl and groups.jsonl.
func TestGRPCEndToEnd(t *testing.T) {
	gg := startGRPCGateway(t, 4)
	c := gg.c
	ctx := context.Background()
	if err := gg.target.Health(ctx); err == nil {
		t.Errorf("Health without a connector: nil, want down")
	}
	alice := entraUser("alice@contoso.com", "ext-alice")
	alice["displayName"] = "Alice"
	aliceID := c.must(201, "POST", "/Users", alice).body["id"].(string)

	// Not connected: the operation waits in the outbox; its failed
	// attempts are not counted (the target says it is down), so no outage
	// is long enough to make it a dead letter.
	waitFor(t, "the create to be tried", func() (bool, string) {
		ob, err := gg.g.store.Outbox(ctx, "jsonl", false, 10)
		if err != nil || len(ob) != 1 {
			return false, fmt.Sprintf("%+v %v", ob, err)
		}
		return strings.Contains(ob[0].LastError, "target down") && strings.Contains(ob[0].LastError, "no connector connected"), ob[0].LastError
	})
	time.Sleep(300 * time.Millisecond) // several more rounds of backoff
	if ob, err := gg.g.store.Outbox(ctx, "jsonl", false, 10); err != nil || len(ob) != 1 || ob[0].Attempts != 0 {
		t.Fatalf("while no connector is connected: %+v, %v; want one pending operation with no attempt counted", ob, err)
	}

	dir := t.TempDir()
	gg.startConnector(t, "jsonl", gg.tokenFile, dir)
	waitFor(t, "alice in users.jsonl", func() (bool, string) {
		users := readJSONL(t, dir, targets.User)
		u, ok := users[aliceID]
		return ok && u.Attributes["userName"] == "alice@contoso.com" && u.Attributes["displayName"] == "Alice", fmt.Sprint(users)
	})
	if err := gg.target.Health(ctx); err != nil {
		t.Errorf("Health with the connector registered: %v", err)
	}
	c.must(200, "PATCH", "/Users/"+aliceID, patchOps(op("Replace", "displayName", "Alice L.")))
	gid := c.must(201, "POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Sales",
		"members": []any{map[string]any{"value": aliceID}},
	}).body["id"].(string)
	gg.idle(t)
	users, groups := readJSONL(t, dir, targets.User), readJSONL(t, dir, targets.Group)
	if got := users[aliceID].Attributes["displayName"]; got != "Alice L." {
		t.Errorf("alice's displayName %v, want the patched one", got)
	}
	g, ok := groups[gid]
	if !ok || g.Attributes["displayName"] != "Sales" || len(g.Members) != 1 || g.Members[0] != users[aliceID].Anchor {
		t.Errorf("group Sales in groups.jsonl: %+v (ok %v), want alice (%s) as its member", g, ok, users[aliceID].Anchor)
	}
	c.must(204, "DELETE", "/Users/"+aliceID, nil)
	gg.idle(t)
	if _, ok := readJSONL(t, dir, targets.User)[aliceID]; ok {
		t.Errorf("alice is still in users.jsonl after her deletion")
	}
	if _, d := gg.pending(t); d != 0 {
		t.Errorf("%d dead letters", d)
	}
}

// TestGRPCRefusedConnectors: a connector with a wrong token, or a name no
// target has, is refused; its log and the gateway's say why, and the
// target stays down.
func TestGRPCRefusedConnectors(t *testing.T) {
	gg := startGRPCGateway(t, 4)
	wrong := filepath.Join(t.TempDir(), "wrong-token")
	if err := os.WriteFile(wrong, []byte("not-the-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, connName, tokenFile, reason string
	}{
		{"wrong token", "jsonl", wrong, "invalid token"},
		{"unconfigured name", "payroll", gg.tokenFile, `no grpc target named "payroll" is configured`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := gg.startConnector(t, tt.connName, tt.tokenFile, t.TempDir())
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the refused connector did not exit")
			}
			if p.err == nil {
				t.Errorf("the refused connector exited with status 0")
			}
			for _, want := range []string{"the gateway refused the registration", tt.reason} {
				if !strings.Contains(p.log.String(), want) {
					t.Errorf("connector log lacks %q:\n%s", want, p.log.String())
				}
			}
			waitFor(t, "the gateway to log the refusal", func() (bool, string) {
				s := gg.log.String()
				return strings.Contains(s, "connector refused") && strings.Contains(s, tt.reason), s
			})
			if err := gg.target.Health(context.Background()); err == nil {
				t.Errorf("Health after a refused connector: nil, want down")
			}
		})
	}
	if strings.Contains(gg.log.String(), "e2e-connector-token") || strings.Contains(gg.log.String(), "not-the-token") {
		t.Errorf("a token reached the gateway's log")
	}
}

// TestGRPCKillConnector streams SCIM changes (creates, renames, deletes)
// into the gateway while the example connector process is killed with
// SIGKILL and restarted several times; in the end users.jsonl holds exactly
// the SCIM users: nothing lost, nothing duplicated.
//
// Each kill comes at its turn in the stream, and the stream waits for it
// half a turn later, so every kill lands mid-stream; each connector started
// has registered (it is delivering, and its start counts) before it is
// killed or the test ends.
func TestGRPCKillConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kills and restarts connector processes")
	}
	gg := startGRPCGateway(t, 8)
	c := gg.c
	dir := t.TempDir()
	p := gg.startConnector(t, "jsonl", gg.tokenFile, dir)
	seen := map[string]bool{}
	gg.registered(t, seen)

	const users, kills = 300, 4
	const turn = users / (kills + 1) // kill k comes after (k+1)*turn users
	var (
		mu  sync.Mutex
		ids []string
	)
	stream := make(chan struct{})
	reached := make(chan struct{}, kills) // the stream reached a kill's turn
	killed := make(chan struct{}, kills)  // that kill is done
	go func() {
		defer close(stream)
		for i := range users {
			switch {
			case i%turn == 0 && 0 < i && i <= kills*turn:
				reached <- struct{}{}
			case i%turn == turn/2 && turn < i:
				select {
				case <-killed:
				case <-t.Context().Done():
					return
				}
			}
			u := entraUser(fmt.Sprintf("k%d@contoso.com", i), fmt.Sprint("ext-k", i))
			u["displayName"] = fmt.Sprint("User ", i)
			r := c.do("POST", "/Users", u)
			if r.status != 201 {
				t.Errorf("create %d: %d %s", i, r.status, r.raw)
				return
			}
			id := r.body["id"].(string)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			switch i % 5 {
			case 1:
				c.do("PATCH", "/Users/"+id, patchOps(op("Replace", "displayName", fmt.Sprint("Renamed ", i))))
			case 3:
				c.do("DELETE", "/Users/"+id, nil)
			}
		}
	}()
	for range kills {
		select {
		case <-reached:
		case <-stream:
			t.Fatal("the SCIM stream ended early")
		}
		p.kill(t)
		killed <- struct{}{}
		p = gg.startConnector(t, "jsonl", gg.tokenFile, dir)
		gg.registered(t, seen)
	}
	<-stream
	gg.idle(t)

	// The SCIM state.
	want := map[string]map[string]any{}
	for start := 1; ; start += 1000 {
		r := c.must(200, "GET", fmt.Sprintf("/Users?startIndex=%d&count=1000", start), nil)
		res, _ := r.body["Resources"].([]any)
		for _, x := range res {
			u := x.(map[string]any)
			want[u["id"].(string)] = u
		}
		if len(res) < 1000 {
			break
		}
	}
	got := readJSONL(t, dir, targets.User)
	if len(got) != len(want) {
		t.Errorf("users.jsonl holds %d users, SCIM %d", len(got), len(want))
	}
	for id, u := range want {
		r, ok := got[id]
		switch {
		case !ok:
			t.Errorf("user %s (%v) lost", id, u["userName"])
		case r.Attributes["userName"] != u["userName"] || r.Attributes["displayName"] != u["displayName"]:
			t.Errorf("user %s: %v / %v in users.jsonl, SCIM has %v / %v", id, r.Attributes["userName"], r.Attributes["displayName"], u["userName"], u["displayName"])
		}
	}
	if _, d := gg.pending(t); d != 0 {
		t.Errorf("%d dead letters", d)
	}
	if n := strings.Count(gg.log.String(), "connector registered"); n < kills+1 {
		t.Errorf("the connector registered %d times, want %d (one per start)", n, kills+1)
	}
	mu.Lock()
	t.Logf("%d users created, %d in SCIM at the end, %d kills", len(ids), len(want), kills)
	mu.Unlock()
}

// TestGRPCExampleConfig: the shipped examples/grpc-jsonl.yaml is valid.
func TestGRPCExampleConfig(t *testing.T) {
	cfg, err := config.Load("../../examples/grpc-jsonl.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].Type != grpctarget.Type {
		t.Errorf("targets: %v, want one grpc target", cfg.Targets)
	}
}

// TestGRPCHostileConnector: a connector that holds the right token but
// answers with forged request ids and floods pings has its streams ended;
// the operations it received stay in the outbox (none lost, none dead) and
// reach the well-behaved connector that registers next.
func TestGRPCHostileConnector(t *testing.T) {
	gg := startGRPCGateway(t, 4)
	var ids []string
	for i := range 20 {
		u := entraUser(fmt.Sprintf("h%d@contoso.com", i), fmt.Sprint("ext-h", i))
		u["displayName"] = fmt.Sprint("H ", i)
		ids = append(ids, gg.c.must(201, "POST", "/Users", u).body["id"].(string))
	}
	cc, err := grpc.NewClient(gg.target.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for round := range 3 {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer e2e-connector-token")
		s, err := pb.NewGatewayClient(cc).Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Register{Register: &pb.Register{Name: "jsonl",
			Capabilities: &pb.Capabilities{Groups: true, Disable: true}}}})
		for {
			m, err := s.Recv()
			if err != nil {
				if status.Code(err) != codes.InvalidArgument {
					t.Errorf("round %d: the hostile stream ended with %v, want InvalidArgument", round, err)
				}
				break
			}
			if r := m.GetRequest(); r != nil {
				for i := range 1000 {
					s.Send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Ping{Ping: &pb.Ping{Nonce: uint64(i)}}})
				}
				s.Send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Response{Response: &pb.Response{Id: r.GetId() + 1000, Anchor: "forged"}}})
			}
		}
	}
	if _, d := gg.pending(t); d != 0 {
		t.Fatalf("%d dead letters after the hostile connector", d)
	}
	dir := t.TempDir()
	gg.startConnector(t, "jsonl", gg.tokenFile, dir)
	gg.idle(t)
	users := readJSONL(t, dir, targets.User)
	for _, id := range ids {
		if _, ok := users[id]; !ok {
			t.Errorf("user %s lost", id)
		}
	}
	if len(users) != len(ids) {
		t.Errorf("%d users in users.jsonl, want %d", len(users), len(ids))
	}
	if _, d := gg.pending(t); d != 0 {
		t.Errorf("%d dead letters", d)
	}
	if !strings.Contains(gg.log.String(), "which was never sent") {
		t.Errorf("the gateway's log does not name the protocol violation")
	}
}
