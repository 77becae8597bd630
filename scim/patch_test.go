package scim

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// expand replaces %ENT% and %CUS% by the enterprise and custom extension
// URNs, to keep the test JSON readable.
func expand(s string) string {
	return strings.NewReplacer("%ENT%", URNEnterpriseUser, "%CUS%", urnCustom).Replace(s)
}

// patchBody wraps an Operations array into a PatchOp request body.
func patchBody(ops string) []byte {
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + expand(ops) + `}`)
}

// baseUser is the canonical user most cases start from.
const baseUser = `{"id":"u-1","userName":"bjensen","active":true,
	"name":{"givenName":"Barbara","familyName":"Jensen"},
	"emails":[{"type":"work","value":"bjensen@example.com","primary":true}],
	"roles":[{"value":"Admin","primary":true}],
	"%ENT%":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}}`

// baseGroup is the canonical group the group cases start from.
const baseGroup = `{"id":"g-1","displayName":"Staff","members":[{"value":"u1","type":"User"},{"value":"u2","type":"User"}]}`

// canonical decodes a canonical resource from test JSON (numbers as the
// canonical int64/float64, via Normalize) and checks it is canonical.
func canonical(t testing.TB, rt *ResourceType, s string) map[string]any {
	t.Helper()
	res, err := rt.Normalize(decode(t, expand(s)))
	if err != nil {
		t.Fatalf("test resource is not valid: %v", err)
	}
	return res
}

