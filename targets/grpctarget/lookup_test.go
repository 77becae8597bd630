package grpctarget_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/memory"
)

// withLookup configures a target with every capability, lookup included.
func withLookup(c *grpctarget.Config, _ *targets.Env) {
	c.Capabilities = &targets.Capabilities{Groups: true, Disable: true, Lookup: true}
}

// finding is the memory connector with a Lookup of its own (exact
// comparison; a list holds each of its strings), so that these tests do
// not depend on the memory connector's. Its Lookup reports each call on
// started, then, when release is set, waits for it or for its context (and
// then reports the context's error on ended), then fails with err when it
// is set.
type finding struct {
	*memory.Connector
	started chan string
	release chan struct{}
	ended   chan error
	err     error
}

func newFinding() *finding {
	return &finding{Connector: memory.New(memory.Config{}), started: make(chan string, 100), ended: make(chan error, 100)}
}

func (f *finding) Capabilities() targets.Capabilities {
	c := f.Connector.Capabilities()
	c.Lookup = true
	return c
}

func (f *finding) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	f.started <- fmt.Sprintf("%s %s=%v limit %d", kind, attr, value, limit)
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			f.ended <- ctx.Err()
			return nil, targets.Transient(ctx.Err())
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	var out []targets.Object
	for _, o := range f.Snapshot() {
		l, isList := o.Attrs[attr].([]string)
		if o.Kind == kind && len(out) < limit && (o.Attrs[attr] == value || isList && slices.Contains(l, fmt.Sprint(value))) {
			out = append(out, o)
		}
	}
	return out, nil
}

// TestLookup: a lookup through the gateway's grpc target reaches the SDK
// connector's Finder over a real socket with its kind, attribute, value
// and limit, and its answer comes back whole: the objects with their
// object ids, nothing for no match, the connector's errors with their
// class. Invalid lookups are refused before anything is sent.
func TestLookup(t *testing.T) {
	ctx := t.Context()
	gw := openGateway(t, withLookup)
	f := newFinding()
	startSDK(t, gw, f, nil)
	waitInstances(t, gw, 1)
	if !gw.Capabilities().Lookup {
		t.Errorf("Capabilities().Lookup = false for a target configured with lookup")
	}
	if in := gw.Instances()[0]; !in.Capabilities.Lookup || in.ProtocolMinor != 1 {
		t.Errorf("instance %+v: want lookup declared with protocol minor 1", in)
	}
	wantLog(t, "gateway", gw.log.String, "connector registered", "protocol_minor=1", "lookup=true")

	anchors := map[string]string{}
	for i, name := range []string{"ada", "bob", "cy"} {
		op := targets.Op{ID: "c" + name, ObjectID: "id-" + name, Kind: targets.User,
			Attrs: map[string]any{"userName": name, "dept": "eng", "mail": []string{name + "@x", fmt.Sprint("alias", i%2, "@x")}}}
		a, err := gw.Create(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		anchors[name] = a
	}
	tests := []struct {
		name      string
		kind      targets.Kind
		attr      string
		value     any
		limit     int
		want      []string // names found, in creation order
		wantLimit int      // the limit the connector receives
	}{
		{"one", targets.User, "userName", "ada", 0, []string{"ada"}, grpctarget.DefaultLookupLimit},
		{"none", targets.User, "userName", "dan", 0, []string{}, grpctarget.DefaultLookupLimit},
		{"value of a list", targets.User, "mail", "alias0@x", 0, []string{"ada", "cy"}, grpctarget.DefaultLookupLimit},
		{"limit", targets.User, "dept", "eng", 2, []string{"ada", "bob"}, 2},
		{"other kind", targets.Group, "userName", "ada", 1, []string{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gw.Lookup(ctx, tt.kind, tt.attr, tt.value, tt.limit)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if call := <-f.started; call != fmt.Sprintf("%s %s=%v limit %d", tt.kind, tt.attr, tt.value, tt.wantLimit) {
				t.Errorf("the connector's Lookup was called with %q", call)
			}
			if got == nil || len(got) != len(tt.want) {
				t.Fatalf("Lookup: %+v, want %v (an empty list for no match)", got, tt.want)
			}
			for i, name := range tt.want {
				if got[i].Anchor != anchors[name] || got[i].ObjectID != "id-"+name || got[i].Attrs["userName"] != name || got[i].Kind != tt.kind {
					t.Errorf("object %d: %+v, want %s with its object id", i, got[i], name)
				}
			}
		})
	}

	// Refused before anything is sent.
	for _, bad := range []struct {
		name, attr string
		kind       targets.Kind
		value      any
	}{
		{"null value", "userName", targets.User, nil},
		{"no attribute", "", targets.User, "ada"},
		{"unknown kind", "userName", "Robot", "ada"},
		{"value of an unknown type", "userName", targets.User, 3},
		{"invalid UTF-8", "userName", targets.User, "\xff"},
	} {
		_, err := gw.Lookup(ctx, bad.kind, bad.attr, bad.value, 0)
		if !isClass(err, targets.ErrPermanent) {
			t.Errorf("Lookup with %s: %v, want a permanent error", bad.name, err)
		}
	}
	select {
	case call := <-f.started:
		t.Errorf("an invalid lookup reached the connector: %s", call)
	default:
	}

	// The connector's errors keep their class.
	for _, tc := range []struct {
		err   error
		class error
		want  string
	}{
		{targets.Permanent(errors.New(`attribute "shoe" is not managed`)), targets.ErrPermanent, `attribute "shoe" is not managed`},
		{targets.Transient(errors.New("directory busy")), targets.ErrTransient, "directory busy"},
		{targets.Permanent(fmt.Errorf("groups: %w", errors.ErrUnsupported)), targets.ErrPermanent, "unsupported"},
	} {
		f.err = tc.err
		_, err := gw.Lookup(ctx, targets.User, "shoe", "x", 0)
		<-f.started
		if !isClass(err, tc.class) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("Lookup failing with %v: got %v, want class %v", tc.err, err, tc.class)
		}
	}
}

