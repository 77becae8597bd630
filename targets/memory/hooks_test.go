package memory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

var down = targets.Transient(errors.New("target down"))

// user returns a Create operation for a user named name.
func user(id, name string) targets.Op {
	return targets.Op{ID: "op-" + id, ObjectID: id, Kind: targets.User, Attrs: map[string]any{"userName": name}}
}

func TestConformanceWithoutCapabilities(t *testing.T) {
	connector.Run(t, func(t *testing.T) targets.Connector {
		return memory.New(memory.Config{Capabilities: &targets.Capabilities{}})
	})
}

func TestConformanceUniqueGroups(t *testing.T) {
	connector.Run(t, func(t *testing.T) targets.Connector {
		return memory.New(memory.Config{Unique: map[targets.Kind][]string{
			targets.User: {"userName"}, targets.Group: {"displayName"},
		}})
	}, connector.WithListing(40, 7))
}

func TestZeroValue(t *testing.T) {
	var c memory.Connector
	ctx := context.Background()
	if caps := c.Capabilities(); !caps.Groups || !caps.Disable || !caps.Lookup {
		t.Errorf("Capabilities() = %+v, want all", caps)
	}
	a, err := c.Create(ctx, user("o1", "ada"))
	if err != nil || a == "" {
		t.Fatalf("Create: %q, %v", a, err)
	}
	if _, err := c.Create(ctx, user("o2", "ada")); !errors.Is(err, targets.ErrConflict) {
		t.Errorf("Create of a taken userName: %v, want a conflict (default unique userName)", err)
	}
	if got := c.Snapshot(); len(got) != 1 || got[0].Anchor != a {
		t.Errorf("Snapshot() = %+v", got)
	}
}

func TestFaults(t *testing.T) {
	type step struct {
		op      targets.Op
		wantErr error // class wanted (nil: success)
	}
	tests := []struct {
		name      string
		faults    []memory.Fault
		steps     []step
		wantUsers int
	}{
		{
			name:   "transient for two calls",
			faults: []memory.Fault{{Method: memory.Create, Err: down, Times: 2}},
			steps: []step{
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), nil},
			},
			wantUsers: 1,
		},
		{
			name:   "until cleared",
			faults: []memory.Fault{{Err: down}},
			steps: []step{
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), targets.ErrTransient},
			},
		},
		{
			name:   "permanent",
			faults: []memory.Fault{{Err: targets.Permanent(errors.New("denied")), Times: 1}},
			steps: []step{
				{user("o1", "a"), targets.ErrPermanent},
				{user("o1", "a"), nil},
			},
			wantUsers: 1,
		},
		{
			name:   "only the matching object",
			faults: []memory.Fault{{ObjectID: "o2", Err: down}},
			steps: []step{
				{user("o1", "a"), nil},
				{user("o2", "b"), targets.ErrTransient},
				{user("o3", "c"), nil},
			},
			wantUsers: 2,
		},
		{
			name:   "only the matching kind",
			faults: []memory.Fault{{Kind: targets.Group, Err: down}},
			steps: []step{
				{user("o1", "a"), nil},
				{targets.Op{ID: "g", ObjectID: "g", Kind: targets.Group}, targets.ErrTransient},
			},
			wantUsers: 1,
		},
		{
			name:   "lost answer: applied, then the retry conflicts",
			faults: []memory.Fault{{Method: memory.Create, Err: down, Times: 1, Applied: true}},
			steps: []step{
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), targets.ErrConflict},
			},
			wantUsers: 1,
		},
		{
			name:   "first matching fault wins",
			faults: []memory.Fault{{Err: targets.Permanent(errors.New("p")), Times: 1}, {Err: down, Times: 1}},
			steps: []step{
				{user("o1", "a"), targets.ErrPermanent},
				{user("o1", "a"), targets.ErrTransient},
				{user("o1", "a"), nil},
			},
			wantUsers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memory.New(memory.Config{})
			for _, f := range tt.faults {
				c.Inject(f)
			}
			for i, s := range tt.steps {
				_, err := c.Create(context.Background(), s.op)
				if got := targets.Class(err); got != s.wantErr {
					t.Errorf("step %d: %v, want class %v", i, err, s.wantErr)
				}
			}
			if got := len(c.Snapshot()); got != tt.wantUsers {
				t.Errorf("%d objects, want %d", got, tt.wantUsers)
			}
			if got := len(c.Calls()); got != len(tt.steps) {
				t.Errorf("%d calls recorded, want %d", got, len(tt.steps))
			}
			c.ClearFaults()
			if _, err := c.Create(context.Background(), user("after", "after")); err != nil {
				t.Errorf("Create after ClearFaults: %v", err)
			}
		})
	}
}

