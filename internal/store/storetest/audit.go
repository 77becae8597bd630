package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// testAuditDetail: the audit entry of a Create or Update names the
// attributes its Resource.Changed lists, with the actor of the context;
// a Delete names none.
func testAuditDetail(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := store.WithActor(context.Background(), "scim: test")
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		r := user("u1", "one")
		r.Changed = []string{"name.givenName", "userName"}
		return tx.Create(ctx, &r)
	})
	write(func(ctx context.Context, tx store.Tx) error {
		r, err := tx.Get(ctx, "User", "u1")
		if err != nil {
			return err
		}
		r.Data, r.Changed = []byte(`{"title":"x"}`), []string{"title"}
		return tx.Update(ctx, &r)
	})
	write(func(ctx context.Context, tx store.Tx) error {
		r, err := tx.Get(ctx, "User", "u1")
		if err != nil {
			return err
		}
		return tx.Update(ctx, &r) // no Changed: no detail
	})
	write(func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "u1") })
	entries, err := s.Audit(ctx, store.AuditQuery{ID: "u1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor+"|"+e.Action+"|"+e.Detail)
	}
	slices.Reverse(got)
	want := []string{
		"scim: test|create|attributes: name.givenName, userName",
		"scim: test|update|attributes: title",
		"scim: test|update|",
		"scim: test|delete|",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit entries:\n got %q\nwant %q", got, want)
	}
}
