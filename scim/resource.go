package scim

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
