package gateway

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestMetricsLabelsClosed: 2,000 unauthenticated requests with junk
// methods, to the SCIM endpoints, the admin API and /healthz, leave the
// series of /metrics unchanged: every label comes from a closed set.
func TestMetricsLabelsClosed(t *testing.T) {
	g := runGateway(t, nil)
	root := "http://" + g.Addr()
	base := g.BaseURL()
	send := func(method, url string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer wrong-"+method)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	scrape := func() (series []string, size int) {
		t.Helper()
		resp, err := http.Get(root + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ") // drop the value
			series = append(series, name)
		}
		slices.Sort(series)
		return series, len(b)
	}
	urls := []string{base + "/Users", base + "/Groups/x", root + "/admin/v1/audit", root + "/healthz"}
	// Warm up: the "other" method series of each status exist from here on.
	for i, u := range urls {
		send(fmt.Sprintf("WARM%d", i), u)
	}
	before, sizeBefore := scrape()
	for i := range 2000 {
		// A 1 KB method, different each time.
		send(fmt.Sprintf("JUNK%04d", i)+strings.Repeat("X", 1000), urls[i%len(urls)])
	}
	after, sizeAfter := scrape()
	if !slices.Equal(before, after) {
		added, removed := diff(after, before), diff(before, after)
		t.Fatalf("series changed: %d added (first %q), %d removed", len(added), first(added), len(removed))
	}
	// Only the counters' digits may change.
	if d := sizeAfter - sizeBefore; d < -200 || d > 200 {
		t.Fatalf("/metrics grew from %d to %d bytes", sizeBefore, sizeAfter)
	}
	want := `scimgate_scim_requests_total{code="4xx",endpoint="Users",method="other"}`
	if !slices.Contains(after, want) {
		t.Fatalf("no series %s in /metrics", want)
	}
}

// diff returns the elements of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0][:min(len(s[0]), 200)]
}

func TestMetricLabels(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		status       int
		wantMethod   string
		wantCode     string
	}{
		{"get ok", "GET", 200, "GET", "2xx"},
		{"post created", "POST", 201, "POST", "2xx"},
		{"put", "PUT", 404, "PUT", "4xx"},
		{"patch", "PATCH", 204, "PATCH", "2xx"},
		{"delete", "DELETE", 500, "DELETE", "5xx"},
		{"lower case is another method", "get", 401, "other", "4xx"},
		{"junk", strings.Repeat("J", 30000), 401, "other", "4xx"},
		{"head", "HEAD", 301, "other", "3xx"},
		{"status out of range", "GET", 999, "GET", "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := methodLabel(tc.method); got != tc.wantMethod {
				t.Errorf("methodLabel = %q, want %q", got, tc.wantMethod)
			}
			if got := codeLabel(tc.status); got != tc.wantCode {
				t.Errorf("codeLabel(%d) = %q, want %q", tc.status, got, tc.wantCode)
			}
		})
	}
}
