package grpctarget_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       grpctarget.Config
		wantField string // "" when valid
	}{
		{"token file", grpctarget.Config{Listen: "127.0.0.1:9443", TokenFile: "t"}, ""},
		{"mtls only", grpctarget.Config{Listen: ":9443", TLS: targets.TLSConfig{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}}, ""},
		{"no listen", grpctarget.Config{TokenFile: "t"}, "listen"},
		{"bad listen", grpctarget.Config{Listen: "9443", TokenFile: "t"}, "listen"},
		{"no credential", grpctarget.Config{Listen: ":1"}, "token_file"},
		{"two tokens", grpctarget.Config{Listen: ":1", TokenFile: "t", TokenEnv: "E"}, "token_file"},
		{"cert without key", grpctarget.Config{Listen: ":1", TokenFile: "t", TLS: targets.TLSConfig{CertFile: "c"}}, "tls.cert_file"},
		{"client-side tls field", grpctarget.Config{Listen: ":1", TokenFile: "t", TLS: targets.TLSConfig{CertFile: "c", KeyFile: "k", CAFile: "ca"}}, "tls.ca_file"},
		{"client ca without tls", grpctarget.Config{Listen: ":1", TLS: targets.TLSConfig{ClientCAFile: "ca"}}, "tls.client_ca_file"},
		{"window", grpctarget.Config{Listen: ":1", TokenFile: "t", Window: -1}, "window"},
		{"huge window", grpctarget.Config{Listen: ":1", TokenFile: "t", Window: grpctarget.MaxWindow + 1}, "window"},
		{"op timeout", grpctarget.Config{Listen: ":1", TokenFile: "t", OpTimeout: -time.Second}, "op_timeout"},
		{"keepalive", grpctarget.Config{Listen: ":1", TokenFile: "t", Keepalive: time.Millisecond}, "keepalive"},
		{"message size", grpctarget.Config{Listen: ":1", TokenFile: "t", MaxMessageBytes: 10}, "max_message_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ce *targets.ConfigError
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("Validate: %v, want success", err)
			case tt.wantField != "" && !errors.As(err, &ce):
				t.Errorf("Validate: %v, want a field error for %s", err, tt.wantField)
			case tt.wantField != "" && ce.Field != tt.wantField:
				t.Errorf("Validate: error for field %q (%v), want %q", ce.Field, err, tt.wantField)
			}
		})
	}
}

// TestOpenErrors: credentials and TLS files are checked at Open, with the
// field named and no secret in the message.
func TestOpenErrors(t *testing.T) {
	t.Setenv("EMPTY_TOKEN", "  ")
	tests := []struct {
		name string
		cfg  grpctarget.Config
		want string
	}{
		{"missing token file", grpctarget.Config{Listen: "127.0.0.1:0", TokenFile: "/nonexistent/token"}, "token_file"},
		{"empty token env", grpctarget.Config{Listen: "127.0.0.1:0", TokenEnv: "EMPTY_TOKEN"}, "token_env: the token is empty"},
		{"missing cert", grpctarget.Config{Listen: "127.0.0.1:0", TokenEnv: "HOME", TLS: targets.TLSConfig{CertFile: "/nonexistent/c", KeyFile: "/nonexistent/k"}}, "tls.cert_file"},
		{"invalid", grpctarget.Config{TokenEnv: "HOME"}, "listen: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cfg.Open(context.Background(), targets.Env{Name: "app"})
			if err == nil {
				c.Close(context.Background())
				t.Fatalf("Open succeeded, want an error naming %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want it to name %q", err, tt.want)
			}
		})
	}
}

// TestOpenWithoutName: a grpc target serves one named target; Open
// without a name is an error, and listens on nothing.
func TestOpenWithoutName(t *testing.T) {
	cfg := grpctarget.Config{Listen: "127.0.0.1:0", TokenEnv: "HOME"}
	c, err := cfg.Open(context.Background(), targets.Env{})
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Open without a target name succeeded")
	}
	if !strings.Contains(err.Error(), "target name") {
		t.Errorf("Open: %v, want it to say the target name is missing", err)
	}
}