func TestPatch(t *testing.T) {
	user, group := UserType(customSchema()), GroupType()
	tests := []struct {
		name    string
		rt      *ResourceType
		base    string
		ops     string
		want    string
		changed bool
	}{
		// §1.4 user update shapes.
		{
			name: "USE-SCIM: Replace work email and family name",
			ops: `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
				{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]`,
			want: `{"id":"u-1","userName":"bjensen","active":true,
				"name":{"givenName":"Barbara","familyName":"updatedFamilyName"},
				"emails":[{"type":"work","value":"updatedEmail@microsoft.com","primary":true}],
				"roles":[{"value":"Admin","primary":true}],
				"%ENT%":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}}`,
			changed: true,
		},
		{
			name: "Replace userName",
			ops:  `[{"op":"Replace","path":"userName","value":"babs@example.com"}]`,
			want: `{"id":"u-1","userName":"babs@example.com","active":true,
				"name":{"givenName":"Barbara","familyName":"Jensen"},
				"emails":[{"type":"work","value":"bjensen@example.com","primary":true}],
				"roles":[{"value":"Admin","primary":true}],
				"%ENT%":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}}`,
			changed: true,
		},
		{
			name:    "Entra re-sends the current values: no change",
			ops:     `[{"op":"Replace","path":"userName","value":"bjensen"},{"op":"Replace","path":"active","value":"True"},{"op":"Add","path":"emails[type eq \"work\"].value","value":"bjensen@example.com"}]`,
			want:    baseUser,
			changed: false,
		},
		{
			name: "disable, default: value the string False",
			ops:  `[{"op":"Replace","path":"active","value":"False"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1), changed: true,
		},
		{
			name: "disable, aadOptscim062020: value the boolean false",
			ops:  `[{"op":"replace","path":"active","value":false}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1), changed: true,
		},
		{
			name: "add single-valued, default: Add nickName",
			ops:  `[{"op":"Add","path":"nickName","value":"Babs"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"nickName":"Babs"`, 1), changed: true,
		},
		{
			name: "add single-valued, aadOptscim062020: add nickName",
			ops:  `[{"op":"add","path":"nickName","value":"Babs"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"nickName":"Babs"`, 1), changed: true,
		},
		{
			name: "add on a single-valued attribute that has a value replaces it",
			ops:  `[{"op":"Add","path":"userName","value":"other"}]`,
			want: strings.Replace(baseUser, `"bjensen"`, `"other"`, 1), changed: true,
		},
		{
			name: "replace several, default: one op per attribute",
			ops: `[{"op":"Replace","path":"displayName","value":"Babs J"},
				{"op":"Replace","path":"emails[type eq \"work\"].value","value":"b@new.example"},
				{"op":"Replace","path":"name.givenName","value":"Barb"},
				{"op":"Replace","path":"name.familyName","value":"J"},
				{"op":"Replace","path":"externalId","value":"ext-9"},
				{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"42"}]`,
			want: `{"id":"u-1","userName":"bjensen","active":true,"displayName":"Babs J","externalId":"ext-9",
				"name":{"givenName":"Barb","familyName":"J"},
				"emails":[{"type":"work","value":"b@new.example","primary":true}],
				"roles":[{"value":"Admin","primary":true}],
				"%ENT%":{"employeeNumber":"42","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}}`,
			changed: true,
		},
		{
			name: "replace several, aadOptscim062020: valuePath op plus one op without path with dotted and URN keys",
			ops: `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"b@new.example"},
				{"op":"replace","value":{"displayName":"Babs J","name.givenName":"Barb","name.familyName":"J","externalId":"ext-9",
				 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"42"}}]`,
			want: `{"id":"u-1","userName":"bjensen","active":true,"displayName":"Babs J","externalId":"ext-9",
				"name":{"givenName":"Barb","familyName":"J"},
				"emails":[{"type":"work","value":"b@new.example","primary":true}],
				"roles":[{"value":"Admin","primary":true}],
				"%ENT%":{"employeeNumber":"42","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}}`,
			changed: true,
		},
		{
			name:    "no path, RFC nested object: replace merges the sub-attributes given",
			ops:     `[{"op":"replace","value":{"name":{"givenName":"Barb"},"active":"false"}}]`,
			want:    strings.NewReplacer(`"givenName":"Barbara"`, `"givenName":"Barb"`, `"active":true`, `"active":false`).Replace(baseUser),
			changed: true,
		},
		{
			name: "no path, extension URN key holding an object",
			ops:  `[{"op":"Add","value":{"%ENT%":{"department":"Sales","manager":"m-2"}}}]`,
			want: strings.Replace(baseUser, `{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}`,
				`{"employeeNumber":"701984","department":"Sales","manager":{"value":"m-2"}}`, 1),
			changed: true,
		},
		{
			name: "path that is an extension URN, value an object of its attributes",
			ops:  `[{"op":"replace","path":"%ENT%","value":{"employeeNumber":"7"}}]`,
			want: strings.Replace(baseUser, `"701984"`, `"7"`, 1), changed: true,
		},
		{
			name: "path name.givenName replace, and remove of a sub-attribute",
			ops:  `[{"op":"replace","path":"NAME.GIVENNAME","value":"B"},{"op":"remove","path":"name.familyName"}]`,
			want: strings.Replace(baseUser, `{"givenName":"Barbara","familyName":"Jensen"}`, `{"givenName":"B"}`, 1), changed: true,
		},
		{
			name: "removing the last sub-attribute removes the complex attribute",
			ops:  `[{"op":"remove","path":"name.familyName"},{"op":"remove","path":"name.givenName"}]`,
			want: strings.Replace(baseUser, `"name":{"givenName":"Barbara","familyName":"Jensen"},`, ``, 1), changed: true,
		},
		{
			name:    "remove of an absent attribute is no change",
			ops:     `[{"op":"Remove","path":"title"},{"op":"remove","path":"addresses[type eq \"work\"]"},{"op":"remove","path":"phoneNumbers"}]`,
			want:    baseUser,
			changed: false,
		},
		// Manager in every form.
		{
			name: "manager, USE-SCIM example 5: Add path manager, array with $ref",
			ops:  `[{"op":"Add","path":"manager","value":[{"$ref":"https://x/Users/m-2","value":"m-2"}]}]`,
			want: strings.Replace(baseUser, `{"value":"m-1","$ref":"https://x/Users/m-1"}`, `{"value":"m-2","$ref":"https://x/Users/m-2"}`, 1), changed: true,
		},
		{
			name: "manager, validator: add URN path with an object (replaces $ref too)",
			ops:  `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"AXTK"}}]`,
			want: strings.Replace(baseUser, `{"value":"m-1","$ref":"https://x/Users/m-1"}`, `{"value":"AXTK"}`, 1), changed: true,
		},
		{
			name: "manager as a plain string",
			ops:  `[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-3"}]`,
			want: strings.Replace(baseUser, `{"value":"m-1","$ref":"https://x/Users/m-1"}`, `{"value":"m-3"}`, 1), changed: true,
		},
		{
			name: "manager.value path",
			ops:  `[{"op":"replace","path":"%ENT%:manager.value","value":"m-4"}]`,
			want: strings.Replace(baseUser, `{"value":"m-1",`, `{"value":"m-4",`, 1), changed: true,
		},
		{
			name: "manager removed with remove and the URN path",
			ops:  `[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m-1","$ref":"https://x/Users/m-1"}`, ``, 1), changed: true,
		},
		{
			name: "manager removed with replace and {\"value\":\"\"}",
			ops:  `[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}]`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m-1","$ref":"https://x/Users/m-1"}`, ``, 1), changed: true,
		},
		{
			name: "manager removed with Replace and an empty string, bare path",
			ops:  `[{"op":"Replace","path":"manager","value":""}]`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m-1","$ref":"https://x/Users/m-1"}`, ``, 1), changed: true,
		},
		{
			name: "manager removed with an empty manager.value; the emptied extension goes too",
			base: strings.Replace(baseUser, `"employeeNumber":"701984",`, ``, 1),
			ops:  `[{"op":"replace","path":"%ENT%:manager.value","value":""}]`,
			want: strings.Replace(baseUser, `,
	"%ENT%":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"https://x/Users/m-1"}}`, ``, 1),
			changed: true,
		},
		// Roles.
		{
			name:    "roles, SingleAppRoleAssignment PATCH: Add with the role JSON-encoded in value",
			ops:     `[{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6f6f4d4b7a0b\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}]}]`,
			want:    strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}]`, `"roles":[{"value":"Admin","primary":true},{"value":"25","display":"Role1234"}]`, 1),
			changed: true,
		},
		{
			name:    "roles, AppRoleAssignmentsComplex re-adds a role it already added: no change",
			base:    strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}]`, `"roles":[{"value":"25","display":"Role1234","primary":false}]`, 1),
			ops:     `[{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"x\",\"value\":\"25\",\"displayName\":\"Role1234\",\"primary\":false}"}]}]`,
			want:    strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}]`, `"roles":[{"value":"25","display":"Role1234","primary":false}]`, 1),
			changed: false,
		},
		{
			name:    "roles, AssertiveAppRoleAssignmentsComplex: replace the whole set",
			ops:     `[{"op":"replace","path":"roles","value":[{"value":"R1","display":"Reader","primary":false},{"value":"R2","display":"Writer","primary":false}]}]`,
			want:    strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}]`, `"roles":[{"value":"R1","display":"Reader","primary":false},{"value":"R2","display":"Writer","primary":false}]`, 1),
			changed: true,
		},
		{
			name: "roles, Assertive with no roles left: replace with an empty array clears",
			ops:  `[{"op":"replace","path":"roles","value":[]}]`,
			want: strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}],`, ``, 1), changed: true,
		},
		{
			name: "roles[primary eq \"True\"].display sets the primary role's display",
			ops:  `[{"op":"Replace","path":"roles[primary eq \"True\"].display","value":"Administrator"}]`,
			want: strings.Replace(baseUser, `{"value":"Admin","primary":true}`, `{"value":"Admin","primary":true,"display":"Administrator"}`, 1), changed: true,
		},
		{
			name: "roles[primary eq \"True\"].value with no roles creates the primary role",
			base: strings.Replace(baseUser, `"roles":[{"value":"Admin","primary":true}],`, ``, 1),
			ops:  `[{"op":"Add","path":"roles[primary eq \"True\"].value","value":"Reader"}]`,
			want: strings.Replace(baseUser, `{"value":"Admin","primary":true}`, `{"value":"Reader","primary":true}`, 1), changed: true,
		},
		// Value paths that create elements (§1.8 point 4).
		{
			name: "phoneNumbers[type eq \"mobile\"].value creates the element",
			ops:  `[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"555-0101"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"phoneNumbers":[{"type":"mobile","value":"555-0101"}]`, 1), changed: true,
		},
		{
			name: "addresses[type eq \"work\"] sub-attributes: the second op fills the element the first created",
			ops: `[{"op":"Replace","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"},
				{"op":"Replace","path":"addresses[type eq \"work\"].postalCode","value":"98052"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"addresses":[{"type":"work","streetAddress":"1 Main St","postalCode":"98052"}]`, 1), changed: true,
		},
		{
			name: "proxy addresses: emails[type eq \"other\"].Value appends a second email",
			ops:  `[{"op":"Add","path":"emails[type eq \"other\"].Value","value":"smtp:b@alias.example"}]`,
			want: strings.Replace(baseUser, `"primary":true}],`, `"primary":true},{"type":"other","value":"smtp:b@alias.example"}],`, 1), changed: true,
		},
		{
			name: "replace through a filter with an object merges into the matching element",
			ops:  `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"display":"Work"}}]`,
			want: strings.Replace(baseUser, `"primary":true}],`, `"primary":true,"display":"Work"}],`, 1), changed: true,
		},
		{
			name: "remove through a filter drops the element",
			ops:  `[{"op":"remove","path":"emails[type eq \"work\"]"}]`,
			want: strings.Replace(baseUser, `"emails":[{"type":"work","value":"bjensen@example.com","primary":true}],`, ``, 1), changed: true,
		},
		{
			name: "remove of a sub-attribute through a filter",
			ops:  `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
			want: strings.Replace(baseUser, `,"primary":true}],`, `}],`, 1), changed: true,
		},
		{
			name: "emptying the value through a filter drops the element",
			ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":""}]`,
			want: strings.Replace(baseUser, `"emails":[{"type":"work","value":"bjensen@example.com","primary":true}],`, ``, 1), changed: true,
		},
		// Primary.
		{
			name: "adding a primary email clears primary on the others",
			ops:  `[{"op":"add","path":"emails","value":[{"type":"home","value":"b@home.example","primary":true}]}]`,
			want: strings.Replace(baseUser, `"primary":true}],`, `"primary":false},{"type":"home","value":"b@home.example","primary":true}],`, 1), changed: true,
		},
		{
			name: "making an element primary through a filter clears the others",
			base: strings.Replace(baseUser, `"primary":true}],`, `"primary":true},{"type":"home","value":"b@home.example"}],`, 1),
			ops:  `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"}]`,
			want: strings.Replace(baseUser, `"primary":true}],`, `"primary":false},{"type":"home","value":"b@home.example","primary":true}],`, 1), changed: true,
		},
		{
			name: "add of an email equal to an existing one is no change",
			ops:  `[{"op":"add","path":"emails","value":{"type":"work","value":"bjensen@example.com","primary":true}}]`,
			want: baseUser, changed: false,
		},
		// Custom extension attributes.
		{
			name: "custom extension attribute by URN path, not listed anywhere else",
			ops:  `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCenterCode","value":"CC-1"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"%CUS%":{"costCenterCode":"CC-1"}`, 1), changed: true,
		},
		{
			name: "custom extension attributes as no-path keys, coerced",
			ops:  `[{"op":"replace","value":{"%CUS%:level":"3","%CUS%:contractor":"True","%CUS%:tags":"a"}}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"%CUS%":{"level":3,"contractor":true,"tags":["a"]}`, 1), changed: true,
		},
		{
			name: "immutable attribute may be set once, and re-sent unchanged",
			ops:  `[{"op":"add","path":"%CUS%:badge","value":"B-7"},{"op":"replace","path":"%CUS%:badge","value":"B-7"}]`,
			want: strings.Replace(baseUser, `"active":true`, `"active":true,"%CUS%":{"badge":"B-7"}`, 1), changed: true,
		},
		// §1.6 groups.
		{
			name: "group rename",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Replace","path":"displayName","value":"Staff 2"}]`,
			want: strings.Replace(baseGroup, `"Staff"`, `"Staff 2"`, 1), changed: true,
		},
		{
			name: "group add member, USE-SCIM shape with $ref null",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]`,
			want: strings.Replace(baseGroup, `]}`, `,{"value":"f648f8d5ea4e4cd38e9c"}]}`, 1), changed: true,
		},
		{
			name: "group add several members in one op, one already there, one twice",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Add","path":"members","value":[{"value":"u3"},{"value":"u1"},{"value":"u4","display":"Four"},{"value":"u3"}]}]`,
			want: strings.Replace(baseGroup, `]}`, `,{"value":"u3"},{"value":"u4","display":"Four"}]}`, 1), changed: true,
		},
		{
			name: "group add of an existing member is no change, never an error",
			rt:   group, base: baseGroup,
			ops:     `[{"op":"Add","path":"members","value":[{"value":"u2"}]}]`,
			want:    baseGroup,
			changed: false,
		},
		{
			name: "group add members to a group created with none",
			rt:   group, base: `{"id":"g-1","displayName":"Staff"}`,
			ops:  `[{"op":"add","path":"members","value":[{"value":"u1"},"u2"]}]`,
			want: `{"id":"g-1","displayName":"Staff","members":[{"value":"u1"},{"value":"u2"}]}`, changed: true,
		},
		{
			name: "group remove member, default: Remove with a value array",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"}]}]`,
			want: `{"id":"g-1","displayName":"Staff","members":[{"value":"u2","type":"User"}]}`, changed: true,
		},
		{
			name: "group remove member, aadOptscim062020: remove members[value eq ...]",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"remove","path":"members[value eq \"u2\"]"}]`,
			want: `{"id":"g-1","displayName":"Staff","members":[{"value":"u1","type":"User"}]}`, changed: true,
		},
		{
			name: "group remove of an absent member is no change, both shapes",
			rt:   group, base: baseGroup,
			ops:     `[{"op":"Remove","path":"members","value":[{"value":"u9"}]},{"op":"remove","path":"members[value eq \"u9\"]"}]`,
			want:    baseGroup,
			changed: false,
		},
		{
			name: "group remove of the last members leaves no members attribute",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]`,
			want: `{"id":"g-1","displayName":"Staff"}`, changed: true,
		},
		{
			name: "group clear: remove members without value",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"remove","path":"members"}]`,
			want: `{"id":"g-1","displayName":"Staff"}`, changed: true,
		},
		{
			name: "group replace members replaces the set",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"replace","path":"members","value":[{"value":"u7"}]}]`,
			want: `{"id":"g-1","displayName":"Staff","members":[{"value":"u7"}]}`, changed: true,
		},
		{
			name: "group: add and remove in one request",
			rt:   group, base: baseGroup,
			ops:  `[{"op":"Add","path":"members","value":[{"value":"u3"}]},{"op":"Remove","path":"members","value":[{"value":"u1"}]}]`,
			want: `{"id":"g-1","displayName":"Staff","members":[{"value":"u2","type":"User"},{"value":"u3"}]}`, changed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, base := tc.rt, tc.base
			if rt == nil {
				rt = user
			}
			if base == "" {
				base = baseUser
			}
			ops, err := ParsePatchRequest(patchBody(tc.ops))
			if err != nil {
				t.Fatalf("ParsePatchRequest: %v", err)
			}
			res := canonical(t, rt, base)
			before := canonJSON(t, res)
			got, changed, err := rt.Patch(res, ops)
			if err != nil {
				t.Fatalf("Patch: %v", err)
			}
			sameJSON(t, got, expand(tc.want))
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if after := canonJSON(t, res); after != before {
				t.Errorf("input modified:\nbefore %s\nafter  %s", before, after)
			}
			again, err := rt.Normalize(got)
			if err != nil || !Equal(again, got) {
				t.Errorf("result is not canonical: %v\n%s", err, canonJSON(t, again))
			}
		})
	}
}

