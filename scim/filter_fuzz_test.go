package scim

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	scimerr "github.com/elimity-com/scim/errors"
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
			var se scimerr.ScimError
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.ScimType != scimerr.ScimTypeInvalidFilter || se.Detail == "" {
				t.Fatalf("ParseFilter(%q) error %#v is not a 400 invalidFilter with a detail", s, err)
			}
			if strings.Contains(se.Detail, "not understood") {
				t.Fatalf("ParseFilter(%q): the lexer accepted what filter-parser rejects: %s", s, se.Detail)
			}
			return
		}
		if err := checkCond(flt.Cond(), ""); err != nil {
			t.Fatalf("ParseFilter(%q).Cond() = %#v: %v", s, flt.Cond(), err)
		}
		for _, res := range resources {
			flt.Match(res)
		}
	})
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
			var se scimerr.ScimError
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.ScimType != scimerr.ScimTypeInvalidPath || se.Detail == "" {
				t.Fatalf("ParsePatchPath(%q) error %#v is not a 400 invalidPath with a detail", s, err)
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
