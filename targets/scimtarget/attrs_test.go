package scimtarget

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in      string
		want    path
		wantErr string
	}{
		{in: "userName", want: path{name: "userName"}},
		{in: "name.givenName", want: path{name: "name", sub: "givenName"}},
		{in: "emails.value", want: path{name: "emails", sub: "value"}},
		{in: `emails[type eq "work"].value`, want: path{name: "emails", typed: true, typ: "work", sub: "value"}},
		{in: `addresses[type eq "a \"b\" ]c"].streetAddress`, want: path{name: "addresses", typed: true, typ: `a "b" ]c`, sub: "streetAddress"}},
		{in: dept, want: path{urn: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", name: "department"}},
		{in: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
			want: path{urn: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", name: "manager", sub: "value"}},
		{in: `urn:x:y:phones[type eq "a:b"].value`, want: path{urn: "urn:x:y", name: "phones", typed: true, typ: "a:b", sub: "value"}},
		{in: "members.$ref", want: path{name: "members", sub: "$ref"}},
		{in: "", wantErr: "an attribute name must start with a letter"},
		{in: "1st", wantErr: "must start with a letter"},
		{in: "name.", wantErr: "no sub-attribute"},
		{in: "name.given.name", wantErr: `unexpected ".name"`},
		{in: `emails[type eq "work"]`, wantErr: "followed by .subAttribute"},
		{in: `emails[value eq "x"].type`, wantErr: `the only filter is [type eq "value"]`},
		{in: `emails[type  eq "work"].value`, wantErr: `the only filter`},
		{in: `emails[type eq work].value`, wantErr: "a JSON string"},
		{in: `emails[type eq "w\u006frk"].value`, wantErr: `write it as emails[type eq "work"].value`},
		{in: "urn:", wantErr: `unexpected ":"`},
		{in: "urn:x", wantErr: "a schema URN, then ':'"},
		{in: "user name", wantErr: `unexpected " name"`},
		{in: "userName eq x", wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePath(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePath(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parsePath(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestRoundTrip: attributes of every form, written into a resource and
// read back from its JSON, come back under the same names with the same
// values and types.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		attrs       map[string]any
		boolStrings bool
	}{
		{"every form", userAttrs, false},
		{"booleans as strings", map[string]any{"active": false, "urn:x:y:vip": true, "title": "Truely"}, true},
		{"numbers", map[string]any{"urn:x:y:n": int64(-9007199254740993), "urn:x:y:f": 1e-7, "urn:x:y:g": 12.5}, false},
		{"lists", map[string]any{"urn:x:y:tags": []string{"a", "b"}, "emails.value": []string{"a@x", "b@x"}}, false},
		{"typed elements", map[string]any{`phoneNumbers[type eq "work"].value`: "1", `phoneNumbers[type eq "mobile"].value`: "2",
			`phoneNumbers[type eq "work"].primary`: true, `addresses[type eq "work"].locality`: "Paris"}, false},
	}
	c := &Connector{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.cfg.Quirks.BooleansAsStrings = tt.boolStrings
			attrs, err := c.parseAttrs(targets.User, tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			res := map[string]any{"id": "x", "schemas": []any{userSchema}}
			for _, a := range attrs {
				if err := setPath(res, a.p, a.v); err != nil {
					t.Fatalf("setPath %s: %v", a.p, err)
				}
			}
			body, err := c.encode(res)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeObject(body)
			if err != nil {
				t.Fatal(err)
			}
			got := flatten(back, tt.boolStrings, func(k string) bool { return k == "id" || k == "schemas" })
			if !reflect.DeepEqual(got, tt.attrs) {
				t.Errorf("read back %v\nwant      %v\nbody %s", got, tt.attrs, body)
			}
		})
	}
}

// TestRemovePath: clearing an attribute removes it and what it leaves
// empty, and nothing else.
func TestRemovePath(t *testing.T) {
	res := func() map[string]any {
		var m map[string]any
		_ = json.Unmarshal([]byte(`{"userName":"u","name":{"givenName":"G","familyName":"F"},
			"emails":[{"type":"work","value":"w"},{"type":"home","value":"h","primary":true},{"value":"x"}],
			"urn:x:y":{"a":"1"}}`), &m)
		return m
	}
	tests := []struct {
		path string
		want string
	}{
		{"userName", `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home","value":"h"},{"value":"x"}],"name":{"familyName":"F","givenName":"G"},"urn:x:y":{"a":"1"}}`},
		{"name.givenName", `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home","value":"h"},{"value":"x"}],"name":{"familyName":"F"},"urn:x:y":{"a":"1"},"userName":"u"}`},
		{`emails[type eq "work"].value`, `{"emails":[{"primary":true,"type":"home","value":"h"},{"value":"x"}],"name":{"familyName":"F","givenName":"G"},"urn:x:y":{"a":"1"},"userName":"u"}`},
		{`emails[type eq "home"].value`, `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home"},{"value":"x"}],"name":{"familyName":"F","givenName":"G"},"urn:x:y":{"a":"1"},"userName":"u"}`},
		{"emails.value", `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home","value":"h"}],"name":{"familyName":"F","givenName":"G"},"urn:x:y":{"a":"1"},"userName":"u"}`},
		{"urn:x:y:a", `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home","value":"h"},{"value":"x"}],"name":{"familyName":"F","givenName":"G"},"userName":"u"}`},
		{"title", `{"emails":[{"type":"work","value":"w"},{"primary":true,"type":"home","value":"h"},{"value":"x"}],"name":{"familyName":"F","givenName":"G"},"urn:x:y":{"a":"1"},"userName":"u"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			r := res()
			removePath(r, p)
			if got, _ := json.Marshal(r); string(got) != tt.want {
				t.Errorf("after removing %s:\n got %s\nwant %s", tt.path, got, tt.want)
			}
		})
	}
}

// TestParseAttrsRefuses: attributes a mapping may not write are permanent
// errors naming them.
func TestParseAttrsRefuses(t *testing.T) {
	c := &Connector{objectID: path{name: "externalId"}}
	tests := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"reserved id", map[string]any{"id": "x"}, `"id" is managed by the connector or the service`},
		{"reserved members", map[string]any{"members": []string{"a"}}, `"members" is managed`},
		{"object id attribute", map[string]any{"externalId": "x"}, `"externalId" is where the connector records the gateway's object id`},
		{"core URN", map[string]any{userSchema + ":userName": "x"}, "write core attributes without the schema URN"},
		{"list under a filter", map[string]any{`emails[type eq "work"].value`: []string{"a"}}, "one value per [type eq] element"},
		{"list and filter on one attribute", map[string]any{"emails.value": []string{"a"}, `emails[type eq "work"].value`: "b"}, "cannot be combined"},
		{"two lists on one attribute", map[string]any{"emails.value": []string{"a"}, "emails.display": []string{"b"}}, "only one list"},
		{"bad path", map[string]any{"emails[value sw \"x\"]": "b"}, "not a supported SCIM attribute path"},
		{"bad type", map[string]any{"userName": 3}, "unsupported value type int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.parseAttrs(targets.User, tt.attrs)
			if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseAttrs(%v): %v, want a permanent error containing %q", tt.attrs, err, tt.want)
			}
		})
	}
	// A conflicting Create or Update sends nothing: checked before any request.
	f := &fakeSCIM{}
	conn, _ := openFake(t, f, nil)
	_, err := conn.Create(t.Context(), targets.Op{ID: "op", ObjectID: "o", Kind: targets.User, Attrs: map[string]any{"userName": "u", "externalId": "x"}})
	mustClass(t, "Create with externalId mapped", err, targets.ErrPermanent)
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("a refused Create sent %d requests", len(reqs))
	}
}

func TestNamedAttribute(t *testing.T) {
	attrs := func(names ...string) []attr {
		var out []attr
		for _, n := range names {
			p, err := parsePath(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, attr{p: p})
		}
		return out
	}
	tests := []struct {
		detail string
		attrs  []attr
		want   string
	}{
		{"Attribute 'userName' is required", attrs("userName", "name.givenName"), "userName"},
		{"userName is not valid", attrs("name.givenName"), ""},
		{"givenName too long", attrs("userName", "name.givenName"), "name.givenName"},
		{"invalid value", attrs(`emails[type eq "work"].value`), ""},
		{"emails must be unique", attrs(`emails[type eq "work"].value`), `emails[type eq "work"].value`},
		{"The department is unknown", attrs("title", dept), dept},
		{"bad " + dept, attrs("title", dept), dept},
		{"departments are frozen", attrs(dept), ""},
	}
	for _, tt := range tests {
		if got := namedAttribute(tt.detail, tt.attrs); got != tt.want {
			t.Errorf("namedAttribute(%q) = %q, want %q", tt.detail, got, tt.want)
		}
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		path  string
		value any
		want  string
	}{
		{"userName", `a"b\c`, `userName eq "a\"b\\c"`},
		{"userName", "<&>\u2028", `userName eq "<&>\u2028"`},
		{"userName", "tab\tnl\n", `userName eq "tab\tnl\n"`},
		{`emails[type eq "work"].value`, "x@y", `emails[type eq "work" and value eq "x@y"]`},
		{dept, "R&D", dept + ` eq "R&D"`},
		{"urn:x:y:n", int64(-3), "urn:x:y:n eq -3"},
		{"urn:x:y:f", 2.5, "urn:x:y:f eq 2.5"},
		{"active", true, "active eq true"},
	}
	for _, tt := range tests {
		p, _ := parsePath(tt.path)
		got, err := filter(p, tt.value)
		if err != nil || got != tt.want {
			t.Errorf("filter(%s, %#v) = %q, %v; want %q", tt.path, tt.value, got, err, tt.want)
		}
	}
	if _, err := filter(path{name: "emails"}, []string{"a"}); targets.Class(err) != targets.ErrPermanent {
		t.Errorf("filter with a list: %v, want a permanent error", err)
	}
}

// TestPatchOps: an update's operations; without path, the plain
// replaces fold into one partial resource.
func TestPatchOps(t *testing.T) {
	c := &Connector{}
	in := map[string]any{"name.givenName": "G", "title": nil, `emails[type eq "work"].value`: "w", "urn:x:y:a": "1", "emails.display": []string{"a"}}
	in2 := maps.Clone(in)
	delete(in2, "emails.display")
	attrs, err := c.parseAttrs(targets.User, in2)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := patchOps(attrs, true)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ops)
	want := `[{"op":"replace","value":{"name":{"givenName":"G"},"urn:x:y":{"a":"1"}}},{"op":"replace","path":"emails[type eq \"work\"].value","value":"w"},{"op":"remove","path":"title"}]`
	if string(got) != want {
		t.Errorf("ops\n got %s\nwant %s", got, want)
	}
	if _, err := c.parseAttrs(targets.User, in); err == nil {
		t.Errorf("emails.display with an emails filter path: no error")
	}
}
