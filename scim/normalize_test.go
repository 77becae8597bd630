package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// urnCustom is the custom extension URN pattern Entra documents.
const urnCustom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

// customSchema is a custom extension as scim.custom_extensions declares
// one: simple attributes of every simple type.
func customSchema() schema.Schema {
	return schema.Schema{
		ID:   urnCustom,
		Name: optional.NewString("CustomExtensionName"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "costCenterCode"})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "level", Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "fte", Type: schema.AttributeTypeDecimal()})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "hireDate"})),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{Name: "contractor"})),
			schema.SimpleCoreAttribute(schema.SimpleBinaryParams(schema.BinaryParams{Name: "photo"})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "badge", Mutability: schema.AttributeMutabilityImmutable()})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tags", MultiValued: true})),
		},
	}
}

// decode decodes JSON the way the handlers do (UseNumber); it fails the
// test on invalid JSON.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("test JSON %s: %v", s, err)
	}
	return m
}

// canonJSON renders a value as JSON with sorted keys, for comparisons.
func canonJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// sameJSON fails unless got renders as the JSON want (compared after
// re-encoding want, so key order and spacing in want do not matter).
func sameJSON(t testing.TB, got any, want string) {
	t.Helper()
	if g, w := canonJSON(t, got), canonJSON(t, decode(t, want)); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}

// wantErr fails unless err is an *Error of kind whose message is detail.
func wantErr(t testing.TB, err error, kind error, detail string) {
	t.Helper()
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("got error %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, kind) || err.Error() != detail {
		t.Errorf("got %v %q\nwant %v %q", me.Kind, err.Error(), kind, detail)
	}
}

