// Package grpctarget is the target connector of type "grpc": the gateway's
// side of the connector protocol (proto/connector/v1, SPEC.md there), which
// lets an app team write a connector in any language, run it next to their
// app and register it with the gateway.
//
// A grpc target listens on its own address. Connector instances dial it (the
// app needs no inbound port), authenticate with the target's credential (a
// bearer token and/or a TLS client certificate), and register under the
// target's name with their capabilities and attributes. The target then
// sends each operation the engine gives it to the least loaded registered
// instance over that instance's stream, with at most window operations in
// flight per instance, and returns the instance's answer. Without a
// registered instance every call fails at once with a transient error
// (ErrNotConnected): the engine keeps the operation in its outbox and
// retries it, and Health reports the target down.
//
// The target finds existing objects by attribute (targets.Finder, for
// matching and adoption) with the lookup capability of protocol minor 1.
// Its Capabilities().Lookup is true when it is configured with
// capabilities.lookup, and then only connectors that declare lookup
// register; by default it is false, and connectors written before lookup
// register as before. A lookup is sent only to an instance that declared
// lookup.
//
//	targets:
//	  - name: billing
//	    type: grpc
//	    config:
//	      listen: 127.0.0.1:9443
//	      token_file: /etc/scimgate/billing-connector.token
//	      tls: {cert_file: ..., key_file: ..., client_ca_file: ...}  # optional
//	      capabilities: {groups: true, disable: true}                # default; add lookup: true for matching
//	      window: 64
//	      op_timeout: 1m
//	      keepalive: 10s
//
// The gateway opens the target (Config.Open) with its name, its mapped
// attributes and its logger (targets.Env); the endpoint serves from then
// on.
package grpctarget

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget/internal/wire"
)

// Type is the target type of the grpc connector in a TargetConfig.
const Type = "grpc"

// Defaults and limits of the configuration.
const (
	// DefaultLookupLimit is the most objects a Lookup with limit <= 0 asks
	// for (targets.Finder: at least 2).
	DefaultLookupLimit     = 10
	DefaultWindow          = 64
	MaxWindow              = 4096
	DefaultOpTimeout       = time.Minute
	DefaultKeepalive       = 10 * time.Second
	DefaultMaxMessageBytes = 4 << 20
	MaxMaxMessageBytes     = 64 << 20
	// RegisterTimeout is how long a new stream has to send its Register.
	RegisterTimeout = 10 * time.Second
	// maxStreamsPerConn bounds the streams of one client connection.
	maxStreamsPerConn = 16
)

// Config is the configuration of a grpc target.
type Config struct {
	// Listen is the host:port of the registration endpoint (required).
	Listen string `yaml:"listen"`
	// TLS serves the endpoint over TLS; ClientCAFile makes it require a
	// client certificate signed by that CA (mTLS).
	TLS targets.TLSConfig `yaml:"tls"`
	// TokenFile or TokenEnv (a file, or an environment variable) holds the
	// bearer token connectors authenticate with. At least one credential,
	// a token or tls.client_ca_file, is required.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// Capabilities the target declares to the engine; a connector must
	// declare at least these to register. nil means groups and disable,
	// the capabilities of protocol minor 0: lookup (minor 1) is asked for
	// explicitly, so that a connector written before it still registers.
	Capabilities *targets.Capabilities `yaml:"capabilities"`
	// Window is the most operations in flight on one connector instance
	// (default DefaultWindow); a connector may ask for fewer.
	Window int `yaml:"window"`
	// OpTimeout bounds the wait for a connector's answer (default
	// DefaultOpTimeout); the operation is then retried.
	OpTimeout time.Duration `yaml:"op_timeout"`
	// Keepalive is the interval of the gateway's pings (default
	// DefaultKeepalive); a stream silent for three intervals is closed.
	Keepalive time.Duration `yaml:"keepalive"`
	// MaxMessageBytes bounds one message from a connector (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// Validate checks the configuration, reporting every problem. It reads
// neither the token nor the TLS files (Open does).
func (c *Config) Validate() error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, targets.FieldError(field, format, args...))
	}
	if c.Listen == "" {
		fail("listen", "required (host:port of the registration endpoint)")
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		fail("listen", "%v (want host:port)", err)
	}
	if err := c.TLS.ValidateServer(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.TokenFile != "" && c.TokenEnv != "":
		fail("token_file", "give token_file or token_env, not both")
	case c.TokenFile == "" && c.TokenEnv == "" && c.TLS.ClientCAFile == "":
		fail("token_file", "a credential is required: token_file, token_env or tls.client_ca_file")
	}
	if c.Window < 0 || c.Window > MaxWindow {
		fail("window", "%d is out of range 1-%d", c.Window, MaxWindow)
	}
	if c.OpTimeout < 0 {
		fail("op_timeout", "negative")
	}
	if c.Keepalive < 0 || c.Keepalive > 0 && c.Keepalive < 100*time.Millisecond {
		fail("keepalive", "%v: want at least 100ms", c.Keepalive)
	}
	if c.MaxMessageBytes < 0 || c.MaxMessageBytes > 0 && c.MaxMessageBytes < 4096 || c.MaxMessageBytes > MaxMaxMessageBytes {
		fail("max_message_bytes", "%d is out of range 4096-%d", c.MaxMessageBytes, MaxMaxMessageBytes)
	}
	return errors.Join(errs...)
}

