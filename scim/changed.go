package scim

import (
	"maps"
	"reflect"
	"slices"
)

// ChangedPaths lists, sorted, the attributes whose values differ between
// two canonical resources of one type (old nil: every attribute res has),
// for the audit log: SCIM paths such as "title", "name.givenName",
// "emails" (a multi-valued attribute as a whole) and
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value".
// It names attributes only, never their values (password is named when it
// changes). The id is left out.
func ChangedPaths(old, res map[string]any) []string {
	var out []string
	diffPaths("", old, res, &out)
	slices.Sort(out)
	return out
}

// diffPaths appends to out the paths, under prefix, of the members that
// differ between a and b; complex values and extensions (maps) are
// compared member by member.
func diffPaths(prefix string, a, b map[string]any, out *[]string) {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if prefix == "" && k == "id" {
			continue
		}
		va, vb := a[k], b[k]
		if reflect.DeepEqual(va, vb) {
			continue
		}
		ma, aMap := va.(map[string]any)
		mb, bMap := vb.(map[string]any)
		if (aMap || va == nil) && (bMap || vb == nil) {
			sep := "."
			if prefix == "" && isURN(k) {
				sep = ":" // an extension: urn:…:User:department
			}
			diffPaths(prefix+k+sep, ma, mb, out)
			continue
		}
		*out = append(*out, prefix+k)
	}
}

// isURN reports whether a canonical key is a schema URN (an extension).
func isURN(k string) bool {
	return len(k) > 4 && k[:4] == "urn:"
}
