package conformance

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

const testToken = "s3cret"

// outcome is one parsed result line.
type outcome struct{ verdict, reason string }

// parseOutput maps check names to outcomes and returns the closing line.
func parseOutput(t *testing.T, out string) (map[string]outcome, string) {
	t.Helper()
	res := map[string]outcome{}
	var last string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		last = line
		verdict, rest, _ := strings.Cut(line, " ")
		if verdict != linePass && verdict != lineFail && verdict != lineSkip {
			continue
		}
		name, reason, _ := strings.Cut(rest, ": ")
		res[name] = outcome{verdict, reason}
	}
	return res, last
}

// runAgainst runs the whole suite against srv and returns the parsed output.
func runAgainst(t *testing.T, srv *refServer, token string) (passed, failed int, res map[string]outcome, closing, raw string) {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	srv.base = hs.URL + refPrefix
	var out strings.Builder
	passed, failed, err := RunSCIM(context.Background(), SCIMConfig{BaseURL: hs.URL + refPrefix + "/", Token: token}, &out)
	if err != nil {
		t.Fatalf("RunSCIM: %v\n%s", err, out.String())
	}
	res, closing = parseOutput(t, out.String())
	return passed, failed, res, closing, out.String()
}

func TestRunSCIMPassesCorrectServer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		caps        map[feature]bool
		token       string
		noAuth      bool
		wantSkipped []string // checks that must be skipped; all others must pass
	}{
		{
			name:  "all features",
			caps:  map[feature]bool{patch: true, bulk: true, filter: true, sort: true, etag: true},
			token: testToken,
		},
		{
			name:  "no bulk, sort or etag",
			caps:  map[feature]bool{patch: true, filter: true},
			token: testToken,
			wantSkipped: []string{"query/sort", "etag/version", "etag/if-none-match-304", "etag/if-match-stale-412",
				"etag/if-match-current", "bulk/bulkid-cross-reference", "bulk/fail-on-errors", "bulk/max-operations-413"},
		},
		{
			name:        "server without authentication, no token",
			caps:        map[feature]bool{patch: true, bulk: true, filter: true, sort: true, etag: true},
			noAuth:      true,
			wantSkipped: []string{"auth/missing-token-401", "auth/wrong-token-401"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRefServer(testToken)
			srv.caps = tc.caps
			if tc.noAuth {
				srv.bug = "no-auth"
			}
			passed, failed, res, closing, raw := runAgainst(t, srv, tc.token)
			if failed != 0 {
				t.Errorf("failed = %d, want 0:\n%s", failed, raw)
			}
			if len(res) != len(checks) {
				t.Errorf("%d result lines, want one per check (%d)", len(res), len(checks))
			}
			for _, c := range checks {
				want := linePass
				if strings.Contains(strings.Join(tc.wantSkipped, " "), c.name) {
					want = lineSkip
				}
				if got := res[c.name].verdict; got != want {
					t.Errorf("%s: %s %s, want %s", c.name, got, res[c.name].reason, want)
				}
			}
			wantClosing := fmt.Sprintf("%d passed, 0 failed", len(checks)-len(tc.wantSkipped))
			if len(tc.wantSkipped) > 0 {
				wantClosing += fmt.Sprintf(", %d skipped", len(tc.wantSkipped))
			}
			if closing != wantClosing || passed != len(checks)-len(tc.wantSkipped) {
				t.Errorf("closing line %q and passed %d, want %q", closing, passed, wantClosing)
			}
		})
	}
}

