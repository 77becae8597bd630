package grpctarget_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/memory"
)

// dial returns a client of gw's endpoint, closed when the test ends.
func dial(t *testing.T, gw *gateway, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(gw.Addr(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// rawStream opens a Connect stream with the test token, written by hand:
// a connector that may break every rule.
func rawStream(t *testing.T, gw *gateway) pb.Gateway_ConnectClient {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testToken)
	s, err := pb.NewGatewayClient(dial(t, gw)).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func register(name string) *pb.ConnectorMessage {
	return &pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Register{Register: &pb.Register{
		Name: name, Capabilities: &pb.Capabilities{Groups: true, Disable: true}}}}
}

func response(r *pb.Response) *pb.ConnectorMessage {
	return &pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Response{Response: r}}
}

// registerRaw registers a raw stream and returns it after Registered.
func registerRaw(t *testing.T, gw *gateway) pb.Gateway_ConnectClient {
	t.Helper()
	s := rawStream(t, gw)
	if err := s.Send(register("app")); err != nil {
		t.Fatal(err)
	}
	m, err := s.Recv()
	if err != nil || m.GetRegistered() == nil {
		t.Fatalf("registration: %v, %v", m, err)
	}
	return s
}

// wantEnd waits for the gateway to end stream s with code, its message
// containing msg.
func wantEnd(t *testing.T, s pb.Gateway_ConnectClient, code codes.Code, msg string) {
	t.Helper()
	for {
		_, err := s.Recv()
		if err == nil {
			continue // pings, requests
		}
		if st := status.Convert(err); st.Code() != code || !strings.Contains(st.Message(), msg) {
			t.Errorf("stream ended with %v, want %v saying %q", err, code, msg)
		}
		return
	}
}

// wantServing checks that gw still works: a well-behaved connector
// registers and an operation round-trips.
func wantServing(t *testing.T, gw *gateway) {
	t.Helper()
	mem := memory.New(memory.Config{})
	r := startSDK(t, gw, mem, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := gw.Create(t.Context(), targets.Op{ID: "ok", ObjectID: "ok", Kind: targets.User, Attrs: map[string]any{"userName": "ok"}})
		if err == nil && len(mem.Snapshot()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway does not serve a good connector after the hostile one: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop(t)
}

// TestHostileStreams: a connector breaking the protocol has its stream
// ended with a status saying why; the gateway stays up and serves others.
func TestHostileStreams(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*grpctarget.Config)
		run  func(t *testing.T, gw *gateway)
	}{
		{"response before register", nil, func(t *testing.T, gw *gateway) {
			s := rawStream(t, gw)
			s.Send(response(&pb.Response{Id: 1, Anchor: "x"}))
			wantEnd(t, s, codes.InvalidArgument, "the first message must be a Register, got Response")
		}},
		{"empty message", nil, func(t *testing.T, gw *gateway) {
			s := rawStream(t, gw)
			s.Send(&pb.ConnectorMessage{})
			wantEnd(t, s, codes.InvalidArgument, "got an empty message")
		}},
		{"nil capabilities", nil, func(t *testing.T, gw *gateway) {
			s := rawStream(t, gw)
			s.Send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Register{Register: &pb.Register{Name: "app"}}})
			wantEnd(t, s, codes.FailedPrecondition, "does not declare groups")
		}},
		{"attribute of unknown kind", nil, func(t *testing.T, gw *gateway) {
			s := rawStream(t, gw)
			m := register("app")
			m.GetRegister().Capabilities.Attributes = []*pb.AttributeSchema{{Kind: 42, Name: "x"}}
			s.Send(m)
			wantEnd(t, s, codes.InvalidArgument, "unknown kind")
		}},
		{"lookup declared with protocol minor 0", nil, func(t *testing.T, gw *gateway) {
			s := rawStream(t, gw)
			m := register("app")
			m.GetRegister().Capabilities.Lookup = true
			s.Send(m)
			wantEnd(t, s, codes.InvalidArgument, "capabilities.lookup is protocol minor 1, but the Register says protocol_minor 0")
		}},
		{"second register", nil, func(t *testing.T, gw *gateway) {
			s := registerRaw(t, gw)
			s.Send(register("app"))
			wantEnd(t, s, codes.InvalidArgument, "a second Register")
		}},
		{"response to a request never sent", nil, func(t *testing.T, gw *gateway) {
			s := registerRaw(t, gw)
			s.Send(response(&pb.Response{Id: 7, Anchor: "forged"}))
			wantEnd(t, s, codes.InvalidArgument, "a response to request 7, which was never sent")
			wantLog(t, "gateway", gw.log.String, "protocol violation")
		}},
		{"oversized message", func(c *grpctarget.Config) { c.MaxMessageBytes = 4096 }, func(t *testing.T, gw *gateway) {
			s := registerRaw(t, gw)
			s.Send(response(&pb.Response{Id: 1, Anchor: strings.Repeat("x", 8192)}))
			wantEnd(t, s, codes.ResourceExhausted, "larger than max")
		}},
		{"no register", nil, func(t *testing.T, gw *gateway) {
			// RegisterTimeout is 10s: the stream waits, then ends.
			if testing.Short() {
				t.Skip("SKIPPED (-short): waits for the registration timeout")
			}
			s := rawStream(t, gw)
			wantEnd(t, s, codes.DeadlineExceeded, "no Register within")
		}},
		{"silent after registering", func(c *grpctarget.Config) { c.Keepalive = 100 * time.Millisecond }, func(t *testing.T, gw *gateway) {
			s := registerRaw(t, gw) // reads, never answers pings
			wantEnd(t, s, codes.Unavailable, "no message from the connector for")
			waitInstances(t, gw, 0)
		}},
		{"garbage bytes", nil, func(t *testing.T, gw *gateway) {
			cc := dial(t, gw)
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testToken)
			s, err := cc.NewStream(ctx, &pb.Gateway_ServiceDesc.Streams[0], pb.Gateway_Connect_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			s.SendMsg([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x99})
			var out []byte
			err = s.RecvMsg(&out)
			if st := status.Convert(err); st.Code() == codes.OK {
				t.Errorf("garbage accepted: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) {
				if tt.cfg != nil {
					tt.cfg(c)
				}
			})
			tt.run(t, gw)
			// The client sees the stream's end a moment before the
			// gateway has dropped its instance.
			waitInstances(t, gw, 0)
			wantServing(t, gw)
		})
	}
}

