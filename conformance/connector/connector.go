// Package connector is the connector conformance suite: the checks every
// target connector (package targets) must pass, in the spirit of csi-sanity
// and of dex's storage/conformance. A connector's test runs it against a
// fresh connector per check:
//
//	func TestConformance(t *testing.T) {
//		connector.Run(t, func(t *testing.T) targets.Connector {
//			return memory.New(memory.Config{})
//		})
//	}
//
// The checks are in checks.go.
package connector

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/targets"
)

// Schema names the target attributes the connector suite writes, so
// that it fits connectors with a fixed schema (SQL columns, LDAP object
// classes). The zero value suits connectors that accept any attribute, like
// the memory connector.
type Schema struct {
	// UserName is the attribute that names a user: unique among users and
	// changeable (rename). Default "userName".
	UserName string
	// GroupName is the attribute that names a group. Default "displayName".
	GroupName string
	// Text is a free-text user attribute other than UserName. Default
	// "displayName".
	Text string
	// Values are further user attributes with sample values of every type
	// the target stores (string, bool, int64, float64, []string); they must
	// round-trip through Create, Update and Get. Default: one of each type.
	Values map[string]any
	// Base returns attributes that every Create of a kind needs besides the
	// name (e.g. an LDAP "sn"), given the object's name. nil: none.
	Base func(kind targets.Kind, name string) map[string]any
	// PlainNames says that the target restricts the characters of names (as
	// Entra restricts userPrincipalName): hostile values are then written
	// only to Text, never into UserName or GroupName.
	PlainNames bool
	// NameSuffix is appended to every name the suite writes, for targets
	// whose names have a fixed form (Entra's userPrincipalName ends in
	// "@" and a verified domain). Default "".
	NameSuffix string
	// Unmanaged is an attribute name that the connector does not manage,
	// which Lookup must refuse with ErrPermanent. "": the connector accepts
	// any attribute (like the memory connector); only the empty name is
	// then checked.
	Unmanaged string
}

// Option changes how Run runs.
type Option func(*connOptions)

// WithSchema sets the attributes the suite writes.
func WithSchema(s Schema) Option {
	return func(o *connOptions) { o.schema = s }
}

// WithListing sets how many objects the List check creates and the
// page size it lists them with (defaults 23 and 4).
func WithListing(objects, pageSize int) Option {
	return func(o *connOptions) { o.listObjects, o.pageSize = objects, pageSize }
}

type connOptions struct {
	schema      Schema
	listObjects int
	pageSize    int
}

// connPrompt is how long a call with a cancelled context may take.
const connPrompt = 2 * time.Second

// Run runs the connector conformance suite, each check as a named
// subtest with a connector from newConnector; the suite closes it at the end
// of the check. Checks of capabilities the connector does not declare are
// skipped, saying so. The checks create uniquely named objects and delete
// them when they end, so newConnector may return connectors to one shared
// target that also holds other objects.
func Run(t *testing.T, newConnector func(t *testing.T) targets.Connector, opts ...Option) {
	t.Helper()
	runConnector(t, func(tb testing.TB) targets.Connector { return newConnector(tb.(*testing.T)) }, opts...)
}

// connCheck is one check of the suite.
type connCheck struct {
	name string
	fn   func(t *connT)
}

// runConnector runs the suite under tb, a *testing.T or a connSubtester.
func runConnector(tb testing.TB, newConnector func(tb testing.TB) targets.Connector, opts ...Option) {
	o := &connOptions{listObjects: 23, pageSize: 4}
	for _, opt := range opts {
		opt(o)
	}
	s := &o.schema
	s.UserName = cmp.Or(s.UserName, "userName")
	s.GroupName = cmp.Or(s.GroupName, "displayName")
	s.Text = cmp.Or(s.Text, "displayName")
	if s.Values == nil {
		s.Values = map[string]any{
			"givenName":      "Ada",
			"employeeNumber": int64(-1815),
			"score":          2.75,
			"vip":            true,
			"mail":           []string{"ada@example.com", "ada.lovelace@example.org"},
		}
	}
	for _, c := range connChecks {
		connRun(tb, c.name, func(tb testing.TB) {
			c.fn(newConnT(tb, newConnector(tb), o))
		})
	}
}

// connSubtester is a testing.TB that runs subtests without a *testing.T (the
// suite's own tests use one to see which checks fail).
type connSubtester interface {
	RunTB(name string, fn func(tb testing.TB))
}

// connRun runs fn as the subtest name of tb.
func connRun(tb testing.TB, name string, fn func(tb testing.TB)) {
	switch p := tb.(type) {
	case *testing.T:
		p.Run(name, func(t *testing.T) { fn(t) })
	case connSubtester:
		p.RunTB(name, fn)
	default:
		panic(fmt.Sprintf("conformance: cannot run subtests of %T", tb))
	}
}

