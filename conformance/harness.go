package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// SCIM URNs used by the checks.
const (
	urnUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	urnGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	urnEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	urnListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	urnError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	urnPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	urnSearch       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	urnBulkRequest  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	urnBulkResponse = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	urnSPC          = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	urnResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	urnADSCIMGroup  = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
	scimMediaType   = "application/scim+json"
	maxBody         = 4 << 20 // bytes of a response body that are read
)

// checkT is the state of one running check, in the style of testing.T: Errorf
// records a failure and continues, Fatalf records one and ends the check,
// Skipf ends it as skipped.
type checkT struct {
	env      *env
	prefix   string // unique per run and check; every name the check creates starts with it
	failures []string
	skip     string
	cleanups []func(ctx context.Context)
}

// abort is the panic value with which Fatalf and Skipf end a check.
type abort struct{}

// run runs fn, turning a panic into a failure, then runs the cleanups.
func (t *checkT) run(ctx context.Context, fn func(ctx context.Context, t *checkT)) {
	defer func() {
		for i := len(t.cleanups) - 1; i >= 0; i-- {
			t.cleanups[i](ctx)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(abort); !ok {
				t.failures = append(t.failures, fmt.Sprintf("panic: %v [%s]", v, panicSite(debug.Stack())))
			}
		}
	}()
	fn(ctx, t)
}

// panicSite picks the first frame of the stack that is in this package's
// checks, so a panic's line is in the report.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.Contains(l, "/conformance.check") && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	return "no check frame"
}

// Errorf records a failure; the check goes on.
func (t *checkT) Errorf(format string, args ...any) {
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}

// Fatalf records a failure and ends the check.
func (t *checkT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(abort{})
}

// Skipf ends the check as skipped.
func (t *checkT) Skipf(format string, args ...any) {
	t.skip = fmt.Sprintf(format, args...)
	panic(abort{})
}

// failed reports whether a failure has been recorded.
func (t *checkT) failed() bool { return len(t.failures) > 0 }

// name returns a name unique to this run and check.
func (t *checkT) name(label string) string { return t.prefix + label }

// cleanup registers fn to run when the check ends, last registered first.
func (t *checkT) cleanup(fn func(ctx context.Context)) { t.cleanups = append(t.cleanups, fn) }

// deleteLater deletes the resource at path when the check ends, ignoring
// the outcome (the check may already have deleted it).
func (t *checkT) deleteLater(path string) {
	t.cleanup(func(ctx context.Context) {
		req, err := t.env.newRequest(ctx, http.MethodDelete, path, nil, t.env.token)
		if err != nil {
			return
		}
		if resp, err := t.env.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
			_ = resp.Body.Close()
		}
	})
}

// response is one HTTP exchange, kept for assertions and failure messages.
type response struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// String names the request and its outcome: `POST /Users: 400 {"detail":...}`.
func (r *response) String() string {
	return fmt.Sprintf("%s %s: %d %s", r.method, r.path, r.status, snippet(r.body))
}

// snippet is a compacted, truncated copy of a body for failure messages.
func snippet(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "<empty body>"
	}
	var buf bytes.Buffer
	s := string(body)
	if json.Compact(&buf, body) == nil {
		s = buf.String()
	}
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}

// snippetOf renders a decoded value for a failure message.
func snippetOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return snippet(b)
}

// header is an extra request header.
type header struct{ key, value string }

// rawBody is a request body sent as is, not JSON-encoded.
type rawBody []byte

// noAuth, as the token of doAs, sends no Authorization header.
const noAuth = ""

// do sends a request with the configured token; body is JSON-encoded unless it
// is nil or a rawBody. A transport error ends the check.
func (t *checkT) do(ctx context.Context, method, path string, body any, hdrs ...header) *response {
	return t.doAs(ctx, t.env.token, method, path, body, hdrs...)
}

// doAs is do with an explicit bearer token (noAuth for none).
func (t *checkT) doAs(ctx context.Context, token, method, path string, body any, hdrs ...header) *response {
	req, err := t.env.newRequest(ctx, method, path, body, token)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for _, h := range hdrs {
		req.Header.Set(h.key, h.value)
	}
	resp, err := t.env.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &response{method: method, path: readablePath(path), status: resp.StatusCode, header: resp.Header, body: b}
}