func TestFaultDelay(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		wantErr error
	}{
		{"slow target", time.Minute, nil},
		{"hanging target, deadline", 20 * time.Millisecond, targets.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memory.New(memory.Config{})
			delay := 100 * time.Millisecond
			if tt.wantErr != nil {
				delay = time.Hour
			}
			c.Inject(memory.Fault{Method: memory.Create, Delay: delay})
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			_, err := c.Create(ctx, user("o1", "a"))
			if got := targets.Class(err); got != tt.wantErr {
				t.Fatalf("Create: %v, want class %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Create: %v, want it to wrap the context's error", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Create took %v", d)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantErr == nil]; len(c.Snapshot()) != want {
				t.Errorf("%d objects, want %d", len(c.Snapshot()), want)
			}
		})
	}
}

func TestFaultDelayDoesNotBlockOtherObjects(t *testing.T) {
	c := memory.New(memory.Config{})
	c.Inject(memory.Fault{ObjectID: "slow", Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Create(ctx, user("slow", "slow")) })
	start := time.Now()
	if _, err := c.Create(context.Background(), user("fast", "fast")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a delayed call held up another object for %v", d)
	}
	cancel()
	wg.Wait()
}

func TestCalls(t *testing.T) {
	c := memory.New(memory.Config{})
	ctx := context.Background()
	u := user("o1", "ada")
	a, err := c.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	g := targets.Op{ID: "g1", ObjectID: "og", Kind: targets.Group, Attrs: map[string]any{"displayName": "eng"}}
	ga, err := c.Create(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	upd := targets.Op{ID: "u2", ObjectID: "o1", Kind: targets.User, Anchor: a, Attrs: map[string]any{"title": "x"}}
	c.Update(ctx, upd)
	add := targets.Op{ID: "m1", ObjectID: "og", Kind: targets.Group, Anchor: ga, Members: []string{a}}
	c.AddMembers(ctx, add)
	c.Get(ctx, targets.User, a) // reads are not recorded
	missing := targets.Op{ID: "u3", ObjectID: "gone", Kind: targets.User, Anchor: "user-99"}
	c.Update(ctx, missing)

	calls := c.Calls()
	want := []struct {
		m     memory.Method
		id    string
		class error
	}{
		{memory.Create, "op-o1", nil},
		{memory.Create, "g1", nil},
		{memory.Update, "u2", nil},
		{memory.AddMembers, "m1", nil},
		{memory.Update, "u3", targets.ErrNotFound},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(calls), len(want), calls)
	}
	for i, w := range want {
		if calls[i].Method != w.m || calls[i].Op.ID != w.id || targets.Class(calls[i].Err) != w.class {
			t.Errorf("call %d = %s %s %v, want %s %s class %v", i, calls[i].Method, calls[i].Op.ID, calls[i].Err, w.m, w.id, w.class)
		}
	}
	if calls[0].Anchor != a {
		t.Errorf("Create call anchor %q, want %q", calls[0].Anchor, a)
	}
	calls[3].Op.Members[0] = "mutated"
	calls[2].Op.Attrs["title"] = "mutated"
	if again := c.Calls(); again[3].Op.Members[0] != a || again[2].Op.Attrs["title"] != "x" {
		t.Errorf("Calls returned memory shared with the record")
	}
	add.Members[0] = "mutated after the call"
	if c.Calls()[3].Op.Members[0] != a {
		t.Errorf("the record shares memory with the caller's operation")
	}
	c.ResetCalls()
	if n := len(c.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
}

func TestSnapshot(t *testing.T) {
	c := memory.New(memory.Config{})
	ctx := context.Background()
	g, _ := c.Create(ctx, targets.Op{ID: "g", ObjectID: "g", Kind: targets.Group, Attrs: map[string]any{"displayName": "eng"}})
	u1, _ := c.Create(ctx, user("o1", "a"))
	u2, _ := c.Create(ctx, user("o2", "b"))
	c.AddMembers(ctx, targets.Op{ID: "m", ObjectID: "g", Kind: targets.Group, Anchor: g, Members: []string{u2, u1}})
	c.Disable(ctx, targets.Op{ID: "d", ObjectID: "o2", Kind: targets.User, Anchor: u2})
	c.Delete(ctx, targets.Op{ID: "x", ObjectID: "o1", Kind: targets.User, Anchor: u1})

	snap := c.Snapshot()
	var anchors []string
	for _, o := range snap {
		anchors = append(anchors, o.Anchor)
	}
	if want := []string{u2, g}; !slices.Equal(anchors, want) {
		t.Fatalf("Snapshot anchors %q, want %q (users, then groups)", anchors, want)
	}
	if !snap[0].Disabled || snap[0].ObjectID != "o2" || snap[0].Attrs["userName"] != "b" {
		t.Errorf("user %+v", snap[0])
	}
	if !slices.Equal(snap[1].Members, []string{u2}) {
		t.Errorf("members %q, want only %q (the deleted member is gone)", snap[1].Members, u2)
	}
	snap[0].Attrs["userName"] = "mutated"
	if c.Snapshot()[0].Attrs["userName"] != "b" {
		t.Errorf("Snapshot shares memory with the connector")
	}
}

func TestClose(t *testing.T) {
	c := memory.New(memory.Config{})
	ctx := context.Background()
	a, _ := c.Create(ctx, user("o1", "a"))
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(ctx, targets.User, a)
	if !errors.Is(err, memory.ErrClosed) || targets.Class(err) != targets.ErrPermanent {
		t.Errorf("Get after Close: %v, want ErrClosed (permanent)", err)
	}
	if _, err := c.Create(ctx, user("o2", "b")); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Create after Close: %v", err)
	}
	if len(c.Snapshot()) != 1 {
		t.Errorf("Snapshot after Close lost the state")
	}
}

