package memory_test

import (
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

func TestConformance(t *testing.T) {
	connector.Run(t, func(t *testing.T) targets.Connector { return new(memory.Connector) })
}
