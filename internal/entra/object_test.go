package entra

import (
	"encoding/json"
	"testing"
)

// TestObjectRoundTrip: an Object encodes its type as "type" and reads it
// back, as well as Graph's "@odata.type".
func TestObjectRoundTrip(t *testing.T) {
	o := Object{ID: "x", Type: "group", DisplayName: "Staff"}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var got Object
	if err := json.Unmarshal(b, &got); err != nil || got != o {
		t.Errorf("round trip of %s: %+v, %v", b, got, err)
	}
	if err := json.Unmarshal([]byte(`{"@odata.type":"#microsoft.graph.user","id":"y"}`), &got); err != nil || got.Type != "user" {
		t.Errorf("Graph's form: %+v, %v", got, err)
	}
}
