package connector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/targets"
)

// connChecks are the checks of Run, in order.
var connChecks = []connCheck{
	{"CreateGet", connCreateGet},
	{"CreateRepeat", connCreateRepeat},
	{"CreateConflict", connCreateConflict},
	{"Update", connUpdate},
	{"UpdateRepeat", connUpdateRepeat},
	{"UpdateMissing", connUpdateMissing},
	{"UpdateRebindsObjectID", connUpdateRebind},
	{"Rename", connRename},
	{"Delete", connDelete},
	{"DeleteRepeat", connDeleteRepeat},
	{"DeleteMissing", connDeleteMissing},
	{"DisableEnable", connDisableEnable},
	{"Groups", connGroups},
	{"Members", connMembers},
	{"HostileValues", connHostileValues},
	{"SimilarNames", connSimilarNames},
	{"ListPagination", connListPagination},
	{"Concurrent", connConcurrent},
	{"CancelledContext", connCancelled},
	{"Unsupported", connUnsupported},
	{"NoAliasing", connNoAliasing},
	{"Lookup", connLookup},
}

// connCreateGet: a created user reads back with every attribute, through Get
// and List.
func connCreateGet(t *connT) {
	want := t.attrs(targets.User, t.name("u"), t.o.schema.Values)
	op := t.create(t.op(targets.User, want))
	o := t.get("Get after Create", targets.User, op.Anchor)
	if o.ObjectID != "" && o.ObjectID != op.ObjectID {
		t.Errorf("Get after Create: object id %q, want %q (or none when the target records none)", o.ObjectID, op.ObjectID)
	}
	if o.Disabled {
		t.Errorf("Get after Create: a new user is disabled")
	}
	t.wantAttrs("Get after Create", o, want)
	switch l := t.find(t.list("List after Create", targets.User, 0), op.Anchor, "", ""); len(l) {
	case 1:
		t.wantAttrs("List after Create", l[0], want)
		if l[0].ObjectID != o.ObjectID {
			t.Errorf("List after Create: object id %q, Get says %q", l[0].ObjectID, o.ObjectID)
		}
	default:
		t.Errorf("List after Create: the user is listed %d times, want once", len(l))
	}
	if t.caps.Groups {
		_, err := t.c.Get(t.Context(), targets.Group, op.Anchor)
		t.wantClass("Get of a user's anchor as a Group", err, targets.ErrNotFound)
	}
}

// connCreateRepeat: a Create repeated (same operation, or a new operation
// for the same object) returns a conflict with the first anchor and creates
// nothing.
func connCreateRepeat(t *connT) {
	op := t.newUser("u", nil)
	again := op
	again.Anchor = ""
	for _, c := range []struct {
		what string
		op   targets.Op
	}{
		{"Create repeated with the same operation id", again},
		{"Create repeated with the same operation id, twice", again},
		{"Create of the same object with a new operation id", t.next(again, again.Attrs)},
	} {
		c.op.Anchor = ""
		anchor, err := t.c.Create(t.Context(), c.op)
		if anchor != "" && anchor != op.Anchor {
			t.deleteLater(c.op, anchor)
		}
		t.wantConflict(c.what, err, op.Anchor, op.ObjectID)
	}
	if n := len(t.find(t.list("List", targets.User, 0), "", op.ObjectID, t.name("u"))); n != 1 {
		t.Errorf("after repeated Creates the target holds %d users for the object, want 1", n)
	}
}

// connCreateConflict: creating a second user with a taken name is a
// conflict naming the holder, and changes nothing.
func connCreateConflict(t *connT) {
	s := t.o.schema
	first := t.newUser("u", nil)
	second := t.op(targets.User, t.attrs(targets.User, t.name("u"), map[string]any{s.Text: "second"}))
	anchor, err := t.c.Create(t.Context(), second)
	if anchor != "" {
		t.deleteLater(second, anchor)
	}
	t.wantConflict("Create of a second user with a taken name", err, first.Anchor, first.ObjectID)
	if o := t.get("Get after the conflict", targets.User, first.Anchor); o.Attrs[s.Text] == "second" {
		t.Errorf("a conflicting Create changed the existing user")
	}
	if n := len(t.find(t.list("List", targets.User, 0), "", "", t.name("u"))); n != 1 {
		t.Errorf("%d users named %q, want 1", n, t.name("u"))
	}
}

