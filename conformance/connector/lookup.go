package connector

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// The checks of Lookup (targets.Finder, Capabilities.Lookup), the lookup
// of existing accounts by an attribute that matching and reconciliation
// use. The values looked up carry the check's tag, so that other objects
// of a shared target never match them.

// connLookupLiteral are values with characters that query languages treat
// specially: Lookup must match each literally, as data. Those marked
// mayRefuse may be refused by Create (a PostgreSQL text column cannot hold
// NUL); Lookup of them must still succeed.
var connLookupLiteral = []struct {
	name      string
	value     string
	mayRefuse bool
}{
	{"quotes", `O'Brien "the" ‘curly’ ` + "`tick`", false},
	{"star", `*`, false},
	{"star suffix", `a*`, false},
	{"parentheses", `(a) )(`, false},
	{"filter injection", `*)(objectClass=*`, false},
	{"backslashes", `C:\temp \2a \\ \00`, false},
	{"sql injection", `x' OR '1'='1`, false},
	{"sql like", `100% _under_ [a]`, false},
	{"nul", "before\x00after", true},
	{"unicode", "Zoë Ångström Łódź 日本語 👩🏽‍💻", false},
}

// connLookup: Lookup finds objects by their naming attribute, another
// attribute and one value of a multi-valued attribute, as Get returns them;
// no match is an empty list; several matches are all returned up to the
// limit; values match literally; an unknown attribute or a value that is
// not one value is ErrPermanent; a cancelled context is not.
func connLookup(t *connT) {
	t.finder()
	s := t.o.schema
	t.run("ByName", func(t *connT) {
		u := t.newUser("u", map[string]any{s.Text: t.name("text-u")})
		t.newUser("v", map[string]any{s.Text: t.name("text-v")})
		t.wantFound("Lookup by the user name", t.lookup("", targets.User, s.UserName, t.name("u"), 0), u)
		t.wantFound("Lookup by the user name, limit 2", t.lookup("", targets.User, s.UserName, t.name("u"), 2), u)
		if s.Text != s.UserName {
			t.wantFound("Lookup by "+s.Text, t.lookup("", targets.User, s.Text, t.name("text-u"), 0), u)
		}
		if t.caps.Disable {
			t.wantClass("Disable", t.c.Disable(t.Context(), t.next(u, nil)), nil)
			objs := t.lookup("after Disable", targets.User, s.UserName, t.name("u"), 0)
			t.wantFound("Lookup of a disabled user", objs, u)
			if len(objs) == 1 && !objs[0].Disabled {
				t.Errorf("Lookup of a disabled user: Disabled = false")
			}
		}
	})
	t.run("MultiValued", func(t *connT) {
		multi := ""
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			if _, ok := s.Values[k].([]string); ok {
				multi = k
				break
			}
		}
		if multi == "" {
			t.Skipf("SKIPPED: the schema's Values have no multi-valued ([]string) attribute")
		}
		m1, m2 := t.name("m1")+"@example.com", t.name("m2")+"@example.org"
		u := t.newUser("u", map[string]any{multi: []string{m1, m2}})
		t.wantFound("Lookup by the first value of "+multi, t.lookup("", targets.User, multi, m1, 0), u)
		t.wantFound("Lookup by the second value of "+multi, t.lookup("", targets.User, multi, m2, 0), u)
		t.wantFound("Lookup by a value "+multi+" does not hold", t.lookup("", targets.User, multi, t.name("m3")+"@example.com", 0))
		t.wantClass("Update", t.c.Update(t.Context(), t.next(u, map[string]any{multi: []string{m2}})), nil)
		t.wantFound("Lookup by a value removed from "+multi, t.lookup("", targets.User, multi, m1, 0))
		t.wantFound("Lookup by the value kept in "+multi, t.lookup("", targets.User, multi, m2, 0), u)
	})
	t.run("NoMatch", func(t *connT) {
		t.newUser("u", map[string]any{s.Text: t.name("text")})
		t.wantFound("Lookup of a user name nobody has", t.lookup("", targets.User, s.UserName, t.name("nobody"), 0))
		t.wantFound("Lookup of a "+s.Text+" nobody has", t.lookup("", targets.User, s.Text, t.name("nothing"), 0))
	})
	t.run("Several", func(t *connT) {
		a := t.newUser("a", map[string]any{s.Text: t.name("shared")})
		b := t.newUser("b", map[string]any{s.Text: t.name("shared")})
		t.newUser("c", map[string]any{s.Text: t.name("other")})
		t.wantFound("Lookup of a shared value, limit 2", t.lookup("", targets.User, s.Text, t.name("shared"), 2), a, b)
		t.wantFound("Lookup of a shared value, limit 3", t.lookup("", targets.User, s.Text, t.name("shared"), 3), a, b)
		t.wantFound("Lookup of a shared value, the default limit", t.lookup("", targets.User, s.Text, t.name("shared"), 0), a, b)
		objs := t.lookup("limit 1", targets.User, s.Text, t.name("shared"), 1)
		switch {
		case len(objs) != 1:
			t.Errorf("Lookup of a value two users share, limit 1: %d objects, want 1", len(objs))
		case objs[0].Anchor == a.Anchor:
			t.wantFound("Lookup limit 1", objs, a)
		default:
			t.wantFound("Lookup limit 1", objs, b)
		}
	})
	t.run("RenameAndDelete", func(t *connT) {
		u := t.newUser("u", nil)
		t.wantClass("rename", t.c.Update(t.Context(), t.next(u, map[string]any{s.UserName: t.name("renamed")})), nil)
		t.wantFound("Lookup of the old name after a rename", t.lookup("", targets.User, s.UserName, t.name("u"), 0))
		t.wantFound("Lookup of the new name after a rename", t.lookup("", targets.User, s.UserName, t.name("renamed"), 0), u)
		t.wantClass("Delete", t.c.Delete(t.Context(), t.next(u, nil)), nil)
		t.wantFound("Lookup after Delete", t.lookup("", targets.User, s.UserName, t.name("renamed"), 0))
	})
	t.run("Groups", func(t *connT) {
		t.requireGroups()
		u := t.newUser("u", nil)
		g := t.newGroup("g")
		add := t.next(g, nil)
		add.Members = []string{u.Anchor}
		t.wantClass("AddMembers", t.c.AddMembers(t.Context(), add), nil)
		t.wantFound("Lookup of the group by its name", t.lookup("", targets.Group, s.GroupName, t.name("g"), 0), g)
		t.wantFound("Lookup of a group name nobody has", t.lookup("", targets.Group, s.GroupName, t.name("nobody"), 0))
		// A group is not a user: a user Lookup by the group's name finds
		// none (or refuses an attribute that users do not have).
		objs, err := t.finder().Lookup(t.Context(), targets.User, s.GroupName, t.name("g"), 0)
		if err != nil && targets.Class(err) != targets.ErrPermanent {
			t.Errorf("Lookup of users by %s: %v, want success or ErrPermanent", s.GroupName, err)
		}
		if t.has(objs, g) {
			t.Errorf("Lookup of users by %s returned the group %s", s.GroupName, g.Anchor)
		}
	})
	t.run("Literal", func(t *connT) {
		attrs := []string{s.Text}
		if !s.PlainNames && s.UserName != s.Text {
			attrs = append(attrs, s.UserName)
		}
		var ours []targets.Op // every user of the subtests, for the probes
		var nul string        // the NUL value, when the target holds it
		for _, attr := range attrs {
			for i, l := range connLookupLiteral {
				t.run(attr+"/"+l.name, func(t *connT) {
					value := t.name(fmt.Sprint(attr, i)) + " " + l.value
					extra := map[string]any{attr: value}
					name := t.name(fmt.Sprint("u", attr, i))
					if attr == s.UserName {
						name = value
						extra = nil
					}
					op := t.op(targets.User, t.attrs(targets.User, name, extra))
					anchor, err := t.c.Create(t.Context(), op)
					if err != nil {
						if l.mayRefuse && targets.Class(err) == targets.ErrPermanent {
							t.Logf("the connector refuses %s: %v", l.name, err)
							t.wantFound("Lookup of a value the target refused", t.lookup("", targets.User, attr, value, 0))
							return
						}
						t.Fatalf("Create with %s %q: %v", attr, value, err)
					}
					// The probes run after every subtest: delete at the end
					// of the Literal check.
					op.Anchor = anchor
					ours = append(ours, op)
					if l.name == "nul" && attr == s.Text {
						nul = t.name(fmt.Sprint(attr, i)) + " before"
					}
					t.wantFound("Lookup of "+attr+" "+fmt.Sprintf("%q", value), t.lookup("", targets.User, attr, value, 0), op)
				})
			}
		}
		for _, op := range ours {
			t.deleteLater(op, op.Anchor)
		}
		// Probes that a query built by concatenation, or a pattern match,
		// would answer with the users above: they must find none of them.
		probes := []string{"*", t.name("") + "*", t.name("") + "%", "*)(objectClass=*", `x' OR '1'='1`, "' OR ''='"}
		if nul != "" {
			probes = append(probes, nul) // NUL cut short: a C string
		}
		for _, attr := range attrs {
			for _, p := range probes {
				objs := t.lookup("probe", targets.User, attr, p, 0)
				for _, op := range ours {
					if t.has(objs, op) {
						t.Errorf("Lookup of %s %q returned the user whose %s is %q: not matched literally", attr, p, attr, op.Attrs[attr])
					}
				}
			}
		}
	})
	t.run("UnknownAttribute", func(t *connT) {
		t.newUser("u", nil)
		_, err := t.finder().Lookup(t.Context(), targets.User, "", t.name("u"), 0)
		t.wantClass("Lookup by an attribute with an empty name", err, targets.ErrPermanent)
		if s.Unmanaged == "" {
			t.Logf("the schema names no Unmanaged attribute: the connector accepts any; only the empty name checked")
			return
		}
		_, err = t.finder().Lookup(t.Context(), targets.User, s.Unmanaged, t.name("u"), 0)
		t.wantClass("Lookup by "+s.Unmanaged+", an attribute the connector does not manage", err, targets.ErrPermanent)
	})
	t.run("NotOneValue", func(t *connT) {
		u := t.newUser("u", nil)
		for _, v := range []any{nil, []string{t.name("u")}, 5, map[string]any{"value": t.name("u")}} {
			objs, err := t.finder().Lookup(t.Context(), targets.User, s.UserName, v, 0)
			t.wantClass(fmt.Sprintf("Lookup of a %T value", v), err, targets.ErrPermanent)
			if t.has(objs, u) {
				t.Errorf("Lookup of a %T value returned the user", v)
			}
		}
	})
	t.run("CancelledContext", func(t *connT) {
		u := t.newUser("u", nil)
		start := time.Now()
		objs, err := t.finder().Lookup(t.cancelled(), targets.User, s.UserName, t.name("u"), 0)
		t.wantPromptFailure("Lookup", start, err)
		if t.has(objs, u) {
			t.Errorf("a Lookup with a cancelled context returned the user")
		}
	})
}

