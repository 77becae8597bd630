// Package scim is scimgate's SCIM 2.0 resource model (RFC 7643/7644): the
// User and Group resource types and their schemas (github.com/elimity-com/scim's
// schema model), the canonical resource, normalisation of request bodies,
// filters, PATCH, the store's index entries and a group's member rows. It
// knows nothing of HTTP: the SCIM server on top of it is package
// scim/server.
package scim

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/scimgate/scimgate/internal/store"
)

// The canonical resource.
//
// Inside the gateway a SCIM resource is a map[string]any in canonical form:
//   - Core and common attributes sit at the top level under their schema
//     spelling ("userName", "name", "emails", "externalId", "id").
//     Extension attributes sit in a map under the extension's URN as the
//     schema spells it ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").
//   - "schemas" and "meta" are never stored: the server renders them.
//     "id" is set by the server and stored.
//   - Values: string for string, reference, binary and dateTime (dateTime
//     as sent, validated); bool for boolean; int64 for integer; float64 for
//     decimal; map[string]any (canonical sub-attribute names) for complex;
//     []any (never empty) for multi-valued.
//   - Nulls, empty arrays and empty complex values are absent: an absent
//     attribute is unassigned.
//   - password is kept (writeOnly) but never returned.
//
// Normalize (normalize.go) turns a POST/PUT body into this form; Patch
// (patch.go) applies PATCH operations to it. Both coerce values with the
// same code (coerceAttr), so a value is accepted or refused alike by both.

// DecodeResource decodes a stored resource into its canonical form.
func DecodeResource(sr store.Resource) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(sr.Data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding stored %s %s: %w", sr.Type, sr.ID, err)
	}
	fixNumbers(m)
	return m, nil
}

// fixNumbers turns json.Number values back into the canonical int64 or
// float64.
func fixNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = fixNumbers(x)
		}
	case []any:
		for i, x := range t {
			t[i] = fixNumbers(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}
