package conformance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// trio is three users with a shared unique userName prefix (t.prefix):
// alpha (title Engineer, work email @example.com), bravo (title Manager, home
// email @example.net) and charlie (no title, work email @example.org).
type trio struct{ a, b, c string }

func (t *checkT) newTrio(ctx context.Context) trio {
	mk := func(label, title, emailType, domain string) string {
		body := t.userBody(label)
		if title != "" {
			body["title"] = title
		}
		body["emails"] = []any{map[string]any{"type": emailType, "value": t.name(label) + "@" + domain}}
		id, _ := t.createUser(ctx, body)
		return id
	}
	return trio{
		a: mk("alpha", "Engineer", "work", "example.com"),
		b: mk("bravo", "Manager", "home", "example.net"),
		c: mk("charlie", "", "work", "example.org"),
	}
}

// filterCase is one filter and the ids it must match exactly.
type filterCase struct {
	filter string
	want   []string
}

func (t *checkT) wantFilters(ctx context.Context, cases []filterCase) {
	for _, c := range cases {
		t.wantMatches(ctx, "/Users", c.filter, c.want...)
	}
}

// checkFilterOperators: every comparison operator of RFC 7644 §3.4.2.2.
func checkFilterOperators(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	p := fmt.Sprintf("userName sw %q and ", t.prefix)
	t.wantFilters(ctx, []filterCase{
		{fmt.Sprintf("userName eq %q", t.name("bravo")), []string{u.b}},
		{p + fmt.Sprintf("userName ne %q", t.name("bravo")), []string{u.a, u.c}},
		{p + `userName co "harli"`, []string{u.c}},
		{fmt.Sprintf("userName sw %q", t.prefix), []string{u.a, u.b, u.c}},
		{p + `userName ew "lpha"`, []string{u.a}},
		{p + "title pr", []string{u.a, u.b}},
		{p + fmt.Sprintf("userName gt %q", t.name("alpha")), []string{u.b, u.c}},
		{p + fmt.Sprintf("userName ge %q", t.name("bravo")), []string{u.b, u.c}},
		{p + fmt.Sprintf("userName lt %q", t.name("bravo")), []string{u.a}},
		{p + fmt.Sprintf("userName le %q", t.name("bravo")), []string{u.a, u.b}},
		{p + `meta.lastModified gt "2000-01-01T00:00:00Z"`, []string{u.a, u.b, u.c}},
		{p + `meta.lastModified lt "2000-01-01T00:00:00Z"`, nil},
	})
}

// checkFilterLogical: and, or, not, parentheses and precedence (and binds
// tighter than or).
func checkFilterLogical(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	p := fmt.Sprintf("userName sw %q and ", t.prefix)
	a, b, c := t.name("alpha"), t.name("bravo"), t.name("charlie")
	t.wantFilters(ctx, []filterCase{
		{p + `title eq "Engineer"`, []string{u.a}},
		{fmt.Sprintf("userName eq %q or userName eq %q", a, c), []string{u.a, u.c}},
		{p + `not (title eq "Engineer")`, []string{u.b, u.c}},
		{p + `(title eq "Engineer" or title eq "Manager")`, []string{u.a, u.b}},
		{fmt.Sprintf(`userName eq %q or userName eq %q and title eq "Engineer"`, a, b), []string{u.a}},
		{fmt.Sprintf(`(userName eq %q or userName eq %q) and title eq "Manager"`, a, b), []string{u.b}},
	})
}

// checkFilterValuePath: valuePath filters and dotted multi-valued
// sub-attributes.
func checkFilterValuePath(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	p := fmt.Sprintf("userName sw %q and ", t.prefix)
	t.wantFilters(ctx, []filterCase{
		{p + `emails[type eq "work" and value ew "@example.com"]`, []string{u.a}},
		{p + `emails[type eq "home"]`, []string{u.b}},
		{p + `emails.type eq "work"`, []string{u.a, u.c}},
		{p + `emails.value ew ".org"`, []string{u.c}},
	})
}

// checkFilterAttrCase: attribute names and operators are case-insensitive.
func checkFilterAttrCase(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	a := t.name("alpha")
	t.wantFilters(ctx, []filterCase{
		{fmt.Sprintf("USERNAME eq %q", a), []string{u.a}},
		{fmt.Sprintf("userName EQ %q", a), []string{u.a}},
		{fmt.Sprintf(`UserName Sw %q and NAME.FAMILYNAME eq "Family" and TITLE eq "Engineer"`, t.prefix), []string{u.a}},
	})
}

