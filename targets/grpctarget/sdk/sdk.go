// Package sdk is the Go SDK of the scimgate connector protocol: it turns
// any targets.Connector into a connector that registers with a gateway's
// grpc target and serves it, hiding the stream.
//
// A connector author implements the plain Go methods of targets.Connector
// (Create, Update, ... with a context, following the rules of package
// targets) and calls Run:
//
//	err := sdk.Run(ctx, myConnector, sdk.Options{
//		Address: "gateway.internal:9443",
//		Name:    "billing",           // the grpc target's name
//		Token:   token,               // the target's token
//		TLS:     &tls.Config{...},    // nil: plaintext, for loopback only
//	})
//
// Run dials the gateway (the connector needs no inbound port), registers
// with the connector's capabilities, and then runs the operations the
// gateway sends, concurrently across objects and in order for each object,
// answering each with its result. It answers the gateway's pings, pings it,
// and reconnects with exponential backoff and jitter when the stream ends.
// It returns nil when ctx ends, and an error matching ErrRefused when the
// gateway refuses the registration (a wrong token, a name no target has, a
// mapping using undeclared attributes): retrying cannot help those.
//
// A connector that also implements targets.Finder, and declares
// Capabilities.Lookup as the targets contract asks of every Finder, has the
// lookup capability (protocol minor 1) declared for it, and Run serves the
// gateway's lookups with its Lookup; any other connector registers exactly
// as before lookup existed. Run refuses a connector that declares
// Capabilities.Lookup without implementing targets.Finder.
package sdk

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget/internal/wire"
)

// Defaults of Options.
const (
	DefaultWindow     = 64
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	DefaultKeepalive  = 10 * time.Second
	// registerTimeout bounds the wait for the gateway's Registered.
	registerTimeout = 30 * time.Second
)

// Type is the type of a declared attribute's values.
type Type int

// The attribute types.
const (
	Any        Type = iota // any of the types below
	String                 // string
	Bool                   // bool
	Int64                  // int64
	Float64                // float64
	StringList             // []string
)

// Attribute declares an attribute the connector understands.
type Attribute struct {
	Kind targets.Kind
	Name string
	Type Type
}

// Options configure Run.
type Options struct {
	// Address is the host:port of the grpc target's endpoint (required).
	Address string
	// Name is the name of the gateway target (required).
	Name string
	// Version is the connector's version, shown in the gateway's logs.
	Version string
	// Token is the target's bearer token; "" sends none.
	Token string
	// TLS connects over TLS (set Certificates for mTLS); nil connects in
	// plaintext, which only suits a loopback address.
	TLS *tls.Config
	// Attributes declares, per kind, the attributes the connector
	// understands; the gateway refuses a target mapping writing others,
	// and Run refuses operations with undeclared attributes or values of
	// another type, and lookups of undeclared attributes. A kind without
	// declared attributes takes any.
	Attributes []Attribute
	// Window is the most operations the connector runs at once (default
	// DefaultWindow).
	Window int
	// MinBackoff and MaxBackoff bound the delay before reconnecting
	// (defaults DefaultMinBackoff and DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// Keepalive is the interval of the connector's pings when the gateway
	// asks for none (default DefaultKeepalive).
	Keepalive time.Duration
	// Logger receives connections, registrations and failures; nil:
	// slog.Default().
	Logger *slog.Logger
}

// ErrRefused matches the error of Run when the gateway refused the
// registration; its text is the gateway's reason.
var ErrRefused = errors.New("registration refused by the gateway")