func TestPatchErrors(t *testing.T) {
	user, group := UserType(customSchema()), GroupType()
	var (
		mut = ErrMutability
		iv  = ErrInvalidValue
		nt  = ErrNoTarget
	)
	tests := []struct {
		name     string
		rt       *ResourceType
		base     string
		ops      string
		scimType error
		detail   string
	}{
		{name: "replace id", ops: `[{"op":"replace","path":"id","value":"x"}]`, scimType: mut,
			detail: `Operations[0]: "id" is readOnly; it cannot be changed`},
		{name: "replace meta.version", ops: `[{"op":"replace","path":"meta.version","value":"W/\"2\""}]`, scimType: mut,
			detail: `Operations[0]: "meta.version" is readOnly; it cannot be changed`},
		{name: "remove meta", ops: `[{"op":"remove","path":"meta"}]`, scimType: mut,
			detail: `Operations[0]: "meta" is readOnly; it cannot be changed`},
		{name: "add groups", ops: `[{"op":"add","path":"groups","value":[{"value":"g-1"}]}]`, scimType: mut,
			detail: `Operations[0]: "groups" is readOnly; it cannot be changed`},
		{name: "replace manager.displayName", ops: `[{"op":"replace","path":"%ENT%:manager.displayName","value":"Boss"}]`, scimType: mut,
			detail: `Operations[0]: "%ENT%:manager.displayName" is readOnly; it cannot be changed`},
		{name: "id as a key of a no-path value", ops: `[{"op":"replace","value":{"displayName":"x","id":"y"}}]`, scimType: mut,
			detail: `Operations[0]: value key "id": "id" is readOnly; it cannot be changed`},
		{name: "change an immutable attribute that has a value",
			base: strings.Replace(baseUser, `"active":true`, `"active":true,"%CUS%":{"badge":"B-7"}`, 1),
			ops:  `[{"op":"replace","path":"%CUS%:badge","value":"B-8"}]`, scimType: mut,
			detail: `Operations[0]: "%CUS%:badge" is immutable and already has a value; it cannot be changed`},
		{name: "remove an immutable attribute that has a value",
			base: strings.Replace(baseUser, `"active":true`, `"active":true,"%CUS%":{"badge":"B-7"}`, 1),
			ops:  `[{"op":"remove","path":"%CUS%:badge"}]`, scimType: mut,
			detail: `Operations[0]: "%CUS%:badge" is immutable and already has a value; it cannot be changed`},
		{name: "change an immutable sub-attribute of a member", rt: group, base: baseGroup,
			ops: `[{"op":"replace","path":"members[value eq \"u1\"].type","value":"Group"}]`, scimType: mut,
			detail: `Operations[0]: "members.type" is immutable and already has a value; it cannot be changed`},
		{name: "removing userName", ops: `[{"op":"remove","path":"userName"}]`, scimType: iv,
			detail: `userName is required`},
		{name: "group displayName emptied", rt: group, base: baseGroup, ops: `[{"op":"replace","path":"displayName","value":""}]`, scimType: iv,
			detail: `displayName is required`},
		{name: "wrong type", ops: `[{"op":"replace","path":"active","value":7}]`, scimType: iv,
			detail: `Operations[0]: attribute "active": expected a boolean, got the number 7`},
		{name: "wrong type in a no-path value", ops: `[{"op":"replace","value":{"name.givenName":false}}]`, scimType: iv,
			detail: `Operations[0]: value key "name.givenName": attribute "name.givenName": expected a string, got the boolean false`},
		{name: "unknown sub-attribute in a value", ops: `[{"op":"add","path":"emails","value":[{"value":"a@b","kind":"x"}]}]`, scimType: iv,
			detail: `Operations[0]: unknown attribute "emails.kind": "emails" has no sub-attribute "kind"; ` + customHint},
		{name: "manager with two values", ops: `[{"op":"add","path":"manager","value":[{"value":"a"},{"value":"b"}]}]`, scimType: iv,
			detail: `Operations[0]: attribute "%ENT%:manager": expected an object, got an array of 2 values`},
		{name: "two primaries added", ops: `[{"op":"add","path":"emails","value":[{"value":"a@b","primary":true},{"value":"c@d","primary":true}]}]`, scimType: iv,
			detail: `Operations[0]: attribute "emails": 2 values have "primary": true; at most one may`},
		{name: "extension URN key holding a string", ops: `[{"op":"replace","value":{"%ENT%":"x"}}]`, scimType: iv,
			detail: `Operations[0]: value key "%ENT%": "%ENT%": expected an object holding attributes of that schema, got the string "x"`},
		{name: "all or nothing: the second op fails", ops: `[{"op":"replace","path":"userName","value":"new"},{"op":"replace","path":"active","value":"maybe"}]`, scimType: iv,
			detail: `Operations[1]: attribute "active": expected a boolean, got the string "maybe"`},
		{name: "filter with or matching nothing cannot create an element",
			ops: `[{"op":"add","path":"phoneNumbers[type eq \"work\" or type eq \"mobile\"].value","value":"1"}]`, scimType: nt,
			detail: `Operations[0]: "phoneNumbers[type eq \"work\" or type eq \"mobile\"].value": no element matches the filter, and none can be created from it (only "eq" comparisons of sub-attributes joined by "and" can)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, base := tc.rt, tc.base
			if rt == nil {
				rt = user
			}
			if base == "" {
				base = baseUser
			}
			ops, err := ParsePatchRequest(patchBody(tc.ops))
			if err != nil {
				t.Fatalf("ParsePatchRequest: %v", err)
			}
			res := canonical(t, rt, base)
			before := canonJSON(t, res)
			got, changed, err := rt.Patch(res, ops)
			if err == nil {
				t.Fatalf("got %s (changed %v), want an error", canonJSON(t, got), changed)
			}
			if got != nil || changed {
				t.Errorf("on error got %v, %v; want nil, false", got, changed)
			}
			wantErr(t, err, tc.scimType, expand(tc.detail))
			if after := canonJSON(t, res); after != before {
				t.Errorf("input modified:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestPatchOpsNotFromParse checks that Patch validates ops it is handed
// directly (the handlers build some themselves).
func TestPatchOpsNotFromParse(t *testing.T) {
	rt := UserType()
	for _, tc := range []struct {
		name     string
		op       PatchOp
		scimType error
		detail   string
	}{
		{"unknown op", PatchOp{Op: "Move", Path: "title", Value: "x"}, ErrInvalidSyntax,
			`Operations[0]: unknown op "Move"; use add, replace or remove`},
		{"add without value", PatchOp{Op: "ADD", Path: "title"}, ErrInvalidValue,
			`Operations[0]: add of "title" needs a value`},
		{"remove without path", PatchOp{Op: "Remove"}, ErrNoTarget,
			`Operations[0]: remove needs a path`},
		{"no path, value not an object", PatchOp{Op: "replace", Value: "x"}, ErrInvalidValue,
			`Operations[0]: replace without a path needs an object value whose keys are attribute paths, got the string "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := rt.Patch(canonical(t, rt, baseUser), []PatchOp{tc.op})
			wantErr(t, err, tc.scimType, tc.detail)
		})
	}
	// Mixed-case ops work when handed over directly.
	got, changed, err := rt.Patch(canonical(t, rt, baseUser), []PatchOp{{Op: "Replace", Path: "title", Value: "Boss"}})
	if err != nil || !changed || got["title"] != "Boss" {
		t.Errorf("Replace title: got %v, %v, %v", got["title"], changed, err)
	}
}

