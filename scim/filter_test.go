package scim

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/scimgate/scimgate/internal/store"
)

// urnTest is a custom User extension with one attribute of every type.
const urnTest = "urn:ietf:params:scim:schemas:extension:Test:2.0:User"

func testExtension() schema.Schema {
	return schema.Schema{
		ID:   urnTest,
		Name: optional.NewString("Test"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "level", Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "score", Type: schema.AttributeTypeDecimal()})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "hired"})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tags", MultiValued: true})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "code", CaseExact: true})),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{Name: "flag"})),
			schema.SimpleCoreAttribute(schema.SimpleBinaryParams(schema.BinaryParams{Name: "blob"})),
		},
	}
}

// testUserType is the User type with the enterprise and the test extension.
func testUserType() *ResourceType { return UserType(testExtension()) }

const (
	pEnt  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:"
	pTest = "urn:ietf:params:scim:schemas:extension:test:2.0:user:"
)

func cmpS(path string, op store.Op, str string) store.Compare {
	return store.Compare{Paths: []string{path}, Op: op, Str: str}
}

func cmpN(path string, op store.Op, str string, n float64) store.Compare {
	return store.Compare{Paths: []string{path}, Op: op, Str: str, Num: &n}
}

func pr(paths ...string) store.Compare { return store.Compare{Paths: paths, Op: store.Pr} }