// connT is the state of one running check: a testing.TB and a connector.
type connT struct {
	testing.TB
	c    targets.Connector
	caps targets.Capabilities
	o    *connOptions
	tag  string // unique per check: the names of its objects start with it
}

func newConnT(tb testing.TB, c targets.Connector, o *connOptions) *connT {
	var b [4]byte
	rand.Read(b[:])
	t := &connT{TB: tb, c: c, caps: c.Capabilities(), o: o, tag: "ct" + hex.EncodeToString(b[:])}
	// Registered first, so it runs after the checks' own cleanups.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return t
}

// run runs fn as a subtest that shares t's connector.
func (t *connT) run(name string, fn func(t *connT)) {
	connRun(t.TB, name, func(tb testing.TB) {
		fn(&connT{TB: tb, c: t.c, caps: t.caps, o: t.o, tag: t.tag})
	})
}

// name returns a name unique to the check and label.
func (t *connT) name(label string) string { return t.tag + "-" + label + t.o.schema.NameSuffix }

// op returns an operation for a new object.
func (t *connT) op(kind targets.Kind, attrs map[string]any) targets.Op {
	return targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: kind, Attrs: attrs}
}

// next returns a new operation (new operation id) on op's object.
func (t *connT) next(op targets.Op, attrs map[string]any) targets.Op {
	return targets.Op{ID: uuid.NewString(), ObjectID: op.ObjectID, Kind: op.Kind, Anchor: op.Anchor, Attrs: attrs}
}

// attrs returns the attributes of a new object named name: the schema's
// Base, the name, then extra.
func (t *connT) attrs(kind targets.Kind, name string, extra map[string]any) map[string]any {
	out := make(map[string]any)
	if t.o.schema.Base != nil {
		for k, v := range t.o.schema.Base(kind, name) {
			out[k] = v
		}
	}
	out[t.nameAttr(kind)] = name
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (t *connT) nameAttr(kind targets.Kind) string {
	if kind == targets.Group {
		return t.o.schema.GroupName
	}
	return t.o.schema.UserName
}

// create creates op's object, fails the check if that fails, deletes the
// object when the check ends, and returns op with its Anchor.
func (t *connT) create(op targets.Op) targets.Op {
	t.Helper()
	anchor, err := t.c.Create(t.Context(), op)
	if err != nil {
		t.Fatalf("Create %s %q: %v", op.Kind, op.Attrs[t.nameAttr(op.Kind)], err)
	}
	if anchor == "" {
		t.Fatalf("Create %s %q: empty anchor", op.Kind, op.Attrs[t.nameAttr(op.Kind)])
	}
	t.deleteLater(op, anchor)
	op.Anchor = anchor
	return op
}

// deleteLater deletes an object when the check ends.
func (t *connT) deleteLater(op targets.Op, anchor string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		op := t.next(op, nil)
		op.Anchor = anchor
		if err := t.c.Delete(ctx, op); err != nil {
			t.Logf("cleanup: Delete %s %s: %v", op.Kind, anchor, err)
		}
	})
}

// newUser creates a user named t.name(label) with extra attributes.
func (t *connT) newUser(label string, extra map[string]any) targets.Op {
	t.Helper()
	return t.create(t.op(targets.User, t.attrs(targets.User, t.name(label), extra)))
}

// newGroup creates a group named t.name(label).
func (t *connT) newGroup(label string) targets.Op {
	t.Helper()
	return t.create(t.op(targets.Group, t.attrs(targets.Group, t.name(label), nil)))
}

// get returns an object, failing the check if Get fails.
func (t *connT) get(what string, kind targets.Kind, anchor string) targets.Object {
	t.Helper()
	o, err := t.c.Get(t.Context(), kind, anchor)
	if err != nil {
		t.Fatalf("%s: Get %s %s: %v", what, kind, anchor, err)
	}
	if o.Kind != kind || o.Anchor != anchor {
		t.Errorf("%s: Get %s %s returned kind %q anchor %q", what, kind, anchor, o.Kind, o.Anchor)
	}
	return o
}

// wantClass checks that err is of class (nil: no error).
func (t *connT) wantClass(what string, err, class error) {
	t.Helper()
	if got := targets.Class(err); got != class {
		if class == nil {
			t.Errorf("%s: %v, want success", what, err)
		} else {
			t.Errorf("%s: got %v, want an error of class %v", what, cmp.Or[any](err, "success"), class)
		}
	}
}

// wantConflict checks that err is a *ConflictError naming anchor, and the
// object id objectID or none.
func (t *connT) wantConflict(what string, err error, anchor, objectID string) {
	t.Helper()
	var ce *targets.ConflictError
	switch {
	case !errors.As(err, &ce):
		t.Errorf("%s: got %v, want a *targets.ConflictError with anchor %q", what, cmp.Or[any](err, "success"), anchor)
	case !errors.Is(err, targets.ErrConflict):
		t.Errorf("%s: %v does not match targets.ErrConflict", what, err)
	case ce.Anchor != anchor:
		t.Errorf("%s: conflict with anchor %q, want the existing object's %q", what, ce.Anchor, anchor)
	case ce.ObjectID != "" && ce.ObjectID != objectID:
		t.Errorf("%s: conflict with object id %q, want %q or none", what, ce.ObjectID, objectID)
	}
}