// Run serves impl to the gateway until ctx ends (then it returns nil) or
// the gateway refuses the registration.
func Run(ctx context.Context, impl targets.Connector, opts Options) error {
	o, err := opts.check()
	if err != nil {
		return err
	}
	if _, ok := impl.(targets.Finder); impl.Capabilities().Lookup && !ok {
		return fmt.Errorf("sdk: the connector (%T) declares Capabilities.Lookup but does not implement targets.Finder", impl)
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	cc, err := grpc.NewClient(o.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	defer cc.Close()
	client := pb.NewGatewayClient(cc)
	for attempt := 0; ; {
		registered, err := session(ctx, client, impl, o)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.NotFound, codes.FailedPrecondition, codes.InvalidArgument:
			if !registered {
				o.Logger.Error("the gateway refused the registration", "gateway", o.Address, "name", o.Name, "reason", status.Convert(err).Message())
				return fmt.Errorf("%w: %s", ErrRefused, status.Convert(err).Message())
			}
		}
		if registered {
			attempt = 0
		}
		delay := backoff(o.MinBackoff, o.MaxBackoff, attempt)
		attempt++
		o.Logger.Warn("not connected to the gateway; retrying", "gateway", o.Address, "err", err, "retry_in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// check validates and completes the options.
func (o Options) check() (Options, error) {
	switch {
	case o.Address == "":
		return o, errors.New("sdk: Options.Address is required")
	case o.Name == "":
		return o, errors.New("sdk: Options.Name is required")
	case o.Window < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 || o.Keepalive < 0:
		return o, errors.New("sdk: Options.Window, MinBackoff, MaxBackoff and Keepalive must not be negative")
	}
	for _, a := range o.Attributes {
		if wire.Kind(a.Kind) == pb.Kind_KIND_UNSPECIFIED || a.Name == "" || a.Type < Any || a.Type > StringList {
			return o, fmt.Errorf("sdk: invalid attribute declaration %+v", a)
		}
	}
	o.Window = cmp.Or(o.Window, DefaultWindow)
	o.MinBackoff = cmp.Or(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = max(cmp.Or(o.MaxBackoff, DefaultMaxBackoff), o.MinBackoff)
	o.Keepalive = cmp.Or(o.Keepalive, DefaultKeepalive)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// backoff is the delay before reconnection attempt n: exponential with
// full jitter between min and max.
func backoff(minD, maxD time.Duration, n int) time.Duration {
	d := maxD
	if n < 30 && minD<<n < maxD {
		d = minD << n
	}
	return minD/2 + rand.N(d-minD/2+1)
}

// session runs one stream: it registers, then serves requests until the
// stream ends. It reports whether the registration was accepted.
func session(ctx context.Context, client pb.GatewayClient, impl targets.Connector, o Options) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.Token)
	}
	stream, err := client.Connect(ctx)
	if err != nil {
		return false, err
	}
	s := &server{impl: impl, o: o, stream: stream, attrs: declared(o.Attributes), running: map[string][]queued{}, cancels: map[uint64]context.CancelFunc{}}
	caps := impl.Capabilities()
	if f, ok := impl.(targets.Finder); ok && caps.Lookup {
		s.finder = f
	}
	reg := &pb.Register{
		Name: o.Name, Version: o.Version, ProtocolMinor: wire.ProtocolMinor, Window: uint32(o.Window),
		Capabilities: &pb.Capabilities{Groups: caps.Groups, Disable: caps.Disable, Lookup: s.finder != nil, Attributes: schema(o.Attributes)},
	}
	if err := s.send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Register{Register: reg}}); err != nil {
		return false, recvError(stream, err)
	}
	timer := time.AfterFunc(registerTimeout, cancel)
	first, err := stream.Recv()
	if !timer.Stop() {
		return false, fmt.Errorf("no answer to the registration within %v", registerTimeout)
	}
	if err != nil {
		return false, err
	}
	ack := first.GetRegistered()
	if ack == nil {
		return false, fmt.Errorf("protocol violation: the gateway's first message is not Registered")
	}
	keepalive := o.Keepalive
	if ms := ack.GetKeepaliveMillis(); ms > 0 {
		keepalive = time.Duration(ms) * time.Millisecond
	}
	o.Logger.Info("registered with the gateway", "gateway", o.Address, "name", o.Name, "instance", ack.GetInstanceId(), "window", ack.GetWindow())

	s.lastRecv.Store(time.Now().UnixNano())
	done := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Go(func() { s.ping(ctx, cancel, keepalive, done) })
	err = s.recvLoop(ctx)
	close(done)
	cancel() // ends the running operations: the gateway redelivers them
	s.work.Wait()
	pinger.Wait()
	if s.silent.Load() { // the stream's error is only the cancellation the pinger caused
		err = fmt.Errorf("no message from the gateway for %v", 3*keepalive)
	}
	return true, err
}

// recvError returns the stream's status after a failed Send.
func recvError(stream pb.Gateway_ConnectClient, err error) error {
	if _, rerr := stream.Recv(); rerr != nil {
		return rerr
	}
	return err
}

// server is the state of one session.
type server struct {
	impl   targets.Connector
	finder targets.Finder // nil: lookup not declared
	o      Options
	stream pb.Gateway_ConnectClient
	attrs  map[targets.Kind]map[string]Type

	sendMu   sync.Mutex
	lastRecv atomic.Int64 // unix nanoseconds
	silent   atomic.Bool  // the gateway fell silent
	work     sync.WaitGroup

	mu       sync.Mutex
	inflight int
	running  map[string][]queued // by object: the requests queued behind the running one
	cancels  map[uint64]context.CancelFunc
}

// send writes a message; the stream allows one writer at a time.
func (s *server) send(m *pb.ConnectorMessage) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(m)
}

