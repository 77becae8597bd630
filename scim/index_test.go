package scim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// entraUser is the canonical form of the user Entra ID creates in the
// USE-SCIM tutorial, with the attributes its default mapping sends.
func entraUser() map[string]any {
	return map[string]any{
		"id":         "5d48a0a8e9f04aa38008",
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":   "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
		"active":     true,
		"password":   "Secret!1",
		"name":       map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"title":      "Tour Guide",
		"emails": []any{
			map[string]any{"primary": true, "type": "work", "value": "Test_User@testuser.com"},
			map[string]any{"type": "other", "value": "SMTP:alias@Contoso.com"},
		},
		"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1 555 0100"}},
		"roles":        []any{map[string]any{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}},
		URNEnterpriseUser: map[string]any{
			"department":     "Sales",
			"employeeNumber": "E-42",
			"manager":        map[string]any{"value": "26118915-6090-4610-87a4-1d2b6f4a7cf8", "$ref": "../Users/26118915-6090-4610-87a4-1d2b6f4a7cf8"},
		},
	}
}

func e(path string, elem int, str string) store.IndexEntry {
	return store.IndexEntry{Path: path, Elem: elem, Str: str}
}

func en(path string, elem int, str string, n float64) store.IndexEntry {
	return store.IndexEntry{Path: path, Elem: elem, Str: str, Num: &n}
}

func TestIndexEntries(t *testing.T) {
	tests := []struct {
		name string
		rt   *ResourceType
		res  map[string]any
		want []store.IndexEntry
	}{
		{
			name: "Entra user",
			rt:   UserType(),
			res:  entraUser(),
			want: []store.IndexEntry{
				e("username", 0, "test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"),
				e("name.formatted", 0, "givenname familyname"),
				e("name.familyname", 0, "familyname"),
				e("name.givenname", 0, "givenname"),
				e("title", 0, "tour guide"),
				e("active", 0, "true"),
				e("emails.value", 0, "test_user@testuser.com"),
				e("emails.type", 0, "work"),
				e("emails.primary", 0, "true"),
				e("emails.value", 1, "smtp:alias@contoso.com"),
				e("emails.type", 1, "other"),
				e("phonenumbers.value", 0, "+1 555 0100"),
				e("phonenumbers.type", 0, "mobile"),
				e("roles.value", 0, "admin"),
				e("roles.type", 0, "windowsazureactivedirectoryrole"),
				e("roles.primary", 0, "false"),
				e("externalid", 0, "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"),
				e(pEnt+"employeenumber", 0, "e-42"),
				e(pEnt+"department", 0, "sales"),
				e(pEnt+"manager.value", 0, "26118915-6090-4610-87a4-1d2b6f4a7cf8"),
				e(pEnt+"manager.$ref", 0, "../Users/26118915-6090-4610-87a4-1d2b6f4a7cf8"),
			},
		},
		{
			name: "Entra group",
			rt:   GroupType(),
			res: map[string]any{
				"id": "40734ae655284ad3abcc", "displayName": "Sales Team", "externalId": "8aa1a0c0-C4C3",
				"members": []any{
					map[string]any{"value": "F648F8D5ea4e4cd38e9c"},
					map[string]any{"value": "u2", "display": "User Two", "type": "User"},
				},
			},
			want: []store.IndexEntry{
				e("displayname", 0, "sales team"),
				e("members.value", 0, "f648f8d5ea4e4cd38e9c"),
				e("members.value", 1, "u2"),
				e("members.type", 1, "user"),
				e("members.display", 1, "user two"),
				e("externalid", 0, "8aa1a0c0-C4C3"),
			},
		},
		{
			name: "every type in an extension",
			rt:   testUserType(),
			res: map[string]any{
				"userName": "x",
				"meta":     map[string]any{"created": "2024-01-01T00:00:00Z"},
				"unknown":  "ignored",
				urnTest: map[string]any{
					"level": int64(-42),
					"score": 2.50,
					"hired": "2020-01-01T01:00:00.25+01:00",
					"tags":  []any{"Red", "blue", "Red"},
					"code":  "AbC",
					"flag":  false,
					"blob":  "QUJD",
				},
			},
			want: []store.IndexEntry{
				e("username", 0, "x"),
				en(pTest+"level", 0, "-42", -42),
				en(pTest+"score", 0, "2.5", 2.5),
				e(pTest+"hired", 0, "2020-01-01T00:00:00.250000000Z"),
				e(pTest+"tags", 0, "red"),
				e(pTest+"tags", 1, "blue"),
				e(pTest+"tags", 2, "red"),
				e(pTest+"code", 0, "AbC"),
				e(pTest+"flag", 0, "false"),
				e(pTest+"blob", 0, "QUJD"),
			},
		},
		{
			name: "values of the wrong type are skipped",
			rt:   testUserType(),
			res: map[string]any{
				"userName": 7, "active": "yes", "emails": []any{"not-a-map", map[string]any{"value": true, "type": "work"}},
				urnTest: map[string]any{"level": "3", "hired": "not a time"},
			},
			want: []store.IndexEntry{
				e("emails.type", 1, "work"),
				// A dateTime the parser cannot read is kept as sent.
				e(pTest+"hired", 0, "not a time"),
			},
		},
		{
			name: "empty",
			rt:   UserType(),
			res:  map[string]any{"id": "x"},
			want: []store.IndexEntry{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rt.IndexEntries(tt.res)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("IndexEntries:\n got %s\nwant %s", fmtEntries(got), fmtEntries(tt.want))
			}
		})
	}
}

func fmtEntries(es []store.IndexEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s[%d]=%q", e.Path, e.Elem, e.Str)
		if e.Num != nil {
			fmt.Fprintf(&b, " num=%v", *e.Num)
		}
	}
	return b.String()
}

// TestIndexEntriesPathsResolve: every index path is the IndexPath of the
// attribute the filter parser resolves for the same name, so filters and
// index agree.
func TestIndexEntriesPathsResolve(t *testing.T) {
	rt := UserType()
	for _, en := range rt.IndexEntries(entraUser()) {
		name := en.Path
		if urn, rest, ok := rt.SplitURN(name); ok {
			name = urn + ":" + rest
		}
		a, err := rt.Resolve(name)
		if err != nil {
			t.Errorf("index path %q does not resolve: %v", en.Path, err)
			continue
		}
		if a.IndexPath() != en.Path {
			t.Errorf("index path %q resolves to %q", en.Path, a.IndexPath())
		}
	}
}

// TestIndexEntriesAllocations bounds the allocations of IndexEntries on a
// typical user: the slice, one per value that needs lower-casing, and one
// to spare.
func TestIndexEntriesAllocations(t *testing.T) {
	rt := UserType()
	res := entraUser()
	rt.IndexEntries(res) // build the plan
	mixedCase := 0
	for _, s := range []string{"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "givenName familyName", "familyName", "givenName", "Tour Guide",
		"Test_User@testuser.com", "SMTP:alias@Contoso.com", "Admin", "WindowsAzureActiveDirectoryRole", "E-42", "Sales"} {
		if strings.ToLower(s) != s {
			mixedCase++
		}
	}
	allocs := testing.AllocsPerRun(100, func() { rt.IndexEntries(res) })
	if max := float64(mixedCase + 2); allocs > max {
		t.Errorf("IndexEntries allocates %v times per call, want at most %v", allocs, max)
	}
}

func BenchmarkIndexEntries(b *testing.B) {
	rt := UserType()
	res := entraUser()
	b.ReportAllocs()
	for b.Loop() {
		rt.IndexEntries(res)
	}
}
