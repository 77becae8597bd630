package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

// lookuper is a connector implementing targets.Finder, declaring
// Capabilities.Lookup when declares is set. Its Lookup reports each call
// on calls and answers by attribute: "many" three objects, "down" a
// transient error, "shoe" a permanent one, anything else one object.
type lookuper struct {
	*memory.Connector
	declares bool
	calls    chan string
}

func newLookuper(declares bool) *lookuper {
	return &lookuper{Connector: memory.New(memory.Config{}), declares: declares, calls: make(chan string, 100)}
}

func (l *lookuper) Capabilities() targets.Capabilities {
	c := l.Connector.Capabilities()
	c.Lookup = l.declares
	return c
}

func (l *lookuper) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	l.calls <- fmt.Sprintf("%s %s=%#v limit %d", kind, attr, value, limit)
	switch attr {
	case "many":
		return []targets.Object{{Kind: kind, Anchor: "a1"}, {Kind: kind, Anchor: "a2"}, {Kind: kind, Anchor: "a3"}}, nil
	case "down":
		return nil, targets.Transient(errors.New("directory down"))
	case "shoe":
		return nil, targets.Permanent(fmt.Errorf("attribute %q is not managed", attr))
	}
	return []targets.Object{{Kind: kind, Anchor: fmt.Sprint("a-", value), ObjectID: "o1", Attrs: map[string]any{attr: value}}}, nil
}

// withoutLookup is a connector of before lookup: neither the capability
// nor the method.
func withoutLookup() targets.Connector {
	caps := targets.Capabilities{Groups: true, Disable: true}
	return struct{ targets.Connector }{memory.New(memory.Config{Capabilities: &caps})}
}