// ping pings the gateway every keepalive and ends the session when the
// gateway has been silent for three.
func (s *server) ping(ctx context.Context, cancel context.CancelFunc, keepalive time.Duration, done <-chan struct{}) {
	t := time.NewTicker(keepalive)
	defer t.Stop()
	var nonce uint64
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastRecv.Load())) > 3*keepalive {
			s.silent.Store(true)
			cancel()
			return
		}
		nonce++
		if err := s.send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Ping{Ping: &pb.Ping{Nonce: nonce}}}); err != nil {
			return
		}
	}
}

// recvLoop reads the gateway's messages until the stream ends.
func (s *server) recvLoop(ctx context.Context) error {
	for {
		m, err := s.stream.Recv()
		if err != nil {
			return err
		}
		s.lastRecv.Store(time.Now().UnixNano())
		switch msg := m.GetMsg().(type) {
		case *pb.GatewayMessage_Request:
			s.dispatch(ctx, msg.Request)
		case *pb.GatewayMessage_Cancel:
			s.mu.Lock()
			if cancel := s.cancels[msg.Cancel.GetId()]; cancel != nil {
				cancel()
			}
			s.mu.Unlock()
		case *pb.GatewayMessage_Ping:
			if err := s.send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Pong{Pong: &pb.Pong{Nonce: msg.Ping.GetNonce()}}}); err != nil {
				return err
			}
		case *pb.GatewayMessage_Pong:
		default:
			s.o.Logger.Warn("ignoring an unknown message from the gateway")
		}
	}
}

// queued is a request with its context, waiting for its object's turn.
type queued struct {
	req *pb.Request
	ctx context.Context
}

// dispatch starts a request, or queues it behind the running request for
// the same object: operations on one object run in the order received.
func (s *server) dispatch(ctx context.Context, req *pb.Request) {
	var cancel context.CancelFunc
	if ms := req.GetTimeoutMillis(); ms > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight >= s.o.Window {
		cancel()
		s.work.Go(func() {
			s.answer(req.GetId(), &pb.Response{}, targets.Transient(fmt.Errorf("the connector's window of %d requests is full", s.o.Window)))
		})
		return
	}
	s.inflight++
	s.cancels[req.GetId()] = cancel
	key := objectKey(req)
	if key == "" {
		s.work.Go(func() { s.run(queued{req, ctx}) })
		return
	}
	if q, busy := s.running[key]; busy {
		s.running[key] = append(q, queued{req, ctx})
		return
	}
	s.running[key] = nil
	s.work.Go(func() {
		for next := (queued{req, ctx}); ; {
			s.run(next)
			s.mu.Lock()
			q := s.running[key]
			if len(q) == 0 {
				delete(s.running, key)
				s.mu.Unlock()
				return
			}
			next, s.running[key] = q[0], q[1:]
			s.mu.Unlock()
		}
	})
}

