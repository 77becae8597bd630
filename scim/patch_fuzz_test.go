package scim

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzPatch applies fuzzed PATCH bodies to a fixed canonical user. Whatever
// the body, nothing panics, every error is a model *Error, the input is
// never modified, and a result is canonical (Normalize leaves it as it is)
// and encodes as JSON.
func FuzzPatch(f *testing.F) {
	for _, ops := range []string{
		`[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y"},{"op":"Replace","path":"name.familyName","value":"F"}]`,
		`[{"op":"Replace","path":"active","value":"False"}]`,
		`[{"op":"replace","value":{"displayName":"D","name.givenName":"G","%ENT%:employeeNumber":"1"}}]`,
		`[{"op":"Add","path":"manager","value":[{"$ref":"https://x/Users/m","value":"m"}]}]`,
		`[{"op":"replace","path":"%ENT%:manager","value":{"value":""}}]`,
		`[{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"1\",\"value\":\"25\",\"displayName\":\"R\"}"}]}]`,
		`[{"op":"Add","path":"roles[primary eq \"True\"].value","value":"R"}]`,
		`[{"op":"add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main"}]`,
		`[{"op":"remove","path":"emails[type eq \"work\"]"}]`,
		`[{"op":"add","path":"emails","value":[{"value":"h@y","primary":true}]}]`,
		`[{"op":"add","path":"%CUS%:level","value":"3"},{"op":"add","path":"%CUS%:hireDate","value":"2024-01-31T09:30:00Z"}]`,
		`[{"op":"replace","value":{"%ENT%":{"department":"D","manager":"m2"}}}]`,
		`[{"op":"remove","path":"userName"}]`,
		`[{"op":"replace","path":"id","value":"x"}]`,
	} {
		f.Add(patchBody(ops))
	}
	rt := UserType(customSchema())
	res := canonical(f, rt, baseUser)
	before := canonJSON(f, res)
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := ParsePatchRequest(body)
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("ParsePatchRequest: got %v, want an *Error", err)
			}
			return
		}
		got, changed, err := rt.Patch(res, ops)
		if after := canonJSON(t, res); after != before {
			t.Fatalf("input modified:\nbefore %s\nafter  %s", before, after)
		}
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("Patch: got %v, want an *Error", err)
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
		again, err := rt.Normalize(got)
		if err != nil {
			t.Fatalf("result fails Normalize: %v\n%s", err, canonJSON(t, got))
		}
		if !Equal(again, got) {
			t.Fatalf("result is not canonical:\n%s\n%s", canonJSON(t, got), canonJSON(t, again))
		}
		if changed == Equal(got, res) {
			t.Fatalf("changed = %v, but result equal to input is %v", changed, Equal(got, res))
		}
	})
}
