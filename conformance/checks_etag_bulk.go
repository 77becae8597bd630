package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// version returns a user's current ETag (header, else meta.version).
func (t *checkT) version(ctx context.Context, id string) string {
	r := t.do(ctx, http.MethodGet, userPath(id), nil)
	t.wantStatus(r, http.StatusOK)
	if v := r.header.Get("ETag"); v != "" {
		return v
	}
	if v := str(t.object(r), "meta", "version"); v != "" {
		return v
	}
	t.Fatalf("GET %s: neither an ETag header nor meta.version", userPath(id))
	return ""
}

// checkETagVersion: POST and GET carry meta.version, GET an equal ETag
// header (RFC 7644 §3.14, RFC 7643 §3.1).
func checkETagVersion(ctx context.Context, t *checkT) {
	id, created := t.createUser(ctx, t.userBody("etag"))
	pv := str(created, "meta", "version")
	if pv == "" {
		t.Errorf("POST /Users: meta.version missing")
	}
	r := t.do(ctx, http.MethodGet, userPath(id), nil)
	t.wantStatus(r, http.StatusOK)
	gv, h := str(t.object(r), "meta", "version"), r.header.Get("ETag")
	switch {
	case h == "":
		t.Errorf("GET %s: no ETag header", userPath(id))
	case gv == "":
		t.Errorf("GET %s: meta.version missing", userPath(id))
	case h != gv:
		t.Errorf("GET %s: ETag header %q differs from meta.version %q", userPath(id), h, gv)
	}
	if pv != "" && gv != "" && pv != gv {
		t.Errorf("unmodified user: POST returned version %q, GET %q", pv, gv)
	}
}

// checkETagIfNoneMatch: GET with If-None-Match of the current version → 304;
// with another version → 200.
func checkETagIfNoneMatch(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "inm")
	v := t.version(ctx, id)
	t.wantStatus(t.do(ctx, http.MethodGet, userPath(id), nil, header{"If-None-Match", v}), http.StatusNotModified)
	t.wantStatus(t.do(ctx, http.MethodGet, userPath(id), nil, header{"If-None-Match", `W/"conformance-other"`}), http.StatusOK)
}

// checkETagIfMatchStale: PATCH, PUT and DELETE with a stale If-Match → 412,
// and the user is unchanged.
func checkETagIfMatchStale(ctx context.Context, t *checkT) {
	body := t.userBody("stale")
	id, _ := t.createUser(ctx, body)
	stale := t.version(ctx, id)
	t.patchUser(ctx, id, op("replace", "title", "Current"))
	current := t.version(ctx, id)
	if current == stale {
		t.Fatalf("version %q unchanged after PATCH", current)
	}
	ifMatch := header{"If-Match", stale}
	t.wantError(t.do(ctx, http.MethodPatch, userPath(id), patchBody(op("replace", "title", "Stale")), ifMatch), http.StatusPreconditionFailed, "")
	body["title"] = "Stale"
	t.wantError(t.do(ctx, http.MethodPut, userPath(id), body, ifMatch), http.StatusPreconditionFailed, "")
	t.wantError(t.do(ctx, http.MethodDelete, userPath(id), nil, ifMatch), http.StatusPreconditionFailed, "")
	o := t.getUser(ctx, id)
	t.wantAttr("after stale If-Match PATCH/PUT/DELETE", o, "Current", "title")
	if v := t.version(ctx, id); v != current {
		t.Errorf("after stale If-Match requests: version %q, want unchanged %q", v, current)
	}
}

// checkETagIfMatchCurrent: PATCH, PUT and DELETE with the current If-Match
// succeed.
func checkETagIfMatchCurrent(ctx context.Context, t *checkT) {
	body := t.userBody("cur")
	id, _ := t.createUser(ctx, body)
	t.wantStatus(t.do(ctx, http.MethodPatch, userPath(id), patchBody(op("replace", "title", "Patched")),
		header{"If-Match", t.version(ctx, id)}), http.StatusOK, http.StatusNoContent)
	t.wantAttr("after PATCH with current If-Match", t.getUser(ctx, id), "Patched", "title")
	body["title"] = "Put"
	t.wantStatus(t.do(ctx, http.MethodPut, userPath(id), body, header{"If-Match", t.version(ctx, id)}), http.StatusOK)
	t.wantAttr("after PUT with current If-Match", t.getUser(ctx, id), "Put", "title")
	t.wantStatus(t.do(ctx, http.MethodDelete, userPath(id), nil, header{"If-Match", t.version(ctx, id)}), http.StatusNoContent)
	t.wantStatus(t.do(ctx, http.MethodGet, userPath(id), nil), http.StatusNotFound)
}

// bulkResult is one operation of a BulkResponse.
type bulkResult struct {
	bulkID, location, status string
}

