package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scimgate/scimgate/internal/store"
)

// userFixture is the data set of testQuery.
func userFixture() []store.Resource {
	email := func(elem int, typ, value string) []store.IndexEntry {
		return []store.IndexEntry{
			{Path: "emails.type", Elem: elem, Str: typ},
			{Path: "emails.value", Elem: elem, Str: value},
		}
	}
	age := func(n float64) store.IndexEntry {
		return store.IndexEntry{Path: "age", Str: fmt.Sprint(n), Num: num(n)}
	}
	return []store.Resource{
		{Type: "User", ID: "u1", Unique: "alice", Index: slices.Concat(
			entries("username", "alice", "title", "engineer"),
			email(0, "work", "alice@work.com"), email(1, "home", "alice@home.org"),
			[]store.IndexEntry{age(30)})},
		{Type: "User", ID: "u2", Unique: "bob", Index: slices.Concat(
			entries("username", "bob", "title", "manager"),
			email(0, "home", "target@x.com"), email(1, "work", "bob@work.com"),
			[]store.IndexEntry{age(25)})},
		{Type: "User", ID: "u3", Unique: "carol", Index: slices.Concat(
			entries("username", "carol"),
			email(0, "work", "target@x.com"),
			[]store.IndexEntry{age(40)})},
		{Type: "User", ID: "u4", Unique: "dave", Index: entries("username", "dave", "title", "engineering lead")},
		{Type: "User", ID: "u5", Unique: "eve", Index: append(entries("username", "eve"), age(100))},
		// Another type with the same paths and values must never leak in.
		{Type: "Group", ID: "g1", Unique: "alice", Index: entries("username", "alice", "title", "engineer")},
	}
}