// Provides returns the configured capabilities (default: groups and
// disable).
func (c *Config) Provides() targets.Capabilities {
	if c.Capabilities != nil {
		return *c.Capabilities
	}
	return targets.Capabilities{Groups: true, Disable: true}
}

// Open loads the credential and the TLS files, binds the listener and
// serves the registration endpoint for the target env names: connectors
// register under env.Name, and must declare env.Attributes when they
// declare attributes. env.Logger receives registrations, refusals and
// disconnections (never a credential).
func (c *Config) Open(ctx context.Context, env targets.Env) (targets.Connector, error) {
	return c.open(ctx, env)
}

func (c *Config) open(ctx context.Context, env targets.Env) (*Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if env.Name == "" {
		return nil, errors.New("grpctarget: Open without a target name (targets.Env.Name)")
	}
	cfg := *c
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	cfg.OpTimeout = cmp.Or(cfg.OpTimeout, DefaultOpTimeout)
	cfg.Keepalive = cmp.Or(cfg.Keepalive, DefaultKeepalive)
	cfg.MaxMessageBytes = cmp.Or(cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	conn := &Connector{cfg: cfg, target: env.Name, attrs: cloneAttrs(env.Attributes), log: env.Log(), changed: make(chan struct{})}
	if err := conn.loadToken(); err != nil {
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.Keepalive, Timeout: cfg.Keepalive}),
		// Connectors in other languages may use HTTP/2 keepalives.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	}
	if !cfg.TLS.IsZero() {
		tc, err := cfg.TLS.Server()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	conn.ln = ln
	conn.srv = grpc.NewServer(opts...)
	pb.RegisterGatewayServer(conn.srv, &service{c: conn})
	conn.serve.Go(func() {
		if err := conn.srv.Serve(conn.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			conn.log.Error("grpc target endpoint stopped", "addr", conn.Addr(), "err", err)
		}
	})
	conn.log.Info("grpc target waiting for connectors", "addr", conn.Addr(), "tls", cfg.TLS.CertFile != "", "mtls", cfg.TLS.ClientCAFile != "")
	return conn, nil
}

// loadToken reads the token of token_file or token_env (without the
// white space around it); the connector keeps only its SHA-256, to
// compare in constant time.
func (c *Connector) loadToken() error {
	if c.cfg.TokenFile == "" && c.cfg.TokenEnv == "" {
		return nil
	}
	tok, err := targets.ReadSecret("token", "", c.cfg.TokenEnv, c.cfg.TokenFile)
	if err != nil {
		return err
	}
	if strings.TrimSpace(tok) == "" {
		field := "token_file"
		if c.cfg.TokenEnv != "" {
			field = "token_env"
		}
		return targets.FieldError(field, "the token is empty")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	c.token = &sum
	return nil
}

// ErrNotConnected is the cause of the transient error of every call while
// no connector instance is registered.
var ErrNotConnected = errors.New("no connector connected")

// ErrConnectionLost is the cause of the transient error of a call whose
// instance went away with the call in flight; the engine redelivers it.
var ErrConnectionLost = errors.New("connection to the connector lost with the operation in flight")

// ErrClosed is returned by every call after Close.
var ErrClosed = targets.Permanent(errors.New("grpctarget: connector closed"))

// Connector is an open grpc target.
type Connector struct {
	cfg   Config
	token *[sha256.Size]byte // nil: no token required
	ln    net.Listener
	srv   *grpc.Server
	serve sync.WaitGroup

	target string                    // the target's name: connectors register with it
	attrs  map[targets.Kind][]string // the attributes the target's mapping writes
	log    *slog.Logger

	mu      sync.Mutex
	closed  bool
	insts   []*instance
	seq     uint64        // instances registered so far
	changed chan struct{} // closed (and replaced) when a slot frees
	waiting int           // calls waiting on changed
}

// Interface guards.
var (
	_ targets.Connector     = (*Connector)(nil)
	_ targets.HealthChecker = (*Connector)(nil)
	_ targets.Finder        = (*Connector)(nil)
)

func cloneAttrs(m map[targets.Kind][]string) map[targets.Kind][]string {
	out := make(map[targets.Kind][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// Addr is the address of the registration endpoint.
func (c *Connector) Addr() string { return c.ln.Addr().String() }

// Instance describes a registered connector instance.
type Instance struct {
	ID      string // assigned by the gateway, shown in both sides' logs
	Version string // the connector's own version
	Peer    string // its network address
	// ProtocolMinor is the minor version of v1 it implements.
	ProtocolMinor uint32
	// Capabilities are what the instance declared.
	Capabilities targets.Capabilities
	Window       int // the most operations in flight on it
	InFlight     int // operations in flight on it now
}

// Instances lists the registered instances in registration order.
func (c *Connector) Instances() []Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Instance, len(c.insts))
	for i, in := range c.insts {
		out[i] = Instance{ID: in.id, Version: in.version, Peer: in.peer, ProtocolMinor: in.minor, Capabilities: in.caps, Window: in.window, InFlight: in.inflight}
	}
	return out
}

// Health reports an error while no connector instance is registered.
func (c *Connector) Health(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case len(c.insts) == 0:
		return fmt.Errorf("%w (waiting at %s)", ErrNotConnected, c.Addr())
	}
	return nil
}

// Capabilities returns the configured capabilities (Config.Provides):
// every registered instance declares at least these.
func (c *Connector) Capabilities() targets.Capabilities { return c.cfg.Provides() }

// Create sends a create and returns the anchor the connector answers.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	r, err := c.operate(ctx, pb.Method_METHOD_CREATE, op)
	if err != nil {
		return "", err
	}
	if r.GetAnchor() == "" {
		return "", c.protocolError(op, "a successful Create without an anchor")
	}
	return r.GetAnchor(), nil
}

// Update sends an update.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_UPDATE, op)
	return err
}