// postBulk POSTs a BulkRequest, wants 200 and returns the results by bulkId
// (and in order); created resources are deleted when the check ends.
func (t *checkT) postBulk(ctx context.Context, failOnErrors int, ops ...map[string]any) []bulkResult {
	req := map[string]any{"schemas": []any{urnBulkRequest}, "Operations": ops}
	if failOnErrors > 0 {
		req["failOnErrors"] = failOnErrors
	}
	r := t.do(ctx, http.MethodPost, "/Bulk", req)
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	if !hasString(get(o, "schemas"), urnBulkResponse) {
		t.Errorf("POST /Bulk: schemas lacks %q", urnBulkResponse)
	}
	arr, _ := get(o, "Operations").([]any)
	var out []bulkResult
	for _, x := range arr {
		res := bulkResult{bulkID: str(x, "bulkId"), location: str(x, "location"), status: statusString(get(x, "status"))}
		if i := strings.LastIndex(res.location, "/"); i >= 0 && strings.HasPrefix(res.status, "2") {
			for _, ep := range []string{"/Users/", "/Groups/"} {
				if strings.Contains(res.location, ep) {
					t.deleteLater(ep + res.location[i+1:])
				}
			}
		}
		out = append(out, res)
	}
	return out
}

// statusString reads a bulk operation status: RFC 7644 shows "201"; a number
// is tolerated.
func statusString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case float64:
		return strconv.Itoa(int(s))
	}
	return ""
}

func bulkPost(path, bulkID string, data map[string]any) map[string]any {
	delete(data, "meta")
	return map[string]any{"method": "POST", "path": path, "bulkId": bulkID, "data": data}
}

// checkBulkCrossReference: a group created in the same request references
// the new user as "bulkId:<id>"; every operation has status and location.
func checkBulkCrossReference(ctx context.Context, t *checkT) {
	res := t.postBulk(ctx, 0,
		bulkPost("/Users", "u1", t.userBody("bulk")),
		bulkPost("/Groups", "g1", map[string]any{
			"schemas": []any{urnGroup}, "displayName": t.name("bulk-group"),
			"members": []any{map[string]any{"value": "bulkId:u1"}},
		}))
	if len(res) != 2 {
		t.Fatalf("POST /Bulk: %d operation results, want 2: %v", len(res), res)
	}
	byID := map[string]bulkResult{}
	for _, r := range res {
		byID[r.bulkID] = r
	}
	ids := map[string]string{}
	for _, want := range []struct{ bulkID, endpoint string }{{"u1", "/Users/"}, {"g1", "/Groups/"}} {
		got := byID[want.bulkID]
		if got.status != "201" || !strings.Contains(got.location, want.endpoint) {
			t.Fatalf("POST /Bulk: result for bulkId %s is %+v, want status \"201\" and a %s location", want.bulkID, got, want.endpoint)
		}
		ids[want.bulkID] = got.location[strings.LastIndex(got.location, "/")+1:]
	}
	members := subValues(t.getGroup(ctx, ids["g1"]), "members", "value")
	if !sameSet(members, []string{ids["u1"]}) {
		t.Errorf("group created with member bulkId:u1 has members %v, want [%s]", members, ids["u1"])
	}
}

// checkBulkFailOnErrors: with failOnErrors 1 processing stops after the
// first error (RFC 7644 §3.7.3).
func checkBulkFailOnErrors(ctx context.Context, t *checkT) {
	bad := t.userBody("bad")
	delete(bad, "userName")
	res := t.postBulk(ctx, 1,
		bulkPost("/Users", "ok1", t.userBody("ok1")),
		bulkPost("/Users", "bad", bad),
		bulkPost("/Users", "ok2", t.userBody("ok2")))
	got := fmt.Sprintf("%+v", res)
	if len(res) != 2 || res[0].bulkID != "ok1" || res[0].status != "201" || res[1].bulkID != "bad" || !strings.HasPrefix(res[1].status, "4") {
		t.Errorf("failOnErrors 1 with ops ok1, bad (no userName), ok2: results %s, want ok1 201, bad 4xx, and nothing for ok2", got)
	}
	if t.env.caps.supported[filter] {
		t.wantMatches(ctx, "/Users", fmt.Sprintf("userName eq %q", t.name("ok2")))
	}
}

// checkBulkMaxOperations: more than bulk.maxOperations operations → 413.
func checkBulkMaxOperations(ctx context.Context, t *checkT) {
	maxOps := t.env.caps.bulkMaxOps
	if maxOps <= 0 || maxOps > 10000 {
		t.Skipf("bulk.maxOperations is %d; only 1..10000 is exercised", maxOps)
	}
	ops := make([]map[string]any, maxOps+1)
	for i := range ops { // deletes of unknown ids: harmless if the server runs them
		ops[i] = map[string]any{"method": "DELETE", "path": userPath(unknownID())}
	}
	req := map[string]any{"schemas": []any{urnBulkRequest}, "Operations": ops}
	if b, _ := json.Marshal(req); t.env.caps.bulkMaxPayload > 0 && len(b) > t.env.caps.bulkMaxPayload {
		t.Skipf("%d operations exceed bulk.maxPayloadSize %d", maxOps+1, t.env.caps.bulkMaxPayload)
	}
	t.wantError(t.do(ctx, http.MethodPost, "/Bulk", req), http.StatusRequestEntityTooLarge, "")
}