// wantAttrs checks that o has every attribute of want with exactly its value
// and type, and none of those whose wanted value is nil.
func (t *connT) wantAttrs(what string, o targets.Object, want map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		g, ok := o.Attrs[k]
		switch {
		case w == nil && ok:
			t.Errorf("%s: attribute %q = %#v, want it absent", what, k, g)
		case w == nil:
		case !ok:
			t.Errorf("%s: attribute %q absent, want %#v (%T)", what, k, w, w)
		case !connEqual(g, w):
			t.Errorf("%s: attribute %q = %#v (%T), want %#v (%T)", what, k, g, g, w, w)
		}
	}
}

// connEqual reports whether two attribute values are equal: same type, the
// same bytes for strings, the same elements in any order for []string.
func connEqual(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok || bok {
		if !aok || !bok {
			return false
		}
		as, bs = slices.Clone(as), slices.Clone(bs)
		slices.Sort(as)
		slices.Sort(bs)
		return slices.Equal(as, bs)
	}
	return a == b
}

// wantMembers checks a group's members.
func (t *connT) wantMembers(what, group string, want ...string) {
	t.Helper()
	got := slices.Clone(t.get(what, targets.Group, group).Members)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: members %q, want %q", what, got, want)
	}
}

// wantGone checks that Get reports an object missing.
func (t *connT) wantGone(what string, kind targets.Kind, anchor string) {
	t.Helper()
	_, err := t.c.Get(t.Context(), kind, anchor)
	t.wantClass(what+": Get "+anchor, err, targets.ErrNotFound)
}

// list follows List pages of a kind with pageSize, checking the pages, and
// returns every object listed.
func (t *connT) list(what string, kind targets.Kind, pageSize int) []targets.Object {
	t.Helper()
	var out []targets.Object
	seen := map[string]bool{}
	cursors := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := t.c.List(t.Context(), kind, cursor, pageSize)
		if err != nil {
			t.Fatalf("%s: List %s (cursor %q, limit %d): %v", what, kind, cursor, pageSize, err)
		}
		if pageSize > 0 && len(page.Objects) > pageSize {
			t.Errorf("%s: List %s returned %d objects, more than the limit %d", what, kind, len(page.Objects), pageSize)
		}
		for _, o := range page.Objects {
			if o.Kind != kind {
				t.Errorf("%s: List %s returned %s %s", what, kind, o.Kind, o.Anchor)
			}
			if seen[o.Anchor] {
				t.Fatalf("%s: List %s returned %s twice", what, kind, o.Anchor)
			}
			seen[o.Anchor] = true
			out = append(out, o)
		}
		if page.Next == "" {
			return out
		}
		if cursors[page.Next] || pages > 1e6 {
			t.Fatalf("%s: List %s: cursor %q repeats: the listing does not end", what, kind, page.Next)
		}
		cursors[page.Next] = true
		cursor = page.Next
	}
}

// find returns the listed objects that are anchor, or carry objectID or the
// name.
func (t *connT) find(objs []targets.Object, anchor, objectID, name string) []targets.Object {
	var out []targets.Object
	for _, o := range objs {
		if o.Anchor == anchor && anchor != "" || o.ObjectID == objectID && objectID != "" || o.Attrs[t.nameAttr(o.Kind)] == name && name != "" {
			out = append(out, o)
		}
	}
	return out
}

// cancelled returns a context that is already cancelled.
func (t *connT) cancelled() context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// wantPromptFailure checks the error and duration of a call made with a
// context that had ended: an error of class ErrTransient, within connPrompt.
func (t *connT) wantPromptFailure(what string, start time.Time, err error) {
	t.Helper()
	if d := time.Since(start); d > connPrompt {
		t.Errorf("%s with a cancelled context took %v, want under %v", what, d, connPrompt)
	}
	if err == nil {
		t.Errorf("%s with a cancelled context succeeded, want an error", what)
		return
	}
	t.wantClass(what+" with a cancelled context", err, targets.ErrTransient)
}

// requireGroups skips a check of a connector without groups.
func (t *connT) requireGroups() {
	t.Helper()
	if !t.caps.Groups {
		t.Skipf("SKIPPED: the connector declares no groups capability (Capabilities.Groups=false); group checks not run")
	}
}

// requireDisable skips a check of a connector without disable.
func (t *connT) requireDisable() {
	t.Helper()
	if !t.caps.Disable {
		t.Skipf("SKIPPED: the connector declares no disable capability (Capabilities.Disable=false); disable/enable checks not run")
	}
}
