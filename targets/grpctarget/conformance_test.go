package grpctarget_test

import (
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestConformance runs the connector conformance suite against a grpc
// target whose connector is the memory connector served with the SDK over
// a real socket: the whole protocol, both ends. The target is configured
// with the capabilities the SDK declares for the memory connector (lookup
// when it implements targets.Finder and declares it), so that the suite
// checks every one of them through the protocol.
func TestConformance(t *testing.T) {
	mem := memory.New(memory.Config{})
	caps := mem.Capabilities()
	_, finder := any(mem).(targets.Finder)
	caps.Lookup = caps.Lookup && finder
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) { c.Capabilities = &caps })
	startSDK(t, gw, mem, nil)
	waitInstances(t, gw, 1)
	if got := gw.Instances()[0].Capabilities; got != caps {
		t.Fatalf("the memory connector declared %+v through the SDK, want %+v", got, caps)
	}
	connector.Run(t, func(t *testing.T) targets.Connector { return noClose{gw.Connector} })
}