// connUpdate: Update sets the attributes given, clears those given as nil
// or as an empty []string, and leaves the others alone.
func connUpdate(t *connT) {
	s := t.o.schema
	extra := maps.Clone(s.Values)
	extra[s.Text] = "before"
	op := t.newUser("u", extra)
	update := func(what string, attrs, want map[string]any) {
		t.Helper()
		if err := t.c.Update(t.Context(), t.next(op, attrs)); err != nil {
			t.Fatalf("%s: Update: %v", what, err)
		}
		t.wantAttrs(what, t.get(what, targets.User, op.Anchor), want)
	}
	want := maps.Clone(op.Attrs)
	want[s.Text] = "after"
	update("Update of one attribute", map[string]any{s.Text: "after"}, want)

	clear := make(map[string]any)
	for k := range s.Values {
		clear[k] = nil
	}
	cleared := maps.Clone(want)
	maps.Copy(cleared, clear)
	update("Update clearing attributes with nil", clear, cleared)
	update("Update setting them again", s.Values, want)

	empty := make(map[string]any)
	for k, v := range s.Values {
		if _, ok := v.([]string); ok {
			empty[k], want[k] = []string{}, nil
		}
	}
	if len(empty) > 0 {
		update("Update clearing multi-valued attributes with []string{}", empty, want)
	}
	update("Update without attributes", nil, want)
}

// connUpdateRepeat: an Update repeated with the same operation succeeds and
// leaves the same state.
func connUpdateRepeat(t *connT) {
	s := t.o.schema
	op := t.newUser("u", map[string]any{s.Text: "v1"})
	u := t.next(op, map[string]any{s.Text: "v2"})
	for _, what := range []string{"Update", "Update repeated"} {
		t.wantClass(what, t.c.Update(t.Context(), u), nil)
		t.wantAttrs(what, t.get(what, targets.User, op.Anchor), map[string]any{s.Text: "v2", s.UserName: t.name("u")})
	}
}