// TestHostileResponses: malformed answers to real requests fail only those
// calls, with the right class, and never reach another call: forged
// answers for requests answered before are ignored, floods of them and of
// pings included.
func TestHostileResponses(t *testing.T) {
	gw := openGateway(t, nil)
	s := registerRaw(t, gw)
	type result struct {
		v   any
		err error
	}
	call := func(fn func() (any, error)) <-chan result {
		ch := make(chan result, 1)
		go func() { v, err := fn(); ch <- result{v, err} }()
		return ch
	}
	// next reads the next request.
	next := func() *pb.Request {
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
	create := func(id string) func() (any, error) {
		return func() (any, error) {
			return gw.Create(t.Context(), targets.Op{ID: id, ObjectID: id, Kind: targets.User, Attrs: map[string]any{"userName": id}})
		}
	}
	get := func() (any, error) { return gw.Get(t.Context(), targets.User, "a1") }
	list := func() (any, error) { return gw.List(t.Context(), targets.User, "", 0) }
	tests := []struct {
		name   string
		fn     func() (any, error)
		answer func(id uint64) *pb.Response
		class  error
		want   string
	}{
		{"create without an anchor", create("c1"), func(id uint64) *pb.Response { return &pb.Response{Id: id} }, targets.ErrPermanent, "a successful Create without an anchor"},
		{"unknown error code", create("c2"), func(id uint64) *pb.Response { return &pb.Response{Id: id, Error: &pb.Error{Code: 99, Message: "??"}} }, targets.ErrTransient, "??"},
		{"empty error", create("c3"), func(id uint64) *pb.Response { return &pb.Response{Id: id, Error: &pb.Error{}} }, targets.ErrTransient, ""},
		{"huge error message", create("c4"), func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Error: &pb.Error{Code: pb.Code_CODE_PERMANENT, Message: strings.Repeat("m", 100000)}}
		}, targets.ErrPermanent, "mmm..."},
		{"get without an object", get, func(id uint64) *pb.Response { return &pb.Response{Id: id} }, targets.ErrPermanent, "without an object"},
		{"get of another object", get, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Object: &pb.Object{Kind: pb.Kind_KIND_USER, Anchor: "a2"}}
		}, targets.ErrPermanent, `asked for User "a1", got User "a2"`},
		{"list with an object without kind", list, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Objects: []*pb.Object{{Anchor: "a1"}}}
		}, targets.ErrPermanent, "unknown kind"},
		{"object with an empty attribute name", get, func(id uint64) *pb.Response {
			return &pb.Response{Id: id, Object: &pb.Object{Kind: pb.Kind_KIND_USER, Anchor: "a1", Attributes: map[string]*pb.Value{"": {}}}}
		}, targets.ErrPermanent, "empty name"},
	}
	var lastID uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(tt.fn)
			req := next()
			lastID = req.GetId()
			s.Send(response(tt.answer(req.GetId())))
			r := <-res
			if !isClass(r.err, tt.class) || !strings.Contains(fmt.Sprint(r.err), tt.want) {
				t.Errorf("got %v, %v; want an error of class %v saying %q", r.v, r.err, tt.class, tt.want)
			}
			if len(fmt.Sprint(r.err)) > 4096 {
				t.Errorf("error of %d bytes: the connector's message is not bounded", len(fmt.Sprint(r.err)))
			}
		})
	}

	t.Run("flood of late answers and pings", func(t *testing.T) {
		res := call(create("real"))
		req := next()
		// Answers to requests answered before, and pings, by the thousand,
		// while the real request waits.
		for i := range 5000 {
			s.Send(response(&pb.Response{Id: uint64(i%int(lastID)) + 1, Anchor: "forged"}))
			s.Send(&pb.ConnectorMessage{Msg: &pb.ConnectorMessage_Ping{Ping: &pb.Ping{Nonce: uint64(i)}}})
		}
		s.Send(response(&pb.Response{Id: req.GetId(), Anchor: "real-anchor"}))
		r := <-res
		if r.err != nil || r.v != "real-anchor" {
			t.Errorf("Create during the flood: %v, %v; want the real answer", r.v, r.err)
		}
		if n := len(gw.Instances()); n != 1 {
			t.Errorf("%d instances after the flood, want the flooding one still registered", n)
		}
	})
	s.CloseSend()
	waitInstances(t, gw, 0)
	wantServing(t, gw)
}

// rawCodec sends bytes as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
