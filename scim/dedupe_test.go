package scim

import (
	"encoding/json"
	"testing"
)

// TestDuplicateValuesDropped: a multi-valued attribute keeps each (type,
// value) once (RFC 7643 §2.4): exact repeats and repeats that differ only
// in other sub-attributes are dropped, a repeat's primary mark is kept,
// values of another type stay.
func TestDuplicateValuesDropped(t *testing.T) {
	for _, tc := range []struct {
		name, rt, body, attr, want string
	}{
		{"exact repeat", "User", `{"userName":"a","emails":[{"type":"work","value":"a@x"},{"type":"work","value":"a@x"}]}`,
			"emails", `[{"type":"work","value":"a@x"}]`},
		{"repeat marked primary", "User", `{"userName":"a","emails":[{"type":"work","value":"a@x"},{"type":"work","value":"a@x","primary":true}]}`,
			"emails", `[{"primary":true,"type":"work","value":"a@x"}]`},
		{"same value, other type", "User", `{"userName":"a","emails":[{"type":"work","value":"a@x"},{"type":"home","value":"a@x"}]}`,
			"emails", `[{"type":"work","value":"a@x"},{"type":"home","value":"a@x"}]`},
		{"repeated member", "Group", `{"displayName":"g","members":[{"value":"u1"},{"value":"u2"},{"value":"u1"}]}`,
			"members", `[{"value":"u1"},{"value":"u2"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := UserType()
			if tc.rt == "Group" {
				rt = GroupType()
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(tc.body), &body); err != nil {
				t.Fatal(err)
			}
			got, err := rt.Normalize(body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got[tc.attr])
			if string(b) != tc.want {
				t.Errorf("%s = %s, want %s", tc.attr, b, tc.want)
			}
		})
	}
}