// connUpdateMissing: an Update of a deleted object is ErrNotFound.
func connUpdateMissing(t *connT) {
	op := t.newUser("u", nil)
	if err := t.c.Delete(t.Context(), t.next(op, nil)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	err := t.c.Update(t.Context(), t.next(op, map[string]any{t.o.schema.Text: "x"}))
	t.wantClass("Update of a deleted user", err, targets.ErrNotFound)
}

// connUpdateRebind: an Update with another object id (adoption) records it
// in a target that records object ids.
func connUpdateRebind(t *connT) {
	op := t.newUser("u", nil)
	recorded := t.get("Get after Create", targets.User, op.Anchor).ObjectID != ""
	u := t.next(op, map[string]any{t.o.schema.Text: "adopted"})
	u.ObjectID = uuid.NewString()
	if err := t.c.Update(t.Context(), u); err != nil {
		t.Fatalf("Update with a new object id: %v", err)
	}
	got := t.get("Get after the Update", targets.User, op.Anchor).ObjectID
	if !recorded {
		if got != "" && got != u.ObjectID {
			t.Errorf("object id %q after an Update with object id %q", got, u.ObjectID)
		}
		t.Logf("the target records no object ids; nothing more to check")
		return
	}
	if got != u.ObjectID {
		t.Fatalf("object id %q after an Update with object id %q, want the new one recorded", got, u.ObjectID)
	}
	other := t.op(targets.User, t.attrs(targets.User, t.name("other"), nil))
	other.ObjectID = u.ObjectID
	anchor, err := t.c.Create(t.Context(), other)
	if anchor != "" {
		t.deleteLater(other, anchor)
	}
	t.wantConflict("Create for the object id that an Update recorded", err, op.Anchor, u.ObjectID)
}

// connRename: a rename keeps the anchor, frees the old name, and refuses a
// taken name.
func connRename(t *connT) {
	s := t.o.schema
	a := t.newUser("a", nil)
	before := t.get("Get", targets.User, a.Anchor)
	r := t.next(a, map[string]any{s.UserName: t.name("renamed")})
	t.wantClass("Update renaming the user", t.c.Update(t.Context(), r), nil)
	t.wantClass("the same rename repeated", t.c.Update(t.Context(), r), nil)
	o := t.get("Get by the anchor after the rename", targets.User, a.Anchor)
	t.wantAttrs("Get after the rename", o, map[string]any{s.UserName: t.name("renamed")})
	if o.ObjectID != before.ObjectID {
		t.Errorf("object id %q after the rename, was %q", o.ObjectID, before.ObjectID)
	}
	listed := t.list("List after the rename", targets.User, 0)
	if n := len(t.find(listed, "", "", t.name("a"))); n != 0 {
		t.Errorf("List after the rename: %d users still have the old name", n)
	}
	if n := len(t.find(listed, a.Anchor, "", "")); n != 1 {
		t.Errorf("List after the rename: the anchor is listed %d times, want once", n)
	}
	b := t.op(targets.User, t.attrs(targets.User, t.name("a"), nil))
	anchor, err := t.c.Create(t.Context(), b)
	if err != nil {
		t.Fatalf("Create with the old name of a renamed user (the name must be free): %v", err)
	}
	t.deleteLater(b, anchor)
	if anchor == a.Anchor {
		t.Fatalf("a new user got the anchor %q of the renamed user", anchor)
	}
	err = t.c.Update(t.Context(), t.next(a, map[string]any{s.UserName: t.name("a")}))
	t.wantConflict("rename onto a taken name", err, anchor, b.ObjectID)
	t.wantAttrs("Get after the refused rename", t.get("Get", targets.User, a.Anchor), map[string]any{s.UserName: t.name("renamed")})
}

// connDelete: a deleted user is gone from Get and List.
func connDelete(t *connT) {
	op := t.newUser("u", nil)
	t.wantClass("Delete", t.c.Delete(t.Context(), t.next(op, nil)), nil)
	t.wantGone("after Delete", targets.User, op.Anchor)
	if n := len(t.find(t.list("List after Delete", targets.User, 0), op.Anchor, "", "")); n != 0 {
		t.Errorf("List after Delete: the user is still listed")
	}
}

// connDeleteRepeat: a Delete repeated with the same operation succeeds.
func connDeleteRepeat(t *connT) {
	op := t.newUser("u", nil)
	d := t.next(op, nil)
	t.wantClass("Delete", t.c.Delete(t.Context(), d), nil)
	t.wantClass("Delete repeated with the same operation id", t.c.Delete(t.Context(), d), nil)
	t.wantGone("after the Deletes", targets.User, op.Anchor)
}

// connDeleteMissing: a Delete of an object that is already gone succeeds.
func connDeleteMissing(t *connT) {
	op := t.newUser("u", nil)
	t.wantClass("Delete", t.c.Delete(t.Context(), t.next(op, nil)), nil)
	t.wantClass("Delete of a missing user (new operation id)", t.c.Delete(t.Context(), t.next(op, nil)), nil)
}

// connDisableEnable: Disable and Enable set the state idempotently, keep
// the attributes, and are ErrNotFound for a missing user.
func connDisableEnable(t *connT) {
	t.requireDisable()
	s := t.o.schema
	op := t.newUser("u", map[string]any{s.Text: "t1"})
	state := func(what string, disabled bool, text string) {
		t.Helper()
		o := t.get(what, targets.User, op.Anchor)
		if o.Disabled != disabled {
			t.Errorf("%s: Disabled = %v, want %v", what, o.Disabled, disabled)
		}
		t.wantAttrs(what, o, map[string]any{s.UserName: t.name("u"), s.Text: text})
	}
	d := t.next(op, nil)
	t.wantClass("Disable", t.c.Disable(t.Context(), d), nil)
	state("after Disable", true, "t1")
	t.wantClass("Disable repeated with the same operation id", t.c.Disable(t.Context(), d), nil)
	state("after the repeated Disable", true, "t1")
	t.wantClass("Update of a disabled user", t.c.Update(t.Context(), t.next(op, map[string]any{s.Text: "t2"})), nil)
	state("after Update of a disabled user", true, "t2")
	e := t.next(op, nil)
	t.wantClass("Enable", t.c.Enable(t.Context(), e), nil)
	state("after Enable", false, "t2")
	t.wantClass("Enable repeated with the same operation id", t.c.Enable(t.Context(), e), nil)
	state("after the repeated Enable", false, "t2")

	t.wantClass("Delete", t.c.Delete(t.Context(), t.next(op, nil)), nil)
	t.wantClass("Disable of a deleted user", t.c.Disable(t.Context(), t.next(op, nil)), targets.ErrNotFound)
	t.wantClass("Enable of a deleted user", t.c.Enable(t.Context(), t.next(op, nil)), targets.ErrNotFound)
}

// connGroups: group create, repeat, rename, delete, kind separation.
func connGroups(t *connT) {
	t.requireGroups()
	s := t.o.schema
	g := t.newGroup("g")
	o := t.get("Get after Create", targets.Group, g.Anchor)
	t.wantAttrs("Get after Create", o, g.Attrs)
	if len(o.Members) != 0 {
		t.Errorf("a new group has members %q", o.Members)
	}
	if o.ObjectID != "" && o.ObjectID != g.ObjectID {
		t.Errorf("object id %q, want %q or none", o.ObjectID, g.ObjectID)
	}
	again := g
	again.Anchor = ""
	anchor, err := t.c.Create(t.Context(), again)
	if anchor != "" && anchor != g.Anchor {
		t.deleteLater(again, anchor)
	}
	t.wantConflict("Create of a group repeated with the same operation id", err, g.Anchor, g.ObjectID)

	_, err = t.c.Get(t.Context(), targets.User, g.Anchor)
	t.wantClass("Get of a group's anchor as a User", err, targets.ErrNotFound)

	t.wantClass("Update renaming the group", t.c.Update(t.Context(), t.next(g, map[string]any{s.GroupName: t.name("g2")})), nil)
	t.wantAttrs("Get by the anchor after the rename", t.get("Get", targets.Group, g.Anchor), map[string]any{s.GroupName: t.name("g2")})
	if n := len(t.find(t.list("List groups", targets.Group, 0), g.Anchor, "", "")); n != 1 {
		t.Errorf("List groups: the group is listed %d times, want once", n)
	}

	d := t.next(g, nil)
	t.wantClass("Delete of the group", t.c.Delete(t.Context(), d), nil)
	t.wantClass("Delete of the group repeated", t.c.Delete(t.Context(), d), nil)
	t.wantGone("after Delete", targets.Group, g.Anchor)
	t.wantClass("Update of a deleted group", t.c.Update(t.Context(), t.next(g, map[string]any{s.GroupName: t.name("g3")})), targets.ErrNotFound)
}

// connMembers: membership has set semantics, is idempotent, survives
// renames, and is ErrNotFound for a missing group or member.
func connMembers(t *connT) {
	t.requireGroups()
	s := t.o.schema
	u1, u2, u3 := t.newUser("u1", nil), t.newUser("u2", nil), t.newUser("u3", nil)
	g := t.newGroup("g")
	members := func(g targets.Op, f func(context.Context, targets.Op) error, what string, class error, anchors ...string) {
		t.Helper()
		op := t.next(g, nil)
		op.Members = anchors
		t.wantClass(what, f(t.Context(), op), class)
		if class == nil {
			t.wantClass(what+", repeated with the same operation id", f(t.Context(), op), nil)
		}
	}
	add, remove := t.c.AddMembers, t.c.RemoveMembers

	members(g, add, "AddMembers u1 u2", nil, u1.Anchor, u2.Anchor)
	t.wantMembers("after AddMembers", g.Anchor, u1.Anchor, u2.Anchor)
	members(g, add, "AddMembers u2 (present) u3", nil, u2.Anchor, u3.Anchor)
	t.wantMembers("after AddMembers of a present member", g.Anchor, u1.Anchor, u2.Anchor, u3.Anchor)
	members(g, remove, "RemoveMembers u1", nil, u1.Anchor)
	t.wantMembers("after RemoveMembers", g.Anchor, u2.Anchor, u3.Anchor)
	members(g, remove, "RemoveMembers u1 (absent) u3", nil, u1.Anchor, u3.Anchor)
	t.wantMembers("after RemoveMembers of an absent member", g.Anchor, u2.Anchor)
	members(g, add, "AddMembers of no members", nil)
	t.wantMembers("after AddMembers of no members", g.Anchor, u2.Anchor)

	t.wantClass("rename of a member", t.c.Update(t.Context(), t.next(u2, map[string]any{s.UserName: t.name("u2-renamed")})), nil)
	t.wantMembers("after a member's rename", g.Anchor, u2.Anchor)
	t.wantClass("rename of the group", t.c.Update(t.Context(), t.next(g, map[string]any{s.GroupName: t.name("g-renamed")})), nil)
	t.wantMembers("after the group's rename", g.Anchor, u2.Anchor)

	gone := t.newUser("gone", nil)
	t.wantClass("Delete of a user", t.c.Delete(t.Context(), t.next(gone, nil)), nil)
	members(g, add, "AddMembers u1 and a deleted user", targets.ErrNotFound, u1.Anchor, gone.Anchor)
	t.wantMembers("after the failed AddMembers", g.Anchor, u2.Anchor)

	g2 := t.newGroup("g2")
	t.wantClass("Delete of a group", t.c.Delete(t.Context(), t.next(g2, nil)), nil)
	members(g2, add, "AddMembers to a deleted group", targets.ErrNotFound, u1.Anchor)
	members(g2, remove, "RemoveMembers from a deleted group", targets.ErrNotFound, u1.Anchor)
}

// connHostile are attribute values that connectors tend to mangle: they
// must round-trip byte for byte. Those marked mayRefuse may instead be
// refused with ErrPermanent (a PostgreSQL text column cannot hold NUL), but
// never altered.
var connHostile = []struct {
	name      string
	value     string
	mayRefuse bool
}{
	{"quotes", `O'Brien "the" ‘curly’ “double” ` + "`tick`", false},
	{"backslashes", `C:\temp\new \\server\share \" \' \x41 \u0041`, false},
	{"sql injection", `Robert'); DROP TABLE users;-- '; DROP TABLE x; --`, false},
	{"sql like", `100% _under_ [abc] [^a] ESCAPE`, false},
	{"nul", "before\x00after", true},
	{"control characters", "tab\tnewline\ncarriage\r\x1b[31mred", true},
	{"emoji", "👩🏽‍💻 🚀 𝄞 😀 🇫🇷", false},
	{"dn special", `cn=x,ou=y+uid=z "q" \#<>;= ,+"\#<>;=`, false},
	{"dn leading hash", `#leading hash`, false},
	{"ldap filter", `*)(uid=*))(|(uid=* ()*\ \2a`, false},
	{"unicode", "Zoë Ångström Łódź Straße 日本語 Ελληνικά עברית مرحبا", false},
	{"decomposed unicode", "Zoe\u0308 Ange\u0301lique", false},
	{"spaces", "  padded  ", false},
	{"markup and templates", `<script>alert(1)</script> &amp; ${jndi:ldap://x/a} {{.}} %s %n %%`, false},
	{"paths", `../../etc/passwd?a=1&b=2#frag /%2e%2e/ %00`, false},
}

// connHostileValues: hostile values round-trip through Create, Get, List,
// Update and membership, in names (unless PlainNames) and in free text.
func connHostileValues(t *connT) {
	for i, h := range connHostile {
		t.run(h.name, func(t *connT) {
			s := t.o.schema
			name, renamed := t.name(fmt.Sprint(i)), t.name(fmt.Sprint(i, "r"))
			if !s.PlainNames {
				name, renamed = h.value+" "+name, h.value+" "+renamed
			}
			op := t.op(targets.User, t.attrs(targets.User, name, map[string]any{s.Text: h.value}))
			anchor, err := t.c.Create(t.Context(), op)
			if err != nil {
				if h.mayRefuse && targets.Class(err) == targets.ErrPermanent {
					t.Logf("the connector refuses %s: %v", h.name, err)
					if n := len(t.find(t.list("List", targets.User, 0), "", op.ObjectID, name)); n != 0 {
						t.Errorf("a refused Create left %d users behind", n)
					}
					return
				}
				t.Fatalf("Create with %s %q: %v", h.name, h.value, err)
			}
			t.deleteLater(op, anchor)
			op.Anchor = anchor
			want := map[string]any{s.UserName: name, s.Text: h.value}
			t.wantAttrs("Get after Create", t.get("Get", targets.User, anchor), want)
			switch l := t.find(t.list("List", targets.User, t.o.pageSize), anchor, "", ""); len(l) {
			case 1:
				t.wantAttrs("List after Create", l[0], want)
			default:
				t.Errorf("List after Create: the user is listed %d times, want once", len(l))
			}

			want = map[string]any{s.UserName: renamed, s.Text: "<" + h.value + ">"}
			t.wantClass("Update", t.c.Update(t.Context(), t.next(op, want)), nil)
			t.wantAttrs("Get after Update", t.get("Get", targets.User, anchor), want)

			if t.caps.Groups {
				g := t.create(t.op(targets.Group, t.attrs(targets.Group, name, nil)))
				t.wantAttrs("Get of the group", t.get("Get", targets.Group, g.Anchor), map[string]any{s.GroupName: name})
				add := t.next(g, nil)
				add.Members = []string{anchor}
				t.wantClass("AddMembers", t.c.AddMembers(t.Context(), add), nil)
				t.wantMembers("after AddMembers", g.Anchor, anchor)
			}
		})
	}
}

// connSimilarNames: names that differ only by wildcard or pattern
// characters are different objects (no unescaped LDAP filter or SQL LIKE).
func connSimilarNames(t *connT) {
	if t.o.schema.PlainNames {
		t.Skipf("SKIPPED: the schema declares PlainNames; names with pattern characters are not written")
	}
	s := t.o.schema
	anchors := map[string]string{t.newUser("ab", nil).Anchor: t.name("ab")}
	for _, label := range []string{"a*", "*", "a%", "%", "a_", "_b", "a?", "a.", `a\*`, "(a)", "a)(b"} {
		op := t.op(targets.User, t.attrs(targets.User, t.name(label), nil))
		anchor, err := t.c.Create(t.Context(), op)
		if err != nil {
			t.Errorf("Create %q next to %q: %v", t.name(label), t.name("ab"), err)
			continue
		}
		t.deleteLater(op, anchor)
		if prev, ok := anchors[anchor]; ok {
			t.Errorf("Create %q returned the anchor of %q", t.name(label), prev)
			continue
		}
		anchors[anchor] = t.name(label)
	}
	for anchor, name := range anchors {
		t.wantAttrs("Get "+name, t.get("Get", targets.User, anchor), map[string]any{s.UserName: name})
	}
}

// connListPagination: List in small pages returns every object exactly
// once, and no deleted ones.
func connListPagination(t *connT) {
	for _, kind := range []targets.Kind{targets.User, targets.Group} {
		t.run(string(kind)+"s", func(t *connT) {
			if kind == targets.Group {
				t.requireGroups()
			}
			ops := make(map[string]targets.Op)
			for i := range t.o.listObjects {
				op := t.create(t.op(kind, t.attrs(kind, t.name(fmt.Sprintf("l%03d", i)), nil)))
				ops[op.Anchor] = op
			}
			check := func(what string, pageSize int, deleted map[string]bool) {
				t.Helper()
				found := make(map[string]bool)
				for _, o := range t.list(what, kind, pageSize) {
					op, ours := ops[o.Anchor]
					switch {
					case !ours:
					case deleted[o.Anchor]:
						t.Errorf("%s: deleted %s listed", what, o.Anchor)
					default:
						found[o.Anchor] = true
						t.wantAttrs(what+": "+o.Anchor, o, op.Attrs)
					}
				}
				if want := len(ops) - len(deleted); len(found) != want {
					t.Errorf("%s: %d of the %d objects listed", what, len(found), want)
				}
			}
			check(fmt.Sprintf("List in pages of %d", t.o.pageSize), t.o.pageSize, nil)
			check("List in pages of 1", 1, nil)
			check("List in pages of the connector's default size", 0, nil)

			deleted := make(map[string]bool)
			for anchor, op := range ops {
				if len(deleted) < len(ops)/3 {
					t.wantClass("Delete", t.c.Delete(t.Context(), t.next(op, nil)), nil)
					deleted[anchor] = true
				}
			}
			check("List after deletes", t.o.pageSize, deleted)

			other := targets.User
			if kind == targets.User {
				other = targets.Group
			}
			if other == targets.User || t.caps.Groups {
				for _, o := range t.list("List "+string(other)+"s", other, 0) {
					if _, ours := ops[o.Anchor]; ours {
						t.Errorf("List %ss returned the %s %s", other, kind, o.Anchor)
					}
				}
			}
		})
	}
}

// connConcurrent: calls for different objects in parallel, as the engine
// makes them, all take effect.
func connConcurrent(t *connT) {
	const workers, each = 8, 4
	s := t.o.schema
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := t.name(fmt.Sprintf("w%d-%d", w, i))
				op := t.op(targets.User, t.attrs(targets.User, name, map[string]any{s.Text: "v0"}))
				anchor, err := t.c.Create(t.Context(), op)
				if err != nil {
					t.Errorf("Create %s: %v", name, err)
					continue
				}
				t.deleteLater(op, anchor)
				op.Anchor = anchor
				if err := t.c.Update(t.Context(), t.next(op, map[string]any{s.Text: "v1"})); err != nil {
					t.Errorf("Update %s: %v", name, err)
				}
				if o, err := t.c.Get(t.Context(), targets.User, anchor); err != nil {
					t.Errorf("Get %s: %v", name, err)
				} else if o.Attrs[s.Text] != "v1" || o.Attrs[s.UserName] != name {
					t.Errorf("Get %s: %s=%#v %s=%#v, want %q and %q", name, s.UserName, o.Attrs[s.UserName], s.Text, o.Attrs[s.Text], name, "v1")
				}
				if i%2 == 1 {
					if err := t.c.Delete(t.Context(), t.next(op, nil)); err != nil {
						t.Errorf("Delete %s: %v", name, err)
					}
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for _, o := range t.list("List", targets.User, 0) {
		if name, _ := o.Attrs[s.UserName].(string); strings.HasPrefix(name, t.tag+"-w") {
			n++
		}
	}
	if want := workers * each / 2; n != want {
		t.Errorf("List after the concurrent calls: %d users, want %d", n, want)
	}
}

// connCancelled: a call whose context has ended returns promptly with a
// transient error, and does nothing.
func connCancelled(t *connT) {
	s := t.o.schema
	t.run("Create", func(t *connT) {
		op := t.op(targets.User, t.attrs(targets.User, t.name("c"), nil))
		start := time.Now()
		anchor, err := t.c.Create(t.cancelled(), op)
		t.wantPromptFailure("Create", start, err)
		if anchor != "" {
			t.deleteLater(op, anchor)
		}
		if n := len(t.find(t.list("List", targets.User, 0), "", op.ObjectID, t.name("c"))); n != 0 {
			t.Errorf("a Create with a cancelled context left %d users", n)
		}
		// Nothing half-done: the same operation now succeeds.
		t.create(op)
	})
	t.run("CreateAfterDeadline", func(t *connT) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		op := t.op(targets.User, t.attrs(targets.User, t.name("d"), nil))
		start := time.Now()
		anchor, err := t.c.Create(ctx, op)
		t.wantPromptFailure("Create", start, err)
		if anchor != "" {
			t.deleteLater(op, anchor)
		}
		t.create(op)
	})
	t.run("Update", func(t *connT) {
		op := t.newUser("u", map[string]any{s.Text: "before"})
		start := time.Now()
		t.wantPromptFailure("Update", start, t.c.Update(t.cancelled(), t.next(op, map[string]any{s.Text: "after"})))
		t.wantAttrs("Get", t.get("Get", targets.User, op.Anchor), map[string]any{s.Text: "before"})
	})
	t.run("Delete", func(t *connT) {
		op := t.newUser("u", nil)
		start := time.Now()
		t.wantPromptFailure("Delete", start, t.c.Delete(t.cancelled(), t.next(op, nil)))
		t.get("Get after the cancelled Delete", targets.User, op.Anchor)
	})
	t.run("DisableEnable", func(t *connT) {
		t.requireDisable()
		op := t.newUser("u", nil)
		start := time.Now()
		t.wantPromptFailure("Disable", start, t.c.Disable(t.cancelled(), t.next(op, nil)))
		if t.get("Get", targets.User, op.Anchor).Disabled {
			t.Errorf("a Disable with a cancelled context disabled the user")
		}
		t.wantClass("Disable", t.c.Disable(t.Context(), t.next(op, nil)), nil)
		start = time.Now()
		t.wantPromptFailure("Enable", start, t.c.Enable(t.cancelled(), t.next(op, nil)))
		if !t.get("Get", targets.User, op.Anchor).Disabled {
			t.Errorf("an Enable with a cancelled context enabled the user")
		}
	})
	t.run("Members", func(t *connT) {
		t.requireGroups()
		u1, u2 := t.newUser("u1", nil), t.newUser("u2", nil)
		g := t.newGroup("g")
		add := t.next(g, nil)
		add.Members = []string{u1.Anchor}
		t.wantClass("AddMembers", t.c.AddMembers(t.Context(), add), nil)
		op := t.next(g, nil)
		op.Members = []string{u2.Anchor}
		start := time.Now()
		t.wantPromptFailure("AddMembers", start, t.c.AddMembers(t.cancelled(), op))
		op.Members = []string{u1.Anchor}
		start = time.Now()
		t.wantPromptFailure("RemoveMembers", start, t.c.RemoveMembers(t.cancelled(), op))
		t.wantMembers("after the cancelled calls", g.Anchor, u1.Anchor)
	})
	t.run("Read", func(t *connT) {
		op := t.newUser("u", nil)
		start := time.Now()
		_, err := t.c.Get(t.cancelled(), targets.User, op.Anchor)
		t.wantPromptFailure("Get", start, err)
		start = time.Now()
		_, err = t.c.List(t.cancelled(), targets.User, "", 0)
		t.wantPromptFailure("List", start, err)
	})
}

// connUnsupported: the methods outside the declared capabilities fail with
// ErrPermanent and errors.ErrUnsupported.
func connUnsupported(t *connT) {
	if t.caps.Groups && t.caps.Disable && t.caps.Lookup {
		t.Skipf("SKIPPED: the connector declares every capability")
	}
	want := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, targets.ErrPermanent) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: got %v, want an error matching targets.ErrPermanent and errors.ErrUnsupported", what, err)
		}
	}
	u := t.newUser("u", nil)
	if !t.caps.Groups {
		g := t.op(targets.Group, t.attrs(targets.Group, t.name("g"), nil))
		anchor, err := t.c.Create(t.Context(), g)
		if anchor != "" {
			t.deleteLater(g, anchor)
		}
		want("Create of a group without the groups capability", err)
		_, err = t.c.List(t.Context(), targets.Group, "", 0)
		want("List of groups without the groups capability", err)
		g.Anchor = u.Anchor
		g.Members = []string{u.Anchor}
		want("AddMembers without the groups capability", t.c.AddMembers(t.Context(), g))
	}
	if !t.caps.Disable {
		want("Disable without the disable capability", t.c.Disable(t.Context(), t.next(u, nil)))
		want("Enable without the disable capability", t.c.Enable(t.Context(), t.next(u, nil)))
	}
	f, finder := t.c.(targets.Finder)
	switch {
	case !finder:
	case !t.caps.Lookup:
		_, err := f.Lookup(t.Context(), targets.User, t.o.schema.UserName, t.name("u"), 0)
		want("Lookup without the lookup capability", err)
	case !t.caps.Groups:
		_, err := f.Lookup(t.Context(), targets.Group, t.o.schema.GroupName, t.name("g"), 0)
		want("Lookup of groups without the groups capability", err)
	}
}