// objectKey is the object a request operates on, "" for reads.
func objectKey(req *pb.Request) string {
	op := req.GetOperation()
	if op == nil {
		return ""
	}
	return op.GetKind().String() + "/" + op.GetObjectId()
}

// run handles one request, frees its slot and answers: in that order, as
// the gateway sends the next request as soon as it has the answer.
func (s *server) run(q queued) {
	resp, err := s.handle(q.ctx, q.req)
	s.mu.Lock()
	s.inflight--
	if cancel := s.cancels[q.req.GetId()]; cancel != nil {
		cancel()
		delete(s.cancels, q.req.GetId())
	}
	s.mu.Unlock()
	s.answer(q.req.GetId(), resp, err)
}

// handle calls the connector for one request.
func (s *server) handle(ctx context.Context, req *pb.Request) (resp *pb.Response, err error) {
	resp = &pb.Response{}
	defer func() {
		if v := recover(); v != nil {
			s.o.Logger.Error("the connector panicked", "panic", v, "stack", string(debug.Stack()))
			err = targets.Permanent(fmt.Errorf("the connector panicked: %v", v))
		}
	}()
	switch call := req.GetCall().(type) {
	case *pb.Request_Operation:
		resp.Anchor, err = s.operate(ctx, call.Operation)
	case *pb.Request_Get:
		err = s.get(ctx, call.Get, resp)
	case *pb.Request_List:
		err = s.list(ctx, call.List, resp)
	case *pb.Request_Lookup:
		err = s.lookup(ctx, call.Lookup, resp)
	default:
		err = targets.Permanent(fmt.Errorf("sdk: a request of a newer protocol version: %w", errors.ErrUnsupported))
	}
	return resp, err
}

// answer sends the response to request id, or its error.
func (s *server) answer(id uint64, resp *pb.Response, err error) {
	if err != nil {
		resp = &pb.Response{Error: wire.Error(err)}
	}
	resp.Id = id
	if err := s.send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Response{Response: resp}}); err != nil {
		s.o.Logger.Debug("answer not sent: the stream ended", "request", id, "err", err)
	}
}

// operate runs an operation; Create returns the anchor.
func (s *server) operate(ctx context.Context, o *pb.Operation) (string, error) {
	if wire.MethodName(o.GetMethod()) == "" {
		return "", targets.Permanent(fmt.Errorf("sdk: method %v of a newer protocol version: %w", o.GetMethod(), errors.ErrUnsupported))
	}
	op, err := wire.GoOperation(o)
	if err != nil {
		return "", targets.Permanent(fmt.Errorf("sdk: malformed operation %q: %w", o.GetOpId(), err))
	}
	if err := s.checkAttrs(op); err != nil {
		return "", err
	}
	switch o.GetMethod() {
	case pb.Method_METHOD_CREATE:
		anchor, err := s.impl.Create(ctx, op)
		if err == nil && anchor == "" {
			err = targets.Permanent(errors.New("sdk: the connector's Create returned no anchor and no error"))
		}
		return anchor, err
	case pb.Method_METHOD_UPDATE:
		return "", s.impl.Update(ctx, op)
	case pb.Method_METHOD_DELETE:
		return "", s.impl.Delete(ctx, op)
	case pb.Method_METHOD_DISABLE:
		return "", s.impl.Disable(ctx, op)
	case pb.Method_METHOD_ENABLE:
		return "", s.impl.Enable(ctx, op)
	case pb.Method_METHOD_ADD_MEMBERS:
		return "", s.impl.AddMembers(ctx, op)
	case pb.Method_METHOD_REMOVE_MEMBERS:
		return "", s.impl.RemoveMembers(ctx, op)
	}
	return "", targets.Permanent(fmt.Errorf("sdk: method %v: %w", o.GetMethod(), errors.ErrUnsupported))
}

func (s *server) get(ctx context.Context, g *pb.GetRequest, resp *pb.Response) error {
	kind, err := wire.GoKind(g.GetKind())
	if err != nil {
		return targets.Permanent(fmt.Errorf("sdk: Get: %w", err))
	}
	obj, err := s.impl.Get(ctx, kind, g.GetAnchor())
	if err != nil {
		return err
	}
	if resp.Object, err = wire.Object(obj); err != nil {
		return targets.Permanent(fmt.Errorf("sdk: Get: %w", err))
	}
	return nil
}