// TestValidateReportsEveryProblem: Validate reports every invalid field of
// a configuration, in the order of the fields, and changes nothing.
func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  grpctarget.Config
		want []string
	}{
		{name: "everything wrong", cfg: grpctarget.Config{
			Listen: "9443", TokenFile: "t", TokenEnv: "E", TLS: targets.TLSConfig{CertFile: "c", ServerName: "x"},
			Window: -1, OpTimeout: -time.Second, Keepalive: time.Millisecond, MaxMessageBytes: 10,
		}, want: []string{
			"listen: address 9443: missing port in address (want host:port)",
			"tls.cert_file: cert_file and key_file go together",
			"tls.server_name: only for a connection to a target; an endpoint the gateway serves trusts client certificates of tls.client_ca_file",
			"token_file: give token_file or token_env, not both",
			"window: -1 is out of range 1-4096",
			"op_timeout: negative",
			"keepalive: 1ms: want at least 100ms",
			"max_message_bytes: 10 is out of range 4096-67108864",
		}},
		{name: "nothing given", cfg: grpctarget.Config{}, want: []string{
			"listen: required (host:port of the registration endpoint)",
			"token_file: a credential is required: token_file, token_env or tls.client_ca_file",
		}},
		{name: "client ca without a certificate", cfg: grpctarget.Config{Listen: ":1", TLS: targets.TLSConfig{ClientCAFile: "ca"}}, want: []string{
			"tls.client_ca_file: needs tls.cert_file and tls.key_file (mTLS is TLS)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.cfg
			err := tt.cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.cfg != before {
				t.Errorf("Validate changed the configuration: %+v, was %+v", tt.cfg, before)
			}
		})
	}
}