// Delete sends a delete.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_DELETE, op)
	return err
}

// Disable sends a disable.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_DISABLE, op)
	return err
}

// Enable sends an enable.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_ENABLE, op)
	return err
}

// AddMembers sends an add of members.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_ADD_MEMBERS, op)
	return err
}

// RemoveMembers sends a removal of members.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	_, err := c.operate(ctx, pb.Method_METHOD_REMOVE_MEMBERS, op)
	return err
}

// Get reads an object.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	if wire.Kind(kind) == pb.Kind_KIND_UNSPECIFIED {
		return targets.Object{}, targets.Permanent(fmt.Errorf("grpctarget: Get: unknown kind %q", kind))
	}
	r, err := c.call(ctx, &pb.Request{Call: &pb.Request_Get{Get: &pb.GetRequest{Kind: wire.Kind(kind), Anchor: anchor}}})
	if err != nil {
		return targets.Object{}, err
	}
	if r.GetObject() == nil {
		return targets.Object{}, c.readError("Get", "a successful Get without an object")
	}
	o, err := wire.GoObject(r.GetObject())
	switch {
	case err != nil:
		return targets.Object{}, c.readError("Get", err.Error())
	case o.Kind != kind || o.Anchor != anchor:
		return targets.Object{}, c.readError("Get", fmt.Sprintf("asked for %s %q, got %s %q", kind, anchor, o.Kind, o.Anchor))
	}
	return o, nil
}