func (s *server) list(ctx context.Context, l *pb.ListRequest, resp *pb.Response) error {
	kind, err := wire.GoKind(l.GetKind())
	if err != nil {
		return targets.Permanent(fmt.Errorf("sdk: List: %w", err))
	}
	page, err := s.impl.List(ctx, kind, l.GetCursor(), int(l.GetLimit()))
	if err != nil {
		return err
	}
	resp.NextCursor = page.Next
	resp.Objects = make([]*pb.Object, len(page.Objects))
	for i, obj := range page.Objects {
		if resp.Objects[i], err = wire.Object(obj); err != nil {
			return targets.Permanent(fmt.Errorf("sdk: List: %w", err))
		}
	}
	return nil
}

// lookup serves a LookupRequest with the connector's Finder.
func (s *server) lookup(ctx context.Context, l *pb.LookupRequest, resp *pb.Response) error {
	if s.finder == nil {
		return targets.Permanent(fmt.Errorf("sdk: a lookup, but the connector does not declare the lookup capability: %w", errors.ErrUnsupported))
	}
	kind, attr, value, limit, err := wire.GoLookup(l)
	if err != nil {
		return targets.Permanent(fmt.Errorf("sdk: malformed lookup: %w", err))
	}
	if decl := s.attrs[kind]; len(decl) > 0 {
		if _, ok := decl[attr]; !ok {
			return targets.Permanent(fmt.Errorf("sdk: lookup of %s attribute %q, which the connector does not declare", kind, attr))
		}
	}
	objs, err := s.finder.Lookup(ctx, kind, attr, value, limit)
	if err != nil {
		return err
	}
	if len(objs) > limit {
		return targets.Permanent(fmt.Errorf("sdk: the connector's Lookup returned %d objects, more than the limit %d", len(objs), limit))
	}
	resp.Objects = make([]*pb.Object, len(objs))
	for i, obj := range objs {
		if resp.Objects[i], err = wire.Object(obj); err != nil {
			return targets.Permanent(fmt.Errorf("sdk: Lookup: %w", err))
		}
	}
	return nil
}

// declared indexes the declared attributes by kind and name.
func declared(attrs []Attribute) map[targets.Kind]map[string]Type {
	out := map[targets.Kind]map[string]Type{}
	for _, a := range attrs {
		if out[a.Kind] == nil {
			out[a.Kind] = map[string]Type{}
		}
		out[a.Kind][a.Name] = a.Type
	}
	return out
}

// schema encodes the declared attributes.
func schema(attrs []Attribute) []*pb.AttributeSchema {
	out := make([]*pb.AttributeSchema, len(attrs))
	for i, a := range attrs {
		out[i] = &pb.AttributeSchema{Kind: wire.Kind(a.Kind), Name: a.Name, Type: pb.AttributeType(a.Type)}
	}
	return out
}

// checkAttrs refuses an operation's attributes that its kind does not
// declare, or whose values have another type (nil clears any attribute).
func (s *server) checkAttrs(op targets.Op) error {
	decl := s.attrs[op.Kind]
	if len(decl) == 0 {
		return nil
	}
	for name, v := range op.Attrs {
		t, ok := decl[name]
		if !ok {
			return targets.Permanent(fmt.Errorf("sdk: %s attribute %q is not declared by the connector", op.Kind, name))
		}
		var match bool
		switch v.(type) {
		case nil:
			match = true
		case string:
			match = t == String
		case bool:
			match = t == Bool
		case int64:
			match = t == Int64
		case float64:
			match = t == Float64
		case []string:
			match = t == StringList
		}
		if !match && t != Any {
			return targets.Permanent(fmt.Errorf("sdk: %s attribute %q: a %T value, but the connector declares type %v", op.Kind, name, v, pb.AttributeType(t)))
		}
	}
	return nil
}
