package jsonl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