// testQuery: every operator and combinator of Cond, over multi-valued
// attributes, numbers and the pseudo-paths; Query, Find and the
// reference model of testQueryRandom agree.
func testQuery(t *testing.T, open Opener) {
	s := fresh(t, open)
	fixture := mustCreate(t, s, userFixture()...)
	before := fixture[0].Created.Add(-time.Hour).Format(store.TimeFormat)
	after := fixture[len(fixture)-1].Created.Add(time.Hour).Format(store.TimeFormat)
	all := []string{"u1", "u2", "u3", "u4", "u5"}

	tests := []struct {
		name string
		cond store.Cond
		want []string
	}{
		{"nil filter", nil, all},
		{"eq", eq("username", "alice"), []string{"u1"}},
		{"eq no match", eq("username", "zed"), []string{}},
		{"eq is case sensitive", eq("username", "Alice"), []string{}},
		{"ne includes absent", store.Compare{Paths: []string{"title"}, Op: store.Ne, Str: "engineer"}, []string{"u2", "u3", "u4", "u5"}},
		{"co", store.Compare{Paths: []string{"title"}, Op: store.Co, Str: "engineer"}, []string{"u1", "u4"}},
		{"co empty literal is presence", store.Compare{Paths: []string{"title"}, Op: store.Co}, []string{"u1", "u2", "u4"}},
		{"sw", store.Compare{Paths: []string{"title"}, Op: store.Sw, Str: "eng"}, []string{"u1", "u4"}},
		{"sw whole value", store.Compare{Paths: []string{"title"}, Op: store.Sw, Str: "manager"}, []string{"u2"}},
		{"ew", store.Compare{Paths: []string{"title"}, Op: store.Ew, Str: "lead"}, []string{"u4"}},
		{"ew longer than value", store.Compare{Paths: []string{"title"}, Op: store.Ew, Str: "xmanager"}, []string{}},
		{"gt", store.Compare{Paths: []string{"username"}, Op: store.Gt, Str: "carol"}, []string{"u4", "u5"}},
		{"ge", store.Compare{Paths: []string{"username"}, Op: store.Ge, Str: "carol"}, []string{"u3", "u4", "u5"}},
		{"lt", store.Compare{Paths: []string{"username"}, Op: store.Lt, Str: "bob"}, []string{"u1"}},
		{"le", store.Compare{Paths: []string{"username"}, Op: store.Le, Str: "bob"}, []string{"u1", "u2"}},
		{"pr", store.Compare{Paths: []string{"title"}, Op: store.Pr}, []string{"u1", "u2", "u4"}},
		{"pr multi-valued", store.Compare{Paths: []string{"emails.value"}, Op: store.Pr}, []string{"u1", "u2", "u3"}},
		{"not pr", store.Not{C: store.Compare{Paths: []string{"age"}, Op: store.Pr}}, []string{"u4"}},
		{"several paths", store.Compare{Paths: []string{"username", "title"}, Op: store.Eq, Str: "manager"}, []string{"u2"}},
		{"ne over several paths", store.Compare{Paths: []string{"username", "title"}, Op: store.Ne, Str: "engineer"}, []string{"u2", "u3", "u4", "u5"}},
		{"numeric gt", store.Compare{Paths: []string{"age"}, Op: store.Gt, Num: num(26)}, []string{"u1", "u3", "u5"}},
		{"string gt on numbers", store.Compare{Paths: []string{"age"}, Op: store.Gt, Str: "26"}, []string{"u1", "u3"}},
		{"numeric eq", store.Compare{Paths: []string{"age"}, Op: store.Eq, Num: num(100)}, []string{"u5"}},
		{"numeric ne includes absent", store.Compare{Paths: []string{"age"}, Op: store.Ne, Num: num(30)}, []string{"u2", "u3", "u4", "u5"}},
		{"numeric le", store.Compare{Paths: []string{"age"}, Op: store.Le, Num: num(30)}, []string{"u1", "u2"}},
		{"numeric lt", store.Compare{Paths: []string{"age"}, Op: store.Lt, Num: num(25)}, []string{}},
		{"numeric ge", store.Compare{Paths: []string{"age"}, Op: store.Ge, Num: num(40)}, []string{"u3", "u5"}},
		{"and", store.And{store.Compare{Paths: []string{"title"}, Op: store.Pr}, store.Compare{Paths: []string{"age"}, Op: store.Gt, Num: num(26)}}, []string{"u1"}},
		{"or", store.Or{eq("username", "alice"), eq("username", "eve")}, []string{"u1", "u5"}},
		{"or with non-indexable term", store.Or{eq("username", "alice"), store.Not{C: store.Compare{Paths: []string{"age"}, Op: store.Pr}}}, []string{"u1", "u4"}},
		{"not", store.Not{C: eq("username", "alice")}, []string{"u2", "u3", "u4", "u5"}},
		{"double not", store.Not{C: store.Not{C: eq("username", "alice")}}, []string{"u1"}},
		{"const true", store.Const(true), all},
		{"const false", store.Const(false), []string{}},
		{"empty and", store.And{}, all},
		{"empty or", store.Or{}, []string{}},
		{"and with const false", store.And{eq("username", "alice"), store.Const(false)}, []string{}},
		{"uncorrelated and", store.And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}, []string{"u2", "u3"}},
		{"elem correlates", store.Elem{Root: "emails", C: store.And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}}, []string{"u3"}},
		{"elem not", store.Elem{Root: "emails", C: store.Not{C: eq("emails.type", "work")}}, []string{"u1", "u2"}},
		{"elem ne", store.Elem{Root: "emails", C: store.Compare{Paths: []string{"emails.value"}, Op: store.Ne, Str: "target@x.com"}}, []string{"u1", "u2"}},
		{"elem or", store.Elem{Root: "emails", C: store.Or{store.Compare{Paths: []string{"emails.value"}, Op: store.Ew, Str: ".org"}, eq("emails.type", "home")}}, []string{"u1", "u2"}},
		{"elem and not", store.Elem{Root: "emails", C: store.And{eq("emails.type", "work"), store.Not{C: store.Compare{Paths: []string{"emails.value"}, Op: store.Co, Str: "target"}}}}, []string{"u1", "u2"}},
		{"elem pr", store.Elem{Root: "emails", C: store.Compare{Paths: []string{"emails.value"}, Op: store.Pr}}, []string{"u1", "u2", "u3"}},
		{"elem const true needs an element", store.Elem{Root: "emails", C: store.Const(true)}, []string{"u1", "u2", "u3"}},
		{"elem path outside root", store.Elem{Root: "emails", C: eq("username", "alice")}, []string{}},
		{"not elem", store.Not{C: store.Elem{Root: "emails", C: store.And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}}}, []string{"u1", "u2", "u4", "u5"}},
		{"nested elem", store.Elem{Root: "emails", C: store.Elem{Root: "emails", C: eq("emails.type", "home")}}, []string{"u1", "u2"}},
		{"id eq", eq("id", "u3"), []string{"u3"}},
		{"id ne", store.Compare{Paths: []string{"id"}, Op: store.Ne, Str: "u3"}, []string{"u1", "u2", "u4", "u5"}},
		{"id sw", store.Compare{Paths: []string{"id"}, Op: store.Sw, Str: "u"}, all},
		{"id ew", store.Compare{Paths: []string{"id"}, Op: store.Ew, Str: "5"}, []string{"u5"}},
		{"id gt", store.Compare{Paths: []string{"id"}, Op: store.Gt, Str: "u3"}, []string{"u4", "u5"}},
		{"id pr", store.Compare{Paths: []string{"id"}, Op: store.Pr}, all},
		{"id or username", store.Compare{Paths: []string{"id", "username"}, Op: store.Eq, Str: "u2"}, []string{"u2"}},
		{"id numeric never holds", store.Compare{Paths: []string{"id"}, Op: store.Eq, Num: num(1)}, []string{}},
		{"created pr", store.Compare{Paths: []string{"meta.created"}, Op: store.Pr}, all},
		{"created gt", store.Compare{Paths: []string{"meta.created"}, Op: store.Gt, Str: before}, all},
		{"created lt", store.Compare{Paths: []string{"meta.created"}, Op: store.Lt, Str: before}, []string{}},
		{"created eq", store.Compare{Paths: []string{"meta.created"}, Op: store.Eq, Str: fixture[2].Created.Format(store.TimeFormat)}, []string{"u3"}},
		{"lastmodified le", store.Compare{Paths: []string{"meta.lastmodified"}, Op: store.Le, Str: after}, all},
		{"lastmodified sw", store.Compare{Paths: []string{"meta.lastmodified"}, Op: store.Sw, Str: after[:4]}, all},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(ctx, "User", store.Query{Filter: tc.cond, Count: 100})
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if got := pageIDs(p); !slices.Equal(got, tc.want) || p.Total != len(tc.want) {
				t.Errorf("Query = %v (total %d), want %v", got, p.Total, tc.want)
			}
			var found []string
			if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
				found, err = tx.Find(ctx, "User", tc.cond)
				return err
			}); err != nil {
				t.Fatalf("Find: %v", err)
			}
			if !slices.Equal(found, tc.want) {
				t.Errorf("Find = %v, want %v", found, tc.want)
			}
			// The reference evaluator of the randomised test must agree too.
			ref := []string{}
			for _, r := range fixture {
				if r.Type == "User" && refMatch(tc.cond, &r) {
					ref = append(ref, r.ID)
				}
			}
			if !slices.Equal(ref, tc.want) {
				t.Errorf("reference evaluator = %v, want %v", ref, tc.want)
			}
		})
	}
}

