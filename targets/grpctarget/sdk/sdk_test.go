package sdk_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

// scriptedGateway is a gateway written by hand: it accepts the
// registration, then runs script on the stream.
type scriptedGateway struct {
	pb.UnimplementedGatewayServer
	script func(stream pb.Gateway_ConnectServer) error
	regs   chan *pb.Register // when set, receives each Register
}

func (g *scriptedGateway) Connect(stream pb.Gateway_ConnectServer) error {
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	if g.regs != nil {
		g.regs <- m.GetRegister()
	}
	if err := stream.Send(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Registered{Registered: &pb.Registered{InstanceId: "x", Window: 8}}}); err != nil {
		return err
	}
	return g.script(stream)
}

// serve runs a scripted gateway and sdk.Run against it with impl.
func serve(t *testing.T, impl targets.Connector, script func(pb.Gateway_ConnectServer) error) {
	t.Helper()
	serveWith(t, impl, sdk.Options{Window: 8, Logger: slog.New(slog.DiscardHandler)}, script)
}

// serveWith is serve with opts (Address and Name are set here).
func serveWith(t *testing.T, impl targets.Connector, opts sdk.Options, script func(pb.Gateway_ConnectServer) error) {
	t.Helper()
	serveGateway(t, impl, opts, &scriptedGateway{script: script})
}

// serveGateway runs gw and sdk.Run against it with impl and opts.
func serveGateway(t *testing.T, impl targets.Connector, opts sdk.Options, gw *scriptedGateway) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterGatewayServer(srv, gw)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		opts.Address, opts.Name = ln.Addr().String(), "app"
		sdk.Run(ctx, impl, opts)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func update(id uint64, object, value string) *pb.GatewayMessage {
	return &pb.GatewayMessage{Msg: &pb.GatewayMessage_Request{Request: &pb.Request{Id: id, Call: &pb.Request_Operation{Operation: &pb.Operation{
		OpId: object + value, Method: pb.Method_METHOD_UPDATE, Kind: pb.Kind_KIND_USER, ObjectId: object, Anchor: "a-" + object,
		Attributes: map[string]*pb.Value{"v": {Kind: &pb.Value_StringValue{StringValue: value}}}}}}}}
}

// recorder records the values its Updates set, in order, the first one
// slowly.
type recorder struct {
	*memory.Connector
	mu     sync.Mutex
	values []string
}