// connNoAliasing: the connector keeps no reference to the caller's maps and
// slices, and hands out none to its own state.
func connNoAliasing(t *connT) {
	s := t.o.schema
	multi := ""
	for _, k := range slices.Sorted(maps.Keys(s.Values)) {
		if _, ok := s.Values[k].([]string); ok {
			multi = k
			break
		}
	}
	extra := map[string]any{s.Text: "orig"}
	want := map[string]any{s.Text: "orig"}
	var slice []string
	if multi != "" {
		slice = []string{"x@example.com", "y@example.com"}
		extra[multi] = slice
		want[multi] = slices.Clone(slice)
	}
	op := t.newUser("u", extra)
	op.Attrs[s.Text] = "mutated after Create"
	if slice != nil {
		slice[0] = "mutated@example.com"
	}
	o := t.get("Get", targets.User, op.Anchor)
	t.wantAttrs("Get after changing the map given to Create", o, want)
	o.Attrs[s.Text] = "mutated after Get"
	if v, ok := o.Attrs[multi].([]string); ok && len(v) > 0 {
		v[0] = "mutated@example.com"
	}
	t.wantAttrs("Get after changing the map Get returned", t.get("Get", targets.User, op.Anchor), want)

	if t.caps.Groups {
		g := t.newGroup("g")
		add := t.next(g, nil)
		add.Members = []string{op.Anchor}
		t.wantClass("AddMembers", t.c.AddMembers(t.Context(), add), nil)
		add.Members[0] = "mutated"
		t.wantMembers("after changing the slice given to AddMembers", g.Anchor, op.Anchor)
		if o := t.get("Get", targets.Group, g.Anchor); len(o.Members) > 0 {
			o.Members[0] = "mutated"
		}
		t.wantMembers("after changing the slice Get returned", g.Anchor, op.Anchor)
	}
}