// List reads a page of objects.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	if wire.Kind(kind) == pb.Kind_KIND_UNSPECIFIED {
		return targets.Page{}, targets.Permanent(fmt.Errorf("grpctarget: List: unknown kind %q", kind))
	}
	req := &pb.ListRequest{Kind: wire.Kind(kind), Cursor: cursor, Limit: int32(min(max(limit, 0), 1<<30))}
	r, err := c.call(ctx, &pb.Request{Call: &pb.Request_List{List: req}})
	if err != nil {
		return targets.Page{}, err
	}
	page := targets.Page{Objects: make([]targets.Object, 0, len(r.GetObjects())), Next: r.GetNextCursor()}
	for _, po := range r.GetObjects() {
		o, err := wire.GoObject(po)
		if err != nil {
			return targets.Page{}, c.readError("List", err.Error())
		}
		page.Objects = append(page.Objects, o)
	}
	return page, nil
}

// Lookup finds the objects of kind whose attribute attr holds value
// (targets.Finder): it sends a LookupRequest to a registered instance that
// declared the lookup capability, and checks the answer: at most limit
// objects (DefaultLookupLimit when limit <= 0), each of kind, each once.
// When instances are registered but none declared lookup (a connector of
// protocol minor 0), the error matches targets.ErrPermanent and
// errors.ErrUnsupported, and nothing is sent.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	if limit <= 0 {
		limit = DefaultLookupLimit
	}
	limit = min(limit, 1<<30)
	req, err := wire.Lookup(kind, attr, value, limit)
	if err != nil {
		return nil, targets.Permanent(fmt.Errorf("grpctarget: Lookup: %w", err))
	}
	r, err := c.callOn(ctx, &pb.Request{Call: &pb.Request_Lookup{Lookup: req}}, true)
	if err != nil {
		if code := r.GetError().GetCode(); code == pb.Code_CODE_NOT_FOUND || code == pb.Code_CODE_CONFLICT {
			return nil, c.readError("Lookup", fmt.Sprintf("answered %v (no match is an empty list): %v", code, err))
		}
		return nil, err
	}
	if n := len(r.GetObjects()); n > limit {
		return nil, c.readError("Lookup", fmt.Sprintf("%d objects answer a lookup with limit %d", n, limit))
	}
	objs := make([]targets.Object, 0, len(r.GetObjects()))
	seen := make(map[string]bool, len(r.GetObjects()))
	for _, po := range r.GetObjects() {
		o, err := wire.GoObject(po)
		switch {
		case err != nil:
			return nil, c.readError("Lookup", err.Error())
		case o.Kind != kind:
			return nil, c.readError("Lookup", fmt.Sprintf("asked for %s objects, got %s %q", kind, o.Kind, o.Anchor))
		case seen[o.Anchor]:
			return nil, c.readError("Lookup", fmt.Sprintf("object %q answered twice", o.Anchor))
		}
		seen[o.Anchor] = true
		objs = append(objs, o)
	}
	return objs, nil
}

// Close stops the endpoint and ends every stream.
func (c *Connector) Close(context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.srv.Stop()
	_ = c.ln.Close() // Serve may not have started yet
	c.serve.Wait()
	return nil
}

// operate sends an operation and returns the connector's response, or
// its error classified.
func (c *Connector) operate(ctx context.Context, m pb.Method, op targets.Op) (*pb.Response, error) {
	o, err := wire.Operation(m, op)
	if err != nil {
		return nil, targets.Permanent(fmt.Errorf("grpctarget: %s %s %q: %w", wire.MethodName(m), op.Kind, op.ObjectID, err))
	}
	if o.Kind == pb.Kind_KIND_UNSPECIFIED {
		return nil, targets.Permanent(fmt.Errorf("grpctarget: %s: unknown kind %q", wire.MethodName(m), op.Kind))
	}
	return c.call(ctx, &pb.Request{Call: &pb.Request_Operation{Operation: o}})
}

