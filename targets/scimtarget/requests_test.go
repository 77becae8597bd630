package scimtarget

import (
	"maps"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

const dept = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

// userAttrs are attributes of every supported form.
var userAttrs = map[string]any{
	"userName":                           "grace@contoso.com",
	"active":                             true,
	"name.givenName":                     "Grace",
	`emails[type eq "work"].value`:       "grace@contoso.com",
	`phoneNumbers[type eq "work"].value`: "+1 555 0100",
	"x509Certificates.value":             []string{"MIIB", "MIIC"},
	dept:                                 "Navy",
	"urn:example:params:scim:schemas:extension:Custom:2.0:User:clearance": int64(3),
	"urn:example:params:scim:schemas:extension:Custom:2.0:User:vip":       false,
}

// TestRequests: the requests each operation sends, per service and quirk,
// against golden files under testdata/requests.
func TestRequests(t *testing.T) {
	user := map[string]any{"id": "u-1", "userName": "grace@contoso.com", "active": true, "externalId": "obj-u",
		"emails": []any{map[string]any{"type": "work", "value": "old@contoso.com", "primary": true}},
		"meta":   map[string]any{"version": `W/"7"`}, "groups": []any{map[string]any{"value": "g-1"}}}
	group := map[string]any{"id": "g-1", "displayName": "Navy", "externalId": "obj-g",
		"members": []any{map[string]any{"value": "u-1"}, map[string]any{"value": "u-2"}}, "meta": map[string]any{"version": `W/"3"`}}
	update := targets.Op{ID: "op-2", ObjectID: "obj-u", Kind: targets.User, Anchor: "u-1", Attrs: map[string]any{
		"name.givenName": "Grace B.", `emails[type eq "work"].value`: "grace.hopper@contoso.com", dept: "Research",
		"title": nil, "x509Certificates.value": []string{}, `phoneNumbers[type eq "work"].value`: nil,
		"urn:example:params:scim:schemas:extension:Custom:2.0:User:vip": true}}
	members := targets.Op{ID: "op-3", ObjectID: "obj-g", Kind: targets.Group, Anchor: "g-1", Members: []string{"u-1", "u-3"}}
	tests := []struct {
		name   string
		fake   *fakeSCIM // nil: the zero fakeSCIM
		config func(*Config)
		run    func(t *testing.T, c *Connector)
	}{
		{name: "create", run: func(t *testing.T, c *Connector) {
			attrs := maps.Clone(userAttrs)
			attrs["title"], attrs["roles.value"] = nil, []string{} // ignored: no nulls sent
			anchor, err := c.Create(t.Context(), targets.Op{ID: "op-1", ObjectID: "obj-new", Kind: targets.User, Attrs: attrs})
			if err != nil || anchor == "" {
				t.Fatalf("Create: %q, %v", anchor, err)
			}
		}},
		{name: "create_group", run: func(t *testing.T, c *Connector) {
			if _, err := c.Create(t.Context(), targets.Op{ID: "op-1", ObjectID: "obj-g2", Kind: targets.Group, Attrs: map[string]any{"displayName": "Research"}}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "update_patch", run: func(t *testing.T, c *Connector) {
			mustClass(t, "Update", c.Update(t.Context(), update), nil)
		}},
		{name: "update_patch_without_path", config: func(c *Config) { c.Quirks.PatchWithoutPath = true }, run: func(t *testing.T, c *Connector) {
			mustClass(t, "Update", c.Update(t.Context(), update), nil)
		}},
		{name: "update_put_etag", fake: &fakeSCIM{NoPatch: true}, run: func(t *testing.T, c *Connector) {
			mustClass(t, "Update", c.Update(t.Context(), update), nil)
		}},
		{name: "update_put_no_etag", fake: &fakeSCIM{NoPatch: true, NoETag: true}, run: func(t *testing.T, c *Connector) {
			mustClass(t, "Update", c.Update(t.Context(), update), nil)
		}},
		{name: "disable_enable", run: func(t *testing.T, c *Connector) {
			mustClass(t, "Disable", c.Disable(t.Context(), targets.Op{ID: "op-4", Kind: targets.User, Anchor: "u-1"}), nil)
			mustClass(t, "Enable", c.Enable(t.Context(), targets.Op{ID: "op-5", Kind: targets.User, Anchor: "u-1"}), nil)
		}},
		{name: "booleans_as_strings", config: func(c *Config) { c.Quirks.BooleansAsStrings = true }, run: func(t *testing.T, c *Connector) {
			if _, err := c.Create(t.Context(), targets.Op{ID: "op-1", ObjectID: "obj-new", Kind: targets.User, Attrs: userAttrs}); err != nil {
				t.Fatal(err)
			}
			mustClass(t, "Disable", c.Disable(t.Context(), targets.Op{ID: "op-4", Kind: targets.User, Anchor: "u-1"}), nil)
			mustClass(t, "Update", c.Update(t.Context(), update), nil)
		}},
		{name: "booleans_as_strings_without_path", config: func(c *Config) { c.Quirks.BooleansAsStrings, c.Quirks.PatchWithoutPath = true, true }, run: func(t *testing.T, c *Connector) {
			mustClass(t, "Enable", c.Enable(t.Context(), targets.Op{ID: "op-5", Kind: targets.User, Anchor: "u-1"}), nil)
		}},
		{name: "disable_put", fake: &fakeSCIM{NoPatch: true}, run: func(t *testing.T, c *Connector) {
			mustClass(t, "Disable", c.Disable(t.Context(), targets.Op{ID: "op-4", Kind: targets.User, Anchor: "u-1"}), nil)
		}},
		{name: "members_add", run: func(t *testing.T, c *Connector) {
			mustClass(t, "AddMembers", c.AddMembers(t.Context(), members), nil)
		}},
		{name: "members_add_put", fake: &fakeSCIM{NoPatch: true}, run: func(t *testing.T, c *Connector) {
			mustClass(t, "AddMembers", c.AddMembers(t.Context(), members), nil)
		}},
		{name: "members_remove_path", run: func(t *testing.T, c *Connector) {
			mustClass(t, "RemoveMembers", c.RemoveMembers(t.Context(), members), nil)
		}},
		{name: "members_remove_value", config: func(c *Config) { c.Quirks.MemberRemoval = RemoveByValue }, run: func(t *testing.T, c *Connector) {
			mustClass(t, "RemoveMembers", c.RemoveMembers(t.Context(), members), nil)
		}},
		{name: "members_remove_put", fake: &fakeSCIM{NoPatch: true}, run: func(t *testing.T, c *Connector) {
			mustClass(t, "RemoveMembers", c.RemoveMembers(t.Context(), members), nil)
		}},
		{name: "lookup", run: func(t *testing.T, c *Connector) {
			for _, q := range []struct {
				attr  string
				value any
			}{
				{"userName", `a"b\c ) or userName pr`},
				{`emails[type eq "work"].value`, "grace@contoso.com"},
				{dept, "Navy"},
				{"urn:example:params:scim:schemas:extension:Custom:2.0:User:clearance", int64(3)},
				{"active", false},
			} {
				if _, err := c.Lookup(t.Context(), targets.User, q.attr, q.value, 0); err != nil {
					t.Fatalf("Lookup %s: %v", q.attr, err)
				}
			}
		}},
		{name: "list", run: func(t *testing.T, c *Connector) {
			page, err := c.List(t.Context(), targets.Group, "", 1)
			if err != nil || len(page.Objects) != 1 || page.Next != "" {
				t.Fatalf("List: %+v, %v; want the one group and no next page", page, err)
			}
			if _, err := c.List(t.Context(), targets.User, "41", 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			if f == nil {
				f = &fakeSCIM{}
			}
			c, _ := openFake(t, f, tt.config)
			f.put(clone(user))
			f.put(clone(group))
			f.put(map[string]any{"id": "u-3", "userName": "ada@contoso.com"})
			tt.run(t, c)
			golden(t, "requests/"+tt.name, render(f.requests()))
		})
	}
}

// clone deep-copies a JSON value.
func clone(v map[string]any) map[string]any {
	var cp func(v any) any
	cp = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[k] = cp(e)
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, e := range v {
				out[i] = cp(e)
			}
			return out
		}
		return v
	}
	return cp(v).(map[string]any)
}