// TestLookupDeclared: the SDK registers with protocol minor 1 and declares
// lookup exactly for a connector that implements targets.Finder and
// declares Capabilities.Lookup; any other registers as before. A connector
// declaring Capabilities.Lookup without a Lookup method is refused by Run.
func TestLookupDeclared(t *testing.T) {
	tests := []struct {
		name string
		impl targets.Connector
		want bool
	}{
		{"finder declaring lookup", newLookuper(true), true},
		{"finder not declaring lookup", newLookuper(false), false},
		{"connector without lookup", withoutLookup(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := &scriptedGateway{regs: make(chan *pb.Register, 1), script: func(s pb.Gateway_ConnectServer) error {
				<-s.Context().Done()
				return nil
			}}
			serveGateway(t, tt.impl, sdk.Options{Logger: slog.New(slog.DiscardHandler)}, gw)
			select {
			case reg := <-gw.regs:
				if got := reg.GetCapabilities().GetLookup(); got != tt.want || reg.GetProtocolMinor() != 1 || !reg.GetCapabilities().GetGroups() {
					t.Errorf("Register %v: lookup %v, want %v, with protocol minor 1 and the other capabilities", reg, got, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no Register")
			}
		})
	}
	t.Run("declares lookup without Finder", func(t *testing.T) {
		impl := struct{ targets.Connector }{newLookuper(true)}
		err := sdk.Run(context.Background(), impl, sdk.Options{Address: "127.0.0.1:1", Name: "app"})
		if err == nil || !strings.Contains(err.Error(), "declares Capabilities.Lookup but does not implement targets.Finder") {
			t.Errorf("Run: %v, want a refusal", err)
		}
	})
}

// lookupRequest is a LookupRequest with the given id.
func lookupRequest(id uint64, kind pb.Kind, attr string, value *pb.Value, limit int32) *pb.GatewayMessage {
	return &pb.GatewayMessage{Msg: &pb.GatewayMessage_Request{Request: &pb.Request{Id: id, Call: &pb.Request_Lookup{Lookup: &pb.LookupRequest{
		Kind: kind, Attribute: attr, Value: value, Limit: limit}}}}}
}

func str(s string) *pb.Value { return &pb.Value{Kind: &pb.Value_StringValue{StringValue: s}} }

// lookups sends each request to a connector served with impl and opts, and
// returns the responses by request id.
func lookups(t *testing.T, impl targets.Connector, opts sdk.Options, reqs []*pb.GatewayMessage) map[uint64]*pb.Response {
	t.Helper()
	got := make(chan map[uint64]*pb.Response, 1)
	opts.Logger = slog.New(slog.DiscardHandler)
	serveWith(t, impl, opts, func(s pb.Gateway_ConnectServer) error {
		for _, r := range reqs {
			if err := s.Send(r); err != nil {
				return err
			}
		}
		resps := map[uint64]*pb.Response{}
		for len(resps) < len(reqs) {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if r := m.GetResponse(); r != nil {
				resps[r.GetId()] = r
			}
		}
		got <- resps
		<-s.Context().Done()
		return nil
	})
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no responses")
		return nil
	}
}

// TestServeLookup: the SDK decodes a LookupRequest, checks it, calls the
// connector's Lookup with its kind, attribute, value and limit, and
// answers the objects, or the error with its class. Malformed requests and
// undeclared attributes are answered CODE_PERMANENT without calling the
// connector; more objects than the limit are not sent.
func TestServeLookup(t *testing.T) {
	l := newLookuper(true)
	opts := sdk.Options{Window: 32, Attributes: []sdk.Attribute{
		{Kind: targets.User, Name: "userName", Type: sdk.String}, {Kind: targets.User, Name: "n", Type: sdk.Int64},
		{Kind: targets.User, Name: "many"}, {Kind: targets.User, Name: "down"}, {Kind: targets.User, Name: "shoe"},
	}}
	user, group := pb.Kind_KIND_USER, pb.Kind_KIND_GROUP
	tests := []struct {
		req     *pb.GatewayMessage
		call    string  // the connector's call; "" for none
		code    pb.Code // CODE_UNSPECIFIED for success
		want    string  // the error message's part, or the anchors found
		anchors []string
	}{
		{lookupRequest(1, user, "userName", str("ada"), 2), `User userName="ada" limit 2`, 0, "", []string{"a-ada"}},
		{lookupRequest(2, user, "n", &pb.Value{Kind: &pb.Value_Int64Value{Int64Value: 5}}, 1), `User n=5 limit 1`, 0, "", []string{"a-5"}},
		{lookupRequest(3, group, "title", str("x"), 3), `Group title="x" limit 3`, 0, "", []string{"a-x"}},
		{lookupRequest(4, user, "many", str("x"), 3), `User many="x" limit 3`, 0, "", []string{"a1", "a2", "a3"}},
		{lookupRequest(5, user, "many", str("x"), 2), `User many="x" limit 2`, pb.Code_CODE_PERMANENT, "returned 3 objects, more than the limit 2", nil},
		{lookupRequest(6, user, "down", str("x"), 2), `User down="x" limit 2`, pb.Code_CODE_TRANSIENT, "directory down", nil},
		{lookupRequest(7, user, "shoe", str("x"), 2), `User shoe="x" limit 2`, pb.Code_CODE_PERMANENT, `attribute "shoe" is not managed`, nil},
		{lookupRequest(8, user, "userName", nil, 2), "", pb.Code_CODE_PERMANENT, "a lookup of null", nil},
		{lookupRequest(9, user, "", str("ada"), 2), "", pb.Code_CODE_PERMANENT, "empty", nil},
		{lookupRequest(10, 0, "userName", str("ada"), 2), "", pb.Code_CODE_PERMANENT, "unknown kind", nil},
		{lookupRequest(11, user, "userName", str("ada"), 0), "", pb.Code_CODE_PERMANENT, "limit 0", nil},
		{lookupRequest(12, user, "title", str("x"), 2), "", pb.Code_CODE_PERMANENT, `User attribute "title", which the connector does not declare`, nil},
	}
	var reqs []*pb.GatewayMessage
	var wantCalls []string
	for _, tt := range tests {
		reqs = append(reqs, tt.req)
		if tt.call != "" {
			wantCalls = append(wantCalls, tt.call)
		}
	}
	resps := lookups(t, l, opts, reqs)
	for _, tt := range tests {
		id := tt.req.GetRequest().GetId()
		r := resps[id]
		var anchors []string
		for _, o := range r.GetObjects() {
			anchors = append(anchors, o.GetAnchor())
		}
		if r.GetError().GetCode() != tt.code || !strings.Contains(r.GetError().GetMessage(), tt.want) || !slices.Equal(anchors, tt.anchors) {
			t.Errorf("request %d: response %v, want code %v saying %q, objects %v", id, r, tt.code, tt.want, tt.anchors)
		}
	}
	var calls []string
	for len(l.calls) > 0 {
		calls = append(calls, <-l.calls)
	}
	slices.Sort(calls)
	slices.Sort(wantCalls)
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("the connector's Lookup calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
	}
	if r := resps[1].GetObjects()[0]; r.GetObjectId() != "o1" || r.GetAttributes()["userName"].GetStringValue() != "ada" {
		t.Errorf("object found: %v, want its object id and attributes", r)
	}
}

// TestLookupNotDeclared: a lookup sent to a connector that did not
// declare lookup (a gateway breaking the rule) is answered
// CODE_UNSUPPORTED, and a Finder that did not declare it is not called.
func TestLookupNotDeclared(t *testing.T) {
	for _, impl := range []targets.Connector{withoutLookup(), newLookuper(false)} {
		resps := lookups(t, impl, sdk.Options{}, []*pb.GatewayMessage{lookupRequest(1, pb.Kind_KIND_USER, "userName", str("ada"), 2)})
		if r := resps[1]; r.GetError().GetCode() != pb.Code_CODE_UNSUPPORTED {
			t.Errorf("%T: response %v, want CODE_UNSUPPORTED", impl, r)
		}
		if l, ok := impl.(*lookuper); ok && len(l.calls) != 0 {
			t.Errorf("the Lookup of a connector not declaring it was called")
		}
	}
}
