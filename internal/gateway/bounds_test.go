package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
)

// orTerms joins n terms made by term(i) with " or ".
func orTerms(n int, term func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = term(i)
	}
	return strings.Join(parts, " or ")
}

// TestFilterBounds: filters past the limits on length, comparisons and
// nesting are 400 invalidFilter naming the limit, never 500 (600 or terms
// were "too many terms in compound SELECT"), on GET and POST .search; a
// filter at the limits is answered.
func TestFilterBounds(t *testing.T) {
	c := client{t, startGateway(t, nil)}
	postUsers(t, c.base, 0, 5, 1)
	// u000003@contoso.com is one of the terms of the filters at the limits.
	userTerm := func(i int) string { return fmt.Sprintf(`userName eq "u%06d@contoso.com"`, i%10) }

	tests := []struct {
		name   string
		filter string
		detail string // "" : 200 with total
		total  int
	}{
		{"10 KB", orTerms(285, userTerm), "more than the limit of 8192 bytes", 0},
		{"600 or terms", orTerms(600, func(int) string { return "title pr" }), "more than the limit of 200 comparisons", 0},
		{"nested too deep", strings.Repeat("(", 33) + "userName pr" + strings.Repeat(")", 33), "deeper than the limit of 32", 0},
		{"200 comparisons", orTerms(200, func(i int) string { return fmt.Sprintf(`userName eq "u%06d@contoso.com"`, i) }), "", 5},
		{"32 deep", strings.Repeat("(", 32) + "userName pr" + strings.Repeat(")", 32), "", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client{t, c.base}
			for _, r := range []reply{
				c.do("GET", filterPath("/Users", tt.filter), nil),
				c.do("POST", "/Users/.search", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": tt.filter}),
			} {
				if tt.detail == "" {
					if r.status != 200 || r.body["totalResults"] != float64(tt.total) {
						t.Fatalf("status %d, want 200 with totalResults %d\n%s", r.status, tt.total, r.raw)
					}
					continue
				}
				if r.status != 400 || r.body["scimType"] != "invalidFilter" || !strings.Contains(fmt.Sprint(r.body["detail"]), tt.detail) {
					t.Errorf("status %d, want 400 invalidFilter naming %q\n%.300s", r.status, tt.detail, r.raw)
				}
			}
		})
	}
}

// TestQueryTimeLimit: a query that runs past scim.query_timeout is stopped
// and answers 503 with Retry-After, naming the limit; GET /Users/{id}
// still answers.
func TestQueryTimeLimit(t *testing.T) {
	base := startGateway(t, func(c *config.Config) { c.SCIM.QueryTimeout = 250 * time.Millisecond })
	c := client{t, base}
	postUsers(t, base, 0, 600, 4)
	// 200 index probes per user, none answered by an index: seconds of
	// CPU over 600 users.
	slow := "not (" + orTerms(199, func(i int) string { return fmt.Sprintf(`displayName co "zz%d"`, i) }) + ")"

	r := c.do("GET", filterPath("/Users", slow, "count", "1"), nil)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(r.body["detail"]), "time limit of 250ms") {
		t.Fatalf("slow filter: status %d, Retry-After %q, want 503 naming the limit\n%.300s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	_, lookup := c.total("/Users", `userName eq "u000007@contoso.com"`)
	id := lookup.body["Resources"].([]any)[0].(map[string]any)["id"].(string)
	c.must(200, "GET", "/Users/"+id, nil)
}
