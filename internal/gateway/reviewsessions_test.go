package gateway

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// TestReviewSessionsRevoke: POST /admin/v1/review-sessions/revoke signs a
// reviewer (named by userName) out of the reviewer page, audited; a bad
// body or an unknown reviewer is refused.
func TestReviewSessionsRevoke(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	g := reviewGateway(t, clock, t0)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	c := client{t: t, base: g.BaseURL()}
	boss := c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": "boss@contoso.example",
		"emails": []any{map[string]any{"value": "boss@contoso.example", "primary": true}}}).body["id"].(string)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	link := g.reviewWeb.Link(boss)
	_, page := get(link)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in page: %s", page)
	}
	u, _ := url.Parse(link)
	resp, err := browser.PostForm(base+"/reviews/signin", url.Values{"t": {u.Query().Get("t")}, "csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, home := get(base + "/reviews/"); resp.StatusCode != 303 || !strings.Contains(home, "Signed in as") {
		t.Fatalf("sign-in: %d, home: %s", resp.StatusCode, home)
	}

	for name, body := range map[string]string{
		"no reviewer":      `{}`,
		"blank":            `{"reviewer": " "}`,
		"unknown field":    `{"reviewer": "boss@contoso.example", "all": true}`,
		"unknown reviewer": `{"reviewer": "nobody"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if status, _, out := adminDo(t, base, "POST", "/review-sessions/revoke", body); status != 400 {
				t.Errorf("%s: %d %v, want 400", body, status, out)
			}
		})
	}
	if _, home := get(base + "/reviews/"); !strings.Contains(home, "Signed in as") {
		t.Fatalf("signed out by a refused call: %s", home)
	}

	status, _, out := adminDo(t, base, "POST", "/review-sessions/revoke", `{"reviewer": "boss@contoso.example"}`)
	if status != 200 || out["reviewer"] != boss || out["revoked"] != float64(1) {
		t.Fatalf("revoke: %d %v", status, out)
	}
	if _, home := get(base + "/reviews/"); strings.Contains(home, "Signed in as") {
		t.Errorf("still signed in after the revocation: %s", home)
	}
	es, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 5})
	if err != nil || !slices.ContainsFunc(es, func(e store.AuditEntry) bool {
		return e.Action == "review sessions revoke" && e.Actor == "admin: static token #1" && e.ID == boss
	}) {
		t.Errorf("no audit entry of the revocation: %v %+v", err, es)
	}
}
