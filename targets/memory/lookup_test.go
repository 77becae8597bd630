package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestLookup: values compare byte for byte and with their type, through
// the unique index (userName) and by a scan (the others) alike; a
// multi-valued attribute matches by any of its values.
func TestLookup(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Config{})
	anchors := map[string]string{}
	for _, u := range []struct {
		id    string
		attrs map[string]any
	}{
		{"ada", map[string]any{"userName": "Ada", "displayName": "Ada L", "mail": []string{"ada@example.com", "al@example.org"}, "emp": int64(5), "score": 2.5, "vip": true}},
		{"bob", map[string]any{"userName": "bob ", "displayName": "Ada L", "emp": "5", "vip": false}},
		{"eve", map[string]any{"userName": "e\x00ve", "mail": []string{"eve@example.com"}, "emp": int64(6)}},
	} {
		a, err := c.Create(ctx, targets.Op{ID: "op-" + u.id, ObjectID: u.id, Kind: targets.User, Attrs: u.attrs})
		if err != nil {
			t.Fatal(err)
		}
		anchors[a] = u.id
	}
	tests := []struct {
		name  string
		attr  string
		value any
		limit int
		want  []string // object ids, in creation order
	}{
		{"unique, exact", "userName", "Ada", 0, []string{"ada"}},
		{"unique, other case", "userName", "ada", 0, nil},
		{"unique, trailing space kept", "userName", "bob ", 0, []string{"bob"}},
		{"unique, without the trailing space", "userName", "bob", 0, nil},
		{"unique, NUL", "userName", "e\x00ve", 0, []string{"eve"}},
		{"unique, cut at NUL", "userName", "e", 0, nil},
		{"scan, two", "displayName", "Ada L", 0, []string{"ada", "bob"}},
		{"scan, limit 1", "displayName", "Ada L", 1, []string{"ada"}},
		{"scan, other case", "displayName", "ada l", 0, nil},
		{"multi-valued, first", "mail", "ada@example.com", 0, []string{"ada"}},
		{"multi-valued, second", "mail", "al@example.org", 0, []string{"ada"}},
		{"int64", "emp", int64(5), 0, []string{"ada"}},
		{"string is not int64", "emp", "5", 0, []string{"bob"}},
		{"float64", "score", 2.5, 0, []string{"ada"}},
		{"bool", "vip", false, 0, []string{"bob"}},
		{"star", "displayName", "*", 0, nil},
		{"attribute nobody has", "title", "x", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := c.Lookup(ctx, targets.User, tt.attr, tt.value, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, anchors[o.Anchor])
				if o.ObjectID != anchors[o.Anchor] {
					t.Errorf("%s: object id %q", o.Anchor, o.ObjectID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lookup %s=%q: %q, want %q", tt.attr, tt.value, got, tt.want)
			}
		})
	}
}

// TestLookupErrors: what Lookup refuses, and its faults.
func TestLookupErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		cfg    memory.Config
		prep   func(c *memory.Connector)
		kind   targets.Kind
		attr   string
		value  any
		want   error
		wantIs error
	}{
		{name: "empty attribute name", attr: "", value: "x", want: targets.ErrPermanent},
		{name: "nil value", attr: "userName", value: nil, want: targets.ErrPermanent},
		{name: "[]string value", attr: "userName", value: []string{"x"}, want: targets.ErrPermanent},
		{name: "int value", attr: "emp", value: 5, want: targets.ErrPermanent},
		{name: "unknown kind", kind: "user", attr: "userName", value: "x", want: targets.ErrPermanent},
		{name: "no lookup capability", cfg: memory.Config{Capabilities: &targets.Capabilities{Groups: true}},
			attr: "userName", value: "x", want: targets.ErrPermanent, wantIs: errors.ErrUnsupported},
		{name: "groups without the capability", cfg: memory.Config{Capabilities: &targets.Capabilities{Lookup: true}},
			kind: targets.Group, attr: "displayName", value: "x", want: targets.ErrPermanent, wantIs: errors.ErrUnsupported},
		{name: "injected fault", prep: func(c *memory.Connector) { c.Inject(memory.Fault{Method: memory.Lookup, Err: down}) },
			attr: "userName", value: "x", want: targets.ErrTransient, wantIs: down},
		{name: "closed", prep: func(c *memory.Connector) { c.Close(ctx) }, attr: "userName", value: "x", want: targets.ErrPermanent, wantIs: memory.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memory.New(tt.cfg)
			if tt.prep != nil {
				tt.prep(c)
			}
			kind := tt.kind
			if kind == "" {
				kind = targets.User
			}
			objs, err := c.Lookup(ctx, kind, tt.attr, tt.value, 0)
			if targets.Class(err) != tt.want || tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Lookup: %v, %v; want an error of class %v matching %v", objs, err, tt.want, tt.wantIs)
			}
		})
	}
}
