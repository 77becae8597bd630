package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// userFixture is the data set of TestQuery.
func userFixture() []Resource {
	email := func(elem int, typ, value string) []IndexEntry {
		return []IndexEntry{
			{Path: "emails.type", Elem: elem, Str: typ},
			{Path: "emails.value", Elem: elem, Str: value},
		}
	}
	age := func(n float64) IndexEntry {
		return IndexEntry{Path: "age", Str: fmt.Sprint(n), Num: num(n)}
	}
	return []Resource{
		{Type: "User", ID: "u1", Unique: "alice", Index: slices.Concat(
			entries("username", "alice", "title", "engineer"),
			email(0, "work", "alice@work.com"), email(1, "home", "alice@home.org"),
			[]IndexEntry{age(30)})},
		{Type: "User", ID: "u2", Unique: "bob", Index: slices.Concat(
			entries("username", "bob", "title", "manager"),
			email(0, "home", "target@x.com"), email(1, "work", "bob@work.com"),
			[]IndexEntry{age(25)})},
		{Type: "User", ID: "u3", Unique: "carol", Index: slices.Concat(
			entries("username", "carol"),
			email(0, "work", "target@x.com"),
			[]IndexEntry{age(40)})},
		{Type: "User", ID: "u4", Unique: "dave", Index: entries("username", "dave", "title", "engineering lead")},
		{Type: "User", ID: "u5", Unique: "eve", Index: append(entries("username", "eve"), age(100))},
		// Another type with the same paths and values must never leak in.
		{Type: "Group", ID: "g1", Unique: "alice", Index: entries("username", "alice", "title", "engineer")},
	}
}

func eq(path, v string) Compare { return Compare{Paths: []string{path}, Op: Eq, Str: v} }

