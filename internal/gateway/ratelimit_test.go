package gateway

import (
	"io"
	"net/http"
	"testing"

	"github.com/scimgate/scimgate/internal/auth"
	"github.com/scimgate/scimgate/internal/config"
)

// TestBadCredentialsRateLimited: after auth.DefaultMaxBadAttempts bad
// credentials from one address, the SCIM endpoints and the admin API
// answer 429 with Retry-After, even to that address's valid token. (The
// window's end is tested on a fake clock in internal/auth.)
func TestBadCredentialsRateLimited(t *testing.T) {
	for _, tc := range []struct{ name, path, valid string }{
		{"scim", "/scim/v2/Users", testToken},
		{"admin", "/admin/v1/audit", adminToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := runGateway(t, func(c *config.Config) { c.Admin.Tokens = []config.Secret{adminToken} })
			send := func(token string) *http.Response {
				t.Helper()
				req, err := http.NewRequest(http.MethodGet, "http://"+g.Addr()+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			if resp := send(tc.valid); resp.StatusCode != 200 {
				t.Fatalf("valid token: %d", resp.StatusCode)
			}
			for i := range auth.DefaultMaxBadAttempts {
				if resp := send("wrong-token-0123456789abcdef0123456789"); resp.StatusCode != 401 {
					t.Fatalf("bad attempt %d: %d, want 401", i+1, resp.StatusCode)
				}
			}
			resp := send(tc.valid)
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("after %d bad attempts: %d, Retry-After %q; want 429 with Retry-After",
					auth.DefaultMaxBadAttempts, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		})
	}
}
