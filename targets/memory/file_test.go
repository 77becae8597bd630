package memory_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// open opens a memory connector on the state file name.
func open(t *testing.T, name string) *memory.Connector {
	t.Helper()
	c, err := (&memory.Config{File: name}).Open(context.Background(), targets.Env{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c.(*memory.Connector)
}

func TestConformanceWithFile(t *testing.T) {
	connector.Run(t, func(t *testing.T) targets.Connector {
		return open(t, filepath.Join(t.TempDir(), "state.json"))
	})
}

// TestFileSurvivesReopen: every change is in the file when the call
// returns, with its types, and a reopened connector goes on from there.
func TestFileSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	name := filepath.Join(t.TempDir(), "state.json")
	c := open(t, name)
	u1, err := c.Create(ctx, targets.Op{ID: "op1", ObjectID: "u1", Kind: targets.User, Attrs: map[string]any{
		"userName": "ada", "n": int64(3), "f": 2.0, "ok": true, "tags": []string{"a", "b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	u2, err := c.Create(ctx, user("u2", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Create(ctx, targets.Op{ID: "op3", ObjectID: "g1", Kind: targets.Group, Attrs: map[string]any{"name": "staff"}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		call func() error
	}{
		{"AddMembers", func() error {
			return c.AddMembers(ctx, targets.Op{ID: "op4", ObjectID: "g1", Kind: targets.Group, Anchor: g, Members: []string{u1, u2}})
		}},
		{"Disable", func() error {
			return c.Disable(ctx, targets.Op{ID: "op5", ObjectID: "u1", Kind: targets.User, Anchor: u1})
		}},
		{"Update", func() error {
			return c.Update(ctx, targets.Op{ID: "op6", ObjectID: "u1", Kind: targets.User, Anchor: u1, Attrs: map[string]any{"userName": "ada2", "n": nil}})
		}},
		{"Delete", func() error {
			return c.Delete(ctx, targets.Op{ID: "op7", ObjectID: "u2", Kind: targets.User, Anchor: u2})
		}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		// The change is on disk: a second connector on the file sees it.
		if got, want := open(t, name).Snapshot(), c.Snapshot(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s, the file holds\n%+v\nwant\n%+v", s.name, got, want)
		}
	}
	want := []targets.Object{
		{Kind: targets.User, Anchor: u1, ObjectID: "u1", Disabled: true, Attrs: map[string]any{"userName": "ada2", "f": 2.0, "ok": true, "tags": []string{"a", "b"}}},
		{Kind: targets.Group, Anchor: g, ObjectID: "g1", Attrs: map[string]any{"name": "staff"}, Members: []string{u1}},
	}
	if got := open(t, name).Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened state\n%+v\nwant\n%+v", got, want)
	}
	// A reopened connector keeps the rules: no second object for an
	// object id, no reuse of an anchor.
	c2 := open(t, name)
	var ce *targets.ConflictError
	if _, err := c2.Create(ctx, user("u1", "other")); !errors.As(err, &ce) || ce.Anchor != u1 {
		t.Errorf("Create of a known object id after reopen: %v, want a conflict with anchor %q", err, u1)
	}
	if a, err := c2.Create(ctx, user("u3", "carol")); err != nil || a == u1 || a == u2 || a == g {
		t.Errorf("Create after reopen: %q, %v; want a new anchor", a, err)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&memory.Config{File: bad}).Open(context.Background(), targets.Env{}); !errors.Is(err, memory.ErrStateFile) {
		t.Errorf("Open of a corrupt file: %v, want ErrStateFile", err)
	}
	// A file that cannot be written: the change fails, transient.
	c := open(t, filepath.Join(dir, "missing-dir", "state.json"))
	if _, err := c.Create(context.Background(), user("u1", "ada")); !errors.Is(err, memory.ErrStateFile) || targets.Class(err) != targets.ErrTransient {
		t.Errorf("Create with an unwritable file: %v, want a transient ErrStateFile", err)
	}
}