func TestQuery(t *testing.T) {
	s := openTest(t)
	fixture := mustCreate(t, s, userFixture()...)
	before := fixture[0].Created.Add(-time.Hour).Format(TimeFormat)
	after := fixture[len(fixture)-1].Created.Add(time.Hour).Format(TimeFormat)
	all := []string{"u1", "u2", "u3", "u4", "u5"}

	tests := []struct {
		name string
		cond Cond
		want []string
	}{
		{"nil filter", nil, all},
		{"eq", eq("username", "alice"), []string{"u1"}},
		{"eq no match", eq("username", "zed"), []string{}},
		{"eq is case sensitive", eq("username", "Alice"), []string{}},
		{"ne includes absent", Compare{Paths: []string{"title"}, Op: Ne, Str: "engineer"}, []string{"u2", "u3", "u4", "u5"}},
		{"co", Compare{Paths: []string{"title"}, Op: Co, Str: "engineer"}, []string{"u1", "u4"}},
		{"co empty literal is presence", Compare{Paths: []string{"title"}, Op: Co}, []string{"u1", "u2", "u4"}},
		{"sw", Compare{Paths: []string{"title"}, Op: Sw, Str: "eng"}, []string{"u1", "u4"}},
		{"sw whole value", Compare{Paths: []string{"title"}, Op: Sw, Str: "manager"}, []string{"u2"}},
		{"ew", Compare{Paths: []string{"title"}, Op: Ew, Str: "lead"}, []string{"u4"}},
		{"ew longer than value", Compare{Paths: []string{"title"}, Op: Ew, Str: "xmanager"}, []string{}},
		{"gt", Compare{Paths: []string{"username"}, Op: Gt, Str: "carol"}, []string{"u4", "u5"}},
		{"ge", Compare{Paths: []string{"username"}, Op: Ge, Str: "carol"}, []string{"u3", "u4", "u5"}},
		{"lt", Compare{Paths: []string{"username"}, Op: Lt, Str: "bob"}, []string{"u1"}},
		{"le", Compare{Paths: []string{"username"}, Op: Le, Str: "bob"}, []string{"u1", "u2"}},
		{"pr", Compare{Paths: []string{"title"}, Op: Pr}, []string{"u1", "u2", "u4"}},
		{"pr multi-valued", Compare{Paths: []string{"emails.value"}, Op: Pr}, []string{"u1", "u2", "u3"}},
		{"not pr", Not{Compare{Paths: []string{"age"}, Op: Pr}}, []string{"u4"}},
		{"several paths", Compare{Paths: []string{"username", "title"}, Op: Eq, Str: "manager"}, []string{"u2"}},
		{"ne over several paths", Compare{Paths: []string{"username", "title"}, Op: Ne, Str: "engineer"}, []string{"u2", "u3", "u4", "u5"}},
		{"numeric gt", Compare{Paths: []string{"age"}, Op: Gt, Num: num(26)}, []string{"u1", "u3", "u5"}},
		{"string gt on numbers", Compare{Paths: []string{"age"}, Op: Gt, Str: "26"}, []string{"u1", "u3"}},
		{"numeric eq", Compare{Paths: []string{"age"}, Op: Eq, Num: num(100)}, []string{"u5"}},
		{"numeric ne includes absent", Compare{Paths: []string{"age"}, Op: Ne, Num: num(30)}, []string{"u2", "u3", "u4", "u5"}},
		{"numeric le", Compare{Paths: []string{"age"}, Op: Le, Num: num(30)}, []string{"u1", "u2"}},
		{"numeric lt", Compare{Paths: []string{"age"}, Op: Lt, Num: num(25)}, []string{}},
		{"numeric ge", Compare{Paths: []string{"age"}, Op: Ge, Num: num(40)}, []string{"u3", "u5"}},
		{"and", And{Compare{Paths: []string{"title"}, Op: Pr}, Compare{Paths: []string{"age"}, Op: Gt, Num: num(26)}}, []string{"u1"}},
		{"or", Or{eq("username", "alice"), eq("username", "eve")}, []string{"u1", "u5"}},
		{"or with non-indexable term", Or{eq("username", "alice"), Not{Compare{Paths: []string{"age"}, Op: Pr}}}, []string{"u1", "u4"}},
		{"not", Not{eq("username", "alice")}, []string{"u2", "u3", "u4", "u5"}},
		{"double not", Not{Not{eq("username", "alice")}}, []string{"u1"}},
		{"const true", Const(true), all},
		{"const false", Const(false), []string{}},
		{"empty and", And{}, all},
		{"empty or", Or{}, []string{}},
		{"and with const false", And{eq("username", "alice"), Const(false)}, []string{}},
		{"uncorrelated and", And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}, []string{"u2", "u3"}},
		{"elem correlates", Elem{"emails", And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}}, []string{"u3"}},
		{"elem not", Elem{"emails", Not{eq("emails.type", "work")}}, []string{"u1", "u2"}},
		{"elem ne", Elem{"emails", Compare{Paths: []string{"emails.value"}, Op: Ne, Str: "target@x.com"}}, []string{"u1", "u2"}},
		{"elem or", Elem{"emails", Or{Compare{Paths: []string{"emails.value"}, Op: Ew, Str: ".org"}, eq("emails.type", "home")}}, []string{"u1", "u2"}},
		{"elem and not", Elem{"emails", And{eq("emails.type", "work"), Not{Compare{Paths: []string{"emails.value"}, Op: Co, Str: "target"}}}}, []string{"u1", "u2"}},
		{"elem pr", Elem{"emails", Compare{Paths: []string{"emails.value"}, Op: Pr}}, []string{"u1", "u2", "u3"}},
		{"elem const true needs an element", Elem{"emails", Const(true)}, []string{"u1", "u2", "u3"}},
		{"elem path outside root", Elem{"emails", eq("username", "alice")}, []string{}},
		{"not elem", Not{Elem{"emails", And{eq("emails.type", "work"), eq("emails.value", "target@x.com")}}}, []string{"u1", "u2", "u4", "u5"}},
		{"nested elem", Elem{"emails", Elem{"emails", eq("emails.type", "home")}}, []string{"u1", "u2"}},
		{"id eq", eq("id", "u3"), []string{"u3"}},
		{"id ne", Compare{Paths: []string{"id"}, Op: Ne, Str: "u3"}, []string{"u1", "u2", "u4", "u5"}},
		{"id sw", Compare{Paths: []string{"id"}, Op: Sw, Str: "u"}, all},
		{"id ew", Compare{Paths: []string{"id"}, Op: Ew, Str: "5"}, []string{"u5"}},
		{"id gt", Compare{Paths: []string{"id"}, Op: Gt, Str: "u3"}, []string{"u4", "u5"}},
		{"id pr", Compare{Paths: []string{"id"}, Op: Pr}, all},
		{"id or username", Compare{Paths: []string{"id", "username"}, Op: Eq, Str: "u2"}, []string{"u2"}},
		{"id numeric never holds", Compare{Paths: []string{"id"}, Op: Eq, Num: num(1)}, []string{}},
		{"created pr", Compare{Paths: []string{"meta.created"}, Op: Pr}, all},
		{"created gt", Compare{Paths: []string{"meta.created"}, Op: Gt, Str: before}, all},
		{"created lt", Compare{Paths: []string{"meta.created"}, Op: Lt, Str: before}, []string{}},
		{"created eq", Compare{Paths: []string{"meta.created"}, Op: Eq, Str: fixture[2].Created.Format(TimeFormat)}, []string{"u3"}},
		{"lastmodified le", Compare{Paths: []string{"meta.lastmodified"}, Op: Le, Str: after}, all},
		{"lastmodified sw", Compare{Paths: []string{"meta.lastmodified"}, Op: Sw, Str: after[:4]}, all},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(ctx, "User", Query{Filter: tc.cond, Count: 100})
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if got := pageIDs(p); !slices.Equal(got, tc.want) || p.Total != len(tc.want) {
				t.Errorf("Query = %v (total %d), want %v", got, p.Total, tc.want)
			}
			var found []string
			if err := s.Write(ctx, func(ctx context.Context, tx Tx) (err error) {
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

func TestQueryInvalidCond(t *testing.T) {
	s := openTest(t)
	tests := []struct {
		name string
		cond Cond
	}{
		{"unknown op", Compare{Paths: []string{"a"}, Op: Op(99), Str: "x"}},
		{"nil term", And{nil}},
		{"nil inside not", Not{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Query(context.Background(), "User", Query{Filter: tc.cond, Count: 1}); !errors.Is(err, errBadCond) {
				t.Errorf("err = %v, want errBadCond", err)
			}
		})
	}
}

func TestQuerySortAndPaging(t *testing.T) {
	s := openTest(t)
	key := func(id string, vals ...string) Resource {
		r := Resource{Type: "User", ID: id, Index: entries("other", "x")}
		for i, v := range vals {
			r.Index = append(r.Index, IndexEntry{Path: "k", Elem: i, Str: v})
		}
		return r
	}
	mustCreate(t, s,
		key("s1", "b"),
		key("s2"),
		key("s3", "a"),
		key("s4", "b"),
		key("s5", "z", "a0"), // sorts by its smallest value
		key("s6"),
	)
	tests := []struct {
		name  string
		q     Query
		want  []string
		total int
	}{
		{"creation order", Query{Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"descending without sortBy is creation order", Query{Count: 10, Descending: true}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"ascending, missing last", Query{SortBy: "k", Count: 10}, []string{"s3", "s5", "s1", "s4", "s2", "s6"}, 6},
		{"descending, missing first", Query{SortBy: "k", Descending: true, Count: 10}, []string{"s2", "s6", "s1", "s4", "s5", "s3"}, 6},
		{"sort by absent path", Query{SortBy: "nope", Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"sort by id descending", Query{SortBy: "id", Descending: true, Count: 10}, []string{"s6", "s5", "s4", "s3", "s2", "s1"}, 6},
		{"sort by created", Query{SortBy: "meta.created", Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"page", Query{SortBy: "k", StartIndex: 2, Count: 2}, []string{"s5", "s1"}, 6},
		{"start index below 1", Query{SortBy: "k", StartIndex: -5, Count: 1}, []string{"s3"}, 6},
		{"last partial page", Query{StartIndex: 5, Count: 10}, []string{"s5", "s6"}, 6},
		{"past the end", Query{StartIndex: 7, Count: 5}, []string{}, 6},
		{"count zero gives only total", Query{Count: 0}, []string{}, 6},
		{"filtered and sorted", Query{Filter: Compare{Paths: []string{"k"}, Op: Pr}, SortBy: "k", Descending: true, Count: 10}, []string{"s1", "s4", "s5", "s3"}, 4},
		{"no match", Query{Filter: Const(false), Count: 10}, []string{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(context.Background(), "User", tc.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if p.Resources == nil {
				t.Error("Resources is nil")
			}
			if got := pageIDs(p); !slices.Equal(got, tc.want) || p.Total != tc.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tc.want, tc.total)
			}
		})
	}

	// Walking the pages of any size yields the full order exactly once.
	for _, desc := range []bool{false, true} {
		full, err := s.Query(context.Background(), "User", Query{SortBy: "k", Descending: desc, Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		for size := 1; size <= 7; size++ {
			var walked []string
			for start := 1; start <= full.Total; start += size {
				p, err := s.Query(context.Background(), "User", Query{SortBy: "k", Descending: desc, StartIndex: start, Count: size})
				if err != nil {
					t.Fatal(err)
				}
				walked = append(walked, pageIDs(p)...)
			}
			if !slices.Equal(walked, pageIDs(full)) {
				t.Errorf("descending=%v page size %d: walked %v, want %v", desc, size, walked, pageIDs(full))
			}
		}
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

func TestQueryHostileLiterals(t *testing.T) {
	s := openTest(t)
	var rs []Resource
	hostile := hostile
	if s.d.utf8Only {
		// The database cannot hold some: each is refused with
		// ErrInvalidText, stored and queried alike, and the others
		// are checked.
		hostile = slices.DeleteFunc(slices.Clone(hostile), func(v string) bool {
			if !strings.ContainsRune(v, 0) && utf8.ValidString(v) {
				return false
			}
			err := s.Write(context.Background(), func(ctx context.Context, tx Tx) error {
				return tx.Create(ctx, &Resource{Type: "User", ID: "bad", Index: entries("v", v)})
			})
			if !errors.Is(err, ErrInvalidText) {
				t.Errorf("create with %q: %v, want ErrInvalidText", v, err)
			}
			_, err = s.Query(context.Background(), "User", Query{Filter: Compare{Paths: []string{"v"}, Op: Eq, Str: v}, Count: 10})
			if !errors.Is(err, ErrInvalidText) {
				t.Errorf("query with %q: %v, want ErrInvalidText", v, err)
			}
			return true
		})
	}
	for i, v := range hostile {
		rs = append(rs, Resource{Type: "User", ID: fmt.Sprintf("h%02d", i), Index: entries("v", v)})
	}
	mustCreate(t, s, rs...)
	ops := []struct {
		op    Op
		match func(v, lit string) bool
	}{
		{Eq, func(v, lit string) bool { return v == lit }},
		{Co, strings.Contains},
		{Sw, strings.HasPrefix},
		{Ew, strings.HasSuffix},
		{Gt, func(v, lit string) bool { return v > lit }},
		{Le, func(v, lit string) bool { return v <= lit }},
		{Ne, func(v, lit string) bool { return v != lit }},
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
				if o.op == Eq && !slices.Equal(want, []string{rs[i].ID}) {
					t.Fatalf("fixture: %q equals %v", lit, want)
				}
				p, err := s.Query(context.Background(), "User", Query{Filter: Compare{Paths: []string{"v"}, Op: o.op, Str: lit}, Count: 100})
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				if got := pageIDs(p); !slices.Equal(got, want) {
					t.Errorf("%q: got %v, want %v", lit, got, want)
				}
			})
		}
	}
	p, err := s.Query(context.Background(), "User", Query{Count: 1})
	if err != nil || p.Total != len(hostile) {
		t.Errorf("after hostile queries: total %d, err %v; want %d", p.Total, err, len(hostile))
	}
}

// TestQueryPlan checks that selective conditions are answered from the
// (type, path, str) index, not by scanning the resources.
func TestQueryPlan(t *testing.T) {
	s := openTest(t)
	tests := []struct {
		name string
		cond Cond
	}{
		{"eq", eq("username", "alice")},
		{"sw", Compare{Paths: []string{"username"}, Op: Sw, Str: "al"}},
		{"eq on several paths", Compare{Paths: []string{"username", "title"}, Op: Eq, Str: "alice"}},
		{"and with not", And{Not{eq("title", "x")}, eq("username", "alice")}},
		{"or", Or{eq("username", "alice"), eq("username", "bob")}},
		{"elem", Elem{"emails", And{eq("emails.type", "work"), eq("emails.value", "a@b")}}},
		{"id", eq("id", "u1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := s.d.where("User", tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			err = s.read(context.Background(), func(ctx context.Context, c *conn) error {
				rows, err := c.c.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT r.id FROM resources r WHERE "+w.sql, w.args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						return err
					}
					plan = append(plan, detail)
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN") {
					t.Errorf("plan scans:\n%s", text)
				}
			}
			// Resources are visited by rid, candidates come from an index
			// lookup: never a walk over all resources of the type.
			if plan[0] != "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)" {
				t.Errorf("resources not looked up by rid:\n%s", text)
			}
			if !strings.Contains(text, "USING INDEX idx_str (type=? AND path=? AND str") &&
				!strings.Contains(text, "sqlite_autoindex_resources_1 (type=? AND id=?)") {
				t.Errorf("plan does not use the index:\n%s", text)
			}
		})
	}
}

// TestLimitKeepsStatementPrepared: a statement whose LIMIT is a bare
// parameter is prepared again by SQLite (since 3.47) every time it is
// bound, with the value compiled in (the planner reads it): parsing and
// planning were half of a userName eq lookup. EXPLAIN shows it: the
// re-prepared program loads the limit as an Integer constant. The store's
// statements with a LIMIT must keep reading it from the parameter.
func TestLimitKeepsStatementPrepared(t *testing.T) {
	s := openTest(t)
	const limit = 7777 // a value no statement holds
	w, err := s.d.where("User", eq("username", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	page, pageArgs := pageSQL(w, true, "", false, limit, 0)
	scan, scanArgs := pageSQL(w, false, "", false, limit, 0)
	sorted, sortedArgs := pageSQL(w, false, "username", true, limit, 0)
	for _, tc := range []struct {
		name string
		sql  string
		args []any
	}{
		{"page (lookup)", page, pageArgs},
		{"page (scan)", scan, scanArgs},
		{"sorted page", sorted, sortedArgs},
		{"changes", changesSQL, []any{0, limit}},
		{"outbox", outboxSQL, []any{"t", 0, limit}},
		{"held", heldSQL, []any{"t", limit}},
		{"deliverable", deliverableSQL, []any{"t", limit}},
		{"audit", "SELECT " + auditCols + " FROM audit" + auditOrderSQL, []any{limit}},
		{"reconciliations", reconSelectSQL + reconOrderSQL, []any{limit}},
		{"reconciliations kept", reconKeepSQL, []any{"t", limit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.read(context.Background(), func(ctx context.Context, c *conn) error {
				rows, err := c.query(ctx, "EXPLAIN "+tc.sql, tc.args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, err := rows.Columns()
				if err != nil {
					return err
				}
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				for rows.Next() {
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					if fmt.Sprint(vals[1]) == "Integer" && fmt.Sprint(vals[2]) == fmt.Sprint(limit) {
						t.Errorf("the program loads the limit %d as a constant: SQLite prepared it again for the bound value:\n%s", limit, tc.sql)
					}
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