// TestLookupCancel: when the caller's context ends, the lookup fails at
// once with a transient error and the connector's Lookup sees its context
// end; a lookup whose context is already done is not sent.
func TestLookupCancel(t *testing.T) {
	gw := openGateway(t, withLookup)
	f := newFinding()
	f.release = make(chan struct{})
	startSDK(t, gw, f, nil)
	waitInstances(t, gw, 1)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := gw.Lookup(ctx, targets.User, "userName", "ada", 0)
		errc <- err
	}()
	<-f.started
	cancel()
	if err := <-errc; !isClass(err, targets.ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Lookup: %v, want a transient error matching context.Canceled", err)
	}
	select {
	case err := <-f.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the connector's Lookup ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connector's Lookup still runs after the gateway cancelled it")
	}

	done, stop := context.WithCancel(t.Context())
	stop()
	if _, err := gw.Lookup(done, targets.User, "userName", "ada", 0); !isClass(err, targets.ErrTransient) {
		t.Errorf("Lookup with a done context: %v, want a transient error", err)
	}
	select {
	case call := <-f.started:
		t.Errorf("a lookup with a done context reached the connector: %s", call)
	default:
	}
}

// TestLookupRegistration: lookup is asked for only by configuration. A
// target configured with it refuses a connector that does not declare it;
// one configured without it (the default) accepts any connector, reports
// Capabilities().Lookup false, and still sends lookups to a connector that
// declared lookup (as it sends any method: the connector answers).
func TestLookupRegistration(t *testing.T) {
	t.Run("configured, not declared", func(t *testing.T) {
		gw := openGateway(t, withLookup)
		r := startSDK(t, gw, memoryWithoutLookup(), nil)
		select {
		case <-r.done:
			if r.err == nil || !strings.Contains(r.err.Error(), "does not declare lookup") {
				t.Errorf("sdk.Run: %v, want a refusal naming lookup", r.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("sdk.Run did not end after a refusal")
		}
		wantLog(t, "gateway", gw.log.String, "connector refused", "capabilities.lookup")
	})
	t.Run("not configured, declared", func(t *testing.T) {
		gw := openGateway(t, nil)
		f := newFinding()
		startSDK(t, gw, f, nil)
		waitInstances(t, gw, 1)
		if gw.Capabilities().Lookup {
			t.Errorf("Capabilities().Lookup = true for a target not configured with lookup")
		}
		if !gw.Instances()[0].Capabilities.Lookup {
			t.Errorf("the instance's declared lookup is not reported")
		}
		if _, err := gw.Lookup(t.Context(), targets.User, "userName", "ada", 0); err != nil {
			t.Errorf("Lookup: %v", err)
		}
	})
}

// memoryWithoutLookup is the memory connector as a connector without
// lookup: neither the capability nor the method.
func memoryWithoutLookup() targets.Connector {
	caps := targets.Capabilities{Groups: true, Disable: true}
	return struct{ targets.Connector }{memory.New(memory.Config{Capabilities: &caps})}
}

// TestOldConnector: a connector of protocol minor 0, whose messages are
// encoded here by hand with the fields minor 0 has (nothing of lookup),
// registers with a target of the default configuration and serves it as
// before: the target reports Capabilities().Lookup false, its Lookup fails
// at once with ErrPermanent and errors.ErrUnsupported without sending the
// connector anything, and operations and reads round-trip. A target
// configured with lookup refuses it, saying why.
func TestOldConnector(t *testing.T) {
	gw := openGateway(t, nil)
	s := oldStream(t, gw)
	m := s.recv()
	if m.GetRegistered() == nil {
		t.Fatalf("registration: %v", m)
	}
	if gw.Capabilities().Lookup {
		t.Errorf("Capabilities().Lookup = true with an old connector")
	}
	waitInstances(t, gw, 1)
	if in := gw.Instances()[0]; in.Capabilities.Lookup || in.ProtocolMinor != 0 {
		t.Errorf("old instance %+v: want minor 0 without lookup", in)
	}

	start := time.Now()
	_, err := gw.Lookup(t.Context(), targets.User, "userName", "ada", 0)
	if !errors.Is(err, targets.ErrPermanent) || !errors.Is(err, errors.ErrUnsupported) || time.Since(start) > time.Second {
		t.Errorf("Lookup with an old connector: %v after %v, want ErrPermanent and errors.ErrUnsupported at once", err, time.Since(start))
	}

	// The first request the old connector receives is the Create, with
	// id 1: no lookup was sent before it.
	res := make(chan error, 1)
	var anchor string
	go func() {
		var err error
		anchor, err = gw.Create(t.Context(), targets.Op{ID: "op1", ObjectID: "obj1", Kind: targets.User, Attrs: map[string]any{"userName": "ada"}})
		res <- err
	}()
	req := s.nextRequest()
	if req.GetId() != 1 || req.GetOperation().GetMethod() != pb.Method_METHOD_CREATE {
		t.Fatalf("first request to the old connector: %v, want the Create with id 1", req)
	}
	s.sendOld(oldResponse(req.GetId(), 3, "anchor-1")) // Response.anchor
	if err := <-res; err != nil || anchor != "anchor-1" {
		t.Fatalf("Create through the old connector: %q, %v", anchor, err)
	}
	pres := make(chan error, 1)
	go func() {
		page, err := gw.List(t.Context(), targets.User, "", 0)
		if err == nil && (len(page.Objects) != 1 || page.Objects[0].Anchor != "anchor-1") {
			err = fmt.Errorf("page %+v", page)
		}
		pres <- err
	}()
	req = s.nextRequest()
	if req.GetList() == nil {
		t.Fatalf("second request: %v, want the List", req)
	}
	obj := protowire.AppendTag(nil, 1, protowire.VarintType) // Object.kind
	obj = protowire.AppendVarint(obj, uint64(pb.Kind_KIND_USER))
	obj = protowire.AppendTag(obj, 2, protowire.BytesType) // Object.anchor
	obj = protowire.AppendString(obj, "anchor-1")
	s.sendOld(oldResponse(req.GetId(), 5, string(obj))) // Response.objects
	if err := <-pres; err != nil {
		t.Errorf("List through the old connector: %v", err)
	}

	t.Run("refused by a target configured with lookup", func(t *testing.T) {
		gw := openGateway(t, withLookup)
		s := oldStream(t, gw)
		_, err := s.recvErr()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "does not declare lookup") {
			t.Errorf("old connector with a lookup target: %v, want FAILED_PRECONDITION naming lookup", err)
		}
	})
}

// oldConn is a connector stream of protocol minor 0 sending bytes encoded
// by hand.
type oldConn struct {
	t *testing.T
	s grpc.ClientStream
}

// oldStream opens a stream and sends a Register of minor 0 encoded by
// hand: name, version, protocol_minor 0 (absent), capabilities {groups,
// disable} and window; no field minor 0 does not have.
func oldStream(t *testing.T, gw *gateway) *oldConn {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testToken)
	s, err := dial(t, gw).NewStream(ctx, &pb.Gateway_ServiceDesc.Streams[0], pb.Gateway_Connect_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	var caps []byte
	caps = protowire.AppendTag(caps, 1, protowire.VarintType) // groups
	caps = protowire.AppendVarint(caps, 1)
	caps = protowire.AppendTag(caps, 2, protowire.VarintType) // disable
	caps = protowire.AppendVarint(caps, 1)
	var reg []byte
	reg = protowire.AppendTag(reg, 1, protowire.BytesType) // name
	reg = protowire.AppendString(reg, "app")
	reg = protowire.AppendTag(reg, 2, protowire.BytesType) // version
	reg = protowire.AppendString(reg, "old-0.9")
	reg = protowire.AppendTag(reg, 4, protowire.BytesType) // capabilities
	reg = protowire.AppendBytes(reg, caps)
	reg = protowire.AppendTag(reg, 5, protowire.VarintType) // window
	reg = protowire.AppendVarint(reg, 8)
	c := &oldConn{t: t, s: s}
	c.sendOld(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), reg)) // ConnectorMessage.register
	return c
}

