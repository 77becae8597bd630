package memory_test

import (
	"testing"

	"github.com/scimgate/scimgate/conformance"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

func TestConformance(t *testing.T) {
	conformance.RunConnector(t, func(t *testing.T) targets.Connector { return new(memory.Connector) })
}
