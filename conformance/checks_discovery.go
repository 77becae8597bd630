package conformance

import (
	"context"
	"net/http"
	"net/url"
	"slices"
)

// checkServiceProviderConfig: GET /ServiceProviderConfig returns the
// RFC 7643 §5 document with a boolean "supported" for every feature.
func checkServiceProviderConfig(ctx context.Context, t *checkT) {
	r := t.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil)
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	if !hasString(get(o, "schemas"), urnSPC) {
		t.Errorf("schemas lacks %q: %s", urnSPC, snippet(r.body))
	}
	for _, f := range []string{"patch", "bulk", "filter", "changePassword", "sort", "etag"} {
		if _, ok := get(o, f, "supported").(bool); !ok {
			t.Errorf("%s.supported missing or not a JSON boolean: %s", f, snippet(r.body))
		}
	}
	if b, _ := get(o, "bulk", "supported").(bool); b {
		for _, k := range []string{"maxOperations", "maxPayloadSize"} {
			if _, ok := get(o, "bulk", k).(float64); !ok {
				t.Errorf("bulk is supported but bulk.%s is missing or not a number", k)
			}
		}
	}
	if b, _ := get(o, "filter", "supported").(bool); b {
		if _, ok := get(o, "filter", "maxResults").(float64); !ok {
			t.Errorf("filter is supported but filter.maxResults is missing or not a number")
		}
	}
	if _, ok := get(o, "authenticationSchemes").([]any); !ok {
		t.Errorf("authenticationSchemes missing or not an array: %s", snippet(r.body))
	}
}

// checkSchemas: GET /Schemas is a ListResponse holding the core User and
// Group schemas and the enterprise User extension.
func checkSchemas(ctx context.Context, t *checkT) {
	r := t.do(ctx, http.MethodGet, "/Schemas", nil)
	l := t.wantList(r)
	ids := l.ids()
	for _, urn := range []string{urnUser, urnGroup, urnEnterprise} {
		if !slices.Contains(ids, urn) {
			t.Errorf("GET /Schemas: no schema with id %q among %v", urn, ids)
		}
	}
}

// checkSchemaByURN: GET /Schemas/{urn} returns that schema with its attributes.
func checkSchemaByURN(ctx context.Context, t *checkT) {
	for _, c := range []struct{ urn, attr string }{
		{urnUser, "userName"},
		{urnGroup, "displayName"},
		{urnEnterprise, "employeeNumber"},
	} {
		r := t.do(ctx, http.MethodGet, "/Schemas/"+url.PathEscape(c.urn), nil)
		t.wantStatus(r, http.StatusOK)
		o := t.object(r)
		if got := str(o, "id"); got != c.urn {
			t.Errorf("GET /Schemas/%s: id %q", c.urn, got)
		}
		if !slices.Contains(subValues(o, "attributes", "name"), c.attr) {
			t.Errorf("GET /Schemas/%s: attributes lack %q: %s", c.urn, c.attr, snippet(r.body))
		}
	}
}

// checkResourceTypes: GET /ResourceTypes lists User (with the enterprise
// extension) and Group.
func checkResourceTypes(ctx context.Context, t *checkT) {
	l := t.wantList(t.do(ctx, http.MethodGet, "/ResourceTypes", nil))
	byName := map[string]map[string]any{}
	for _, rt := range l.resources {
		byName[str(rt, "name")] = rt
	}
	for _, c := range []struct{ name, endpoint, schema string }{
		{"User", "/Users", urnUser},
		{"Group", "/Groups", urnGroup},
	} {
		rt, ok := byName[c.name]
		if !ok {
			t.Errorf("GET /ResourceTypes: no resource type named %q among %v", c.name, keysOf(byName))
			continue
		}
		if got := str(rt, "endpoint"); got != c.endpoint {
			t.Errorf("GET /ResourceTypes: %s endpoint %q, want %q", c.name, got, c.endpoint)
		}
		if got := str(rt, "schema"); got != c.schema {
			t.Errorf("GET /ResourceTypes: %s schema %q, want %q", c.name, got, c.schema)
		}
	}
	if u, ok := byName["User"]; ok && !slices.Contains(subValues(u, "schemaExtensions", "schema"), urnEnterprise) {
		t.Errorf("GET /ResourceTypes: User schemaExtensions lack %q", urnEnterprise)
	}
}

// checkResourceTypeUser: GET /ResourceTypes/User returns the User type.
func checkResourceTypeUser(ctx context.Context, t *checkT) {
	r := t.do(ctx, http.MethodGet, "/ResourceTypes/User", nil)
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	if !hasString(get(o, "schemas"), urnResourceType) {
		t.Errorf("schemas lacks %q: %s", urnResourceType, snippet(r.body))
	}
	if str(o, "name") != "User" || str(o, "endpoint") != "/Users" || str(o, "schema") != urnUser {
		t.Errorf("want name User, endpoint /Users, schema %s: %s", urnUser, snippet(r.body))
	}
}

// checkContentType: every kind of response with a body (discovery, list,
// resource, created, errors) is application/scim+json (RFC 7644 §8.1; Entra:
// "All responses").
func checkContentType(ctx context.Context, t *checkT) {
	id, _ := t.createUser(ctx, t.userBody("ct"))
	rs := []*response{
		t.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil),
		t.do(ctx, http.MethodGet, "/Schemas", nil),
		t.do(ctx, http.MethodGet, "/ResourceTypes", nil),
		t.do(ctx, http.MethodGet, withQuery("/Users", "startIndex", "1", "count", "1"), nil),
		t.do(ctx, http.MethodGet, userPath(id), nil),
		t.do(ctx, http.MethodPost, "/Users", t.userBody("ct")), // 409
		t.do(ctx, http.MethodGet, userPath(unknownID()), nil),  // 404
		t.do(ctx, http.MethodPost, "/Users", rawBody(`{"userName":`)),
	}
	created := t.do(ctx, http.MethodPost, "/Users", t.userBody("ct2"))
	if id := idOf(created); id != "" {
		t.deleteLater(userPath(id))
	}
	rs = append(rs, created)
	if t.env.token != noAuth {
		rs = append(rs, t.doAs(ctx, noAuth, http.MethodGet, "/Users", nil))
	}
	for _, r := range rs {
		t.wantMediaType(r)
	}
}

func keysOf(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
