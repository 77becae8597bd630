package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// checkEntraTestConnection: Entra's Test Connection queries a user by a
// random GUID and wants 200 with an empty ListResponse whose "Resources" is
// an empty array (USE-SCIM; a 404 here quarantines the job).
func checkEntraTestConnection(ctx context.Context, t *checkT) {
	f := fmt.Sprintf("userName eq %q", uuid.NewString())
	r := t.do(ctx, http.MethodGet, withQuery("/Users", "filter", f), nil)
	l := t.wantList(r)
	if l.total != 0 {
		t.Errorf("%s: totalResults %d, want 0", r.path, l.total)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("%s: %v", r.path, err)
	}
	var res json.RawMessage
	found := false
	for k, v := range raw {
		if k == "Resources" || (!found && strings.EqualFold(k, "Resources")) {
			res, found = v, true
		}
	}
	switch {
	case !found:
		t.Errorf(`%s: "Resources" is absent, Entra expects "Resources":[]: %s`, r.path, snippet(r.body))
	case !bytes.Equal(compact(res), []byte("[]")):
		t.Errorf(`%s: "Resources" is %s, want [] (an empty array)`, r.path, snippet(res))
	}
}

// checkEntraCreateUser: Entra's create body (meta, "roles":[], null
// attributes, enterprise extension) → 201, and the values come back as sent.
func checkEntraCreateUser(ctx context.Context, t *checkT) {
	body := t.userBody("entra")
	body["addresses"] = nil
	body["phoneNumbers"] = nil
	body["nickName"] = nil
	body[urnEnterprise].(map[string]any)["manager"] = nil
	id, created := t.createUser(ctx, body)
	for _, c := range []struct {
		what string
		o    map[string]any
	}{{"POST /Users response", created}, {"GET " + userPath(id), t.getUser(ctx, id)}} {
		t.wantAttr(c.what, c.o, true, "active")
		t.wantAttr(c.what, c.o, body["externalId"], "externalId")
		t.wantAttr(c.what, c.o, "Given", "name", "givenName")
		t.wantAttr(c.what, c.o, "Family", "name", "familyName")
		t.wantAttr(c.what, c.o, "Engineering", urnEnterprise, "department")
		t.wantAttr(c.what, c.o, "E-entra", urnEnterprise, "employeeNumber")
		t.wantWorkEmail(c.what, c.o, t.name("entra")+"@example.com")
	}
}

// checkEntraLookupExternalID: the matching query on externalId finds the user.
func checkEntraLookupExternalID(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "ext")
	t.wantMatches(ctx, "/Users", fmt.Sprintf("externalId eq %q", "Ext-"+t.name("ext")), id)
}

// checkEntraLookupWorkEmail: the matching query on the work email (a
// valuePath followed by a sub-attribute) finds the user.
func checkEntraLookupWorkEmail(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "mail")
	t.wantMatches(ctx, "/Users", fmt.Sprintf(`emails[type eq "work"].value eq %q`, t.name("mail")+"@example.com"), id)
}

// checkEntraPatchPerAttribute: Entra's default PATCH, one Replace per
// attribute with valuePath, sub-attribute and extension URN paths.
func checkEntraPatchPerAttribute(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "pa")
	email := t.name("pa") + "@updated.example.com"
	t.patchUser(ctx, id,
		op("Replace", `emails[type eq "work"].value`, email),
		op("Replace", "name.familyName", "UpdatedFamily"),
		op("Replace", urnEnterprise+":department", "UpdatedDept"))
	o := t.getUser(ctx, id)
	const what = "after per-attribute Replace"
	t.wantWorkEmail(what, o, email)
	t.wantAttr(what, o, "UpdatedFamily", "name", "familyName")
	t.wantAttr(what, o, "Given", "name", "givenName")
	t.wantAttr(what, o, "UpdatedDept", urnEnterprise, "department")
	t.wantAttr(what, o, "E-pa", urnEnterprise, "employeeNumber")
}