// finder returns the connector as a targets.Finder: it skips the check
// when the connector declares no lookup, and fails it when the connector
// declares lookup but is no Finder.
func (t *connT) finder() targets.Finder {
	t.Helper()
	if !t.caps.Lookup {
		t.Skipf("SKIPPED: the connector declares no lookup capability (Capabilities.Lookup=false); lookup checks not run")
	}
	f, ok := t.c.(targets.Finder)
	if !ok {
		t.Fatalf("the connector declares Capabilities.Lookup, but %T does not implement targets.Finder", t.c)
	}
	return f
}

// lookup calls Lookup, failing the check when it fails, and checks the
// answer's form: objects of the kind, each once, at most limit of them.
func (t *connT) lookup(what string, kind targets.Kind, attr string, value any, limit int) []targets.Object {
	t.Helper()
	desc := fmt.Sprintf("Lookup %s %s=%q (limit %d)", kind, attr, value, limit)
	if what != "" {
		desc = what + ": " + desc
	}
	objs, err := t.finder().Lookup(t.Context(), kind, attr, value, limit)
	if err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	if limit > 0 && len(objs) > limit {
		t.Errorf("%s: %d objects, more than the limit", desc, len(objs))
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if o.Kind != kind {
			t.Errorf("%s: returned the %s %s", desc, o.Kind, o.Anchor)
		}
		if seen[o.Anchor] {
			t.Errorf("%s: returned %s twice", desc, o.Anchor)
		}
		seen[o.Anchor] = true
	}
	return objs
}

