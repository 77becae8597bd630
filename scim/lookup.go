package scim

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scimgate/scimgate/internal/store"
)

// Lookup returns, in creation order, the ids of the stored resources of
// rt whose id is s or whose unique attribute (userName, displayName) is
// s, compared as a SCIM filter compares it (case-insensitively): one
// index lookup. Two ids mean that s is the id of one resource and the
// name of another.
func (rt *ResourceType) Lookup(ctx context.Context, st store.Resources, s string) ([]string, error) {
	lit, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	f, err := rt.ParseFilter(fmt.Sprintf("id eq %s or %s eq %s", lit, rt.UniqueAttr, lit))
	if err != nil {
		return nil, err
	}
	return st.Find(ctx, rt.Name, f.Cond())
}

// NameOf is the unique attribute (userName, displayName) of a canonical
// resource of rt, "" when it has none.
func (rt *ResourceType) NameOf(res map[string]any) string {
	s, _ := res[rt.UniqueAttr].(string)
	return s
}
