package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// checkWrongType: a value of the wrong JSON type → 400, and nothing is
// created.
func checkWrongType(ctx context.Context, t *checkT) {
	for _, c := range []struct {
		label, attr string
		value       any
	}{
		{"active7", "active", 7},
		{"namestr", "name", "not-an-object"},
	} {
		body := t.userBody(c.label)
		body[c.attr] = c.value
		t.postWantError(ctx, "/Users", body, http.StatusBadRequest, "")
		if t.env.caps.supported[filter] {
			t.wantMatches(ctx, "/Users", fmt.Sprintf("userName eq %q", t.name(c.label)))
		}
	}
}

// checkPatchReadOnly: PATCH of the readOnly id or meta → 400 mutability,
// and the user is unchanged (RFC 7644 §3.5.2).
func checkPatchReadOnly(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "ro")
	for _, o := range []map[string]any{
		op("replace", "id", unknownID()),
		op("replace", "meta.resourceType", "Group"),
	} {
		t.wantError(t.do(ctx, http.MethodPatch, userPath(id), patchBody(o)), http.StatusBadRequest, "mutability")
	}
	o := t.getUser(ctx, id)
	t.wantAttr("after rejected PATCHes of id and meta", o, id, "id")
	t.wantAttr("after rejected PATCHes of id and meta", o, "User", "meta", "resourceType")
}

// checkUnknownID: PATCH and DELETE of unknown ids → 404.
func checkUnknownID(ctx context.Context, t *checkT) {
	body := patchBody(op("replace", "displayName", "nobody"))
	t.wantError(t.do(ctx, http.MethodPatch, userPath(unknownID()), body), http.StatusNotFound, "")
	t.wantError(t.do(ctx, http.MethodPatch, groupPath(unknownID()), body), http.StatusNotFound, "")
	t.wantError(t.do(ctx, http.MethodDelete, userPath(unknownID()), nil), http.StatusNotFound, "")
}

// checkAuthMissing: no Authorization header → 401 with a SCIM error, and a
// POST without it creates nothing.
func checkAuthMissing(ctx context.Context, t *checkT) {
	t.wantUnauthorized(ctx, noAuth, "auth-none")
}

// checkAuthWrong: a wrong bearer token → 401 with a SCIM error.
func checkAuthWrong(ctx context.Context, t *checkT) {
	t.wantUnauthorized(ctx, "wrong-"+unknownID(), "auth-wrong")
}

func (t *checkT) wantUnauthorized(ctx context.Context, token, label string) {
	if t.env.token == noAuth {
		t.Skipf("no token configured")
	}
	t.wantError(t.doAs(ctx, token, http.MethodGet, "/Users", nil), http.StatusUnauthorized, "")
	r := t.doAs(ctx, token, http.MethodPost, "/Users", t.userBody(label))
	if id := idOf(r); id != "" {
		t.deleteLater(userPath(id))
	}
	t.wantError(r, http.StatusUnauthorized, "")
	if t.env.caps.supported[filter] {
		t.wantMatches(ctx, "/Users", fmt.Sprintf("userName eq %q", t.name(label)))
	}
}
