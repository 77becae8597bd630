package engine

import "testing"

// TestCoalesce checks which operations merge.
func TestCoalesce(t *testing.T) {
	tests := []struct {
		name       string
		prev, next string
		want       string // "" when they do not merge
	}{
		{"update, update", `{"op":"update","opId":"a","attrs":{"x":1,"y":2}}`, `{"op":"update","opId":"b","attrs":{"y":3}}`,
			`{"op":"update","opId":"b","attrs":{"x":1,"y":3}}`},
		{"create, update", `{"op":"create","opId":"a","attrs":{"x":1}}`, `{"op":"update","opId":"b","attrs":{"x":12345678901234567}}`,
			`{"op":"create","opId":"b","attrs":{"x":12345678901234567}}`},
		{"update, delete", `{"op":"update","opId":"a","attrs":{"x":1}}`, `{"op":"delete","opId":"b","final":true}`,
			`{"op":"delete","opId":"b","final":true}`},
		{"create, delete", `{"op":"create","opId":"a"}`, `{"op":"delete","opId":"b"}`, ""},
		{"update, disable", `{"op":"update","opId":"a"}`, `{"op":"disable","opId":"b"}`, ""},
		{"disable, update", `{"op":"disable","opId":"a"}`, `{"op":"update","opId":"b"}`, ""},
		{"members, members", `{"op":"addMembers","opId":"a","members":["1"]}`, `{"op":"addMembers","opId":"b","members":["2"]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := coalesce([]byte(tt.prev), []byte(tt.next))
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.want != "") || string(got) != tt.want {
				t.Errorf("got %s (%v), want %q", got, ok, tt.want)
			}
		})
	}
}