// checkEntraPatchDottedKeys: with aadOptscim062020 Entra folds replaces into
// one op without path whose value has dotted and URN-prefixed keys.
func checkEntraPatchDottedKeys(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "dot")
	t.patchUser(ctx, id, op("replace", "", map[string]any{
		"displayName":                     "Dotted Display",
		"name.givenName":                  "DottedGiven",
		urnEnterprise + ":employeeNumber": "E-dotted",
	}))
	o := t.getUser(ctx, id)
	const what = "after replace without path, dotted/URN keys"
	t.wantAttr(what, o, "Dotted Display", "displayName")
	t.wantAttr(what, o, "DottedGiven", "name", "givenName")
	t.wantAttr(what, o, "Family", "name", "familyName")
	t.wantAttr(what, o, "E-dotted", urnEnterprise, "employeeNumber")
	t.wantAttr(what, o, "Engineering", urnEnterprise, "department")
}

// checkEntraPatchNested: RFC-style replace without path, nested objects;
// sub-attributes not given stay unchanged (RFC 7644 §3.5.2.3).
func checkEntraPatchNested(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "nest")
	renamed := t.name("nest-renamed")
	t.patchUser(ctx, id, op("replace", "", map[string]any{
		"userName":    renamed,
		"name":        map[string]any{"givenName": "NestedGiven"},
		urnEnterprise: map[string]any{"department": "NestedDept"},
	}))
	o := t.getUser(ctx, id)
	const what = "after replace without path, nested objects"
	t.wantAttr(what, o, renamed, "userName")
	t.wantAttr(what, o, "NestedGiven", "name", "givenName")
	t.wantAttr(what, o, "Family", "name", "familyName")
	t.wantAttr(what, o, "NestedDept", urnEnterprise, "department")
	t.wantAttr(what, o, "E-nest", urnEnterprise, "employeeNumber")
}

// checkEntraPatchOpCase: op names are case-insensitive ("Add", "REPLACE",
// "remove").
func checkEntraPatchOpCase(ctx context.Context, t *checkT) {
	body := t.userBody("opcase")
	body["title"] = "Engineer"
	id, _ := t.createUser(ctx, body)
	t.patchUser(ctx, id,
		op("Add", "nickName", "Babs"),
		op("REPLACE", "displayName", "Upper Case"),
		opNoValue("remove", "title"))
	o := t.getUser(ctx, id)
	const what = `after ops "Add", "REPLACE", "remove"`
	t.wantAttr(what, o, "Babs", "nickName")
	t.wantAttr(what, o, "Upper Case", "displayName")
	if has(o, "title") {
		t.Errorf("%s: title still %v", what, get(o, "title"))
	}
}

// checkEntraDisableString: Entra's default disable sends active as the
// string "False" and re-enables with "True"; GET returns JSON booleans and
// the disabled user is still returned by GET and by the matching filter.
func checkEntraDisableString(ctx context.Context, t *checkT) {
	t.disableEnable(ctx, "dis", "False", "True")
}

// checkEntraDisableBoolean: the same with JSON booleans.
func checkEntraDisableBoolean(ctx context.Context, t *checkT) {
	t.disableEnable(ctx, "disb", false, true)
}

func (t *checkT) disableEnable(ctx context.Context, label string, off, on any) {
	id := t.newUser(ctx, label)
	t.patchUser(ctx, id, op("Replace", "active", off))
	what := fmt.Sprintf("after Replace active %s", snippetOf(off))
	t.wantAttr(what, t.getUser(ctx, id), false, "active")
	l := t.query(ctx, "/Users", fmt.Sprintf("userName eq %q", t.name(label)))
	if !slices.Equal(l.ids(), []string{id}) {
		t.Errorf("%s: filter userName eq %q returned ids %v, want the disabled user %s", what, t.name(label), l.ids(), id)
	} else {
		t.wantAttr(what+", in the filter result", l.resources[0], false, "active")
	}
	t.patchUser(ctx, id, op("Replace", "active", on))
	t.wantAttr(fmt.Sprintf("after Replace active %s", snippetOf(on)), t.getUser(ctx, id), true, "active")
}

// checkEntraManagerString: manager set as a bare id string, checked with
// Entra's "id eq and manager eq" query, removed with "remove".
func checkEntraManagerString(ctx context.Context, t *checkT) {
	mgr, u := t.newUser(ctx, "mgr"), t.newUser(ctx, "emp")
	t.patchUser(ctx, u, op("Add", urnEnterprise+":manager", mgr))
	t.wantManager(ctx, "after Add manager as a string", u, mgr)
	t.patchUser(ctx, u, opNoValue("Remove", urnEnterprise+":manager"))
	t.wantNoManager(ctx, "after Remove manager", u, mgr)
}