// TestRunSCIMFailsBrokenServer shows the checks can fail: each case turns on
// one misbehaviour of the reference server and names checks that must FAIL
// with a reason containing the given text.
func TestRunSCIMFailsBrokenServer(t *testing.T) {
	for _, tc := range []struct {
		bug        string
		wantFail   []string
		wantReason string
	}{
		{"testconn-404", []string{"entra/test-connection"}, "status 404, want 200"},
		{"resources-null", []string{"entra/test-connection"}, `"Resources" is null, want []`},
		{"content-type-json", []string{"discovery/content-type"}, `Content-Type "application/json"`},
		{"active-string", []string{"entra/create-user", "entra/disable-string-false", "entra/disable-boolean-false"}, `active is "`},
		{"disabled-404", []string{"entra/disable-string-false", "entra/disable-boolean-false"}, "status 404, want 200"},
		{"ignore-excluded-members", []string{"groups/filter-excluded-members", "groups/get-excluded-members"}, "members returned anyway"},
		{"case-sensitive-unique", []string{"users/duplicate-username-other-case-409", "groups/duplicate-displayname-other-case-409"}, "status 201, want 409"},
		{"error-status-number", []string{"users/get-unknown-id-404", "auth/missing-token-401"}, "want the JSON string"},
		{"op-case-sensitive", []string{"entra/patch-op-any-case", "entra/patch-replace-per-attribute"}, "status 400, want 200 or 204"},
		{"no-auth", []string{"auth/missing-token-401", "auth/wrong-token-401"}, "want 401"},
		{"paging-overlap", []string{"query/paging"}, "already returned on an earlier page"},
		{"put-merges", []string{"users/put-replaces"}, "PUT replaces the resource"},
		{"roles-raw", []string{"entra/roles-json-encoded-string"}, "must be parsed"},
		{"no-location", []string{"users/create", "groups/create"}, "meta.location"},
		{"ignore-attributes", []string{"query/attributes", "query/search-post-users"}, "unrequested attribute"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			srv := newRefServer(testToken)
			srv.bug = tc.bug
			_, failed, res, closing, raw := runAgainst(t, srv, testToken)
			for _, name := range tc.wantFail {
				o := res[name]
				if o.verdict != lineFail || !strings.Contains(o.reason, tc.wantReason) {
					t.Errorf("%s: %s %q, want FAIL containing %q", name, o.verdict, o.reason, tc.wantReason)
				}
			}
			if !strings.HasPrefix(closing, fmt.Sprintf("%d passed, %d failed", len(checks)-failed, failed)) || failed < len(tc.wantFail) {
				t.Errorf("closing line %q with failed %d:\n%s", closing, failed, raw)
			}
		})
	}
}

func TestRunChecks(t *testing.T) {
	cleaned := 0
	cs := []check{
		{"ok", nil, func(context.Context, *checkT) {}},
		{"two-errors", nil, func(_ context.Context, t *checkT) {
			t.Errorf("first")
			t.Errorf("second")
		}},
		{"fatal-stops", nil, func(_ context.Context, t *checkT) {
			t.cleanup(func(context.Context) { cleaned++ })
			t.Fatalf("stop\nhere")
			t.Errorf("not reached")
		}},
		{"panics", nil, func(_ context.Context, t *checkT) {
			t.cleanup(func(context.Context) { cleaned++ })
			panic("a bug in the check")
		}},
		{"skips-itself", nil, func(_ context.Context, t *checkT) { t.Skipf("not today") }},
		{"needs-bulk", needs(patch, bulk), func(_ context.Context, t *checkT) { t.Errorf("must not run") }},
		{"after-panic", needs(patch), func(context.Context, *checkT) {}},
	}
	e := &env{caps: capabilities{supported: map[feature]bool{patch: true}}}
	var out strings.Builder
	passed, failed, skipped, err := runChecks(context.Background(), e, cs, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		"PASS ok",
		"FAIL two-errors: first; second",
		"FAIL fatal-stops: stop here",
		"FAIL panics: panic: a bug in the check",
		"SKIP skips-itself: not today",
		"SKIP needs-bulk: /ServiceProviderConfig advertises bulk.supported=false",
		"PASS after-panic",
		"2 passed, 3 failed, 2 skipped",
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s\nwant %d lines", out.String(), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
	if passed != 2 || failed != 3 || skipped != 2 || cleaned != 2 {
		t.Errorf("passed, failed, skipped, cleaned = %d, %d, %d, %d; want 2, 3, 2, 2", passed, failed, skipped, cleaned)
	}
}

func TestRunChecksCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cs := []check{
		{"cancels", nil, func(context.Context, *checkT) { cancel() }},
		{"never", nil, func(_ context.Context, t *checkT) { t.Errorf("ran after cancel") }},
	}
	var out strings.Builder
	passed, failed, _, err := runChecks(ctx, &env{}, cs, &out)
	if err == nil || passed != 1 || failed != 0 {
		t.Errorf("passed %d, failed %d, err %v; want 1, 0 and an error", passed, failed, err)
	}
	if !strings.HasSuffix(out.String(), "1 passed, 0 failed\n") {
		t.Errorf("output %q lacks the closing line", out.String())
	}
}

func TestRunSCIMConfigErrors(t *testing.T) {
	closed := httptest.NewServer(newRefServer(testToken))
	closed.Close()
	for _, tc := range []struct {
		name, url string
	}{
		{"not http", "ftp://example.com/scim"},
		{"unreachable", closed.URL + refPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if _, _, err := RunSCIM(context.Background(), SCIMConfig{BaseURL: tc.url}, &out); err == nil {
				t.Errorf("RunSCIM(%q) = nil error, output %q", tc.url, out.String())
			}
		})
	}
}
