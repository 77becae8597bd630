package scim

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

// TestLookup finds users and groups by id or by userName/displayName,
// case-insensitively, in a real store; a string that is the id of one
// user and the userName of another finds both.
func TestLookup(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	users, groups := UserType(), GroupType()
	put := func(rt *ResourceType, res map[string]any) {
		t.Helper()
		err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			data, err := json.Marshal(res)
			if err != nil {
				return err
			}
			r := store.Resource{Type: rt.Name, ID: res["id"].(string), Unique: strings.ToLower(rt.NameOf(res)), Data: data, Index: rt.IndexEntries(res)}
			return tx.Create(ctx, &r)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(users, map[string]any{"id": "u-1", "userName": "Alice@Contoso.com"})
	put(users, map[string]any{"id": "u-2", "userName": `we"ird\name`})
	put(users, map[string]any{"id": "u-3", "userName": "u-1"})
	put(groups, map[string]any{"id": "g-1", "displayName": "Sales"})

	for _, tc := range []struct {
		name string
		rt   *ResourceType
		s    string
		want []string
	}{
		{"user by id", users, "u-2", []string{"u-2"}},
		{"user by userName", users, "Alice@Contoso.com", []string{"u-1"}},
		{"userName compared case-insensitively", users, "alice@contoso.COM", []string{"u-1"}},
		{"quotes and backslashes", users, `WE"IRD\name`, []string{"u-2"}},
		{"the id of one and the userName of another", users, "u-1", []string{"u-1", "u-3"}},
		{"unknown", users, "bob@contoso.com", []string{}},
		{"empty", users, "", []string{}},
		{"group by displayName", groups, "sales", []string{"g-1"}},
		{"group by id", groups, "g-1", []string{"g-1"}},
		{"a userName is no group", groups, "alice@contoso.com", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rt.Lookup(ctx, st, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Lookup(%q) = %q, want %q", tc.s, got, tc.want)
			}
		})
	}
}
