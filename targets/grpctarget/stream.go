package grpctarget

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget/internal/wire"
)

// Limits on what a connector declares.
const (
	maxAttributes = 10000
	maxNameLen    = 256
)

// service serves the Gateway service of the protocol for one target.
type service struct {
	pb.UnimplementedGatewayServer
	c *Connector
}

// instance is one registered connector stream.
type instance struct {
	id, name, version, peer string
	caps                    targets.Capabilities
	minor                   uint32 // the protocol minor version it implements
	window                  int
	sendq                   chan *pb.GatewayMessage // written by the stream's handler
	done                    chan struct{}           // closed when the stream ends
	lastRecv                atomic.Int64            // unix nanoseconds of the last message received

	// Guarded by Connector.mu.
	inflight int
	lastID   uint64 // the last request id assigned on this stream
	pending  map[uint64]*pending
}

// trySend queues a message unless the queue is full (a ping's answer, a
// cancel: best effort).
func (in *instance) trySend(m *pb.GatewayMessage) {
	select {
	case in.sendq <- m:
	default:
	}
}

// Connect serves one connector instance: authentication, registration,
// then requests out and responses in until the stream ends.
func (s *service) Connect(stream pb.Gateway_ConnectServer) error {
	c := s.c
	ctx := stream.Context()
	from := "unknown"
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	c.mu.Lock()
	log := c.log.With("peer", from)
	c.mu.Unlock()
	if err := c.authenticate(ctx); err != nil {
		log.Warn("connector refused", "reason", status.Convert(err).Message())
		return err
	}
	reg, err := recvRegister(stream)
	if err != nil {
		log.Warn("connector refused", "reason", status.Convert(err).Message())
		return err
	}
	in, err := c.register(reg, from)
	if err != nil {
		log.Warn("connector refused", "connector", printable(reg.GetName()), "version", printable(reg.GetVersion()), "reason", status.Convert(err).Message())
		return err
	}
	log = log.With("connector", in.name, "instance", in.id, "version", in.version)
	defer c.unregister(in)
	ack := &pb.Registered{InstanceId: in.id, ProtocolMinor: wire.ProtocolMinor, Window: uint32(in.window), KeepaliveMillis: c.cfg.Keepalive.Milliseconds()}
	if err := stream.Send(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Registered{Registered: ack}}); err != nil {
		log.Warn("connector lost during registration", "err", err)
		return err
	}
	log.Info("connector registered", "protocol_minor", in.minor, "window", in.window, "groups", in.caps.Groups, "disable", in.caps.Disable, "lookup", in.caps.Lookup)

	recvErr := make(chan error, 1)
	go func() { recvErr <- c.recvLoop(stream, in) }()
	err = c.sendLoop(stream, in, recvErr)
	if errors.Is(err, io.EOF) {
		err = nil // the connector closed its side
	}
	if err == nil || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
		log.Info("connector disconnected")
	} else {
		log.Warn("connector disconnected", "reason", status.Convert(err).Message())
	}
	return err
}

