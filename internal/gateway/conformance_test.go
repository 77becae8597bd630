package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/conformance"
)

// TestConformance runs the SCIM conformance suite against a real gateway:
// every check must pass and none may be skipped, since the gateway
// advertises every feature the suite knows.
func TestConformance(t *testing.T) {
	base := startGateway(t, nil)
	var out strings.Builder
	passed, failed, err := conformance.RunSCIM(context.Background(), conformance.SCIMConfig{BaseURL: base, Token: testToken}, &out)
	if err != nil {
		t.Fatalf("RunSCIM: %v\n%s", err, out.String())
	}
	if failed > 0 || passed == 0 || strings.Contains(out.String(), "SKIP") {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out.String())
	}
	t.Logf("%d passed, %d failed", passed, failed)
}
