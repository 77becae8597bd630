package scim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimgate/scimgate/internal/store"
)

// fuzzSeeds are filters Entra ID sends and the examples of RFC 7644 §3.4.2.2.
var fuzzSeeds = []string{
	`userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"`,
	`externalId eq jyoung`,
	`emails[type eq "work"].value eq "user@contoso.com"`,
	`displayName eq "displayName"`,
	`id eq "5d48a0a8e9f04aa38008" and members eq "f648f8d5ea4e4cd38e9c"`,
	`id eq "5d48a0a8e9f04aa38008" and manager eq "26118915-6090-4610-87a4-1d2b6f4a7cf8"`,
	`userName eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`,
	`active eq "False"`,
	`roles[primary eq "True"]`,
	`userName Eq "john"`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "O'Malley"`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`meta.lastModified ge "2011-05-13T04:42:34Z"`,
	`meta.lastModified lt "2011-05-13T04:42:34Z"`,
	`meta.lastModified le "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`title pr or userType eq "Intern"`,
	`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`userType eq "Employee" and (emails.type eq "work")`,
	`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`,
	`level gt 3 and score le 2.5e0 and hired lt "2020-01-01T00:00:00+01:00" and tags eq "a\"b\u00e9"`,
	`emails[not (type eq "work")].value ew "\\"`,
	`title eq null or title ne null`,
	`title pr or userName eq "a" and displayName eq "b" or not (nickName pr and locale pr) AND emails[type eq "work"]`,
	`(title pr or (userName sw "a")) and not(emails[value co "x" or type eq "home"].display pr)`,
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	rt := testUserType()
	resources := matchResources()
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := rt.ParseFilter(s)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || !errors.Is(err, ErrInvalidFilter) || me.Detail == "" {
				t.Fatalf("ParseFilter(%q) error %#v is not an ErrInvalidFilter with a detail", s, err)
			}
			return
		}
		if err := checkCond(flt.Cond(), ""); err != nil {
			t.Fatalf("ParseFilter(%q).Cond() = %#v: %v", s, flt.Cond(), err)
		}
		if n := compares(flt.Cond()); n > maxComparisons || len(s) > maxFilterBytes {
			t.Fatalf("ParseFilter accepted a filter of %d bytes with %d comparisons, past the limits", len(s), n)
		}
		checkStructure(t, rt, s)
		for _, res := range resources {
			flt.Match(res)
		}
	})
}

// checkStructure is the oracle for how the parser groups a filter it
// accepts: github.com/scim2/filter-parser, given the same filter with each
// comparison (valuePaths whole) replaced by "a<i> pr", must see the same
// and/or/not structure. (filter-parser cannot read the filter itself: it
// has no JSON escapes, unquoted values, valuePath.sub comparisons or URNs
// in any case.)
func checkStructure(t *testing.T, rt *ResourceType, s string) {
	t.Helper()
	var spans [][2]int
	c, err := parseFilter(rt, s, func(start, end int) store.Cond {
		spans = append(spans, [2]int{start, end})
		return store.Compare{Paths: []string{"a" + strconv.Itoa(len(spans)-1)}, Op: store.Pr}
	})
	if err != nil {
		t.Fatalf("parseFilter(%q) with marks: %v", s, err)
	}
	// Between comparisons there are only parentheses, and, or and not.
	var b strings.Builder
	keywords := func(seg string) {
		toks, err := lex(seg)
		if err != nil {
			t.Fatalf("lex(%q) between the comparisons of %q: %v", seg, s, err)
		}
		for _, tok := range toks {
			b.WriteString(" " + strings.ToLower(tok.text))
		}
	}
	prev := 0
	for i, sp := range spans {
		keywords(s[prev:sp[0]])
		fmt.Fprintf(&b, " a%d pr", i)
		prev = sp[1]
	}
	keywords(s[prev:])
	canon := strings.TrimSpace(b.String())
	expr, err := filter.ParseFilter([]byte(canon))
	if err != nil {
		t.Fatalf("ParseFilter(%q) accepted; filter-parser rejects its structure %q: %v", s, canon, err)
	}
	if got, want := condShape(c), exprShape(expr); got != want {
		t.Fatalf("ParseFilter(%q) groups as %s; filter-parser reads %q as %s", s, got, canon, want)
	}
}

// compares counts the Compare nodes of c.
func compares(c store.Cond) int {
	n := 0
	switch c := c.(type) {
	case store.And:
		for _, t := range c {
			n += compares(t)
		}
	case store.Or:
		for _, t := range c {
			n += compares(t)
		}
	case store.Not:
		n = compares(c.C)
	case store.Elem:
		n = compares(c.C)
	case store.Compare:
		n = 1
	}
	return n
}

// condShape renders the and/or/not structure of a condition of marks.
func condShape(c store.Cond) string {
	terms := func(op string, ts []store.Cond) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = condShape(t)
		}
		return op + "(" + strings.Join(parts, ",") + ")"
	}
	switch c := c.(type) {
	case store.And:
		return terms("and", c)
	case store.Or:
		return terms("or", c)
	case store.Not:
		return "not(" + condShape(c.C) + ")"
	case store.Compare:
		return strings.Join(c.Paths, "|")
	}
	return fmt.Sprintf("%#v", c)
}

// exprShape renders a filter-parser expression like condShape, with
// nested ands (ors) flattened as the parser flattens them.
func exprShape(e filter.Expression) string {
	var flat func(e filter.Expression, op filter.LogicalOperator) []string
	flat = func(e filter.Expression, op filter.LogicalOperator) []string {
		if l, ok := e.(*filter.LogicalExpression); ok && l.Operator == op {
			return append(flat(l.Left, op), flat(l.Right, op)...)
		}
		return []string{exprShape(e)}
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return string(e.Operator) + "(" + strings.Join(flat(e, e.Operator), ",") + ")"
	case *filter.NotExpression:
		return "not(" + exprShape(e.Expression) + ")"
	case *filter.AttributeExpression:
		return e.AttributePath.AttributeName
	}
	return fmt.Sprintf("%#v", e)
}

func FuzzParsePatchPath(f *testing.F) {
	for _, s := range []string{
		"userName", "name.familyName", `emails[type eq "work"].value`, `members[value eq "x"]`,
		`addresses[type eq "work"].streetAddress`, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		`roles[primary eq "True"].value`, "urn:ietf:params:scim:schemas:extension:Test:2.0:User:code",
	} {
		f.Add(s)
	}
	rt := testUserType()
	f.Fuzz(func(t *testing.T, s string) {
		p, err := rt.ParsePatchPath(s)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || !errors.Is(err, ErrInvalidPath) || me.Detail == "" {
				t.Fatalf("ParsePatchPath(%q) error %#v is not an ErrInvalidPath with a detail", s, err)
			}
			return
		}
		if p.Elems != nil {
			if err := checkCond(p.Elems.cond, p.Attr.Def.Name()); err != nil {
				t.Fatalf("ParsePatchPath(%q) element filter %#v: %v", s, p.Elems.cond, err)
			}
			p.Elems.Match(map[string]any{"value": "x", "type": "work", "primary": true})
		}
	})
}

// checkCond checks that c is a well-formed store condition: no nil terms,
// known operators, Num only with comparisons, paths that are lower-case and,
// inside an Elem (root != ""), under its root.
func checkCond(c store.Cond, root string) error {
	switch c := c.(type) {
	case store.Const:
		return nil
	case store.And:
		return checkTerms(c, root)
	case store.Or:
		return checkTerms(c, root)
	case store.Not:
		return checkCond(c.C, root)
	case store.Elem:
		if root != "" {
			return errors.New("nested Elem")
		}
		return checkCond(c.C, c.Root)
	case store.Compare:
		if len(c.Paths) == 0 || c.Op < store.Eq || c.Op > store.Pr {
			return errors.New("bad Compare")
		}
		if c.Num != nil && (c.Op == store.Co || c.Op == store.Sw || c.Op == store.Ew || c.Op == store.Pr) {
			return errors.New("numeric Compare with a string operator")
		}
		for _, p := range c.Paths {
			if p != strings.ToLower(p) {
				return errors.New("path not lower-case: " + p)
			}
			if root != "" && !strings.HasPrefix(p, strings.ToLower(root)+".") {
				return errors.New("path " + p + " not under " + root)
			}
		}
		return nil
	}
	return errors.New("unknown or nil condition")
}

func checkTerms(terms []store.Cond, root string) error {
	if len(terms) < 2 {
		return errors.New("And/Or with fewer than two terms")
	}
	for _, t := range terms {
		if err := checkCond(t, root); err != nil {
			return err
		}
	}
	return nil
}