// TestPatchUnknownPath checks that unknown paths are refused as invalid
// paths; the detail comes from ParsePatchPath and must name the path.
func TestPatchUnknownPath(t *testing.T) {
	rt := UserType()
	for _, tc := range []struct{ name, ops, names string }{
		{"unknown attribute", `[{"op":"add","path":"favouriteColour","value":"red"}]`, "favouriteColour"},
		{"unknown sub-attribute", `[{"op":"replace","path":"name.nick","value":"x"}]`, "nick"},
		{"unknown no-path key", `[{"op":"replace","value":{"favouriteColour":"red"}}]`, "favouriteColour"},
		{"unknown extension", `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:Other:2.0:User:x","value":"red"}]`, "Other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := ParsePatchRequest(patchBody(tc.ops))
			if err != nil {
				t.Fatalf("ParsePatchRequest: %v", err)
			}
			_, _, err = rt.Patch(canonical(t, rt, baseUser), ops)
			if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), tc.names) {
				t.Errorf("got %v, want an ErrInvalidPath naming %q", err, tc.names)
			}
		})
	}
}

func TestParsePatchRequest(t *testing.T) {
	t.Run("valid, any case", func(t *testing.T) {
		ops, err := ParsePatchRequest([]byte(`{"SCHEMAS":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[
			{"OP":"Add","Path":"members","Value":[{"value":"u1"}]},{"op":"REPLACE","value":{"active":false}},{"op":"remove","path":" title "}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := []PatchOp{
			{Op: "add", Path: "members", Value: []any{map[string]any{"value": "u1"}}},
			{Op: "replace", Value: map[string]any{"active": false}},
			{Op: "remove", Path: "title"},
		}
		if len(ops) != len(want) {
			t.Fatalf("got %d ops, want %d", len(ops), len(want))
		}
		for i := range want {
			if ops[i].Op != want[i].Op || ops[i].Path != want[i].Path || !Equal(ops[i].Value, want[i].Value) {
				t.Errorf("op %d = %+v, want %+v", i, ops[i], want[i])
			}
		}
	})
	t.Run("numbers are json.Number", func(t *testing.T) {
		ops, err := ParsePatchRequest(patchBody(`[{"op":"add","path":"x","value":12345678901234567890}]`))
		if err != nil {
			t.Fatal(err)
		}
		if s := describe(ops[0].Value); s != "the number 12345678901234567890" {
			t.Errorf("value %s, want the exact number", s)
		}
	})
	var (
		syn = ErrInvalidSyntax
		iv  = ErrInvalidValue
		nt  = ErrNoTarget
		ip  = ErrInvalidPath
	)
	const pre = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`
	for _, tc := range []struct {
		name, body string
		scimType   error
		detail     string
	}{
		{"invalid JSON", `{"schemas":`, syn, `the PATCH body is not a valid JSON object: unexpected EOF`},
		{"not an object", `[1]`, syn, `the PATCH body is not a valid JSON object: json: cannot unmarshal array into Go value of type map[string]interface {}`},
		{"null", `null`, syn, `the PATCH body must be a JSON object`},
		{"data after the object", pre + `[{"op":"remove","path":"title"}]} {}`, syn, `the PATCH body has data after the JSON object`},
		{"no schemas", `{"Operations":[{"op":"remove","path":"title"}]}`, syn, `a PATCH body needs "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`},
		{"wrong schemas", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"title"}]}`, syn, `a PATCH body needs "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`},
		{"no Operations", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, syn, `a PATCH body needs "Operations": a non-empty array of operations`},
		{"empty Operations", pre + `[]}`, syn, `a PATCH body needs "Operations": a non-empty array of operations`},
		{"Operations twice in different case", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[],"operations":[]}`, syn, `Operations and operations: "operations" given twice`},
		{"operation not an object", pre + `["remove"]}`, syn, `Operations[0]: expected an object, got the string "remove"`},
		{"unknown op", pre + `[{"op":"move","path":"title"}]}`, syn, `Operations[0]: unknown op "move"; use add, replace or remove`},
		{"op missing", pre + `[{"path":"title"}]}`, syn, `Operations[0]: op must be add, replace or remove, got null`},
		{"op twice", pre + `[{"op":"add","OP":"remove","path":"title","value":"x"}]}`, syn, `Operations[0].OP and Operations[0].op: "op" given twice`},
		{"path not a string", pre + `[{"op":"remove","path":7}]}`, ip, `Operations[0]: path must be a string, got the number 7`},
		{"remove without path", pre + `[{"op":"remove","value":[{"value":"u1"}]}]}`, nt, `Operations[0]: remove needs a path`},
		{"add without value", pre + `[{"op":"add","path":"title"}]}`, iv, `Operations[0]: add needs a value`},
		{"replace with null", pre + `[{"op":"remove","path":"title"},{"op":"Replace","path":"title","value":null}]}`, iv, `Operations[1]: replace needs a value`},
		{"no path, value not an object", pre + `[{"op":"add","value":["x"]}]}`, iv, `Operations[0]: add without a path needs an object value whose keys are attribute paths, got an array of 1 value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := ParsePatchRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("got %+v, want an error", ops)
			}
			wantErr(t, err, tc.scimType, tc.detail)
		})
	}
}

func BenchmarkPatchAddMemberLargeGroup(b *testing.B) {
	rt := GroupType()
	members := make([]any, 10000)
	for i := range members {
		members[i] = map[string]any{"value": "5d48a0a8-e9f0-4aa3-8008-" + strconv.Itoa(100000000000+i), "type": "User"}
	}
	res := map[string]any{"id": "g", "displayName": "big", "members": members}
	ops, err := ParsePatchRequest(patchBody(`[{"op":"Add","path":"members","value":[{"value":"new-member"}]}]`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rt.Patch(res, ops); err != nil {
			b.Fatal(err)
		}
	}
}