// readablePath unescapes the query of path for failure messages.
func readablePath(path string) string {
	p, q, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	if uq, err := url.QueryUnescape(q); err == nil {
		q = uq
	}
	return p + "?" + q
}

func (e *env) newRequest(ctx context.Context, method, path string, body any, token string) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encoding body: %w", err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", scimMediaType)
	if rd != nil {
		req.Header.Set("Content-Type", scimMediaType)
	}
	if token != noAuth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// wantStatus ends the check unless r has one of the codes.
func (t *checkT) wantStatus(r *response, codes ...int) {
	if !slices.Contains(codes, r.status) {
		t.Fatalf("%s %s: status %d, want %s; body: %s", r.method, r.path, r.status, codeList(codes), snippet(r.body))
	}
}

func codeList(codes []int) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " or ")
}

// object decodes r's body as a JSON object or ends the check.
func (t *checkT) object(r *response) map[string]any {
	var o map[string]any
	if err := json.Unmarshal(r.body, &o); err != nil || o == nil {
		t.Fatalf("%s %s: status %d, body is not a JSON object (%v): %s", r.method, r.path, r.status, err, snippet(r.body))
	}
	return o
}

// wantError checks that r is a SCIM error (RFC 7644 §3.12) with the given
// HTTP status and, unless scimType is "", that scimType. It ends the check on
// a wrong status and records the other problems.
func (t *checkT) wantError(r *response, status int, scimType string) {
	t.wantStatus(r, status)
	var o map[string]any
	if err := json.Unmarshal(r.body, &o); err != nil || o == nil {
		t.Errorf("%s %s: status %d, body is not a SCIM error object: %s", r.method, r.path, r.status, snippet(r.body))
		return
	}
	if !hasString(get(o, "schemas"), urnError) {
		t.Errorf("%s %s: error body schemas lacks %q: %s", r.method, r.path, urnError, snippet(r.body))
	}
	switch s := get(o, "status").(type) {
	case string:
		if s != strconv.Itoa(status) {
			t.Errorf("%s %s: error body status %q, want %q", r.method, r.path, s, strconv.Itoa(status))
		}
	case nil:
		t.Errorf("%s %s: error body has no \"status\": %s", r.method, r.path, snippet(r.body))
	default:
		t.Errorf("%s %s: error body status is %s (not a string), want the JSON string %q", r.method, r.path, snippetOf(s), strconv.Itoa(status))
	}
	if scimType != "" {
		if got, _ := get(o, "scimType").(string); got != scimType {
			t.Errorf("%s %s: scimType %q, want %q: %s", r.method, r.path, got, scimType, snippet(r.body))
		}
	}
}

// wantMediaType records a failure unless r's Content-Type is
// application/scim+json (parameters such as charset allowed).
func (t *checkT) wantMediaType(r *response) {
	ct := r.header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != scimMediaType {
		t.Errorf("%s %s (%d): Content-Type %q, want %s", r.method, r.path, r.status, ct, scimMediaType)
	}
}

// list is a decoded ListResponse.
type list struct {
	total     int
	resources []map[string]any
	raw       map[string]any
}

// ids returns the ids of the listed resources.
func (l list) ids() []string {
	ids := make([]string, 0, len(l.resources))
	for _, r := range l.resources {
		ids = append(ids, str(r, "id"))
	}
	return ids
}