// TestRegistration: a connector is accepted only with the target's token,
// under the target's name, with the configured capabilities and, when it
// declares attributes, every attribute the mapping writes. A refused
// connector's Run ends with the reason, which the gateway logs too.
func TestRegistration(t *testing.T) {
	mapping := map[targets.Kind][]string{targets.User: {"login", "mail"}, targets.Group: {"name"}}
	userAttrs := []sdk.Attribute{{Kind: targets.User, Name: "login", Type: sdk.String}, {Kind: targets.User, Name: "mail", Type: sdk.StringList}}
	tests := []struct {
		name   string
		caps   *targets.Capabilities
		impl   targets.Connector
		opts   func(*sdk.Options)
		reason string // "" when accepted
	}{
		{"accepted", nil, memory.New(memory.Config{}), func(o *sdk.Options) { o.Attributes = userAttrs }, ""},
		{"accepted without declared attributes", nil, memory.New(memory.Config{}), nil, ""},
		{"wrong token", nil, memory.New(memory.Config{}), func(o *sdk.Options) { o.Token = "not-the-token" }, "invalid token"},
		{"no token", nil, memory.New(memory.Config{}), func(o *sdk.Options) { o.Token = "" }, "no token"},
		{"unconfigured name", nil, memory.New(memory.Config{}), func(o *sdk.Options) { o.Name = "payroll" }, `no grpc target named "payroll" is configured on this endpoint (it serves target "app")`},
		{"undeclared mapped attribute", nil, memory.New(memory.Config{}),
			func(o *sdk.Options) { o.Attributes = userAttrs[:1] },
			`the mapping of target "app" writes User attributes the connector does not declare: mail (it declares: login)`},
		{"missing groups capability", nil, memory.New(memory.Config{Capabilities: &targets.Capabilities{Disable: true}}), nil, "does not declare groups"},
		{"groups not configured", &targets.Capabilities{Disable: true}, memory.New(memory.Config{Capabilities: &targets.Capabilities{Disable: true}}), nil, ""},
		{"invalid declaration", nil, memory.New(memory.Config{}),
			func(o *sdk.Options) {
				o.Attributes = append(userAttrs, sdk.Attribute{Kind: targets.User, Name: "login", Type: sdk.Bool})
			},
			`User attribute "login" declared twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := openGateway(t, func(c *grpctarget.Config, tg *targets.Env) {
				c.Capabilities = tt.caps
				tg.Attributes = mapping
			})
			r := startSDK(t, gw, tt.impl, tt.opts)
			if tt.reason == "" {
				waitInstances(t, gw, 1)
				if err := gw.Health(t.Context()); err != nil {
					t.Errorf("Health with a registered connector: %v", err)
				}
				wantLog(t, "gateway", gw.log.String, "connector registered")
				return
			}
			select {
			case <-r.done:
				if !errors.Is(r.err, sdk.ErrRefused) || !strings.Contains(r.err.Error(), tt.reason) {
					t.Errorf("sdk.Run: %v, want ErrRefused saying %q", r.err, tt.reason)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("sdk.Run did not end after a refusal")
			}
			wantLog(t, "gateway", gw.log.String, "connector refused", tt.reason)
			wantLog(t, "connector", r.log.String, "the gateway refused the registration", tt.reason)
			if strings.Contains(gw.log.String()+r.log.String(), testToken) {
				t.Errorf("the token reached a log")
			}
			if len(gw.Instances()) != 0 || gw.Health(t.Context()) == nil {
				t.Errorf("a refused connector is registered")
			}
		})
	}
}

// TestRoundTrip: operations, reads and every error class cross the wire
// unchanged.
func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	gw := openGateway(t, nil)
	mem := memory.New(memory.Config{})
	startSDK(t, gw, mem, nil)
	waitInstances(t, gw, 1)

	attrs := map[string]any{"userName": "ada", "n": int64(-7), "f": 2.5, "b": true, "l": []string{"x", "y"}}
	op := targets.Op{ID: "op-1", ObjectID: "obj-1", Kind: targets.User, Attrs: attrs}
	anchor, err := gw.Create(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gw.Get(ctx, targets.User, anchor)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Attrs) != fmt.Sprint(attrs) || got.ObjectID != "obj-1" {
		t.Errorf("Get: %+v, want the attributes %v", got, attrs)
	}
	op.Anchor, op.ID, op.Attrs = anchor, "op-2", map[string]any{"n": nil, "l": []string{}, "f": 1.0}
	if err := gw.Update(ctx, op); err != nil {
		t.Fatal(err)
	}
	snap := mem.Snapshot()
	if len(snap) != 1 || fmt.Sprint(snap[0].Attrs) != fmt.Sprint(map[string]any{"userName": "ada", "f": 1.0, "b": true}) {
		t.Errorf("target after Update: %+v", snap)
	}

	// Error classes.
	again := targets.Op{ID: "op-3", ObjectID: "obj-1", Kind: targets.User, Attrs: map[string]any{"userName": "ada"}}
	_, err = gw.Create(ctx, again)
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.Anchor != anchor || ce.ObjectID != "obj-1" {
		t.Errorf("repeated Create: %v, want a conflict with anchor %q", err, anchor)
	}
	if _, err := gw.Get(ctx, targets.User, "user-404"); !isClass(err, targets.ErrNotFound) {
		t.Errorf("Get of a missing user: %v, want ErrNotFound", err)
	}
	mem.Inject(memory.Fault{Method: memory.Delete, Err: targets.Permanent(errors.New("denied")), Times: 1})
	if err := gw.Delete(ctx, op); !isClass(err, targets.ErrPermanent) || !strings.Contains(err.Error(), "denied") {
		t.Errorf("Delete with a permanent failure: %v", err)
	}
	mem.Inject(memory.Fault{Method: memory.Delete, Err: targets.Transient(errors.New("busy")), Times: 1})
	if err := gw.Delete(ctx, op); !isClass(err, targets.ErrTransient) {
		t.Errorf("Delete with a transient failure: %v", err)
	}
	if _, err := gw.List(ctx, targets.User, "not-a-cursor", 0); !isClass(err, targets.ErrPermanent) {
		t.Errorf("List with an invalid cursor: %v, want ErrPermanent", err)
	}
	page, err := gw.List(ctx, targets.User, "", 0)
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Anchor != anchor {
		t.Errorf("List: %+v, %v", page, err)
	}
	if err := gw.Delete(ctx, op); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if len(mem.Snapshot()) != 0 {
		t.Errorf("the user is still there after Delete")
	}
}

// TestUnsupportedOverTheWire: a connector's ErrUnsupported stays
// ErrPermanent and errors.ErrUnsupported at the gateway.
func TestUnsupportedOverTheWire(t *testing.T) {
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.Capabilities = &targets.Capabilities{} })
	startSDK(t, gw, memory.New(memory.Config{Capabilities: &targets.Capabilities{}}), nil)
	waitInstances(t, gw, 1)
	err := gw.Disable(t.Context(), targets.Op{ID: "o", ObjectID: "x", Kind: targets.User, Anchor: "user-1"})
	if !errors.Is(err, targets.ErrPermanent) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Disable: %v, want ErrPermanent and errors.ErrUnsupported", err)
	}
}

// TestNotConnected: without a registered connector every call fails at
// once with a transient error and Health says so; after one registers,
// calls go through.
func TestNotConnected(t *testing.T) {
	gw := openGateway(t, nil)
	start := time.Now()
	_, err := gw.Create(t.Context(), targets.Op{ID: "1", ObjectID: "1", Kind: targets.User})
	if !isClass(err, targets.ErrTransient) || !errors.Is(err, grpctarget.ErrNotConnected) || time.Since(start) > time.Second {
		t.Errorf("Create without a connector: %v after %v, want ErrNotConnected at once", err, time.Since(start))
	}
	if err := gw.Health(t.Context()); !errors.Is(err, grpctarget.ErrNotConnected) || !strings.Contains(err.Error(), gw.Addr()) {
		t.Errorf("Health without a connector: %v", err)
	}
	r := startSDK(t, gw, memory.New(memory.Config{}), nil)
	waitInstances(t, gw, 1)
	if _, err := gw.Create(t.Context(), targets.Op{ID: "1", ObjectID: "1", Kind: targets.User, Attrs: map[string]any{"userName": "u"}}); err != nil {
		t.Errorf("Create with a connector: %v", err)
	}
	r.stop(t)
	waitInstances(t, gw, 0)
	if err := gw.Health(t.Context()); err == nil {
		t.Errorf("Health after the connector left: nil, want an error")
	}
}

// blocking is the memory connector whose Create and Update wait for
// release (or their context) after applying, and count how many run at
// once.
type blocking struct {
	*memory.Connector
	release chan struct{}
	started chan string
	deaf    bool // ignores its context (a stuck connector)
	cur     atomic.Int32
	max     atomic.Int32
	calls   atomic.Int32
}

func newBlocking() *blocking {
	return &blocking{Connector: memory.New(memory.Config{}), release: make(chan struct{}), started: make(chan string, 1000)}
}

func (b *blocking) hold(ctx context.Context, id string) error {
	n := b.cur.Add(1)
	defer b.cur.Add(-1)
	for m := b.max.Load(); n > m && !b.max.CompareAndSwap(m, n); m = b.max.Load() {
	}
	b.calls.Add(1)
	b.started <- id
	if b.deaf {
		<-b.release
		return nil
	}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return targets.Transient(ctx.Err())
	}
}

func (b *blocking) Create(ctx context.Context, op targets.Op) (string, error) {
	a, err := b.Connector.Create(ctx, op)
	if err != nil {
		return "", err
	}
	return a, b.hold(ctx, op.ID)
}

func (b *blocking) Update(ctx context.Context, op targets.Op) error {
	if err := b.Connector.Update(ctx, op); err != nil {
		return err
	}
	return b.hold(ctx, op.ID)
}

// TestWindowBackpressure: no more than window operations are in flight on
// an instance; the others wait for a slot, and all complete.
func TestWindowBackpressure(t *testing.T) {
	const window, calls = 3, 12
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.Window = window })
	b := newBlocking()
	startSDK(t, gw, b, nil)
	waitInstances(t, gw, 1)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			_, err := gw.Create(t.Context(), targets.Op{ID: fmt.Sprint("op", i), ObjectID: fmt.Sprint("obj", i), Kind: targets.User, Attrs: map[string]any{"userName": fmt.Sprint("u", i)}})
			errs <- err
		})
	}
	for range window {
		<-b.started
	}
	time.Sleep(100 * time.Millisecond) // room for a window overrun to show
	if n := gw.Instances()[0].InFlight; n != window {
		t.Errorf("%d operations in flight, want the window %d", n, window)
	}
	close(b.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Create: %v", err)
		}
	}
	if m := b.max.Load(); m > window {
		t.Errorf("the connector ran %d operations at once, more than the window %d", m, window)
	}
	if n := len(b.Snapshot()); n != calls {
		t.Errorf("%d users created, want %d", n, calls)
	}
}

// TestRedelivery: when the connection drops with operations in flight,
// their calls fail with a transient error; delivered again with the same
// operation ids to the reconnected connector, they take effect once.
func TestRedelivery(t *testing.T) {
	ctx := t.Context()
	gw := openGateway(t, nil)
	mem := memory.New(memory.Config{})
	// deaf: the answer cannot race the connection's end.
	b := &blocking{Connector: mem, release: make(chan struct{}), started: make(chan string, 10), deaf: true}
	r := startSDK(t, gw, b, nil)
	waitInstances(t, gw, 1)
	create := targets.Op{ID: "op-c", ObjectID: "obj-c", Kind: targets.User, Attrs: map[string]any{"userName": "carol"}}
	errc := make(chan error, 1)
	go func() { _, err := gw.Create(ctx, create); errc <- err }()
	<-b.started // applied, answer not sent
	r.cancel()  // the connection drops
	if err := <-errc; !isClass(err, targets.ErrTransient) || !errors.Is(err, grpctarget.ErrConnectionLost) {
		t.Fatalf("Create in flight when the connection dropped: %v, want a transient ErrConnectionLost", err)
	}
	close(b.release)
	r.stop(t)
	waitInstances(t, gw, 0)

	startSDK(t, gw, mem, nil)
	waitInstances(t, gw, 1)
	_, err := gw.Create(ctx, create) // the engine's redelivery
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.ObjectID != "obj-c" {
		t.Fatalf("redelivered Create: %v, want the conflict that lets the engine adopt the object", err)
	}
	create.Anchor, create.ID = ce.Anchor, "op-u"
	create.Attrs = map[string]any{"title": "boss"}
	if err := gw.Update(ctx, create); err != nil {
		t.Fatal(err)
	}
	if err := gw.Update(ctx, create); err != nil { // delivered twice
		t.Fatal(err)
	}
	snap := mem.Snapshot()
	if len(snap) != 1 || snap[0].Attrs["title"] != "boss" {
		t.Errorf("target: %+v, want carol once, with her title", snap)
	}
}

// TestSharedLoad: two instances of one connector share the operations.
func TestSharedLoad(t *testing.T) {
	const calls = 200
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.Window = 4 })
	mem := memory.New(memory.Config{})
	var counts [2]atomic.Int32
	for i := range counts {
		startSDK(t, gw, &counting{Connector: mem, n: &counts[i]}, nil)
	}
	waitInstances(t, gw, 2)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if _, err := gw.Create(t.Context(), targets.Op{ID: fmt.Sprint(i), ObjectID: fmt.Sprint(i), Kind: targets.User, Attrs: map[string]any{"userName": fmt.Sprint("u", i)}}); err != nil {
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	a, b := counts[0].Load(), counts[1].Load()
	if a+b != calls || a == 0 || b == 0 {
		t.Errorf("instances served %d and %d operations; want %d shared by both", a, b, calls)
	}
	if n := len(mem.Snapshot()); n != calls {
		t.Errorf("%d users, want %d", n, calls)
	}
}

// counting counts the Creates it serves, slowly enough for load to spread.
type counting struct {
	*memory.Connector
	n *atomic.Int32
}

func (c *counting) Create(ctx context.Context, op targets.Op) (string, error) {
	c.n.Add(1)
	time.Sleep(time.Millisecond)
	return c.Connector.Create(ctx, op)
}

// TestCancelReachesConnector: when the gateway's call ends (its context),
// the connector's call sees its context end too.
func TestCancelReachesConnector(t *testing.T) {
	gw := openGateway(t, nil)
	b := newBlocking()
	startSDK(t, gw, b, nil)
	waitInstances(t, gw, 1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := gw.Create(ctx, targets.Op{ID: "1", ObjectID: "1", Kind: targets.User, Attrs: map[string]any{"userName": "u"}})
		errc <- err
	}()
	<-b.started
	cancel()
	if err := <-errc; !isClass(err, targets.ErrTransient) {
		t.Errorf("cancelled Create: %v, want a transient error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.cur.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the connector's call still runs after the gateway cancelled it")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOpTimeout: a connector that does not answer within op_timeout fails
// the call with a transient error naming the timeout.
func TestOpTimeout(t *testing.T) {
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.OpTimeout = 200 * time.Millisecond })
	b := newBlocking()
	b.deaf = true
	startSDK(t, gw, b, nil)
	t.Cleanup(func() { close(b.release) }) // before the SDK's cleanup
	waitInstances(t, gw, 1)
	_, err := gw.Create(t.Context(), targets.Op{ID: "1", ObjectID: "1", Kind: targets.User, Attrs: map[string]any{"userName": "u"}})
	if !isClass(err, targets.ErrTransient) || !strings.Contains(err.Error(), "op_timeout") {
		t.Errorf("Create without an answer: %v, want a transient error naming op_timeout", err)
	}
}

// TestKeepalive: a registered connector stays registered across many
// keepalive intervals (the SDK answers and sends pings).
func TestKeepalive(t *testing.T) {
	// 250ms: short, with room for a loaded machine (silent = 750ms).
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.Keepalive = 250 * time.Millisecond })
	startSDK(t, gw, memory.New(memory.Config{}), nil)
	waitInstances(t, gw, 1)
	id := gw.Instances()[0].ID
	time.Sleep(2500 * time.Millisecond)
	if in := gw.Instances(); len(in) != 1 || in[0].ID != id {
		t.Errorf("instances after 10 keepalive intervals: %+v, want %s still registered", in, id)
	}
}

// TestDeclaredTypes: the SDK refuses, as permanent, an operation with an
// attribute the connector does not declare or a value of another type; the
// connector is not called.
func TestDeclaredTypes(t *testing.T) {
	gw := openGateway(t, nil)
	mem := memory.New(memory.Config{})
	startSDK(t, gw, mem, func(o *sdk.Options) {
		o.Attributes = []sdk.Attribute{{Kind: targets.User, Name: "userName", Type: sdk.String}, {Kind: targets.User, Name: "age", Type: sdk.Int64}}
	})
	waitInstances(t, gw, 1)
	tests := []struct {
		name  string
		attrs map[string]any
		want  string // "" for success
	}{
		{"declared", map[string]any{"userName": "a", "age": int64(3)}, ""},
		{"wrong type", map[string]any{"userName": "b", "age": "3"}, `User attribute "age": a string value, but the connector declares type ATTRIBUTE_TYPE_INT64`},
		{"undeclared", map[string]any{"userName": "c", "title": "x"}, `User attribute "title" is not declared`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(mem.Calls())
			_, err := gw.Create(t.Context(), targets.Op{ID: tt.name, ObjectID: tt.name, Kind: targets.User, Attrs: tt.attrs})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Create: %v", err)
			case tt.want != "" && (!isClass(err, targets.ErrPermanent) || !strings.Contains(fmt.Sprint(err), tt.want)):
				t.Errorf("Create: %v, want a permanent error saying %q", err, tt.want)
			case tt.want != "" && len(mem.Calls()) != before:
				t.Errorf("the connector was called with a refused operation")
			}
		})
	}
}
