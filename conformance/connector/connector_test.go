package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestConnectorSuiteCatchesBrokenConnectors runs the suite against
// connectors with one bug each (the memory connector behind a wrapper) and
// wants the checks that target that bug to fail, while the healthy
// connector passes everything.
func TestConnectorSuiteCatchesBrokenConnectors(t *testing.T) {
	noUnique := func() *memory.Connector { return memory.New(memory.Config{Unique: map[targets.Kind][]string{}}) }
	tests := []struct {
		name     string
		conn     func() targets.Connector
		wantFail []string // exactly the checks that must fail
		wantPass []string // some checks that must pass
		wantSkip []string
	}{
		{
			name:     "healthy",
			conn:     func() targets.Connector { return memory.New(memory.Config{}) },
			wantSkip: []string{"Unsupported"},
		},
		{
			name: "no capabilities",
			conn: func() targets.Connector {
				return memory.New(memory.Config{Capabilities: &targets.Capabilities{}})
			},
			wantSkip: []string{"DisableEnable", "Groups", "Members", "ListPagination/Groups", "CancelledContext/DisableEnable", "CancelledContext/Members", "Lookup"},
			wantPass: []string{"Unsupported", "CreateGet", "HostileValues/quotes"},
		},
		{
			name:     "no unique names",
			conn:     func() targets.Connector { return noUnique() },
			wantFail: []string{"CreateConflict", "Rename"},
			wantPass: []string{"CreateRepeat", "CreateGet"},
		},
		{
			name:     "duplicates on a repeated create",
			conn:     func() targets.Connector { return &dupCreate{noUnique()} },
			wantFail: []string{"CreateConflict", "CreateRepeat", "Groups", "Rename", "UpdateRebindsObjectID"},
			wantPass: []string{"CreateGet", "Update"},
		},
		{
			// Lookup returns what the memory connector holds, unlike Get.
			name:     "trims and drops NUL on read",
			conn:     func() targets.Connector { return &mangleRead{memory.New(memory.Config{})} },
			wantFail: []string{"HostileValues", "HostileValues/nul", "HostileValues/spaces", "Lookup", "Lookup/Literal", "Lookup/Literal/displayName/nul", "Lookup/Literal/userName/nul"},
			wantPass: []string{"CreateGet", "HostileValues/quotes", "HostileValues/emoji"},
		},
		{
			name: "escapes quotes on write",
			conn: func() targets.Connector { return &escapeWrite{memory.New(memory.Config{})} },
			wantFail: []string{"HostileValues", "HostileValues/backslashes", "HostileValues/quotes", "HostileValues/sql_injection",
				"Lookup", "Lookup/Literal", "Lookup/Literal/displayName/quotes", "Lookup/Literal/displayName/sql_injection", "Lookup/Literal/userName/quotes", "Lookup/Literal/userName/sql_injection"},
			wantPass: []string{"CreateGet", "HostileValues/emoji", "HostileValues/dn_special", "Lookup/Literal/userName/star"},
		},
		{
			name:     "list skips the last object of each page",
			conn:     func() targets.Connector { return &listSkips{memory.New(memory.Config{})} },
			wantFail: []string{"ListPagination", "ListPagination/Users", "ListPagination/Groups"},
			wantPass: []string{"CreateGet", "Delete"},
		},
		{
			name:     "list ignores the cursor",
			conn:     func() targets.Connector { return &listRestarts{memory.New(memory.Config{})} },
			wantFail: []string{"ListPagination", "ListPagination/Users", "ListPagination/Groups"},
			wantPass: []string{"CreateGet"},
		},
		{
			name:     "delete of a missing object fails",
			conn:     func() targets.Connector { return &deleteStrict{memory.New(memory.Config{})} },
			wantFail: []string{"DeleteRepeat", "DeleteMissing", "Groups"},
			wantPass: []string{"Delete", "CreateGet"},
		},
		{
			name:     "ignores the context",
			conn:     func() targets.Connector { return &ignoreCtx{memory.New(memory.Config{})} },
			wantFail: []string{"CancelledContext", "CancelledContext/Create", "CancelledContext/CreateAfterDeadline", "CancelledContext/Update", "CancelledContext/Delete", "CancelledContext/Members"},
			wantPass: []string{"CreateGet", "Members"},
		},
		{
			name:     "cancellation reported as permanent",
			conn:     func() targets.Connector { return &allPermanent{memory.New(memory.Config{})} },
			wantFail: []string{"CancelledContext", "CancelledContext/Create", "CancelledContext/CreateAfterDeadline", "CancelledContext/Read", "Lookup", "Lookup/CancelledContext"},
			wantPass: []string{"CreateGet", "Lookup/ByName"},
		},
		{
			name:     "AddMembers of a present member fails",
			conn:     func() targets.Connector { return &addStrict{memory.New(memory.Config{})} },
			wantFail: []string{"Members"},
			wantPass: []string{"Groups", "CreateGet"},
		},
		{
			name:     "rename re-creates the object",
			conn:     func() targets.Connector { return &renameRecreates{memory.New(memory.Config{})} },
			wantFail: append([]string{"Rename", "Members", "Groups", "HostileValues", "Lookup", "Lookup/RenameAndDelete"}, hostileChecks()...),
			wantPass: []string{"Update", "CreateGet"},
		},
		{
			name:     "update re-enables",
			conn:     func() targets.Connector { return &updateEnables{memory.New(memory.Config{})} },
			wantFail: []string{"DisableEnable"},
			wantPass: []string{"Update"},
		},
		{
			name:     "declares no groups but has them",
			conn:     func() targets.Connector { return &hidesGroups{memory.New(memory.Config{})} },
			wantFail: []string{"Unsupported"},
			wantSkip: []string{"Groups", "Members", "Lookup"},
		},
		{
			name:     "declares no lookup but has it",
			conn:     func() targets.Connector { return &hidesLookup{memory.New(memory.Config{})} },
			wantFail: []string{"Unsupported"},
			wantSkip: []string{"Lookup"},
			wantPass: []string{"Groups", "DisableEnable"},
		},
		{
			name:     "declares lookup but is no Finder",
			conn:     func() targets.Connector { return struct{ targets.Connector }{memory.New(memory.Config{})} },
			wantFail: []string{"Lookup"},
			wantPass: []string{"CreateGet", "Groups"},
		},
		{
			name:     "lookup matches * as a wildcard",
			conn:     func() targets.Connector { return &lookupPattern{memory.New(memory.Config{})} },
			wantFail: []string{"Lookup", "Lookup/Literal"},
			wantPass: []string{"Lookup/ByName", "Lookup/Several", "Lookup/Literal/displayName/star"},
		},
		{
			name:     "lookup ignores the limit",
			conn:     func() targets.Connector { return &lookupNoLimit{memory.New(memory.Config{})} },
			wantFail: []string{"Lookup", "Lookup/Several"},
			wantPass: []string{"Lookup/ByName", "Lookup/Literal"},
		},
		{
			name:     "lookup without object ids",
			conn:     func() targets.Connector { return &lookupNoObjectID{memory.New(memory.Config{})} },
			wantFail: append([]string{"Lookup", "Lookup/ByName", "Lookup/MultiValued", "Lookup/Several", "Lookup/RenameAndDelete", "Lookup/Groups", "Lookup/Literal"}, literalChecks()...),
			wantPass: []string{"Lookup/NoMatch", "Lookup/UnknownAttribute"},
		},
		{
			name:     "lookup of an unknown attribute finds nothing",
			conn:     func() targets.Connector { return &lookupLax{memory.New(memory.Config{})} },
			wantFail: []string{"Lookup", "Lookup/UnknownAttribute", "Lookup/NotOneValue"},
			wantPass: []string{"Lookup/ByName", "Lookup/Literal"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runFakeSuite(tt.conn)
			var failed []string
			for n, st := range res.status {
				if st == "FAIL" {
					failed = append(failed, n)
				}
			}
			slices.Sort(failed)
			want := slices.Sorted(slices.Values(tt.wantFail))
			if !slices.Equal(failed, want) {
				t.Errorf("failed checks:\n  %s\nwant:\n  %s", strings.Join(failed, ", "), strings.Join(want, ", "))
				for _, n := range failed {
					if !slices.Contains(want, n) {
						t.Logf("%s:\n    %s", n, strings.Join(res.msgs[n], "\n    "))
					}
				}
			}
			for _, n := range tt.wantPass {
				if got := res.status[n]; got != "PASS" {
					t.Errorf("check %s: %s, want PASS", n, cmpOr(got, "not run"))
				}
			}
			for _, n := range tt.wantSkip {
				if got := res.status[n]; got != "SKIP" {
					t.Errorf("check %s: %s, want SKIP", n, cmpOr(got, "not run"))
				}
			}
			for _, c := range connChecks {
				if res.status[c.name] == "" {
					t.Errorf("check %s did not run", c.name)
				}
			}
		})
	}
}

