package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/review"
)

// TestReplicasShareReviewKey: two replicas on one PostgreSQL store sign
// the reviewer page's links with the same key (kept in the store), so
// that a link in a notice sent by the replica that runs the background
// work opens on any replica behind the load balancer; each replica's
// /healthz says whether it runs the background work, and one does.
func TestReplicasShareReviewKey(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	name, _ := srv.NewDatabase(t)
	t.Setenv("GATEWAY_TEST_STORE_DSN", srv.DSN(name))
	shared := func(c *config.Config) {
		c.Store = config.Store{Type: config.StorePostgres, DSNEnv: "GATEWAY_TEST_STORE_DSN", LeaseTTL: c.Store.LeaseTTL}
		c.Notifications = nil
		c.Reviews = []review.Config{} // API-defined reviews: the pages are served
	}
	a, b := runGateway(t, shared), runGateway(t, shared)
	if a.reviewWeb == nil || b.reviewWeb == nil {
		t.Fatal("no reviewer pages")
	}
	for _, tc := range []struct{ name, link, on string }{
		{"a's link on b", a.reviewWeb.Link("mia@contoso.example"), strings.TrimSuffix(b.BaseURL(), "/scim/v2")},
		{"b's link on a", b.reviewWeb.Link("mia@contoso.example"), strings.TrimSuffix(a.BaseURL(), "/scim/v2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := strings.Index(tc.link, "/reviews/")
			if i < 0 {
				t.Fatalf("link %q", tc.link)
			}
			resp, err := http.Get(tc.on + tc.link[i:])
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign in") {
				t.Errorf("GET the link: %d %s", resp.StatusCode, body)
			}
		})
	}
}