// oldResponse encodes ConnectorMessage{response: Response{id, field: value}}
// with a bytes field of Response.
func oldResponse(id uint64, field protowire.Number, value string) []byte {
	var r []byte
	r = protowire.AppendTag(r, 1, protowire.VarintType) // id
	r = protowire.AppendVarint(r, id)
	r = protowire.AppendTag(r, field, protowire.BytesType)
	r = protowire.AppendString(r, value)
	return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), r)
}

func (c *oldConn) sendOld(b []byte) {
	c.t.Helper()
	if err := c.s.SendMsg(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *oldConn) recvErr() (*pb.GatewayMessage, error) {
	var b []byte
	if err := c.s.RecvMsg(&b); err != nil {
		return nil, err
	}
	m := &pb.GatewayMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		c.t.Fatalf("the gateway sent an undecodable message: %v", err)
	}
	return m, nil
}

func (c *oldConn) recv() *pb.GatewayMessage {
	c.t.Helper()
	m, err := c.recvErr()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return m
}

// nextRequest returns the next request, answering pings on the way.
func (c *oldConn) nextRequest() *pb.Request {
	c.t.Helper()
	for {
		m := c.recv()
		if p := m.GetPing(); p != nil {
			pong := protowire.AppendTag(nil, 1, protowire.VarintType)
			pong = protowire.AppendVarint(pong, p.GetNonce())
			c.sendOld(protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), pong)) // ConnectorMessage.pong
			continue
		}
		if r := m.GetRequest(); r != nil {
			return r
		}
	}
}

