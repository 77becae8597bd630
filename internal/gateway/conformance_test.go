package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/conformance"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
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

// TestConformanceOnServers runs the SCIM conformance suite against a
// gateway whose store is a PostgreSQL, then a MariaDB database (throwaway
// servers): SCIM behaves the same on every backend.
func TestConformanceOnServers(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		start func(testing.TB) *dbtest.Server
	}{
		{config.StorePostgres, dbtest.StartPostgres},
		{config.StoreMySQL, dbtest.StartMariaDB},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv := tc.start(t)
			name, _ := srv.NewDatabase(t)
			t.Setenv("GATEWAY_TEST_STORE_DSN", srv.DSN(name))
			base := startGateway(t, func(c *config.Config) {
				c.Store = config.Store{Type: tc.typ, DSNEnv: "GATEWAY_TEST_STORE_DSN", LeaseTTL: c.Store.LeaseTTL}
			})
			var out strings.Builder
			passed, failed, err := conformance.RunSCIM(context.Background(), conformance.SCIMConfig{BaseURL: base, Token: testToken}, &out)
			if err != nil {
				t.Fatalf("RunSCIM: %v\n%s", err, out.String())
			}
			if failed > 0 || passed == 0 || strings.Contains(out.String(), "SKIP") {
				t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out.String())
			}
			t.Logf("%d passed, %d failed", passed, failed)
		})
	}
}