func TestParseFilter(t *testing.T) {
	nameSubs := []string{"name.formatted", "name.familyname", "name.givenname", "name.middlename", "name.honorificprefix", "name.honorificsuffix"}
	tests := []struct {
		name   string
		group  bool // parse against the Group type
		filter string
		want   store.Cond
	}{
		// operators
		{"eq", false, `userName eq "BJensen"`, cmpS("username", store.Eq, "bjensen")},
		{"ne", false, `title ne "Boss"`, cmpS("title", store.Ne, "boss")},
		{"co", false, `name.familyName co "O'Malley"`, cmpS("name.familyname", store.Co, "o'malley")},
		{"sw", false, `userName sw "J"`, cmpS("username", store.Sw, "j")},
		{"ew", false, `emails.value ew "@Example.com"`, cmpS("emails.value", store.Ew, "@example.com")},
		{"gt dateTime", false, `meta.lastModified gt "2011-05-13T04:42:34Z"`, cmpS("meta.lastmodified", store.Gt, "2011-05-13T04:42:34.000000000Z")},
		{"ge integer", false, `urn:ietf:params:scim:schemas:extension:Test:2.0:User:level ge 3`, cmpN(pTest+"level", store.Ge, "3", 3)},
		{"lt decimal", false, `score lt 2.5`, cmpN(pTest+"score", store.Lt, "2.5", 2.5)},
		{"le dateTime with offset", false, `hired le "2020-01-01T01:00:00.5+01:00"`, cmpS(pTest+"hired", store.Le, "2020-01-01T00:00:00.500000000Z")},
		{"meta.created ge", false, `meta.created ge "2024-02-29T23:59:59"`, cmpS("meta.created", store.Ge, "2024-02-29T23:59:59.000000000Z")},
		{"pr", false, `title pr`, pr("title")},
		{"pr complex", false, `name pr`, pr(nameSubs...)},
		{"complex compared directly", false, `emails co "@Example.com"`, cmpS("emails.value", store.Co, "@example.com")},
		{"multi-valued simple", false, `tags eq "Blue"`, cmpS(pTest+"tags", store.Eq, "blue")},
		// logic
		{"and binds tighter than or", false, `title pr or userName eq "a" and displayName eq "b"`,
			store.Or{pr("title"), store.And{cmpS("username", store.Eq, "a"), cmpS("displayname", store.Eq, "b")}}},
		{"parentheses", false, `(title pr or userName eq "a") and displayName eq "b"`,
			store.And{store.Or{pr("title"), cmpS("username", store.Eq, "a")}, cmpS("displayname", store.Eq, "b")}},
		{"not", false, `not (active eq true)`, store.Not{C: cmpS("active", store.Eq, "true")}},
		{"not within and", false, `userName sw "a" and not(title pr or nickName pr)`,
			store.And{cmpS("username", store.Sw, "a"), store.Not{C: store.Or{pr("title"), pr("nickname")}}}},
		{"or chain flattened", false, `title pr or nickName pr or locale pr`, store.Or{pr("title"), pr("nickname"), pr("locale")}},
		{"nested parentheses", false, `((title pr))`, pr("title")},
		// valuePath
		{"valuePath with sub-attribute comparison", false, `emails[type eq "work" and primary eq true].value eq "X@Y"`,
			store.Elem{Root: "emails", C: store.And{cmpS("emails.type", store.Eq, "work"), cmpS("emails.primary", store.Eq, "true"), cmpS("emails.value", store.Eq, "x@y")}}},
		{"valuePath alone", false, `emails[type eq "work"]`, store.Elem{Root: "emails", C: cmpS("emails.type", store.Eq, "work")}},
		{"valuePath with or and not inside", false, `emails[not (type eq "work") or value co "@"]`,
			store.Elem{Root: "emails", C: store.Or{store.Not{C: cmpS("emails.type", store.Eq, "work")}, cmpS("emails.value", store.Co, "@")}}},
		{"valuePath in a larger filter", false, `emails[type eq "work"] and userName eq "x"`,
			store.And{store.Elem{Root: "emails", C: cmpS("emails.type", store.Eq, "work")}, cmpS("username", store.Eq, "x")}},
		{"valuePath sub pr", false, `addresses[type eq "work"].streetAddress pr`,
			store.Elem{Root: "addresses", C: store.And{cmpS("addresses.type", store.Eq, "work"), pr("addresses.streetaddress")}}},
		// URNs and case
		{"enterprise URN complex", false, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "M1"`, cmpS(pEnt+"manager.value", store.Eq, "m1")},
		{"enterprise URN sub-attribute", false, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M1"`, cmpS(pEnt+"manager.value", store.Eq, "m1")},
		{"URN any case", false, `URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "Sales"`, cmpS(pEnt+"department", store.Eq, "sales")},
		{"core URN", false, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, cmpS("username", store.Eq, "x")},
		{"names and operators any case", false, `USERNAME EQ "X" AND NOT (ACTIVE Eq FALSE)`,
			store.And{cmpS("username", store.Eq, "x"), store.Not{C: cmpS("active", store.Eq, "false")}}},
		{"extra white space", false, `  userName   eq   "x"  `, cmpS("username", store.Eq, "x")},
		// Entra ID
		{"Entra userName", false, `userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"`, cmpS("username", store.Eq, "test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee")},
		{"Entra externalId bare word", false, `externalId eq JYoung`, cmpS("externalid", store.Eq, "JYoung")},
		{"Entra work email", false, `emails[type eq "work"].value eq "user@contoso.com"`,
			store.Elem{Root: "emails", C: store.And{cmpS("emails.type", store.Eq, "work"), cmpS("emails.value", store.Eq, "user@contoso.com")}}},
		{"Entra group displayName", true, `displayName eq "displayName"`, cmpS("displayname", store.Eq, "displayname")},
		{"Entra membership check", true, `id eq "G1" and members eq "U1"`, store.And{cmpS("id", store.Eq, "G1"), cmpS("members.value", store.Eq, "u1")}},
		{"Entra manager check", false, `id eq "U1" and manager eq "M1"`, store.And{cmpS("id", store.Eq, "U1"), cmpS(pEnt+"manager.value", store.Eq, "m1")}},
		{"Entra boolean as string", false, `active eq "False"`, cmpS("active", store.Eq, "false")},
		{"Entra test connection", false, `userName eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`, cmpS("username", store.Eq, "8646d011-1693-4cd3-9ee6-0d7482ca2219")},
		// literals
		{"caseExact id", false, `id eq "AbC"`, cmpS("id", store.Eq, "AbC")},
		{"caseExact schema attribute", false, `code eq "AbC"`, cmpS(pTest+"code", store.Eq, "AbC")},
		{"number for a string attribute", false, `externalId eq 12345`, cmpS("externalid", store.Eq, "12345")},
		{"numeric string for an integer", false, `level eq "7"`, cmpN(pTest+"level", store.Eq, "7", 7)},
		{"eq null", false, `title eq null`, store.Not{C: pr("title")}},
		{"ne null", false, `title ne null`, pr("title")},
		{"string escapes", false, `title eq "a\"b\\c\u00E9"`, cmpS("title", store.Eq, `a"b\cé`)},
		{"meta.resourceType eq", false, `meta.resourceType eq "User"`, store.Const(true)},
		{"meta.resourceType ne", false, `meta.resourceType ne "User"`, store.Const(false)},
		{"id pr", false, `id pr`, store.Const(true)},
		{"schemas core", false, `schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"`, store.Const(true)},
		{"schemas unknown", false, `schemas eq "urn:x"`, store.Const(false)},
		{"schemas extension", true, `schemas ne "urn:ietf:params:scim:schemas:core:2.0:group"`, store.Const(false)},
	}
	user, group := testUserType(), GroupType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := user
			if tt.group {
				rt = group
			}
			f, err := rt.ParseFilter(tt.filter)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.filter, err)
			}
			if got := f.Cond(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFilter(%q).Cond()\n got %#v\nwant %#v", tt.filter, got, tt.want)
			}
		})
	}
}