// has reports whether objs holds op's object.
func (t *connT) has(objs []targets.Object, op targets.Op) bool {
	return slices.ContainsFunc(objs, func(o targets.Object) bool { return o.Anchor == op.Anchor })
}

// wantFound checks that Lookup found exactly the objects of want, each as
// Get returns it: object id, attributes, disabled state and members.
func (t *connT) wantFound(what string, objs []targets.Object, want ...targets.Op) {
	t.Helper()
	var got, wanted []string
	for _, o := range objs {
		got = append(got, o.Anchor)
	}
	for _, op := range want {
		wanted = append(wanted, op.Anchor)
	}
	slices.Sort(got)
	slices.Sort(wanted)
	if !slices.Equal(got, wanted) {
		t.Errorf("%s: found %q, want %q", what, got, wanted)
	}
	for _, o := range objs {
		if !slices.Contains(wanted, o.Anchor) {
			continue
		}
		g := t.get(what, o.Kind, o.Anchor)
		if o.ObjectID != g.ObjectID {
			t.Errorf("%s: %s has object id %q, Get says %q", what, o.Anchor, o.ObjectID, g.ObjectID)
		}
		if o.Disabled != g.Disabled {
			t.Errorf("%s: %s has Disabled %v, Get says %v", what, o.Anchor, o.Disabled, g.Disabled)
		}
		t.wantAttrs(what+": "+o.Anchor, o, g.Attrs)
		for k := range o.Attrs {
			if _, ok := g.Attrs[k]; !ok {
				t.Errorf("%s: %s has attribute %q, which Get does not return", what, o.Anchor, k)
			}
		}
		gm, om := slices.Sorted(slices.Values(g.Members)), slices.Sorted(slices.Values(o.Members))
		if !slices.Equal(gm, om) {
			t.Errorf("%s: %s has members %q, Get says %q", what, o.Anchor, om, gm)
		}
	}
}
