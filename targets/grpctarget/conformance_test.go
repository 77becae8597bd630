package grpctarget_test

import (
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestConformance runs the connector conformance suite against a grpc
// target whose connector is the memory connector served with the SDK over
// a real socket: the whole protocol, both ends.
func TestConformance(t *testing.T) {
	gw := openGateway(t, nil)
	startSDK(t, gw, memory.New(memory.Config{}), nil)
	waitInstances(t, gw, 1)
	connector.Run(t, func(t *testing.T) targets.Connector { return noClose{gw.Connector} })
}
