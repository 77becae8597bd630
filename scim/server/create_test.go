package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/scim"
)

// TestCreate: a create is answered 201 with a time-ordered id (UUID
// version 7, after the previous one); a taken userName (whatever its case)
// or group displayName is a 409 uniqueness error and stores nothing; the
// created resource is found by its name.
func TestCreate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := New(Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var last uuid.UUID
	for _, tc := range []struct {
		name     string
		path     string
		body     string
		status   int
		scimType string
	}{
		{"user", "/Users", `{"userName":"alice@contoso.com","name":{"givenName":"Alice"}}`, http.StatusCreated, ""},
		{"second user", "/Users", `{"userName":"bob@contoso.com"}`, http.StatusCreated, ""},
		{"taken userName", "/Users", `{"userName":"ALICE@contoso.com"}`, http.StatusConflict, "uniqueness"},
		{"group with a member", "/Groups", `{"displayName":"Sales","members":[{"value":"` + "%alice%" + `"}]}`, http.StatusCreated, ""},
		{"taken displayName", "/Groups", `{"displayName":"sales"}`, http.StatusConflict, "uniqueness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(tc.body, "%alice%", lookupOne(t, st, scim.UserType(), "alice@contoso.com"))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scim/v2"+tc.path, strings.NewReader(body)))
			var out struct {
				ID       string
				ScimType string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != tc.status || out.ScimType != tc.scimType {
				t.Fatalf("POST %s: %d %s, want %d with scimType %q", tc.path, rec.Code, rec.Body, tc.status, tc.scimType)
			}
			if tc.status != http.StatusCreated {
				return
			}
			id, err := uuid.Parse(out.ID)
			if err != nil || id.Version() != 7 || strings.Compare(id.String(), last.String()) <= 0 {
				t.Errorf("id %q (version %d), want a UUID version 7 after %s", out.ID, id.Version(), last)
			}
			last = id
		})
	}
	for _, tc := range []struct {
		rt   *scim.ResourceType
		name string
	}{{scim.UserType(), "Alice@Contoso.com"}, {scim.UserType(), "bob@contoso.com"}, {scim.GroupType(), "Sales"}} {
		if ids, err := tc.rt.Lookup(ctx, st, tc.name); err != nil || len(ids) != 1 {
			t.Errorf("%s %q: found %v, %v; want one", tc.rt.Name, tc.name, ids, err)
		}
	}
}

// lookupOne is the id of the resource of rt named name, "" when none.
func lookupOne(t *testing.T, st store.Store, rt *scim.ResourceType, name string) string {
	t.Helper()
	ids, err := rt.Lookup(context.Background(), st, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