// checkFilterValueCase: userName (caseExact false) matches in any case;
// externalId and id (caseExact true) only exactly.
func checkFilterValueCase(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	ext := "Ext-" + t.name("alpha")
	cases := []filterCase{
		{fmt.Sprintf("userName eq %q", strings.ToUpper(t.name("alpha"))), []string{u.a}},
		{fmt.Sprintf("externalId eq %q", ext), []string{u.a}},
		{fmt.Sprintf("externalId eq %q", upperSwap(ext)), nil},
	}
	if sw := upperSwap(u.a); sw != u.a {
		cases = append(cases, filterCase{fmt.Sprintf("id eq %q", sw), nil})
	}
	t.wantFilters(ctx, cases)
}

// checkFilterInvalid: malformed filters → 400 invalidFilter.
func checkFilterInvalid(ctx context.Context, t *checkT) {
	for _, f := range []string{
		`userName eq`,
		`userName xx "a"`,
		`(userName eq "a"`,
		`userName eq "a" and`,
		`userName eq "unterminated`,
	} {
		t.wantError(t.do(ctx, http.MethodGet, withQuery("/Users", "filter", f), nil), http.StatusBadRequest, "invalidFilter")
	}
}

// checkSort: sortBy/sortOrder (RFC 7644 §3.4.2.3).
func checkSort(ctx context.Context, t *checkT) {
	u := t.newTrio(ctx)
	f := fmt.Sprintf("userName sw %q", t.prefix)
	for _, c := range []struct {
		order string
		want  []string
	}{
		{"", []string{u.a, u.b, u.c}},
		{"ascending", []string{u.a, u.b, u.c}},
		{"descending", []string{u.c, u.b, u.a}},
	} {
		q := []string{"sortBy", "userName"}
		if c.order != "" {
			q = append(q, "sortOrder", c.order)
		}
		if got := t.query(ctx, "/Users", f, q...).ids(); !slices.Equal(got, c.want) {
			t.Errorf("filter %s, sortBy=userName, sortOrder=%q: ids %v, want %v", f, c.order, got, c.want)
		}
	}
}

// checkPaging: startIndex/count pages over a filtered set are consistent,
// cover it exactly once, and count=0 returns only totalResults.
func checkPaging(ctx context.Context, t *checkT) {
	var want []string
	for i := range 5 {
		want = append(want, t.newUser(ctx, fmt.Sprintf("page%d", i+1)))
	}
	f := fmt.Sprintf("userName sw %q", t.prefix)
	var seen []string
	for start := 1; start <= 11; start += 2 { // bounded: 5 users, pages of 2
		l := t.query(ctx, "/Users", f, "startIndex", strconv.Itoa(start), "count", "2")
		where := fmt.Sprintf("filter %s, startIndex=%d, count=2", f, start)
		if l.total != len(want) {
			t.Errorf("%s: totalResults %d, want %d", where, l.total, len(want))
		}
		if len(l.resources) > 2 {
			t.Errorf("%s: %d Resources, want at most 2", where, len(l.resources))
		}
		if got := intAt(l.raw, "startIndex"); got != start {
			t.Errorf("%s: startIndex %d in response", where, got)
		}
		if got := intAt(l.raw, "itemsPerPage"); got != len(l.resources) {
			t.Errorf("%s: itemsPerPage %d but %d Resources", where, got, len(l.resources))
		}
		for _, id := range l.ids() {
			if slices.Contains(seen, id) {
				t.Errorf("%s: %s already returned on an earlier page", where, id)
			}
			seen = append(seen, id)
		}
		if len(l.resources) == 0 {
			break
		}
	}
	slices.Sort(seen)
	seen = slices.Compact(seen)
	if !sameSet(seen, want) {
		t.Errorf("pages of 2 returned %v, want the %d users %v", seen, len(want), want)
	}
	if l := t.query(ctx, "/Users", f, "count", "0"); l.total != len(want) || len(l.resources) != 0 {
		t.Errorf("filter %s, count=0: totalResults %d with %d Resources, want %d with none", f, l.total, len(l.resources), len(want))
	}
	if l := t.query(ctx, "/Users", f, "startIndex", "100", "count", "2"); l.total != len(want) || len(l.resources) != 0 {
		t.Errorf("filter %s, startIndex=100: totalResults %d with %d Resources, want %d with none", f, l.total, len(l.resources), len(want))
	}
}