// checkBadRequest asserts that err is an *Error of kind whose detail
// contains every culprit.
func checkBadRequest(t *testing.T, err error, kind error, culprits ...string) {
	t.Helper()
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("got kind %v, want %v (%s)", me.Kind, kind, me.Detail)
	}
	for _, c := range culprits {
		if !strings.Contains(me.Detail, c) {
			t.Errorf("detail %q does not name %q", me.Detail, c)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		name, filter string
		culprits     []string
	}{
		{"empty", ``, []string{"empty"}},
		{"missing value", `userName eq`, []string{"userName", "value"}},
		{"missing operator", `userName "x"`, []string{"operator", `"x"`}},
		{"unknown operator", `userName equals "x"`, []string{`"equals"`, "position 10"}},
		{"dangling and", `userName eq "x" and`, []string{"attribute name"}},
		{"unclosed parenthesis", `(userName pr`, []string{"("}},
		{"extra parenthesis", `userName pr)`, []string{")", "position 12"}},
		{"unclosed string", `userName eq "x`, []string{"string", "position 13"}},
		{"bad escape", `userName eq "\q"`, []string{`"\q"`}},
		{"not without parentheses", `not userName pr`, []string{"not", "("}},
		{"unclosed bracket", `emails[type eq "work"`, []string{"[", "position 7"}},
		{"valuePath compared", `emails[type eq "work"] eq "x"`, []string{`"eq"`}},
		{"too deep", strings.Repeat("(", 40) + "title pr" + strings.Repeat(")", 40), []string{"nested"}},
		{"unknown attribute", `nosuch eq "x"`, []string{`"nosuch"`}},
		{"Entra ECMA placeholder", `PLACEHOLDER eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`, []string{`"PLACEHOLDER"`}},
		{"unknown sub-attribute", `name.nosuch eq "x"`, []string{`"nosuch"`}},
		{"unknown sub-attribute in brackets", `emails[nosuch eq "x"]`, []string{`"nosuch"`}},
		{"unknown schema", `urn:ietf:params:scim:schemas:extension:nosuch:2.0:User:x eq "y"`, []string{"urn:ietf:params:scim:schemas:extension:nosuch:2.0:User:x"}},
		{"string for a boolean", `active eq "yes"`, []string{"active", `"yes"`, "boolean"}},
		{"number for a boolean", `active eq 1`, []string{"active", "1"}},
		{"word for an integer", `level eq "abc"`, []string{"level", `"abc"`}},
		{"bad dateTime", `hired gt "yesterday"`, []string{"hired", `"yesterday"`, "dateTime"}},
		{"boolean for a string", `userName eq true`, []string{"userName", "true"}},
		{"gt on a boolean", `active gt true`, []string{"active", "gt", "boolean"}},
		{"le on a boolean sub-attribute", `emails[primary le false]`, []string{"primary", "le"}},
		{"lt on binary", `blob lt "QUJD"`, []string{"blob", "lt", "binary"}},
		{"co on a number", `level co 1`, []string{"level", "co"}},
		{"password", `password eq "secret"`, []string{"password"}},
		{"nested valuePath", `emails[type eq "work" and emails[value pr]]`, []string{"nested"}},
		{"valuePath on a simple attribute", `userName[value eq "x"]`, []string{"userName", "complex"}},
		{"path inside brackets", `emails[emails.type eq "work"]`, []string{`"emails.type"`}},
		{"null with gt", `title gt null`, []string{"title", "null"}},
		{"complex without value", `name eq "x"`, []string{"name", "value"}},
		{"meta.location", `meta.location eq "x"`, []string{"meta.location"}},
		{"number out of range", `level gt 1e999`, []string{"level", "1e999"}},
		{"schemas co", `schemas co "enterprise"`, []string{"schemas", "co"}},
	}
	rt := testUserType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := rt.ParseFilter(tt.filter)
			if err == nil {
				t.Fatalf("ParseFilter(%q) = %#v, want an error", tt.filter, f.Cond())
			}
			checkBadRequest(t, err, ErrInvalidFilter, tt.culprits...)
		})
	}
}

