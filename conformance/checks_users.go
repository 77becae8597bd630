package conformance

import (
	"context"
	"net/http"
	"strings"
)

// checkUserCreate: POST /Users → 201 with id, meta.resourceType,
// meta.location, meta.version (when ETags are advertised) and a Location
// header equal to meta.location (RFC 7644 §3.3, RFC 7643 §3.1).
func checkUserCreate(ctx context.Context, t *checkT) {
	body := t.userBody("create")
	r := t.do(ctx, http.MethodPost, "/Users", body)
	if id := idOf(r); id != "" {
		t.deleteLater(userPath(id))
	}
	t.wantStatus(r, http.StatusCreated)
	o := t.object(r)
	id := str(o, "id")
	if id == "" {
		t.Errorf("POST /Users: 201 without an id: %s", snippet(r.body))
	}
	if got := str(o, "userName"); got != body["userName"] {
		t.Errorf("POST /Users: userName %q, want %q", got, body["userName"])
	}
	if !hasString(get(o, "schemas"), urnUser) {
		t.Errorf("POST /Users: schemas lacks %q: %s", urnUser, snippet(r.body))
	}
	if got := str(o, "meta", "resourceType"); got != "User" {
		t.Errorf("POST /Users: meta.resourceType %q, want \"User\"", got)
	}
	loc := str(o, "meta", "location")
	switch {
	case loc == "":
		t.Errorf("POST /Users: meta.location missing: %s", snippet(r.body))
	case id != "" && !strings.HasSuffix(loc, "/Users/"+id):
		t.Errorf("POST /Users: meta.location %q does not end in /Users/%s", loc, id)
	}
	if h := r.header.Get("Location"); h != loc {
		t.Errorf("POST /Users: Location header %q, want meta.location %q (RFC 7644 §3.3)", h, loc)
	}
	if t.env.caps.supported[etag] && str(o, "meta", "version") == "" {
		t.Errorf("POST /Users: etag is advertised but meta.version is missing: %s", snippet(r.body))
	}
}

// checkUserGet: GET /Users/{id} returns the created user.
func checkUserGet(ctx context.Context, t *checkT) {
	body := t.userBody("get")
	id, _ := t.createUser(ctx, body)
	o := t.getUser(ctx, id)
	if str(o, "id") != id || str(o, "userName") != body["userName"] {
		t.Errorf("GET /Users/%s: want id %q and userName %q, got %s", id, id, body["userName"], snippetOf(o))
	}
	if !hasString(get(o, "schemas"), urnUser) {
		t.Errorf("GET /Users/%s: schemas lacks %q", id, urnUser)
	}
	if got := str(o, "meta", "resourceType"); got != "User" {
		t.Errorf("GET /Users/%s: meta.resourceType %q, want \"User\"", id, got)
	}
}

// checkUserGetUnknown: GET of an unknown id → 404 with a SCIM error whose
// status is the string "404" (USE-SCIM "Get User"; RFC 7644 §3.12).
func checkUserGetUnknown(ctx context.Context, t *checkT) {
	t.wantError(t.do(ctx, http.MethodGet, userPath(unknownID()), nil), http.StatusNotFound, "")
}

// checkUserDuplicate: a second user with the same userName → 409 uniqueness.
func checkUserDuplicate(ctx context.Context, t *checkT) {
	t.newUser(ctx, "dup")
	t.postWantError(ctx, "/Users", t.userBody("dup"), http.StatusConflict, "uniqueness")
}

// checkUserDuplicateCase: userName is caseExact=false, so the same name in
// other case is a duplicate too (409 uniqueness; the SCIM validator's
// "different case" test).
func checkUserDuplicateCase(ctx context.Context, t *checkT) {
	t.newUser(ctx, "dupcase")
	body := t.userBody("dupcase")
	body["userName"] = strings.ToUpper(body["userName"].(string))
	body["externalId"] = "other-" + t.name("dupcase")
	t.postWantError(ctx, "/Users", body, http.StatusConflict, "uniqueness")
}

// checkUserMissingUserName: POST without the required userName → 400.
func checkUserMissingUserName(ctx context.Context, t *checkT) {
	body := t.userBody("nouser")
	delete(body, "userName")
	t.postWantError(ctx, "/Users", body, http.StatusBadRequest, "")
}

// checkUserInvalidJSON: a body that is not JSON → 400.
func checkUserInvalidJSON(ctx context.Context, t *checkT) {
	t.postWantError(ctx, "/Users", rawBody(`{"schemas":["`+urnUser+`"],"userName":"`+t.name("badjson")+`",`), http.StatusBadRequest, "")
}

// checkUserPut: PUT replaces the whole resource: given values are set,
// omitted readWrite attributes are cleared (RFC 7644 §3.5.1).
func checkUserPut(ctx context.Context, t *checkT) {
	body := t.userBody("put")
	body["title"] = "Engineer"
	body["nickName"] = "Nick"
	id, _ := t.createUser(ctx, body)
	email := t.name("put") + "@put.example.com"
	r := t.do(ctx, http.MethodPut, userPath(id), map[string]any{
		"schemas":  []any{urnUser},
		"id":       id,
		"userName": body["userName"],
		"active":   true,
		"name":     map[string]any{"givenName": "Put", "familyName": "Replaced"},
		"emails":   []any{map[string]any{"type": "work", "value": email, "primary": true}},
	})
	t.wantStatus(r, http.StatusOK)
	if o := t.object(r); str(o, "id") != id || str(o, "name", "familyName") != "Replaced" {
		t.Errorf("PUT %s: response should be the replaced user, got %s", userPath(id), snippet(r.body))
	}
	o := t.getUser(ctx, id)
	if str(o, "name", "familyName") != "Replaced" || str(o, "name", "givenName") != "Put" {
		t.Errorf("after PUT: name %v, want givenName Put, familyName Replaced", get(o, "name"))
	}
	for _, attr := range []string{"title", "nickName"} {
		if has(o, attr) {
			t.Errorf("after PUT without %s: %s still %v (PUT replaces the resource)", attr, attr, get(o, attr))
		}
	}
	if w := typed(o, "emails", "work"); len(w) != 1 || str(w[0], "value") != email {
		t.Errorf("after PUT: work emails %v, want exactly [%s]", w, email)
	}
}

// checkUserDelete: DELETE → 204, then GET and a second DELETE → 404.
func checkUserDelete(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "del")
	t.wantStatus(t.do(ctx, http.MethodDelete, userPath(id), nil), http.StatusNoContent)
	t.wantError(t.do(ctx, http.MethodGet, userPath(id), nil), http.StatusNotFound, "")
	t.wantError(t.do(ctx, http.MethodDelete, userPath(id), nil), http.StatusNotFound, "")
}

// postWantError POSTs body to path and wants the SCIM error; a resource that
// gets created anyway is deleted.
func (t *checkT) postWantError(ctx context.Context, path string, body any, status int, scimType string) {
	r := t.do(ctx, http.MethodPost, path, body)
	if id := idOf(r); id != "" {
		t.deleteLater(path + "/" + id)
	}
	t.wantError(r, status, scimType)
}