// checkEntraManagerObject: manager set as {"value": id} (SCIM validator),
// cleared with replace {"value": ""}.
func checkEntraManagerObject(ctx context.Context, t *checkT) {
	mgr, u := t.newUser(ctx, "mgr"), t.newUser(ctx, "emp")
	t.patchUser(ctx, u, op("add", urnEnterprise+":manager", map[string]any{"value": mgr}))
	t.wantManager(ctx, `after add manager {"value":id}`, u, mgr)
	t.patchUser(ctx, u, op("replace", urnEnterprise+":manager", map[string]any{"value": ""}))
	t.wantNoManager(ctx, `after replace manager {"value":""}`, u, mgr)
}

// checkEntraManagerArray: USE-SCIM "Example 5": path "manager", value an
// array of {"$ref", "value"}.
func checkEntraManagerArray(ctx context.Context, t *checkT) {
	mgr, u := t.newUser(ctx, "mgr"), t.newUser(ctx, "emp")
	t.patchUser(ctx, u, op("Add", "manager", []any{map[string]any{"$ref": t.env.base + userPath(mgr), "value": mgr}}))
	t.wantManager(ctx, `after Add path "manager" value [{"$ref":...,"value":id}]`, u, mgr)
}

func (t *checkT) wantManager(ctx context.Context, what, u, mgr string) {
	m := get(t.getUser(ctx, u), urnEnterprise, "manager")
	if str(m, "value") != mgr {
		t.Errorf("%s: %s:manager is %s, want {\"value\":%q}", what, urnEnterprise, snippetOf(m), mgr)
	}
	t.wantMatches(ctx, "/Users", fmt.Sprintf("id eq %q and manager eq %q", u, mgr), u)
}

func (t *checkT) wantNoManager(ctx context.Context, what, u, mgr string) {
	m := get(t.getUser(ctx, u), urnEnterprise, "manager")
	if m != nil && m != "" && str(m, "value") != "" {
		t.Errorf("%s: %s:manager is still %s", what, urnEnterprise, snippetOf(m))
	}
	t.wantMatches(ctx, "/Users", fmt.Sprintf("id eq %q and manager eq %q", u, mgr))
}

// checkEntraRolesJSONString: with SingleAppRoleAssignment Entra PATCHes
// roles with the role object JSON-encoded inside the value string; the
// server must parse it (role value "25"), not store the raw string.
func checkEntraRolesJSONString(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "roles")
	role := `{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}`
	t.patchUser(ctx, id, op("Add", "roles", []any{map[string]any{"value": role}}))
	vals := subValues(t.getUser(ctx, id), "roles", "value")
	switch {
	case slices.Contains(vals, role):
		t.Errorf("roles[].value stored as the raw JSON string %s; Entra's string-encoded role object must be parsed", role)
	case !slices.Contains(vals, "25"):
		t.Errorf(`after Add roles [{"value":%q}]: roles[].value %v, want one role with value "25"`, role, vals)
	}
}

// wantAttr records a failure unless the attribute at keys equals want.
func (t *checkT) wantAttr(what string, o map[string]any, want any, keys ...string) {
	if got := get(o, keys...); got != want {
		t.Errorf("%s: %s is %s, want %s", what, joinKeys(keys), snippetOf(got), snippetOf(want))
	}
}

// wantWorkEmail records a failure unless o has exactly one work email, email.
func (t *checkT) wantWorkEmail(what string, o map[string]any, email string) {
	if w := typed(o, "emails", "work"); len(w) != 1 || str(w[0], "value") != email {
		t.Errorf("%s: work emails %s, want exactly one with value %q", what, snippetOf(w), email)
	}
}

// joinKeys renders an attribute path for messages; extension URNs are
// joined with ":" as in SCIM paths.
func joinKeys(keys []string) string {
	s := ""
	for i, k := range keys {
		switch {
		case i == 0:
			s = k
		case keys[i-1] == urnEnterprise:
			s += ":" + k
		default:
			s += "." + k
		}
	}
	return s
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