func TestNormalize(t *testing.T) {
	user, group := UserType(customSchema()), GroupType()
	tests := []struct {
		name string
		rt   *ResourceType
		in   string
		want string
	}{
		{
			name: "Entra create user with meta and empty roles",
			rt:   user,
			in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
				"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
				"userName":"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
				"active":true,
				"emails":[{"primary":true,"type":"work","value":"Test_User_00aa@testuser.com"}],
				"meta":{"resourceType":"User"},
				"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
				"roles":[]}`,
			want: `{"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
				"userName":"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
				"active":true,
				"emails":[{"primary":true,"type":"work","value":"Test_User_00aa@testuser.com"}],
				"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"}}`,
		},
		{
			name: "Entra example 2: nulls and a malformed enterprise URN in schemas",
			rt:   user,
			in: `{"active":true,"addresses":null,"displayName":"Test User",
				"emails":[{"primary":true,"type":"work","value":"t@contoso.com"}],
				"externalId":"jyoung","ims":null,"locale":null,
				"name":{"familyName":"Young","givenName":"J","formatted":null},
				"nickName":null,"phoneNumbers":null,"preferredLanguage":null,"profileUrl":null,
				"timezone":null,"title":null,"userName":"jyoung@contoso.com","userType":null,
				"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":null,"department":null,"manager":null},
				"meta":{"resourceType":"User"}}`,
			want: `{"active":true,"displayName":"Test User",
				"emails":[{"primary":true,"type":"work","value":"t@contoso.com"}],
				"externalId":"jyoung","name":{"familyName":"Young","givenName":"J"},"userName":"jyoung@contoso.com"}`,
		},
		{
			name: "Postman: active as the string True",
			rt:   user,
			in:   `{"userName":"u","active":"True"}`,
			want: `{"userName":"u","active":true}`,
		},
		{
			name: "booleans as strings in any case, primary too",
			rt:   user,
			in:   `{"userName":"u","active":"fALSE","emails":[{"value":"a@b","primary":"TRUE"}]}`,
			want: `{"userName":"u","active":false,"emails":[{"value":"a@b","primary":true}]}`,
		},
		{
			name: "attribute names in any case",
			rt:   user,
			in:   `{"USERNAME":"u","Name":{"GivenName":"g"},"EMAILS":[{"VALUE":"a@b","Type":"work"}]}`,
			want: `{"userName":"u","name":{"givenName":"g"},"emails":[{"value":"a@b","type":"work"}]}`,
		},
		{
			name: "Entra create group with the ADSCIM schema URN",
			rt:   group,
			in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
				"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}`,
			want: `{"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName"}`,
		},
		{
			name: "group members as objects and as plain ids",
			rt:   group,
			in:   `{"displayName":"g","members":[{"value":"u1","$ref":null},"u2"]}`,
			want: `{"displayName":"g","members":[{"value":"u1"},{"value":"u2"}]}`,
		},
		{
			name: "enterprise extension nested, URN key in another case",
			rt:   user,
			in: `{"userName":"u","URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER":
				{"Department":"Sales","employeeNumber":"701984","manager":{"value":"m1","displayName":"Boss"}}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
				{"department":"Sales","employeeNumber":"701984","manager":{"value":"m1"}}}`,
		},
		{
			name: "enterprise attributes as flat URN-prefixed keys, merged with the nested object",
			rt:   user,
			in: `{"userName":"u",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m1",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"4130"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
				{"department":"Sales","costCenter":"4130","manager":{"value":"m1"}}}`,
		},
		{
			name: "custom extension as a flat key, URN not in schemas",
			rt:   user,
			in: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u",
				"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCenterCode":"x"}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"costCenterCode":"x"}}`,
		},
		{
			name: "custom extension nested, every simple type",
			rt:   user,
			in: `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":
				{"costCenterCode":"x","level":3,"fte":0.5,"hireDate":"2024-01-31T09:30:00Z","contractor":"false",
				 "photo":"aGVsbG8=","tags":"solo"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":
				{"costCenterCode":"x","level":3,"fte":0.5,"hireDate":"2024-01-31T09:30:00Z","contractor":false,
				 "photo":"aGVsbG8=","tags":["solo"]}}`,
		},
		{
			name: "numeric strings for integer and decimal",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"level":"7","fte":"1.25"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"level":7,"fte":1.25}}`,
		},
		{
			name: "dotted sub-attribute keys, merged with the object",
			rt:   user,
			in:   `{"userName":"u","name.givenName":"g","name":{"familyName":"f"}}`,
			want: `{"userName":"u","name":{"givenName":"g","familyName":"f"}}`,
		},
		{
			name: "manager as a string",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m1"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "manager as a one-element array with $ref",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":[{"$ref":"https://x/Users/m1","value":"m1"}]}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"$ref":"https://x/Users/m1","value":"m1"}}}`,
		},
		{
			name: "manager empty string is absent",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"","department":"d"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"d"}}`,
		},
		{
			name: "manager with empty value is absent, and so is the emptied extension",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":""}}}`,
			want: `{"userName":"u"}`,
		},
		{
			name: "manager.value empty as a flat key is absent",
			rt:   user,
			in:   `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":""}`,
			want: `{"userName":"u"}`,
		},
		{
			name: "bare manager resolves to the enterprise extension",
			rt:   user,
			in:   `{"userName":"u","manager":{"value":"m1"}}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "bare custom attribute name resolves to the one extension defining it",
			rt:   user,
			in:   `{"userName":"u","costCenterCode":"x"}`,
			want: `{"userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"costCenterCode":"x"}}`,
		},
		{
			name: "POST roles as objects",
			rt:   user,
			in:   `{"userName":"u","roles":[{"primary":true,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]}`,
			want: `{"userName":"u","roles":[{"primary":true,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]}`,
		},
		{
			name: "role JSON-encoded in value; its id and unknown keys ignored",
			rt:   user,
			in:   `{"userName":"u","roles":[{"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6f6f4d4b7a0b\",\"value\":\"25\",\"displayName\":\"Role1234\",\"isEnabled\":true}"}]}`,
			want: `{"userName":"u","roles":[{"value":"25","display":"Role1234"}]}`,
		},
		{
			name: "role JSON string as a plain element, with type and primary",
			rt:   user,
			in:   `{"userName":"u","roles":["{\"value\":\"Admin\",\"display\":\"Admin role\",\"type\":\"t\",\"primary\":\"True\"}"]}`,
			want: `{"userName":"u","roles":[{"value":"Admin","display":"Admin role","type":"t","primary":true}]}`,
		},
		{
			name: "role JSON-encoded twice is decoded to the end",
			rt:   user,
			in:   `{"userName":"u","roles":[{"value":"{\"value\":\"{\\\"value\\\":\\\"25\\\"}\",\"displayName\":\"R\"}"}]}`,
			want: `{"userName":"u","roles":[{"value":"25","display":"R"}]}`,
		},
		{
			name: "role value that merely starts with a brace stays as it is",
			rt:   user,
			in:   `{"userName":"u","roles":[{"value":"{not json"}]}`,
			want: `{"userName":"u","roles":[{"value":"{not json"}]}`,
		},
		{
			name: "single values of multi-valued attributes are wrapped; plain strings become value",
			rt:   user,
			in:   `{"userName":"u","emails":"a@b","phoneNumbers":{"type":"work","value":"555"}}`,
			want: `{"userName":"u","emails":[{"value":"a@b"}],"phoneNumbers":[{"type":"work","value":"555"}]}`,
		},
		{
			name: "null elements, empty complex values and empty-value elements are dropped",
			rt:   user,
			in:   `{"userName":"u","emails":[null,{},{"value":"","type":"work"},{"value":"a@b"}],"name":{"givenName":null}}`,
			want: `{"userName":"u","emails":[{"value":"a@b"}]}`,
		},
		{
			name: "read-only attributes ignored, id kept",
			rt:   user,
			in: `{"id":"abc","userName":"u","groups":[{"value":"g1"}],"meta":{"version":"W/\"1\""},
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName":"Boss"}`,
			want: `{"id":"abc","userName":"u"}`,
		},
		{
			name: "binary and dateTime",
			rt:   user,
			in:   `{"userName":"u","x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}]}`,
			want: `{"userName":"u","x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}]}`,
		},
		{
			name: "empty string kept for a plain string attribute",
			rt:   user,
			in:   `{"userName":"u","title":""}`,
			want: `{"userName":"u","title":""}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rt.Normalize(decode(t, tc.in))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			sameJSON(t, got, tc.want)

			// Idempotent, on the value itself and after a trip through
			// storage JSON (decoded with UseNumber).
			again, err := tc.rt.Normalize(got)
			if err != nil {
				t.Fatalf("Normalize(Normalize): %v", err)
			}
			if !Equal(again, got) {
				t.Errorf("not idempotent:\n%s\n%s", canonJSON(t, got), canonJSON(t, again))
			}
			stored, err := tc.rt.Normalize(decode(t, canonJSON(t, got)))
			if err != nil {
				t.Fatalf("Normalize(stored JSON): %v", err)
			}
			if !Equal(stored, got) {
				t.Errorf("stored JSON normalizes differently:\n%s\n%s", canonJSON(t, got), canonJSON(t, stored))
			}
		})
	}
}

// TestNormalizeTypes checks the Go types of canonical values, which JSON
// comparisons cannot see.
func TestNormalizeTypes(t *testing.T) {
	got, err := UserType(customSchema()).Normalize(decode(t, `{"userName":"u","active":"True",
		"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"level":3,"fte":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	ext := got[urnCustom].(map[string]any)
	if v, ok := ext["level"].(int64); !ok || v != 3 {
		t.Errorf("level = %#v, want int64(3)", ext["level"])
	}
	if v, ok := ext["fte"].(float64); !ok || v != 2 {
		t.Errorf("fte = %#v, want float64(2)", ext["fte"])
	}
	if v, ok := got["active"].(bool); !ok || !v {
		t.Errorf("active = %#v, want true", got["active"])
	}
}

// TestNormalizeInputUntouched makes sure Normalize builds new values.
func TestNormalizeInputUntouched(t *testing.T) {
	const in = `{"userName":"u","name":{"givenName":"g"},"name.familyName":"f","emails":[{"value":"a@b","primary":"true"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m"}}`
	body := decode(t, in)
	if _, err := UserType().Normalize(body); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, body, in)
}

func TestNormalizeErrors(t *testing.T) {
	user, group := UserType(customSchema()), GroupType()
	required := UserType(customSchema())
	required.Extensions[1].Required = true
	custom := customSchema()
	custom.Attributes[0] = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "costCenterCode", Required: true}))
	required.Extensions[1].Schema = custom
	var (
		iv = ErrInvalidValue
	)
	tests := []struct {
		name   string
		rt     *ResourceType
		in     string
		detail string
	}{
		{"boolean given a number", user, `{"userName":"u","active":7}`,
			`attribute "active": expected a boolean, got the number 7`},
		{"boolean given another string", user, `{"userName":"u","active":"yes"}`,
			`attribute "active": expected a boolean, got the string "yes"`},
		{"string given a number", user, `{"userName":42}`,
			`attribute "userName": expected a string, got the number 42`},
		{"string given an object", user, `{"userName":"u","title":{"a":1}}`,
			`attribute "title": expected a string, got an object`},
		{"single-valued string given an array", user, `{"userName":"u","title":["a","b"]}`,
			`attribute "title": expected a string, got an array of 2 values`},
		{"sub-attribute given the wrong type", user, `{"userName":"u","emails":[{"value":"a@b","primary":1}]}`,
			`attribute "emails.primary": expected a boolean, got the number 1`},
		{"complex given a string it cannot take", user, `{"userName":"u","name":"Babs"}`,
			`attribute "name": expected an object, got the string "Babs"`},
		{"integer given a fraction", user, `{"userName":"u","` + urnCustom + `:level":1.5}`,
			`attribute "` + urnCustom + `:level": expected an integer, got the number 1.5`},
		{"integer given a non-numeric string", user, `{"userName":"u","` + urnCustom + `:level":"high"}`,
			`attribute "` + urnCustom + `:level": expected an integer, got the string "high"`},
		{"decimal given NaN", user, `{"userName":"u","` + urnCustom + `:fte":"NaN"}`,
			`attribute "` + urnCustom + `:fte": expected a number, got the string "NaN"`},
		{"bad dateTime", user, `{"userName":"u","` + urnCustom + `:hireDate":"31/01/2024"}`,
			`attribute "` + urnCustom + `:hireDate": expected an xsd:dateTime string such as "2024-01-31T09:30:00Z", got the string "31/01/2024" (time: value too short)`},
		{"bad base64", user, `{"userName":"u","` + urnCustom + `:photo":"not base64!"}`,
			`attribute "` + urnCustom + `:photo": expected a base64 string, got the string "not base64!" (illegal base64 data at input byte 3)`},
		{"manager with two values", user, `{"userName":"u","manager":[{"value":"a"},{"value":"b"}]}`,
			`attribute "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": expected an object, got an array of 2 values`},
		{"unknown top-level attribute", UserType(), `{"userName":"u","costCenterCode":"x"}`,
			`unknown attribute "costCenterCode": it is not in the User schema; ` + customHint},
		{"unknown attribute of a known extension", user, `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"badge":"x"}}`,
			`unknown attribute "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:badge": it is not in the User schema extension urn:ietf:params:scim:schemas:extension:enterprise:2.0:User; ` + customHint},
		{"unknown extension URN key", user, `{"userName":"u","urn:ietf:params:scim:schemas:extension:Other:2.0:User":{"a":"b"}}`,
			`"urn:ietf:params:scim:schemas:extension:Other:2.0:User" names no schema of User (known: urn:ietf:params:scim:schemas:core:2.0:User, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User, ` + urnCustom + `); ` + customHint},
		{"unknown flat extension attribute", UserType(), `{"userName":"u","` + urnCustom + `:costCenterCode":"x"}`,
			`"` + urnCustom + `:costCenterCode" names no schema of User (known: urn:ietf:params:scim:schemas:core:2.0:User, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User); ` + customHint},
		{"unknown sub-attribute", user, `{"userName":"u","name":{"nick":"x"}}`,
			`unknown attribute "name.nick": "name" has no sub-attribute "nick"; ` + customHint},
		{"unknown dotted sub-attribute", user, `{"userName":"u","name.nick":"x"}`,
			`unknown attribute "name.nick": "name" has no sub-attribute "nick"; ` + customHint},
		{"unknown key inside a role element (outside its JSON string)", user, `{"userName":"u","roles":[{"value":"r","colour":"red"}]}`,
			`unknown attribute "roles.colour": "roles" has no sub-attribute "colour"; ` + customHint},
		{"extension URN key holding a string", user, `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`,
			`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": expected an object holding the attributes of that schema, got the string "x"`},
		{"two primary emails", user, `{"userName":"u","emails":[{"value":"a","primary":true},{"value":"b","primary":"True"}]}`,
			`attribute "emails": 2 values have "primary": true; at most one may`},
		{"userName missing", user, `{"name":{"givenName":"g"}}`, `userName is required`},
		{"userName empty", user, `{"userName":""}`, `userName is required`},
		{"userName null", user, `{"userName":null,"active":true}`, `userName is required`},
		{"group displayName missing", group, `{"externalId":"x"}`, `displayName is required`},
		{"required extension attribute missing", required, `{"userName":"u"}`, urnCustom + `:costCenterCode is required`},
		{"the same attribute twice in different case", user, `{"userName":"u","UserName":"v"}`,
			`attribute "userName" is given more than once`},
		{"the same sub-attribute nested and dotted", user, `{"userName":"u","name":{"givenName":"a"},"name.givenName":"b"}`,
			`attribute "name.givenName" is given more than once`},
		{"a sub-attribute of a multi-valued attribute alone", user, `{"userName":"u","emails.value":"a@b"}`,
			`"emails.value": a sub-attribute of the multi-valued attribute "emails" cannot be set on its own; give the whole "emails" array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rt.Normalize(decode(t, tc.in))
			if err == nil {
				t.Fatalf("got %s, want an error", canonJSON(t, got))
			}
			wantErr(t, err, iv, tc.detail)
		})
	}
}

// FuzzNormalize: whatever the body, Normalize does not panic, refuses with
// a 400, or returns a canonical resource that it leaves as it is and that
// encodes as JSON.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{"userName":"u","active":"True","emails":[{"value":"a@b","primary":true}],"roles":[]}`,
		`{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":[{"value":"m","$ref":"r"}]}}`,
		`{"userName":"u","roles":[{"value":"{\"value\":\"25\",\"displayName\":\"R\"}"}],"name.givenName":"g"}`,
		`{"userName":"u","` + urnCustom + `:level":"3","` + urnCustom + `":{"fte":1.5,"hireDate":"2024-01-31T09:30:00Z"}}`,
	} {
		f.Add([]byte(s))
	}
	rt := UserType(customSchema())
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var body map[string]any
		if dec.Decode(&body) != nil {
			return
		}
		got, err := rt.Normalize(body)
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("got %v, want an *Error", err)
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
		again, err := rt.Normalize(got)
		if err != nil || !Equal(again, got) {
			t.Fatalf("not idempotent: %v\n%s\n%s", err, canonJSON(t, got), canonJSON(t, again))
		}
	})
}

func BenchmarkNormalizeEntraUser(b *testing.B) {
	rt := UserType()
	body := decode(b, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee","active":true,
		"emails":[{"primary":true,"type":"work","value":"Test_User_00aa@testuser.com"}],"meta":{"resourceType":"User"},
		"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[],"title":"Engineer",
		"phoneNumbers":[{"type":"work","value":"555"},{"type":"mobile","value":"556"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"701984"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.Normalize(body); err != nil {
			b.Fatal(err)
		}
	}
}