// protocolError is the error of a response that breaks the protocol:
// permanent, as the same connector would answer the same again.
func (c *Connector) protocolError(op targets.Op, msg string) error {
	return targets.Permanent(fmt.Errorf("grpctarget: connector %s broke the protocol: operation %q: %s", c.target, op.ID, msg))
}

func (c *Connector) readError(what, msg string) error {
	return targets.Permanent(fmt.Errorf("grpctarget: connector %s broke the protocol: %s: %s", c.target, what, msg))
}

// call sends req to the least loaded instance, waiting while every
// instance's window is full, and returns its response; the response's
// error, if any, is returned classified.
func (c *Connector) call(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	r, err := c.callOn(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// callOn is call, on the instances that declared lookup when lookup is
// set. A connector's error is returned with its response.
func (c *Connector) callOn(ctx context.Context, req *pb.Request, lookup bool) (*pb.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.OpTimeout, fmt.Errorf("no answer within op_timeout %v", c.cfg.OpTimeout))
	defer cancel()
	in, p, err := c.acquire(ctx, lookup)
	if err != nil {
		return nil, err
	}
	defer c.release(in, p)
	req.Id = p.id
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMillis = max(time.Until(dl).Milliseconds(), 1)
	}
	select {
	case in.sendq <- &pb.GatewayMessage{Msg: &pb.GatewayMessage_Request{Request: req}}:
	case <-ctx.Done():
		return nil, c.ctxError(ctx)
	case <-in.done:
		return nil, c.lost(in)
	}
	select {
	case r := <-p.resp:
		if r.GetError() != nil {
			return r, wire.GoError(in.name, r.GetError())
		}
		return r, nil
	case <-ctx.Done():
		in.trySend(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Cancel{Cancel: &pb.Cancel{Id: p.id}}})
		return nil, c.ctxError(ctx)
	case <-in.done:
		return nil, c.lost(in)
	}
}

func (c *Connector) ctxError(ctx context.Context) error {
	return targets.Transient(fmt.Errorf("grpctarget: connector %s: %w", c.target, context.Cause(ctx)))
}

func (c *Connector) lost(in *instance) error {
	return targets.Transient(fmt.Errorf("grpctarget: connector %s instance %s: %w", in.name, in.id, ErrConnectionLost))
}

// pending is one request in flight.
type pending struct {
	id   uint64
	resp chan *pb.Response // capacity 1
}

// acquire takes a slot on the least loaded instance with a free one (among
// those that declared lookup, when lookup is set), waiting for a slot while
// every window is full. When instances are registered but none declared
// lookup, the error matches targets.ErrPermanent and errors.ErrUnsupported.
func (c *Connector) acquire(ctx context.Context, lookup bool) (*instance, *pending, error) {
	c.mu.Lock()
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return nil, nil, ErrClosed
		case len(c.insts) == 0:
			c.mu.Unlock()
			return nil, nil, targets.Transient(fmt.Errorf("grpctarget: connector %s: %w", c.target, ErrNotConnected))
		}
		var best *instance
		serving := 0
		for _, in := range c.insts {
			if lookup && !in.caps.Lookup {
				continue // never sent a message newer than its minor version
			}
			serving++
			if in.inflight < in.window && (best == nil || in.inflight < best.inflight) {
				best = in
			}
		}
		if serving == 0 {
			c.mu.Unlock()
			return nil, nil, targets.Permanent(fmt.Errorf("grpctarget: connector %s does not declare the lookup capability (protocol minor %d): %w",
				c.target, wire.LookupMinor, errors.ErrUnsupported))
		}
		if best != nil {
			best.inflight++
			best.lastID++
			p := &pending{id: best.lastID, resp: make(chan *pb.Response, 1)}
			best.pending[p.id] = p
			c.mu.Unlock()
			return best, p, nil
		}
		// Every window is full: backpressure.
		wait := c.changed
		c.waiting++
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
			return nil, nil, c.ctxError(ctx)
		}
		c.mu.Lock()
		c.waiting--
	}
}

// release frees the slot of p.
func (c *Connector) release(in *instance, p *pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(in.pending, p.id)
	in.inflight--
	c.notify()
}

// notify wakes the calls waiting for a slot. Callers hold mu.
func (c *Connector) notify() {
	if c.waiting > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}