// matchResources is a small set of canonical users for Match tests.
func matchResources() map[string]map[string]any {
	return map[string]map[string]any{
		"bjensen": {
			"id": "U-BJ", "userName": "BJensen", "externalId": "JYoung", "active": true,
			"name":  map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
			"title": "Tour Guide",
			"emails": []any{
				map[string]any{"type": "work", "value": "BJensen@Example.com", "primary": true},
				map[string]any{"type": "home", "value": "babs@jensen.org"},
			},
			URNEnterpriseUser: map[string]any{"department": "Sales", "manager": map[string]any{"value": "U-M"}},
			urnTest:           map[string]any{"level": int64(3), "score": 2.5, "hired": "2020-01-01T01:00:00+01:00", "tags": []any{"Red", "Blue"}, "code": "AbC"},
		},
		"minimal": {"id": "U-MIN", "userName": "min"},
		"mixed": {
			"id": "U-MIX", "userName": "Mixed", "active": false,
			// The work address is not primary; the primary one is not work.
			"emails": []any{
				map[string]any{"type": "work", "value": "mixed@work.example", "primary": false},
				map[string]any{"type": "other", "value": "mixed@home.example", "primary": true},
			},
			urnTest: map[string]any{"level": int64(10), "code": "abc"},
		},
	}
}

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		name, filter string
		want         []string // the resources that match
	}{
		{"eq any case", `userName eq "bjensen"`, []string{"bjensen"}},
		{"ne includes absent", `title ne "Tour Guide"`, []string{"minimal", "mixed"}},
		{"co", `title co "our g"`, []string{"bjensen"}},
		{"sw", `userName sw "MI"`, []string{"minimal", "mixed"}},
		{"ew on any email", `emails.value ew ".org"`, []string{"bjensen"}},
		{"gt string", `userName gt "m"`, []string{"minimal", "mixed"}},
		{"pr", `title pr`, []string{"bjensen"}},
		{"pr complex", `emails pr`, []string{"bjensen", "mixed"}},
		{"eq null", `emails eq null`, []string{"minimal"}},
		{"boolean", `active eq true`, []string{"bjensen"}},
		{"boolean from string", `active eq "FALSE"`, []string{"mixed"}},
		{"not of absent", `not (active eq true)`, []string{"minimal", "mixed"}},
		{"caseExact externalId", `externalId eq "jyoung"`, nil},
		{"caseExact externalId exact", `externalId eq JYoung`, []string{"bjensen"}},
		{"caseExact id", `id eq "u-bj"`, nil},
		{"id", `id eq "U-BJ"`, []string{"bjensen"}},
		{"caseExact extension", `code eq "abc"`, []string{"mixed"}},
		{"integer gt", `level gt 5`, []string{"mixed"}},
		{"integer numerically, not as text", `level lt 9`, []string{"bjensen"}},
		{"decimal", `score ge 2.5`, []string{"bjensen"}},
		{"dateTime in UTC", `hired eq "2020-01-01T00:00:00Z"`, []string{"bjensen"}},
		{"dateTime gt", `hired gt "2019-12-31T23:59:59.999Z"`, []string{"bjensen"}},
		{"multi-valued simple", `tags eq "blue"`, []string{"bjensen"}},
		{"valuePath correlates one element", `emails[type eq "work" and primary eq true]`, []string{"bjensen"}},
		{"uncorrelated sub-attribute paths", `emails.type eq "work" and emails.primary eq true`, []string{"bjensen", "mixed"}},
		{"Entra work email", `emails[type eq "work"].value eq "bjensen@example.com"`, []string{"bjensen"}},
		{"work email of another element", `emails[type eq "work"].value eq "babs@jensen.org"`, nil},
		{"valuePath not", `emails[not (type eq "work")]`, []string{"bjensen", "mixed"}},
		{"valuePath ne", `emails[type ne "work"].value co "home"`, []string{"mixed"}},
		{"manager directly", `manager eq "u-m"`, []string{"bjensen"}},
		{"Entra manager check", `id eq "U-BJ" and manager eq "U-M"`, []string{"bjensen"}},
		{"Entra test connection", `userName eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`, nil},
		{"precedence", `userName eq "min" or userName eq "mixed" and active eq true`, []string{"minimal"}},
		{"meta.resourceType", `meta.resourceType eq "User"`, []string{"bjensen", "minimal", "mixed"}},
		{"schemas extension", `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, []string{"bjensen"}},
		{"schemas ne extension", `schemas ne "urn:ietf:params:scim:schemas:extension:Test:2.0:User"`, []string{"minimal"}},
		{"meta.created absent in canonical form", `meta.created gt "2000-01-01T00:00:00Z"`, nil},
	}
	rt := testUserType()
	resources := matchResources()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := rt.ParseFilter(tt.filter)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.filter, err)
			}
			for name, res := range resources {
				want := false
				for _, w := range tt.want {
					want = want || w == name
				}
				if got := f.Match(res); got != want {
					t.Errorf("%q Match(%s) = %v, want %v", tt.filter, name, got, want)
				}
			}
		})
	}
}

func TestFilterMatchGroup(t *testing.T) {
	g := map[string]any{"id": "G1", "displayName": "Admins", "members": []any{
		map[string]any{"value": "U1"}, map[string]any{"value": "U2", "display": "Two"},
	}}
	tests := []struct {
		filter string
		want   bool
	}{
		{`id eq "G1" and members eq "U2"`, true},
		{`id eq "G1" and members eq "U3"`, false},
		{`id eq "g1" and members eq "U1"`, false},
		{`members[value eq "u2" and display eq "two"]`, true},
		{`members[value eq "u1" and display eq "two"]`, false},
		{`displayName eq "ADMINS"`, true},
	}
	rt := GroupType()
	for _, tt := range tests {
		f, err := rt.ParseFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tt.filter, err)
		}
		if got := f.Match(g); got != tt.want {
			t.Errorf("%q Match = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// TestFilterMatchRenderedMeta: a resource that carries a rendered meta object
// is matched on its timestamps.
func TestFilterMatchRenderedMeta(t *testing.T) {
	res := map[string]any{"id": "U1", "userName": "x", "meta": map[string]any{
		"created": "2024-01-01T10:00:00+02:00", "lastModified": "2024-06-01T00:00:00Z",
	}}
	rt := UserType()
	for filter, want := range map[string]bool{
		`meta.created eq "2024-01-01T08:00:00Z"`:      true,
		`meta.created lt "2024-01-01T08:00:00Z"`:      false,
		`meta.lastModified gt "2024-05-31T23:59:59Z"`: true,
		`meta.lastModified ne "2024-06-01T00:00:00Z"`: false,
	} {
		f, err := rt.ParseFilter(filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", filter, err)
		}
		if got := f.Match(res); got != want {
			t.Errorf("%q Match = %v, want %v", filter, got, want)
		}
	}
}

func TestParsePatchPath(t *testing.T) {
	rt := UserType(testExtension())
	tests := []struct {
		name, path string
		attr       string           // Attr.String()
		elems      bool             // Elems set
		selects    []map[string]any // elements Elems must select
		rejects    []map[string]any // elements Elems must not select
		group      bool
	}{
		{name: "simple", path: "userName", attr: "userName"},
		{name: "any case", path: "USERNAME", attr: "userName"},
		{name: "sub-attribute", path: "name.familyName", attr: "name.familyName"},
		{name: "enterprise attribute", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", attr: URNEnterpriseUser + ":department"},
		{name: "enterprise manager", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", attr: URNEnterpriseUser + ":manager"},
		{name: "enterprise manager value", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", attr: URNEnterpriseUser + ":manager.value"},
		{name: "Entra manager without URN", path: "manager", attr: URNEnterpriseUser + ":manager"},
		{name: "custom extension", path: "urn:ietf:params:scim:schemas:extension:test:2.0:user:CODE", attr: urnTest + ":code"},
		{name: "Entra work email", path: `emails[type eq "work"].value`, attr: "emails.value", elems: true,
			selects: []map[string]any{{"type": "Work", "value": "a@b"}},
			rejects: []map[string]any{{"type": "home", "value": "a@b"}, {"value": "a@b"}}},
		{name: "proxy addresses spelling", path: `emails[type eq "other"].Value`, attr: "emails.value", elems: true,
			selects: []map[string]any{{"type": "other"}}},
		{name: "address", path: `addresses[type eq "work"].streetAddress`, attr: "addresses.streetAddress", elems: true,
			selects: []map[string]any{{"type": "work", "locality": "x"}}},
		{name: "Entra roles", path: `roles[primary eq "True"].value`, attr: "roles.value", elems: true,
			selects: []map[string]any{{"primary": true, "value": "Admin"}},
			rejects: []map[string]any{{"primary": false, "value": "Admin"}, {"value": "Admin"}}},
		{name: "Entra member removal", path: `members[value eq "7f4bc1a3-AB"]`, attr: "members", elems: true, group: true,
			selects: []map[string]any{{"value": "7f4bc1a3-ab"}},
			rejects: []map[string]any{{"value": "7f4bc1a3"}, {"display": "7f4bc1a3-ab"}}},
		{name: "filter with and/or", path: `emails[type eq "work" and (value ew "@a.example" or primary eq true)]`, attr: "emails", elems: true,
			selects: []map[string]any{{"type": "work", "value": "x@a.example"}, {"type": "work", "primary": true}},
			rejects: []map[string]any{{"type": "work", "value": "x@b.example"}, {"type": "home", "primary": true}}},
		{name: "ne in element filter", path: `emails[type ne "work"]`, attr: "emails", elems: true,
			selects: []map[string]any{{"value": "x"}, {"type": "home"}},
			rejects: []map[string]any{{"type": "work"}}},
		{name: "password is patchable", path: "password", attr: "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rt
			if tt.group {
				r = GroupType()
			}
			p, err := r.ParsePatchPath(tt.path)
			if err != nil {
				t.Fatalf("ParsePatchPath(%q): %v", tt.path, err)
			}
			if got := p.Attr.String(); got != tt.attr {
				t.Errorf("Attr = %q, want %q", got, tt.attr)
			}
			if (p.Elems != nil) != tt.elems {
				t.Fatalf("Elems = %v, want set: %v", p.Elems, tt.elems)
			}
			for _, e := range tt.selects {
				if !p.Elems.Match(e) {
					t.Errorf("Elems.Match(%v) = false, want true", e)
				}
			}
			for _, e := range tt.rejects {
				if p.Elems.Match(e) {
					t.Errorf("Elems.Match(%v) = true, want false", e)
				}
			}
		})
	}
}

func TestParsePatchPathErrors(t *testing.T) {
	tests := []struct {
		name, path string
		culprits   []string
	}{
		{"empty", "", []string{"empty"}},
		{"unknown attribute", "nosuch", []string{`"nosuch"`}},
		{"unknown sub-attribute", "name.nosuch", []string{`"nosuch"`}},
		{"unknown schema", "urn:ietf:params:scim:schemas:extension:Nope:2.0:User:x", []string{"urn:ietf:params:scim:schemas:extension:Nope:2.0:User:x"}},
		{"too deep", "name.givenName.x", []string{"givenName.x"}},
		{"unknown sub-attribute in filter", `emails[typo eq "work"].value`, []string{`"typo"`}},
		{"unknown sub-attribute after filter", `emails[type eq "work"].nope`, []string{`"nope"`}},
		{"unclosed bracket", `emails[type eq "work"`, []string{"["}},
		{"trailing garbage", `emails[type eq "work"] value`, []string{`"value"`}},
		{"bad filter", `emails[type eq]`, []string{"value"}},
		{"wrong literal type", `emails[primary eq "maybe"]`, []string{"primary", `"maybe"`}},
		{"singular complex", `name[givenName eq "x"]`, []string{"name", "multi-valued"}},
		{"simple attribute", `userName[value eq "x"]`, []string{"userName"}},
		{"two words", "userName title", []string{`"title"`}},
	}
	rt := testUserType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rt.ParsePatchPath(tt.path)
			if err == nil {
				t.Fatalf("ParsePatchPath(%q) = %+v, want an error", tt.path, p)
			}
			checkBadRequest(t, err, ErrInvalidPath, tt.culprits...)
		})
	}
}

// TestFilterLimits: a filter at each limit parses; one past it is a 400
// invalidFilter naming the limit.
func TestFilterLimits(t *testing.T) {
	terms := func(n int, term, sep string) string {
		return strings.TrimSuffix(strings.Repeat(term+sep, n), sep)
	}
	nest := func(n int) string { return strings.Repeat("(", n) + "title pr" + strings.Repeat(")", n) }
	// long is a filter of exactly n bytes.
	long := func(n int) string {
		f := `userName eq ""`
		return f[:len(f)-1] + strings.Repeat("x", n-len(f)) + `"`
	}
	tests := []struct {
		name, filter string
		culprits     []string // nil: the filter parses
	}{
		{"comparisons at the limit", terms(maxComparisons, `userName eq "x"`, " or "), nil},
		{"comparisons past the limit", terms(maxComparisons+1, `userName eq "x"`, " or "), []string{"more than the limit of 200 comparisons", "comparison 201"}},
		{"600 or terms", terms(600, `title pr`, " or "), []string{"200 comparisons"}},
		{"comparisons inside [ ] count", `emails[` + terms(maxComparisons, `type eq "w"`, " and ") + `].value eq "x"`, []string{"200 comparisons"}},
		{"nesting at the limit", nest(maxDepth), nil},
		{"nesting past the limit", nest(maxDepth + 1), []string{"deeper than the limit of 32", "position 33"}},
		{"not counts as nesting", strings.Repeat("not (", maxDepth+1) + "title pr" + strings.Repeat(")", maxDepth+1), []string{"limit of 32"}},
		{"length at the limit", long(maxFilterBytes), nil},
		{"length past the limit", long(maxFilterBytes + 1), []string{"8193 bytes", "limit of 8192 bytes"}},
		{"10 KB filter", terms(366, `displayName co "abcdef"`, " and "), []string{"limit of 8192 bytes"}},
	}
	rt := testUserType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := rt.ParseFilter(tt.filter)
			if tt.culprits == nil {
				if err != nil {
					t.Fatalf("ParseFilter (%d bytes): %v", len(tt.filter), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseFilter (%d bytes) = %T, want an error", len(tt.filter), f.Cond())
			}
			checkBadRequest(t, err, ErrInvalidFilter, tt.culprits...)
		})
	}
}