// testQueryInvalidCond: a Cond that is none of the contract's (a nil
// term, an unknown Op) is refused with an error.
func testQueryInvalidCond(t *testing.T, open Opener) {
	s := fresh(t, open)
	tests := []struct {
		name string
		cond store.Cond
	}{
		{"unknown op", store.Compare{Paths: []string{"a"}, Op: store.Op(99), Str: "x"}},
		{"nil term", store.And{nil}},
		{"nil inside not", store.Not{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := s.Query(context.Background(), "User", store.Query{Filter: tc.cond, Count: 1}); err == nil {
				t.Errorf("Query answered %+v, want an error", p)
			}
			if ids, err := s.Find(context.Background(), "User", tc.cond); err == nil {
				t.Errorf("Find answered %v, want an error", ids)
			}
		})
	}
}

// hostile literals must be bound, never interpreted: no wildcard, escape or
// quoting effect, and NUL or multi-byte characters compared exactly.
var hostile = []string{
	"%", "_", `\`, "'", `"`, "a%b", "a_b", "aXb", "ab", `a\b`, "%%", "%_%",
	"'; DROP TABLE resources; --", `"); DELETE FROM idx; --`,
	"a\x00b", "a\x00", "\x00", "a", "😀", "x😀y", "é", "e", "É", "*", "?", "[a]", "a*",
	"\xff", "a\xff", // not UTF-8: still compared byte by byte
}