func (r *recorder) Update(ctx context.Context, op targets.Op) error {
	if op.Attrs["v"] == "first" {
		time.Sleep(100 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, op.ObjectID+"="+op.Attrs["v"].(string))
	return nil
}

// TestPerObjectOrder: operations on one object run in the order received,
// even when the first is slow; another object's operation does not wait.
func TestPerObjectOrder(t *testing.T) {
	rec := &recorder{Connector: memory.New(memory.Config{})}
	answers := make(chan []uint64, 1)
	serve(t, rec, func(s pb.Gateway_ConnectServer) error {
		s.Send(update(1, "o1", "first"))
		s.Send(update(2, "o1", "second"))
		s.Send(update(3, "o2", "other"))
		var ids []uint64
		for len(ids) < 3 {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if r := m.GetResponse(); r != nil {
				if r.GetError() != nil {
					t.Errorf("response %d: %v", r.GetId(), r.GetError())
				}
				ids = append(ids, r.GetId())
			}
		}
		answers <- ids
		<-s.Context().Done()
		return nil
	})
	select {
	case ids := <-answers:
		if ids[0] != 3 || ids[1] != 1 || ids[2] != 2 {
			t.Errorf("answers in the order %v, want 3 (other object, not waiting), then 1, 2", ids)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answers")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.values) != 3 || rec.values[1] != "o1=first" || rec.values[2] != "o1=second" {
		t.Errorf("updates ran in the order %v", rec.values)
	}
}

// blockUntilCancel blocks its Updates until their context ends.
type blockUntilCancel struct {
	*memory.Connector
	cancelled chan error
}

func (b *blockUntilCancel) Update(ctx context.Context, op targets.Op) error {
	<-ctx.Done()
	b.cancelled <- ctx.Err()
	return targets.Transient(ctx.Err())
}

// TestCancelAndTimeout: a Cancel, and a request's timeout, end the
// connector's call's context.
func TestCancelAndTimeout(t *testing.T) {
	b := &blockUntilCancel{Connector: memory.New(memory.Config{}), cancelled: make(chan error, 2)}
	serve(t, b, func(s pb.Gateway_ConnectServer) error {
		s.Send(update(1, "o1", "x"))
		timed := update(2, "o2", "y")
		timed.GetRequest().TimeoutMillis = 50
		s.Send(timed)
		time.Sleep(20 * time.Millisecond)
		s.Send(&pb.GatewayMessage{Msg: &pb.GatewayMessage_Cancel{Cancel: &pb.Cancel{Id: 1}}})
		<-s.Context().Done()
		return nil
	})
	got := map[bool]int{}
	for range 2 {
		select {
		case err := <-b.cancelled:
			got[errors.Is(err, context.DeadlineExceeded)]++
		case <-time.After(10 * time.Second):
			t.Fatal("a call's context did not end")
		}
	}
	if got[true] != 1 || got[false] != 1 {
		t.Errorf("context ends: %v, want one cancel and one deadline", got)
	}
}

// TestOptions: Run refuses incomplete options at once.
func TestOptions(t *testing.T) {
	for _, o := range []sdk.Options{
		{Name: "x"},
		{Address: "127.0.0.1:1"},
		{Address: "127.0.0.1:1", Name: "x", Attributes: []sdk.Attribute{{Kind: "Robot", Name: "a"}}},
		{Address: "127.0.0.1:1", Name: "x", Window: -1},
	} {
		if err := sdk.Run(context.Background(), memory.New(memory.Config{}), o); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", o)
		}
	}
}

// TestUnknownMethod: an operation of a newer protocol version is answered
// CODE_UNSUPPORTED, and the connector is not called.
func TestUnknownMethod(t *testing.T) {
	mem := memory.New(memory.Config{})
	got := make(chan *pb.Response, 1)
	serve(t, mem, func(s pb.Gateway_ConnectServer) error {
		m := update(1, "o1", "x")
		m.GetRequest().GetOperation().Method = 99
		s.Send(m)
		for {
			r, err := s.Recv()
			if err != nil {
				return err
			}
			if r.GetResponse() != nil {
				got <- r.GetResponse()
				<-s.Context().Done()
				return nil
			}
		}
	})
	select {
	case r := <-got:
		if r.GetError().GetCode() != pb.Code_CODE_UNSUPPORTED {
			t.Errorf("response %v, want CODE_UNSUPPORTED", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
	}
	if len(mem.Calls()) != 0 {
		t.Errorf("the connector was called")
	}
}

// records is a slog.Handler that passes each record to a channel, dropping
// those nobody reads.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec.Clone():
	default:
	}
	return nil
}

// TestSilentGateway: when the gateway stops sending anything (not even
// pings) the connector ends the session and logs that reason, not the
// context cancellation it ends the stream with.
func TestSilentGateway(t *testing.T) {
	logs := make(records, 16)
	opts := sdk.Options{Keepalive: 20 * time.Millisecond, Logger: slog.New(logs)}
	serveWith(t, memory.New(memory.Config{}), opts, func(s pb.Gateway_ConnectServer) error {
		for { // read the connector's pings, answer nothing
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
	})
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rec := <-logs:
			if rec.Message != "not connected to the gateway; retrying" {
				continue
			}
			var reason string
			rec.Attrs(func(a slog.Attr) bool {
				if a.Key == "err" {
					reason = a.Value.String()
				}
				return true
			})
			if want := "no message from the gateway for 60ms"; reason != want {
				t.Errorf("the session ended with %q, want %q", reason, want)
			}
			return
		case <-deadline:
			t.Fatal("the connector did not end the session with a silent gateway")
		}
	}
}