// wantList checks that r is a 200 ListResponse (RFC 7644 §3.4.2) and decodes
// it. An absent or null "Resources" reads as empty (RFC 7643 §2.5); the Test
// Connection check is stricter.
func (t *checkT) wantList(r *response) list {
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	if !hasString(get(o, "schemas"), urnListResponse) {
		t.Fatalf("%s %s: schemas lacks %q: %s", r.method, r.path, urnListResponse, snippet(r.body))
	}
	total, ok := get(o, "totalResults").(float64)
	if !ok {
		t.Fatalf("%s %s: totalResults missing or not a number: %s", r.method, r.path, snippet(r.body))
	}
	l := list{total: int(total), raw: o}
	switch rs := get(o, "Resources").(type) {
	case nil:
	case []any:
		for _, x := range rs {
			m, ok := x.(map[string]any)
			if !ok {
				t.Fatalf("%s %s: Resources holds a non-object %v", r.method, r.path, x)
			}
			l.resources = append(l.resources, m)
		}
	default:
		t.Fatalf("%s %s: Resources is %T, want an array: %s", r.method, r.path, rs, snippet(r.body))
	}
	if len(l.resources) > l.total {
		t.Fatalf("%s %s: totalResults %d but %d Resources", r.method, r.path, l.total, len(l.resources))
	}
	return l
}

// query runs GET /<endpoint>?filter=<f>&<extra...> and returns the list.
// extra holds key, value pairs.
func (t *checkT) query(ctx context.Context, endpoint, f string, extra ...string) list {
	return t.wantList(t.do(ctx, http.MethodGet, withQuery(endpoint, append([]string{"filter", f}, extra...)...), nil))
}

// wantMatches checks that the filter on endpoint matches exactly the
// resources with the given ids, and that totalResults agrees.
func (t *checkT) wantMatches(ctx context.Context, endpoint, f string, want ...string) {
	l := t.query(ctx, endpoint, f)
	got := l.ids()
	if !sameSet(got, want) || l.total != len(want) {
		t.Errorf("filter %s on %s: got totalResults %d, ids %v; want %d: %v", f, endpoint, l.total, got, len(want), want)
	}
}

// withQuery appends key, value pairs as a query string.
func withQuery(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

// sameSet reports whether a and b hold the same strings, duplicates counted.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// get walks v through object keys, matching each key case-insensitively
// (SCIM attribute names are case-insensitive); nil when any step is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v, ok = lookup(o, k)
		if !ok {
			return nil
		}
	}
	return v
}

// lookup finds key in o, exactly or else case-insensitively.
func lookup(o map[string]any, key string) (any, bool) {
	if v, ok := o[key]; ok {
		return v, true
	}
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// has reports whether o has key (case-insensitive) with a non-null value.
func has(o map[string]any, key string) bool {
	v, ok := lookup(o, key)
	return ok && v != nil
}

// str is get for a string; "" when absent or not a string.
func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

// intAt is get for an integer; 0 when absent or not a number.
func intAt(v any, keys ...string) int {
	f, _ := get(v, keys...).(float64)
	return int(f)
}

// hasString reports whether v is a JSON array containing s.
func hasString(v any, s string) bool {
	arr, _ := v.([]any)
	for _, x := range arr {
		if x == s {
			return true
		}
	}
	return false
}

// subValues returns the sub-attribute sub of each element of the
// multi-valued attribute attr of o, e.g. member ids from members[].value.
func subValues(o map[string]any, attr, sub string) []string {
	arr, _ := get(o, attr).([]any)
	var out []string
	for _, x := range arr {
		out = append(out, str(x, sub))
	}
	return out
}

// typed returns the elements of the multi-valued attribute attr of o whose
// type is typ.
func typed(o map[string]any, attr, typ string) []map[string]any {
	arr, _ := get(o, attr).([]any)
	var out []map[string]any
	for _, x := range arr {
		if m, ok := x.(map[string]any); ok && strings.EqualFold(str(m, "type"), typ) {
			out = append(out, m)
		}
	}
	return out
}

// keys returns o's keys, sorted.
func keys(o map[string]any) []string {
	ks := make([]string, 0, len(o))
	for k := range o {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// op builds one PATCH operation; path "" is left out.
func op(name, path string, value any) map[string]any {
	o := map[string]any{"op": name, "value": value}
	if path != "" {
		o["path"] = path
	}
	return o
}

// opNoValue builds a PATCH operation without "value".
func opNoValue(name, path string) map[string]any {
	return map[string]any{"op": name, "path": path}
}

// patchBody wraps ops in a PatchOp message.
func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{urnPatchOp}, "Operations": ops}
}

// upperSwap changes the case of every letter, for case-sensitivity checks.
func upperSwap(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}