// testQueryHostileLiterals: literals are bound, never interpreted, and
// compared byte by byte. A backend may refuse a string that holds U+0000
// or is not UTF-8, and only such a string, with ErrInvalidText, both in
// a write (which then stores nothing) and in a query; the strings it
// stores are checked.
func testQueryHostileLiterals(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	var rs []store.Resource
	var kept []string
	for i, v := range hostile {
		r := store.Resource{Type: "User", ID: fmt.Sprintf("h%02d", i), Index: entries("v", v)}
		err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
		switch {
		case err == nil:
			rs, kept = append(rs, r), append(kept, v)
			continue
		case !errors.Is(err, store.ErrInvalidText):
			t.Errorf("create with %q: %v", v, err)
			continue
		case !strings.ContainsRune(v, 0) && utf8.ValidString(v):
			t.Errorf("create with %q: %v; only U+0000 or invalid UTF-8 may be refused", v, err)
		}
		if _, err := s.Get(ctx, "User", r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused create with %q stored the resource: %v", v, err)
		}
		_, err = s.Query(ctx, "User", store.Query{Filter: store.Compare{Paths: []string{"v"}, Op: store.Eq, Str: v}, Count: 10})
		if !errors.Is(err, store.ErrInvalidText) {
			t.Errorf("query with %q, which the store refused to hold: %v, want ErrInvalidText", v, err)
		}
	}
	hostile := kept
	ops := []struct {
		op    store.Op
		match func(v, lit string) bool
	}{
		{store.Eq, func(v, lit string) bool { return v == lit }},
		{store.Co, strings.Contains},
		{store.Sw, strings.HasPrefix},
		{store.Ew, strings.HasSuffix},
		{store.Gt, func(v, lit string) bool { return v > lit }},
		{store.Le, func(v, lit string) bool { return v <= lit }},
		{store.Ne, func(v, lit string) bool { return v != lit }},
	}
	for _, o := range ops {
		for i, lit := range hostile {
			t.Run(fmt.Sprintf("op%d/%02d", o.op, i), func(t *testing.T) {
				want := []string{}
				for _, r := range rs {
					if o.match(r.Index[0].Str, lit) {
						want = append(want, r.ID)
					}
				}
				if o.op == store.Eq && !slices.Equal(want, []string{rs[i].ID}) {
					t.Fatalf("fixture: %q equals %v", lit, want)
				}
				p, err := s.Query(ctx, "User", store.Query{Filter: store.Compare{Paths: []string{"v"}, Op: o.op, Str: lit}, Count: 100})
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				if got := pageIDs(p); !slices.Equal(got, want) {
					t.Errorf("%q: got %v, want %v", lit, got, want)
				}
			})
		}
	}
	p, err := s.Query(ctx, "User", store.Query{Count: 1})
	if err != nil || p.Total != len(hostile) {
		t.Errorf("after hostile queries: total %d, err %v; want %d", p.Total, err, len(hostile))
	}
}

// testQueryManyTerms: conditions of hundreds of terms are answered (SQLite,
// for one, limits a compound SELECT to 500 terms).
func testQueryManyTerms(t *testing.T, open Opener) {
	s := fresh(t, open)
	var rs []store.Resource
	want := []string{}
	for i := range 20 {
		rs = append(rs, store.Resource{Type: "User", ID: fmt.Sprintf("u%d", i), Unique: fmt.Sprintf("user%d", i),
			Index: entries("username", fmt.Sprintf("user%d", i), "displayname", fmt.Sprintf("user number %d", i))})
		want = append(want, fmt.Sprintf("u%d", i))
	}
	mustCreate(t, s, rs...)
	tests := []struct {
		name string
		term func(i int) store.Cond
	}{
		{"600 eq", func(i int) store.Cond { return eq("username", fmt.Sprintf("user%d", i)) }},
		{"600 id eq", func(i int) store.Cond { return eq("id", fmt.Sprintf("u%d", i)) }},
		{"600 id or username eq", func(i int) store.Cond {
			return store.Compare{Paths: []string{"id", "username"}, Op: store.Eq, Str: fmt.Sprintf("user%d", i)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var or store.Or
			for i := range 600 {
				// Every 20th term names a user: u0, u1, … u29, of
				// which u0 … u19 exist.
				or = append(or, tt.term(i/20+1000*(i%20)))
			}
			p, err := s.Query(context.Background(), "User", store.Query{Filter: or, Count: 100})
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if got := pageIDs(p); !slices.Equal(got, want) || p.Total != 20 {
				t.Errorf("got %v (total %d), want %v", got, p.Total, want)
			}
		})
	}
}