// authenticate checks the bearer token of the stream's metadata, in
// constant time. A client certificate was verified by the TLS handshake.
func (c *Connector) authenticate(ctx context.Context) error {
	if c.token == nil {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return status.Error(codes.Unauthenticated, "no token: send the target's token as \"authorization: Bearer TOKEN\" metadata")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(sum[:], c.token[:]) != 1 || !ok {
		return status.Error(codes.Unauthenticated, "invalid token: the token does not match the target's token_file/token_env")
	}
	return nil
}

// recvRegister reads the stream's first message, which must be a
// Register, within RegisterTimeout.
func recvRegister(stream pb.Gateway_ConnectServer) (*pb.Register, error) {
	type result struct {
		m   *pb.ConnectorMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	t := time.NewTimer(RegisterTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		reg := r.m.GetRegister()
		if reg == nil {
			return nil, status.Errorf(codes.InvalidArgument, "the first message must be a Register, got %s", msgType(r.m))
		}
		return reg, nil
	case <-t.C:
		// Returning ends the stream, which ends the Recv.
		return nil, status.Errorf(codes.DeadlineExceeded, "no Register within %v", RegisterTimeout)
	}
}

// register checks a Register against the target and adds the instance.
// Refusals are gRPC statuses whose messages say what to fix.
func (c *Connector) register(reg *pb.Register, from string) (*instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := reg.GetName()
	switch {
	case c.closed:
		return nil, status.Error(codes.Unavailable, "the gateway is shutting down")
	case name == "":
		return nil, status.Error(codes.InvalidArgument, "Register without a name")
	case name != c.target:
		return nil, status.Errorf(codes.NotFound, "no grpc target named %q is configured on this endpoint (it serves target %q)", printable(name), c.target)
	}
	caps := reg.GetCapabilities()
	want := c.Capabilities()
	if want.Groups && !caps.GetGroups() {
		return nil, status.Errorf(codes.FailedPrecondition, "target %q is configured with capabilities.groups (the default) but the connector does not declare groups: implement them, or set capabilities.groups: false in the target's config", name)
	}
	if want.Disable && !caps.GetDisable() {
		return nil, status.Errorf(codes.FailedPrecondition, "target %q is configured with capabilities.disable (the default) but the connector does not declare disable: implement it, or set capabilities.disable: false in the target's config", name)
	}
	if caps.GetLookup() && reg.GetProtocolMinor() < wire.LookupMinor {
		return nil, status.Errorf(codes.InvalidArgument, "capabilities.lookup is protocol minor %d, but the Register says protocol_minor %d", wire.LookupMinor, reg.GetProtocolMinor())
	}
	if want.Lookup && !caps.GetLookup() {
		return nil, status.Errorf(codes.FailedPrecondition, "target %q is configured with capabilities.lookup but the connector does not declare lookup (protocol minor %d): implement it, or remove lookup from capabilities in the target's config", name, wire.LookupMinor)
	}
	declared, err := declaredAttrs(caps.GetAttributes())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "capabilities.attributes: %v", err)
	}
	for _, kind := range []targets.Kind{targets.User, targets.Group} {
		if len(declared[kind]) == 0 {
			continue // the connector takes any attribute of the kind
		}
		var missing []string
		for _, a := range c.attrs[kind] {
			if _, ok := declared[kind][a]; !ok {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			have := make([]string, 0, len(declared[kind]))
			for a := range declared[kind] {
				have = append(have, a)
			}
			slices.Sort(have)
			slices.Sort(missing)
			return nil, status.Errorf(codes.FailedPrecondition, "the mapping of target %q writes %s attributes the connector does not declare: %s (it declares: %s)",
				name, kind, strings.Join(missing, ", "), strings.Join(have, ", "))
		}
	}
	window := c.cfg.Window
	if w := int(reg.GetWindow()); w > 0 && w < window {
		window = w
	}
	c.seq++
	in := &instance{
		id:      name + "-" + strconv.FormatUint(c.seq, 10),
		name:    name,
		version: printable(reg.GetVersion()),
		peer:    from,
		caps:    targets.Capabilities{Groups: caps.GetGroups(), Disable: caps.GetDisable(), Lookup: caps.GetLookup()},
		minor:   reg.GetProtocolMinor(),
		window:  window,
		sendq:   make(chan *pb.GatewayMessage, window+16),
		done:    make(chan struct{}),
		pending: make(map[uint64]*pending),
	}
	in.lastRecv.Store(time.Now().UnixNano())
	c.insts = append(c.insts, in)
	c.notify()
	return in, nil
}

// declaredAttrs checks and indexes declared attributes by kind and name.
func declaredAttrs(attrs []*pb.AttributeSchema) (map[targets.Kind]map[string]pb.AttributeType, error) {
	if len(attrs) > maxAttributes {
		return nil, fmt.Errorf("%d attributes, more than %d", len(attrs), maxAttributes)
	}
	out := map[targets.Kind]map[string]pb.AttributeType{targets.User: {}, targets.Group: {}}
	for i, a := range attrs {
		kind, err := wire.GoKind(a.GetKind())
		if err != nil {
			return nil, fmt.Errorf("[%d]: %v", i, err)
		}
		switch name := a.GetName(); {
		case name == "" || len(name) > maxNameLen:
			return nil, fmt.Errorf("[%d]: name empty or longer than %d bytes", i, maxNameLen)
		case pb.AttributeType_name[int32(a.GetType())] == "":
			return nil, fmt.Errorf("[%d] %q: unknown type %d", i, name, a.GetType())
		default:
			if _, dup := out[kind][name]; dup {
				return nil, fmt.Errorf("[%d]: %s attribute %q declared twice", i, kind, name)
			}
			out[kind][name] = a.GetType()
		}
	}
	return out, nil
}

// unregister removes an ended instance; its calls in flight fail with
// ErrConnectionLost.
func (c *Connector) unregister(in *instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insts = slices.DeleteFunc(c.insts, func(x *instance) bool { return x == in })
	close(in.done)
	c.notify()
}

// sendLoop writes the instance's queued messages and pings, and ends the
// stream when the receiving side ends, the connector falls silent, or the
// target closes. It runs in the handler's goroutine: gRPC forbids Send
// after the handler returns.
func (c *Connector) sendLoop(stream pb.Gateway_ConnectServer, in *instance, recvErr <-chan error) error {
	tick := time.NewTicker(c.cfg.Keepalive)
	defer tick.Stop()
	silent := 3 * c.cfg.Keepalive
	var nonce uint64
	for {
		select {
		case m := <-in.sendq:
			if err := stream.Send(m); err != nil {
				return err
			}
		case err := <-recvErr:
			return err
		case <-tick.C:
			if d := time.Since(time.Unix(0, in.lastRecv.Load())); d > silent {
				return status.Errorf(codes.Unavailable, "no message from the connector for %v (keepalive %v)", d.Round(time.Millisecond), c.cfg.Keepalive)
			}
			nonce++
			if err := stream.Send(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Ping{Ping: &pb.Ping{Nonce: nonce}}}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// recvLoop reads the connector's messages until the stream ends or the
// connector breaks the protocol, which ends the stream.
func (c *Connector) recvLoop(stream pb.Gateway_ConnectServer, in *instance) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		in.lastRecv.Store(time.Now().UnixNano())
		switch msg := m.GetMsg().(type) {
		case *pb.ConnectorMessage_Response:
			if err := c.deliver(in, msg.Response); err != nil {
				return err
			}
		case *pb.ConnectorMessage_Ping:
			in.trySend(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Pong{Pong: &pb.Pong{Nonce: msg.Ping.GetNonce()}}})
		case *pb.ConnectorMessage_Pong:
		case *pb.ConnectorMessage_Register:
			return status.Error(codes.InvalidArgument, "protocol violation: a second Register on a registered stream")
		default:
			return status.Errorf(codes.InvalidArgument, "protocol violation: unexpected message %s", msgType(m))
		}
	}
}

// deliver hands a response to the call waiting for it. A response to a
// request that is no longer waited for (cancelled, timed out, answered) is
// ignored; one to a request never sent breaks the protocol.
func (c *Connector) deliver(in *instance, r *pb.Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := in.pending[r.GetId()]
	if !ok {
		if r.GetId() == 0 || r.GetId() > in.lastID {
			return status.Errorf(codes.InvalidArgument, "protocol violation: a response to request %d, which was never sent", r.GetId())
		}
		c.log.Debug("late response ignored", "instance", in.id, "request", r.GetId())
		return nil
	}
	delete(in.pending, r.GetId()) // a second response is late
	p.resp <- r
	return nil
}

// msgType names the kind of a connector's message for errors.
func msgType(m *pb.ConnectorMessage) string {
	switch m.GetMsg().(type) {
	case nil:
		return "an empty message"
	case *pb.ConnectorMessage_Register:
		return "Register"
	case *pb.ConnectorMessage_Response:
		return "Response"
	case *pb.ConnectorMessage_Ping:
		return "Ping"
	case *pb.ConnectorMessage_Pong:
		return "Pong"
	}
	return "a message of a newer protocol version"
}

// printable shortens a value from a connector for logs and messages.
func printable(s string) string {
	if len(s) > maxNameLen {
		s = s[:maxNameLen] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}
