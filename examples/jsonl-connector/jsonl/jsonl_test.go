package jsonl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/examples/jsonl-connector/jsonl"
	"github.com/scimgate/scimgate/targets"
)

// TestConformance: the example connector passes the connector suite, on
// one directory shared by every check.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	connector.Run(t, func(t *testing.T) targets.Connector {
		c, err := jsonl.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// TestRestart: a reopened directory holds the same objects, with their
// types, and a repeated Create after the restart is a conflict with the
// first anchor (nothing duplicated).
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := jsonl.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]any{"userName": "ada", "n": int64(3), "whole": 2.0, "vip": true, "mail": []string{"a@x", "b@x"}}
	create := targets.Op{ID: "op1", ObjectID: "obj1", Kind: targets.User, Attrs: attrs}
	anchor, err := c.Create(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Create(ctx, targets.Op{ID: "op2", ObjectID: "obj2", Kind: targets.Group, Attrs: map[string]any{"displayName": "G"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddMembers(ctx, targets.Op{ID: "op3", ObjectID: "obj2", Kind: targets.Group, Anchor: g, Members: []string{anchor}}); err != nil {
		t.Fatal(err)
	}
	// A kill during a rewrite leaves a temporary file behind.
	if err := os.WriteFile(filepath.Join(dir, ".users.jsonl.123.tmp"), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}

	c2, err := jsonl.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.Get(ctx, targets.User, anchor)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range attrs {
		if k == "mail" {
			if strings.Join(got.Attrs[k].([]string), ",") != "a@x,b@x" {
				t.Errorf("mail = %#v", got.Attrs[k])
			}
			continue
		}
		if got.Attrs[k] != want {
			t.Errorf("after the restart %s = %#v (%T), want %#v (%T)", k, got.Attrs[k], got.Attrs[k], want, want)
		}
	}
	if gg, err := c2.Get(ctx, targets.Group, g); err != nil || len(gg.Members) != 1 || gg.Members[0] != anchor {
		t.Errorf("group after the restart: %+v, %v", gg, err)
	}
	_, err = c2.Create(ctx, create)
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.Anchor != anchor || ce.ObjectID != "obj1" {
		t.Errorf("Create repeated after the restart: %v, want a conflict with anchor %q", err, anchor)
	}
	if p, err := c2.List(ctx, targets.User, "", 0); err != nil || len(p.Objects) != 1 {
		t.Errorf("List after the repeated Create: %d users, %v; want 1", len(p.Objects), err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
		t.Errorf("stale temporary files left: %v", tmp)
	}
}

// TestLookup: Lookup compares values literally (type and case included), a
// list attribute holds each of its strings, and the userName index follows
// renames and restarts.
func TestLookup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := jsonl.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	create := func(kind targets.Kind, id string, attrs map[string]any) string {
		t.Helper()
		a, err := c.Create(ctx, targets.Op{ID: "c-" + id, ObjectID: id, Kind: kind, Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ada := create(targets.User, "u1", map[string]any{"userName": "ada", "mail": []string{"ada@x", "a@x"}, "n": int64(2), "dept": "eng"})
	bob := create(targets.User, "u2", map[string]any{"userName": "bob", "mail": []string{"bob@x"}, "n": 2.0, "dept": "eng"})
	eve := create(targets.User, "u3", map[string]any{"userName": "eve", "dept": "eng", "vip": true})
	grp := create(targets.Group, "g1", map[string]any{"displayName": "ada"})

	tests := []struct {
		name  string
		kind  targets.Kind
		attr  string
		value any
		limit int
		want  []string // anchors, in any order; nil with class set
		class error
	}{
		{"userName", targets.User, "userName", "ada", 0, []string{ada}, nil},
		{"userName differs in case", targets.User, "userName", "ADA", 0, []string{}, nil},
		{"userName with a space", targets.User, "userName", "ada ", 0, []string{}, nil},
		{"a value of a list", targets.User, "mail", "a@x", 0, []string{ada}, nil},
		{"int64 is not float64", targets.User, "n", int64(2), 0, []string{ada}, nil},
		{"float64 is not int64", targets.User, "n", 2.0, 0, []string{bob}, nil},
		{"bool", targets.User, "vip", true, 0, []string{eve}, nil},
		{"several", targets.User, "dept", "eng", 0, []string{ada, bob, eve}, nil},
		{"limit", targets.User, "dept", "eng", 2, nil, nil},
		{"the kind asked for only", targets.Group, "displayName", "ada", 0, []string{grp}, nil},
		{"an attribute nobody has", targets.User, "title", "ada", 0, []string{}, nil},
		{"null", targets.User, "userName", nil, 0, nil, targets.ErrPermanent},
		{"a list value", targets.User, "mail", []string{"a@x"}, 0, nil, targets.ErrPermanent},
		{"no attribute name", targets.User, "", "ada", 0, nil, targets.ErrPermanent},
		{"unknown kind", "Robot", "userName", "ada", 0, nil, targets.ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Lookup(ctx, tt.kind, tt.attr, tt.value, tt.limit)
			if tt.class != nil {
				if !errors.Is(err, tt.class) {
					t.Errorf("Lookup: %v, %v; want an error matching %v", got, err, tt.class)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if tt.limit > 0 {
				if len(got) != tt.limit {
					t.Errorf("Lookup with limit %d: %d objects", tt.limit, len(got))
				}
				return
			}
			var anchors []string
			for _, o := range got {
				if o.Kind != tt.kind || o.ObjectID == "" {
					t.Errorf("object %+v: want a %s with its object id", o, tt.kind)
				}
				anchors = append(anchors, o.Anchor)
			}
			if !sameSet(anchors, tt.want) {
				t.Errorf("Lookup found %v, want %v", anchors, tt.want)
			}
		})
	}

	// A rename moves the index; a restart rebuilds it.
	if err := c.Update(ctx, targets.Op{ID: "r", ObjectID: "u1", Kind: targets.User, Anchor: ada, Attrs: map[string]any{"userName": "ada2"}}); err != nil {
		t.Fatal(err)
	}
	c2, err := jsonl.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*jsonl.Connector{c, c2} {
		if got, err := conn.Lookup(ctx, targets.User, "userName", "ada", 0); err != nil || len(got) != 0 {
			t.Errorf("Lookup of the old name: %v, %v; want nothing", got, err)
		}
		if got, err := conn.Lookup(ctx, targets.User, "userName", "ada2", 0); err != nil || len(got) != 1 || got[0].Anchor != ada || got[0].ObjectID != "u1" {
			t.Errorf("Lookup of the new name: %+v, %v; want %s", got, err, ada)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Lookup(cancelled, targets.User, "userName", "bob", 0); !errors.Is(targets.Class(err), targets.ErrTransient) {
		t.Errorf("Lookup with a done context: %v, want a transient error", err)
	}
}

func sameSet(a, b []string) bool {
	return strings.Join(slices.Sorted(slices.Values(a)), ",") == strings.Join(slices.Sorted(slices.Values(b)), ",")
}