// hostileChecks are the paths of the HostileValues subtests.
func hostileChecks() []string {
	var out []string
	for _, h := range connHostile {
		out = append(out, "HostileValues/"+strings.ReplaceAll(h.name, " ", "_"))
	}
	return out
}

// literalChecks are the paths of the Lookup/Literal subtests of the
// default schema.
func literalChecks() []string {
	var out []string
	for _, attr := range []string{"displayName", "userName"} {
		for _, l := range connLookupLiteral {
			out = append(out, "Lookup/Literal/"+attr+"/"+strings.ReplaceAll(l.name, " ", "_"))
		}
	}
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runFakeSuite runs the suite as RunReport does, with no output, and
// returns the outcome of every check and subtest.
func runFakeSuite(conn func() targets.Connector) *report {
	r := &report{out: io.Discard}
	runConnector(&reportTB{r: r, ctx: context.Background()}, func(testing.TB) targets.Connector { return conn() })
	return r
}

// The broken connectors: the memory connector with one bug each.

// dupCreate creates a second object when Create finds the object existing.
type dupCreate struct{ *memory.Connector }

func (c *dupCreate) Create(ctx context.Context, op targets.Op) (string, error) {
	a, err := c.Connector.Create(ctx, op)
	if errors.Is(err, targets.ErrConflict) {
		op.ObjectID += "-again"
		return c.Connector.Create(ctx, op)
	}
	return a, err
}

// mangleRead trims spaces and drops NUL bytes from the strings it reads.
type mangleRead struct{ *memory.Connector }

func mangle(o targets.Object) targets.Object {
	for k, v := range o.Attrs {
		if s, ok := v.(string); ok {
			o.Attrs[k] = strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
		}
	}
	return o
}

func (c *mangleRead) Get(ctx context.Context, k targets.Kind, a string) (targets.Object, error) {
	o, err := c.Connector.Get(ctx, k, a)
	return mangle(o), err
}

func (c *mangleRead) List(ctx context.Context, k targets.Kind, cur string, n int) (targets.Page, error) {
	p, err := c.Connector.List(ctx, k, cur, n)
	for i := range p.Objects {
		p.Objects[i] = mangle(p.Objects[i])
	}
	return p, err
}

// escapeWrite stores quotes backslash-escaped (escaping done twice).
type escapeWrite struct{ *memory.Connector }

func escape(op targets.Op) targets.Op {
	attrs := make(map[string]any, len(op.Attrs))
	for k, v := range op.Attrs {
		if s, ok := v.(string); ok {
			v = strings.ReplaceAll(s, "'", `\'`)
		}
		attrs[k] = v
	}
	op.Attrs = attrs
	return op
}

func (c *escapeWrite) Create(ctx context.Context, op targets.Op) (string, error) {
	return c.Connector.Create(ctx, escape(op))
}

func (c *escapeWrite) Update(ctx context.Context, op targets.Op) error {
	return c.Connector.Update(ctx, escape(op))
}

// listSkips loses the last object of every page but the last.
type listSkips struct{ *memory.Connector }

func (c *listSkips) List(ctx context.Context, k targets.Kind, cur string, n int) (targets.Page, error) {
	p, err := c.Connector.List(ctx, k, cur, n)
	if p.Next != "" && len(p.Objects) > 1 {
		p.Objects = p.Objects[:len(p.Objects)-1]
	}
	return p, err
}

// listRestarts answers every page from the start.
type listRestarts struct{ *memory.Connector }

func (c *listRestarts) List(ctx context.Context, k targets.Kind, _ string, n int) (targets.Page, error) {
	return c.Connector.List(ctx, k, "", n)
}

// deleteStrict reports a missing object on Delete.
type deleteStrict struct{ *memory.Connector }

func (c *deleteStrict) Delete(ctx context.Context, op targets.Op) error {
	if _, err := c.Connector.Get(ctx, op.Kind, op.Anchor); err != nil {
		return err
	}
	return c.Connector.Delete(ctx, op)
}

// ignoreCtx drops the context of every write.
type ignoreCtx struct{ *memory.Connector }

func (c *ignoreCtx) Create(_ context.Context, op targets.Op) (string, error) {
	return c.Connector.Create(context.Background(), op)
}
func (c *ignoreCtx) Update(_ context.Context, op targets.Op) error {
	return c.Connector.Update(context.Background(), op)
}
func (c *ignoreCtx) Delete(_ context.Context, op targets.Op) error {
	return c.Connector.Delete(context.Background(), op)
}
func (c *ignoreCtx) AddMembers(_ context.Context, op targets.Op) error {
	return c.Connector.AddMembers(context.Background(), op)
}
func (c *ignoreCtx) RemoveMembers(_ context.Context, op targets.Op) error {
	return c.Connector.RemoveMembers(context.Background(), op)
}

// allPermanent reports transient errors (cancellations) as permanent.
type allPermanent struct{ *memory.Connector }

func perm(err error) error {
	if targets.Class(err) == targets.ErrTransient {
		return targets.Permanent(errors.New(err.Error()))
	}
	return err
}

func (c *allPermanent) Create(ctx context.Context, op targets.Op) (string, error) {
	a, err := c.Connector.Create(ctx, op)
	return a, perm(err)
}
func (c *allPermanent) Get(ctx context.Context, k targets.Kind, a string) (targets.Object, error) {
	o, err := c.Connector.Get(ctx, k, a)
	return o, perm(err)
}
func (c *allPermanent) List(ctx context.Context, k targets.Kind, cur string, n int) (targets.Page, error) {
	p, err := c.Connector.List(ctx, k, cur, n)
	return p, perm(err)
}
func (c *allPermanent) Lookup(ctx context.Context, k targets.Kind, attr string, v any, n int) ([]targets.Object, error) {
	objs, err := c.Connector.Lookup(ctx, k, attr, v, n)
	return objs, perm(err)
}

// addStrict fails AddMembers of a member already present.
type addStrict struct{ *memory.Connector }

func (c *addStrict) AddMembers(ctx context.Context, op targets.Op) error {
	g, err := c.Connector.Get(ctx, targets.Group, op.Anchor)
	if err == nil {
		for _, m := range op.Members {
			if slices.Contains(g.Members, m) {
				return &targets.ConflictError{Err: fmt.Errorf("member %s exists", m)}
			}
		}
	}
	return c.Connector.AddMembers(ctx, op)
}

// renameRecreates implements a rename as delete and create, losing the
// anchor (and memberships).
type renameRecreates struct{ *memory.Connector }

func (c *renameRecreates) Update(ctx context.Context, op targets.Op) error {
	name := "userName"
	if op.Kind == targets.Group {
		name = "displayName"
	}
	if _, renamed := op.Attrs[name]; !renamed {
		return c.Connector.Update(ctx, op)
	}
	o, err := c.Connector.Get(ctx, op.Kind, op.Anchor)
	if err != nil {
		return err
	}
	if err := c.Connector.Delete(ctx, op); err != nil {
		return err
	}
	for k, v := range op.Attrs {
		o.Attrs[k] = v
	}
	op.Attrs, op.Anchor = o.Attrs, ""
	_, err = c.Connector.Create(ctx, op)
	return err
}

// updateEnables writes the user enabled on every Update.
type updateEnables struct{ *memory.Connector }

func (c *updateEnables) Update(ctx context.Context, op targets.Op) error {
	if err := c.Connector.Update(ctx, op); err != nil {
		return err
	}
	if op.Kind == targets.User {
		return c.Connector.Enable(ctx, op)
	}
	return nil
}

// hidesGroups declares no groups but serves them.
type hidesGroups struct{ *memory.Connector }

func (c *hidesGroups) Capabilities() targets.Capabilities {
	return targets.Capabilities{Disable: true}
}

// hidesLookup declares no lookup but serves it.
type hidesLookup struct{ *memory.Connector }

func (c *hidesLookup) Capabilities() targets.Capabilities {
	return targets.Capabilities{Groups: true, Disable: true}
}

// lookupPattern matches a string value as a pattern in which '*' stands
// for any characters, as a filter built without escaping would.
type lookupPattern struct{ *memory.Connector }

func (c *lookupPattern) Lookup(ctx context.Context, k targets.Kind, attr string, v any, n int) ([]targets.Object, error) {
	pattern, ok := v.(string)
	if !ok || !strings.Contains(pattern, "*") {
		return c.Connector.Lookup(ctx, k, attr, v, n)
	}
	page, err := c.List(ctx, k, "", 0)
	if err != nil {
		return nil, err
	}
	var out []targets.Object
	for _, o := range page.Objects {
		if s, ok := o.Attrs[attr].(string); ok && glob(pattern, s) {
			out = append(out, o)
		}
	}
	return out, nil
}

// glob matches s against pattern, '*' matching any characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// lookupNoLimit returns every match, whatever the limit.
type lookupNoLimit struct{ *memory.Connector }

func (c *lookupNoLimit) Lookup(ctx context.Context, k targets.Kind, attr string, v any, _ int) ([]targets.Object, error) {
	return c.Connector.Lookup(ctx, k, attr, v, 0)
}

// lookupNoObjectID returns objects without their object ids.
type lookupNoObjectID struct{ *memory.Connector }

func (c *lookupNoObjectID) Lookup(ctx context.Context, k targets.Kind, attr string, v any, n int) ([]targets.Object, error) {
	objs, err := c.Connector.Lookup(ctx, k, attr, v, n)
	for i := range objs {
		objs[i].ObjectID = ""
	}
	return objs, err
}

// lookupLax answers a lookup it cannot make with no match.
type lookupLax struct{ *memory.Connector }

func (c *lookupLax) Lookup(ctx context.Context, k targets.Kind, attr string, v any, n int) ([]targets.Object, error) {
	objs, err := c.Connector.Lookup(ctx, k, attr, v, n)
	if targets.Class(err) == targets.ErrPermanent {
		return nil, nil
	}
	return objs, err
}