func TestMalformedOperations(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(c *memory.Connector) error
	}{
		{"create without operation id", func(c *memory.Connector) error {
			_, err := c.Create(ctx, targets.Op{ObjectID: "o", Kind: targets.User})
			return err
		}},
		{"create without object id", func(c *memory.Connector) error {
			_, err := c.Create(ctx, targets.Op{ID: "x", Kind: targets.User})
			return err
		}},
		{"create with an anchor", func(c *memory.Connector) error {
			_, err := c.Create(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: targets.User, Anchor: "user-1"})
			return err
		}},
		{"unknown kind", func(c *memory.Connector) error {
			_, err := c.Create(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: "Device"})
			return err
		}},
		{"int attribute", func(c *memory.Connector) error {
			_, err := c.Create(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: targets.User, Attrs: map[string]any{"age": 3}})
			return err
		}},
		{"update without anchor", func(c *memory.Connector) error {
			return c.Update(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: targets.User})
		}},
		{"disable a group", func(c *memory.Connector) error {
			return c.Disable(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: targets.Group, Anchor: "group-1"})
		}},
		{"members of a user", func(c *memory.Connector) error {
			return c.AddMembers(ctx, targets.Op{ID: "x", ObjectID: "o", Kind: targets.User, Anchor: "user-1"})
		}},
		{"invalid cursor", func(c *memory.Connector) error {
			_, err := c.List(ctx, targets.User, "not-a-cursor", 10)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memory.New(memory.Config{})
			if err := tt.call(c); targets.Class(err) != targets.ErrPermanent {
				t.Errorf("%v, want a permanent error", err)
			}
			if len(c.Snapshot()) != 0 {
				t.Errorf("a malformed operation changed the state")
			}
		})
	}
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     memory.Config
		wantErr string
		check   func(t *testing.T, c targets.Connector)
	}{
		{name: "defaults", check: func(t *testing.T, c targets.Connector) {
			if caps := c.Capabilities(); caps != (targets.Capabilities{Groups: true, Disable: true, Lookup: true}) {
				t.Errorf("caps %+v", caps)
			}
		}},
		{name: "no disable", cfg: memory.Config{Capabilities: &targets.Capabilities{Groups: true}}, check: func(t *testing.T, c targets.Connector) {
			a, _ := c.Create(ctx, user("o", "a"))
			err := c.Disable(ctx, targets.Op{ID: "d", ObjectID: "o", Kind: targets.User, Anchor: a})
			if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, targets.ErrPermanent) {
				t.Errorf("Disable: %v, want unsupported", err)
			}
		}},
		{name: "unique group names", cfg: memory.Config{Unique: map[targets.Kind][]string{targets.Group: {"displayName"}}}, check: func(t *testing.T, c targets.Connector) {
			g := func(id string) error {
				_, err := c.Create(ctx, targets.Op{ID: id, ObjectID: id, Kind: targets.Group, Attrs: map[string]any{"displayName": "eng"}})
				return err
			}
			if err := g("g1"); err != nil {
				t.Fatal(err)
			}
			if err := g("g2"); !errors.Is(err, targets.ErrConflict) {
				t.Errorf("second group named eng: %v", err)
			}
			// Users are no longer unique by userName: the map replaces the default.
			if _, err := c.Create(ctx, user("u1", "same")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, user("u2", "same")); err != nil {
				t.Errorf("users with one name: %v", err)
			}
		}},
		{name: "unknown kind", cfg: memory.Config{Unique: map[targets.Kind][]string{"user": {"x"}}}, wantErr: `unique: unknown kind "user" (want User or Group)`},
		{name: "empty attribute", cfg: memory.Config{Unique: map[targets.Kind][]string{targets.User: {""}}}, wantErr: "unique.User[0]: empty attribute name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Validate: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := tt.cfg.Open(ctx, targets.Env{Name: "mem"})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestValidateReportsEveryProblem: Validate reports every problem of a
// configuration, in the same order on every call (not the order of a map).
func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  memory.Config
		want []string
	}{
		{name: "kinds and attributes", cfg: memory.Config{Unique: map[targets.Kind][]string{
			"user": {"x"}, "group": {"y"}, targets.User: {"userName", ""}, targets.Group: {""},
		}}, want: []string{
			`unique.Group[0]: empty attribute name`,
			`unique.User[1]: empty attribute name`,
			`unique: unknown kind "group" (want User or Group)`,
			`unique: unknown kind "user" (want User or Group)`,
		}},
		{name: "valid", cfg: memory.Config{Unique: map[targets.Kind][]string{targets.User: {"userName"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.cfg.Unique)
			for range 20 { // map order changes between runs
				err := tt.cfg.Validate()
				got := []string(nil)
				if err != nil {
					got = strings.Split(err.Error(), "\n")
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			}
			if after := fmt.Sprint(tt.cfg.Unique); after != before {
				t.Errorf("Validate changed the configuration: %s, was %s", after, before)
			}
		})
	}
}
