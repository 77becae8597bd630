package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

func group(id, name string) store.Resource {
	return store.Resource{Type: "Group", ID: id, Unique: name, Data: []byte(`{"id":"` + id + `","displayName":"` + name + `"}`),
		Index: entries("displayname", name)}
}

func member(v string) store.Member {
	return store.Member{Value: v, Data: []byte(`{"value":"` + v + `"}`),
		Index: []store.IndexEntry{{Path: "members.value", Str: v}, {Path: "members.type", Str: "user"}}}
}

func members(vs ...string) []store.Member {
	out := make([]store.Member, len(vs))
	for i, v := range vs {
		out[i] = member(v)
	}
	return out
}

func valuesOf(t *testing.T, s store.Store, id string) []string {
	t.Helper()
	ms, err := s.Members(context.Background(), "Group", id, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Value)
	}
	return out
}

// testMembers: members added and removed in order, read back, paged and
// filtered by their index entries; the journal records the deltas, an
// update keeps the members, a delete drops them.
func testMembers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	mustCreate(t, s, group("g", "staff"), group("h", "other"))
	var added, again, removed []string
	write(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		if added, err = tx.AddMembers(ctx, "Group", "g", members("a", "b", "c", "a")); err != nil {
			return err
		}
		if again, err = tx.AddMembers(ctx, "Group", "g", members("b", "d")); err != nil {
			return err
		}
		removed, err = tx.RemoveMembers(ctx, "Group", "g", []string{"c", "x", "c"})
		return err
	})
	if want := []string{"a", "b", "c"}; !slices.Equal(added, want) {
		t.Errorf("first add returned %v, want %v", added, want)
	}
	if want := []string{"d"}; !slices.Equal(again, want) {
		t.Errorf("second add returned %v, want %v (b was a member)", again, want)
	}
	if want := []string{"c"}; !slices.Equal(removed, want) {
		t.Errorf("remove returned %v, want %v", removed, want)
	}
	if got, want := valuesOf(t, s, "g"), []string{"a", "b", "d"}; !slices.Equal(got, want) {
		t.Errorf("members = %v, want %v (in the order added)", got, want)
	}
	if n, err := s.MemberCount(ctx, "Group", "g"); err != nil || n != 3 {
		t.Errorf("MemberCount = %d, %v; want 3", n, err)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.AddMembers(ctx, "Group", "h", members("a"))
		return err
	})
	if got, err := s.MemberOf(ctx, "Group", "a"); err != nil || !slices.Equal(got, []string{"g", "h"}) {
		t.Errorf("MemberOf(a) = %v, %v; want [g h]", got, err)
	}
	if got, err := s.MemberOf(ctx, "Group", "c"); err != nil || len(got) != 0 {
		t.Errorf("MemberOf(c) = %v, %v; want none (removed)", got, err)
	}

	// Filters answer from the members' index entries.
	for _, tt := range []struct {
		name string
		cond store.Cond
		want []string
	}{
		{"member", eq("members.value", "a"), []string{"g", "h"}},
		{"removed member", eq("members.value", "c"), []string{}},
		{"one element", store.Elem{Root: "members", C: store.And{eq("members.value", "d"), eq("members.type", "user")}}, []string{"g"}},
	} {
		got, err := s.Find(ctx, "Group", tt.cond)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: Find = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}

	// An update of the group's own attributes keeps its members.
	g, err := s.Get(ctx, "Group", "g")
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != 4 {
		t.Errorf("version after three member changes = %d, want 4", g.Version)
	}
	g.Data, g.Index = []byte(`{"id":"g","displayName":"renamed"}`), entries("displayname", "renamed")
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Update(ctx, &g) })
	if got, err := s.Find(ctx, "Group", eq("members.value", "d")); err != nil || !slices.Equal(got, []string{"g"}) {
		t.Errorf("after update: Find(members.value eq d) = %v, %v; want [g]", got, err)
	}

	// Paging.
	page, err := s.Members(ctx, "Group", "g", -1, 2)
	if err != nil || len(page) != 2 {
		t.Fatalf("first page = %v, %v", page, err)
	}
	rest, err := s.Members(ctx, "Group", "g", page[1].Elem, 2)
	if err != nil || len(rest) != 1 || rest[0].Value != "d" {
		t.Errorf("second page = %v, %v; want [d]", rest, err)
	}

	// Journal: member deltas.
	chs, err := s.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, ch := range chs {
		if ch.MembersOnly {
			deltas = append(deltas, fmt.Sprintf("%s +%v -%v", ch.ID, ch.Added, ch.Removed))
		}
	}
	if want := []string{"g +[a b c] -[]", "g +[d] -[]", "g +[] -[c]", "h +[a] -[]"}; !slices.Equal(deltas, want) {
		t.Errorf("journalled deltas %q, want %q", deltas, want)
	}

	// Delete drops the members and journals them as removed.
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "Group", "g") })
	if got, err := s.MemberOf(ctx, "Group", "a"); err != nil || !slices.Equal(got, []string{"h"}) {
		t.Errorf("after delete MemberOf(a) = %v, %v; want [h]", got, err)
	}
	if got, err := s.Find(ctx, "Group", eq("members.value", "d")); err != nil || len(got) != 0 {
		t.Errorf("after delete Find(members.value eq d) = %v, %v", got, err)
	}
	chs, err = s.Changes(ctx, chs[len(chs)-1].Seq, 100)
	if err != nil || len(chs) != 1 || chs[0].MembersOnly || !slices.Equal(chs[0].Removed, []string{"a", "b", "d"}) {
		t.Errorf("delete journalled %+v, %v; want one entry removing [a b d]", chs, err)
	}
	if _, err := s.Members(ctx, "Group", "g", -1, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Members of a deleted group: %v, want ErrNotFound", err)
	}
}

// testMembersNoChangeNoJournal: member changes that change nothing
// journal nothing and leave the version.
func testMembersNoChangeNoJournal(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	mustCreate(t, s, group("g", "staff"))
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.AddMembers(ctx, "Group", "g", members("a"))
		return err
	})
	before, _ := s.Changes(ctx, 0, 100)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.AddMembers(ctx, "Group", "g", members("a")); err != nil {
			return err
		}
		_, err := tx.RemoveMembers(ctx, "Group", "g", []string{"zz"})
		return err
	})
	after, _ := s.Changes(ctx, 0, 100)
	if len(after) != len(before) {
		t.Errorf("adding a member again or removing a non-member journalled %d entries", len(after)-len(before))
	}
	g, _ := s.Get(ctx, "Group", "g")
	if g.Version != 2 {
		t.Errorf("version = %d, want 2 (no-op member changes do not count)", g.Version)
	}
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.AddMembers(ctx, "Group", "nope", members("a"))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddMembers to a missing group: %v, want ErrNotFound", err)
	}
}
