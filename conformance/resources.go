package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// userPath and groupPath address one resource.
func userPath(id string) string  { return "/Users/" + url.PathEscape(id) }
func groupPath(id string) string { return "/Groups/" + url.PathEscape(id) }

// userBody is a user as Entra's provisioning service POSTs it (USE-SCIM
// "Create User"): both schemas, externalId, userName, active, a work email,
// meta, name, an empty roles array and the enterprise extension. The userName
// is t.name(label); externalId is mixed-case for the caseExact check.
func (t *checkT) userBody(label string) map[string]any {
	un := t.name(label)
	return map[string]any{
		"schemas":     []any{urnUser, urnEnterprise},
		"externalId":  "Ext-" + un,
		"userName":    un,
		"active":      true,
		"displayName": "Conformance " + label,
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": un + "@example.com"}},
		"meta":        map[string]any{"resourceType": "User"},
		"name":        map[string]any{"formatted": "Given Family", "familyName": "Family", "givenName": "Given"},
		"roles":       []any{},
		urnEnterprise: map[string]any{"department": "Engineering", "employeeNumber": "E-" + label},
	}
}

// createUser POSTs body to /Users, wants 201 with an id, and deletes the user
// when the check ends. It returns the id and the response body.
func (t *checkT) createUser(ctx context.Context, body map[string]any) (string, map[string]any) {
	r := t.do(ctx, http.MethodPost, "/Users", body)
	if id := idOf(r); id != "" {
		t.deleteLater(userPath(id))
	}
	t.wantStatus(r, http.StatusCreated)
	o := t.object(r)
	id := str(o, "id")
	if id == "" {
		t.Fatalf("POST /Users: 201 without an id: %s", snippet(r.body))
	}
	return id, o
}

// idOf returns the "id" of a successful creation response, or "".
func idOf(r *response) string {
	if r.status < 200 || r.status > 299 {
		return ""
	}
	var o map[string]any
	if json.Unmarshal(r.body, &o) != nil {
		return ""
	}
	return str(o, "id")
}

// unknownID is an id no server has assigned.
func unknownID() string { return uuid.NewString() }

// newUser creates t.userBody(label) and returns its id.
func (t *checkT) newUser(ctx context.Context, label string) string {
	id, _ := t.createUser(ctx, t.userBody(label))
	return id
}

// getUser GETs a user, wanting 200.
func (t *checkT) getUser(ctx context.Context, id string) map[string]any {
	r := t.do(ctx, http.MethodGet, userPath(id), nil)
	t.wantStatus(r, http.StatusOK)
	return t.object(r)
}

// patchUser PATCHes a user, wanting 200 or 204 (RFC 7644 §3.5.2).
func (t *checkT) patchUser(ctx context.Context, id string, ops ...map[string]any) {
	t.wantStatus(t.do(ctx, http.MethodPatch, userPath(id), patchBody(ops...)), http.StatusOK, http.StatusNoContent)
}

// groupBody is a group as Entra POSTs it (USE-SCIM "Create Group"), with the
// non-standard ADSCIM schema URN and no members.
func (t *checkT) groupBody(label string) map[string]any {
	return map[string]any{
		"schemas":     []any{urnGroup, urnADSCIMGroup},
		"externalId":  "ext-" + t.name(label),
		"displayName": t.name(label),
		"meta":        map[string]any{"resourceType": "Group"},
	}
}

// createGroup POSTs body to /Groups, wants 201 with an id, and deletes the
// group when the check ends.
func (t *checkT) createGroup(ctx context.Context, body map[string]any) (string, map[string]any) {
	r := t.do(ctx, http.MethodPost, "/Groups", body)
	if id := idOf(r); id != "" {
		t.deleteLater(groupPath(id))
	}
	t.wantStatus(r, http.StatusCreated)
	o := t.object(r)
	id := str(o, "id")
	if id == "" {
		t.Fatalf("POST /Groups: 201 without an id: %s", snippet(r.body))
	}
	return id, o
}

// newGroup creates t.groupBody(label) and returns its id.
func (t *checkT) newGroup(ctx context.Context, label string) string {
	id, _ := t.createGroup(ctx, t.groupBody(label))
	return id
}

// getGroup GETs a group (with optional query pairs), wanting 200.
func (t *checkT) getGroup(ctx context.Context, id string, query ...string) map[string]any {
	p := groupPath(id)
	if len(query) > 0 {
		p = withQuery(p, query...)
	}
	r := t.do(ctx, http.MethodGet, p, nil)
	t.wantStatus(r, http.StatusOK)
	return t.object(r)
}

// patchGroup PATCHes a group, wanting one of codes.
func (t *checkT) patchGroup(ctx context.Context, id string, codes []int, ops ...map[string]any) {
	t.wantStatus(t.do(ctx, http.MethodPatch, groupPath(id), patchBody(ops...)), codes...)
}

// memberRefs builds a members value array from user ids, as Entra sends it.
func memberRefs(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"$ref": nil, "value": id}
	}
	return out
}
