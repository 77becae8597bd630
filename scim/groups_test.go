package scim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// countingStore counts the queries of Groups.
type countingStore struct {
	store.Store
	groupQueries atomic.Int64
}

func (c *countingStore) Query(ctx context.Context, typ string, q store.Query) (store.Page, error) {
	if typ == "Group" {
		c.groupQueries.Add(1)
	}
	return c.Store.Query(ctx, typ, q)
}

// TestUserGroupsWithoutGroups: while the store holds no group, a User is
// rendered without querying groups (after one look at startup); once a
// group is created, the User shows it, and a server started on a store
// with groups shows them at once.
func TestUserGroupsWithoutGroups(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cs := &countingStore{Store: st}
	newServer := func() *Server {
		srv, err := New(Options{Store: cs, Types: []*ResourceType{UserType(), GroupType()}, BasePath: "/scim/v2",
			MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	do := func(srv *Server, method, path, body string, want int) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
		}
		return out
	}
	groupsOf := func(srv *Server, id string) []any {
		t.Helper()
		g, _ := do(srv, "GET", "/Users/"+id, "", http.StatusOK)["groups"].([]any)
		list := do(srv, "GET", `/Users?filter=id+eq+"`+id+`"`, "", http.StatusOK)
		res := list["Resources"].([]any)[0].(map[string]any)
		if lg, _ := res["groups"].([]any); len(lg) != len(g) {
			t.Errorf("groups %v in a list, %v alone", lg, g)
		}
		return g
	}

	srv := newServer()
	alice := do(srv, "POST", "/Users", `{"userName":"alice"}`, http.StatusCreated)["id"].(string)
	for range 3 {
		if g := groupsOf(srv, alice); g != nil {
			t.Errorf("groups %v, want none", g)
		}
	}
	if n := cs.groupQueries.Load(); n != 1 {
		t.Errorf("%d queries of groups for 6 renderings without groups, want 1", n)
	}

	sales := do(srv, "POST", "/Groups", `{"displayName":"Sales","members":[{"value":"`+alice+`"}]}`, http.StatusCreated)["id"].(string)
	if g := groupsOf(srv, alice); len(g) != 1 || g[0].(map[string]any)["value"] != sales {
		t.Errorf("groups %v, want Sales %s", g, sales)
	}

	restarted := newServer()
	if g := groupsOf(restarted, alice); len(g) != 1 || g[0].(map[string]any)["value"] != sales {
		t.Errorf("after a restart: groups %v, want Sales %s", g, sales)
	}
}