// checkAttributes: attributes= returns the requested attributes plus the
// "always" ones (id; schemas and meta tolerated) and nothing else.
func checkAttributes(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "attrs")
	r := t.do(ctx, http.MethodGet, withQuery(userPath(id), "attributes", "userName"), nil)
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	t.wantOnly(r.path, o, []string{"id", "userName"}, "schemas", "meta")

	r = t.do(ctx, http.MethodGet, withQuery(userPath(id), "attributes", "name.givenName"), nil)
	t.wantStatus(r, http.StatusOK)
	o = t.object(r)
	t.wantOnly(r.path, o, []string{"id", "name"}, "schemas", "meta")
	if name, _ := get(o, "name").(map[string]any); str(name, "givenName") != "Given" || has(name, "familyName") {
		t.Errorf("%s: name is %s, want only givenName", r.path, snippetOf(get(o, "name")))
	}

	if t.env.caps.supported[filter] {
		l := t.query(ctx, "/Users", fmt.Sprintf("userName eq %q", t.name("attrs")), "attributes", "userName,emails")
		if len(l.resources) != 1 {
			t.Fatalf("filter userName eq %q: %d Resources, want 1", t.name("attrs"), len(l.resources))
		}
		t.wantOnly("filter with attributes=userName,emails", l.resources[0], []string{"id", "userName", "emails"}, "schemas", "meta")
	}
}

// wantOnly records a failure unless o has every attribute of want and no
// attribute outside want and tolerated (names compared case-insensitively).
func (t *checkT) wantOnly(what string, o map[string]any, want []string, tolerated ...string) {
	for _, k := range want {
		if !has(o, k) {
			t.Errorf("%s: %s missing: %s", what, k, snippetOf(o))
		}
	}
	allowed := append(slices.Clone(want), tolerated...)
	for _, k := range keys(o) {
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) }) {
			t.Errorf("%s: unrequested attribute %s returned", what, k)
		}
	}
}

// checkExcludedAttributes: excludedAttributes= drops those attributes but
// never "always" ones such as id.
func checkExcludedAttributes(ctx context.Context, t *checkT) {
	id := t.newUser(ctx, "excl")
	r := t.do(ctx, http.MethodGet, withQuery(userPath(id), "excludedAttributes", "name,emails"), nil)
	t.wantStatus(r, http.StatusOK)
	o := t.object(r)
	for _, k := range []string{"name", "emails"} {
		if _, ok := lookup(o, k); ok {
			t.Errorf("%s: excluded %s returned anyway", r.path, k)
		}
	}
	for _, k := range []string{"id", "userName", "displayName"} {
		if !has(o, k) {
			t.Errorf("%s: %s missing", r.path, k)
		}
	}
	r = t.do(ctx, http.MethodGet, withQuery(userPath(id), "excludedAttributes", "id"), nil)
	t.wantStatus(r, http.StatusOK)
	if str(t.object(r), "id") != id {
		t.Errorf("%s: id is returned \"always\" and cannot be excluded: %s", r.path, snippet(r.body))
	}
}

// checkSearchUsers: POST /Users/.search with a SearchRequest answers like GET.
func checkSearchUsers(ctx context.Context, t *checkT) {
	t.search(ctx, "/Users/.search")
}

// checkSearchRoot: POST /.search at the service root (RFC 7644 §3.4.3). The
// filter names userName, which Groups lack: "For filtered attributes that
// are not part of a particular resource type, the service provider SHALL
// treat the attribute as if there is no attribute value" (§3.4.2.2), so it
// matches no group rather than failing the query.
func checkSearchRoot(ctx context.Context, t *checkT) {
	t.search(ctx, "/.search")
}

func (t *checkT) search(ctx context.Context, path string) {
	id := t.newUser(ctx, "search")
	t.newUser(ctx, "search-other")
	f := fmt.Sprintf("userName eq %q", t.name("search"))
	l := t.wantList(t.do(ctx, http.MethodPost, path, map[string]any{
		"schemas":    []any{urnSearch},
		"filter":     f,
		"startIndex": 1,
		"count":      10,
		"attributes": []any{"userName"},
	}))
	if !slices.Equal(l.ids(), []string{id}) || l.total != 1 {
		t.Fatalf("POST %s filter %s: totalResults %d, ids %v; want [%s]", path, f, l.total, l.ids(), id)
	}
	t.wantOnly("POST "+path+" with attributes [userName]", l.resources[0], []string{"id", "userName"}, "schemas", "meta")
}