// registerLookup registers a raw stream of minor 1 declaring lookup.
func registerLookup(t *testing.T, gw *gateway) pb.Gateway_ConnectClient {
	t.Helper()
	s := rawStream(t, gw)
	m := register("app")
	m.GetRegister().ProtocolMinor = 1
	m.GetRegister().Capabilities.Lookup = true
	if err := s.Send(m); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(); err != nil || r.GetRegistered().GetProtocolMinor() != 1 {
		t.Fatalf("registration: %v, %v; want Registered with protocol minor 1", r, err)
	}
	return s
}

// nextRequest reads the next request of a raw stream.
func nextRequest(t *testing.T, s pb.Gateway_ConnectClient) *pb.Request {
	t.Helper()
	for {
		m, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if r := m.GetRequest(); r != nil {
			return r
		}
	}
}

func user(anchor string) *pb.Object { return &pb.Object{Kind: pb.Kind_KIND_USER, Anchor: anchor} }

// TestHostileLookup: a connector answering lookups with garbage fails only
// those calls, with a permanent error naming the violation, and stays
// registered; the gateway accepts no more objects than the limit it sent.
func TestHostileLookup(t *testing.T) {
	gw := openGateway(t, withLookup)
	s := registerLookup(t, gw)
	many := make([]*pb.Object, grpctarget.DefaultLookupLimit+1)
	for i := range many {
		many[i] = user(fmt.Sprint("a", i))
	}
	tests := []struct {
		name   string
		limit  int
		answer func(id uint64) *pb.Response
		want   string // "" for success
	}{
		{"more objects than the limit", 2, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{user("a1"), user("a2"), user("a3")}}
		}, "3 objects answer a lookup with limit 2"},
		{"more objects than the default limit", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: many}
		}, fmt.Sprintf("%d objects answer a lookup with limit %d", len(many), grpctarget.DefaultLookupLimit)},
		{"object of another kind", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{{Kind: pb.Kind_KIND_GROUP, Anchor: "g1"}}}
		}, `asked for User objects, got Group "g1"`},
		{"object without a kind", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{{Anchor: "a1"}}}
		}, "unknown kind"},
		{"object without an anchor", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{user("")}}
		}, "empty anchor"},
		{"object twice", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{user("a1"), user("a1")}}
		}, `object "a1" answered twice`},
		{"attribute with an empty name", 0, func(id uint64) *pb.Response {
			o := user("a1")
			o.Attributes = map[string]*pb.Value{"": {}}
			return &pb.Response{Id: id, Objects: []*pb.Object{o}}
		}, "empty name"},
		{"not found for no match", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Error: &pb.Error{Code: pb.Code_CODE_NOT_FOUND, Message: "nobody"}}
		}, "answered CODE_NOT_FOUND (no match is an empty list)"},
		{"conflict", 0, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Error: &pb.Error{Code: pb.Code_CODE_CONFLICT, ConflictAnchor: "a9"}}
		}, "answered CODE_CONFLICT"},
		{"a page's cursor and a get's object are ignored", 1, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{user("a1")}, NextCursor: "more", Object: user("zz"), Anchor: "x"}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				objs []targets.Object
				err  error
			}
			res := make(chan result, 1)
			go func() {
				objs, err := gw.Lookup(t.Context(), targets.User, "userName", "ada", tt.limit)
				res <- result{objs, err}
			}()
			req := nextRequest(t, s)
			l := req.GetLookup()
			wantLimit := int32(tt.limit)
			if tt.limit == 0 {
				wantLimit = grpctarget.DefaultLookupLimit
			}
			if l == nil || l.GetKind() != pb.Kind_KIND_USER || l.GetAttribute() != "userName" || l.GetValue().GetStringValue() != "ada" || l.GetLimit() != wantLimit {
				t.Fatalf("request %v, want the lookup of userName ada with limit %d", req, wantLimit)
			}
			if err := s.Send(response(tt.answer(req.GetId()))); err != nil {
				t.Fatal(err)
			}
			r := <-res
			switch {
			case tt.want == "" && (r.err != nil || len(r.objs) != 1 || r.objs[0].Anchor != "a1"):
				t.Errorf("Lookup: %+v, %v; want a1", r.objs, r.err)
			case tt.want != "" && (!isClass(r.err, targets.ErrPermanent) || !strings.Contains(fmt.Sprint(r.err), tt.want) || r.objs != nil):
				t.Errorf("Lookup: %+v, %v; want no objects and a permanent error saying %q", r.objs, r.err, tt.want)
			case tt.want != "" && !strings.Contains(fmt.Sprint(r.err), "broke the protocol"):
				t.Errorf("Lookup: %v; want it to say the connector broke the protocol", r.err)
			}
		})
	}
	if n := len(gw.Instances()); n != 1 {
		t.Errorf("%d instances after the garbage answers, want the connector still registered", n)
	}

	// An answer larger than max_message_bytes ends the stream: the call
	// fails with a transient error, and the gateway serves a good
	// connector after it.
	t.Run("oversized answer", func(t *testing.T) {
		gw := openGateway(t, func(c *grpctarget.Config, tg *targets.Env) {
			withLookup(c, tg)
			c.MaxMessageBytes = 4096
		})
		s := registerLookup(t, gw)
		errc := make(chan error, 1)
		go func() {
			_, err := gw.Lookup(t.Context(), targets.User, "userName", "ada", 1)
			errc <- err
		}()
		req := nextRequest(t, s)
		big := user("a1")
		big.Attributes = map[string]*pb.Value{"blob": {Kind: &pb.Value_StringValue{StringValue: strings.Repeat("x", 8192)}}}
		s.Send(response(&pb.Response{Id: req.GetId(), Objects: []*pb.Object{big}}))
		if err := <-errc; !isClass(err, targets.ErrTransient) || !errors.Is(err, grpctarget.ErrConnectionLost) {
			t.Errorf("Lookup answered by an oversized message: %v, want a transient ErrConnectionLost", err)
		}
		wantEnd(t, s, codes.ResourceExhausted, "larger than max")
		waitInstances(t, gw, 0)
		f := newFinding()
		startSDK(t, gw, f, nil)
		waitInstances(t, gw, 1)
		if _, err := gw.Lookup(t.Context(), targets.User, "userName", "ada", 1); err != nil {
			t.Errorf("Lookup through a good connector after the oversized answer: %v", err)
		}
	})
}
