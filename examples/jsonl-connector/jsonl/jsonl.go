// Package jsonl is the example connector's target: users and groups kept
// as JSON lines, one file per kind (users.jsonl, groups.jsonl) holding the
// current objects, one object per line, sorted by anchor:
//
//	{"anchor":"4f0c…","objectId":"2819c223…","attributes":{"userName":"bjensen","active":true},"disabled":false}
//
// Every change is written durably before the call returns: the file of the
// changed kind is rewritten to a temporary file, synced, and renamed over
// the old one, so a kill at any moment leaves either the old or the new
// file. Concurrent changes share one rewrite (group commit). A restarted
// connector loads the files and carries on: an operation the gateway
// delivers again after a kill finds its effect already there (a repeated
// Create answers a conflict with the existing anchor, the targets
// contract's way of making it safe), so nothing is lost or duplicated.
//
// Attribute types survive the files: a JSON number with a fraction or an
// exponent is a float64 (written with ".0" when whole), any other number
// an int64.
//
// Lookup (targets.Finder, which lets the gateway adopt objects that exist
// before it creates them) compares values as the files hold them: exactly,
// type included, with no case folding or trimming, the way userName is
// kept unique; a list attribute holds each of its strings.
package jsonl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/targets"
)

// Files, in the directory of Open, by kind.
var Files = map[targets.Kind]string{targets.User: "users.jsonl", targets.Group: "groups.jsonl"}

// UniqueUserAttr is the user attribute no two users share.
const UniqueUserAttr = "userName"

// Record is one line of a file.
type Record struct {
	Anchor     string         `json:"anchor"`
	ObjectID   string         `json:"objectId,omitempty"`
	Attributes map[string]any `json:"attributes"`
	Disabled   bool           `json:"disabled,omitempty"`
	Members    []string       `json:"members,omitempty"`
}

// Connector is the JSON-lines target. It is safe for concurrent use.
type Connector struct {
	dir string

	mu      sync.Mutex
	objs    map[string]*targets.Object         // by anchor
	byID    map[targets.Kind]map[string]string // object id -> anchor
	byName  map[string]string                  // userName -> user anchor
	changed map[targets.Kind]uint64            // version of each kind's last change
	version uint64                             // changes applied so far
	lines   map[string][]byte                  // by anchor: the object's line, if encoded since its last change

	flushMu sync.Mutex // one write at a time
	written uint64     // guarded by flushMu: every change up to it is on disk
}

// Interface guards.
var (
	_ targets.Connector = (*Connector)(nil)
	_ targets.Finder    = (*Connector)(nil)
)

// DefaultLookupLimit is the most objects a Lookup with limit <= 0 returns.
const DefaultLookupLimit = 100

// Open loads the files of dir, creating dir when missing.
func Open(dir string) (*Connector, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Connector{
		dir:     dir,
		objs:    map[string]*targets.Object{},
		byID:    map[targets.Kind]map[string]string{targets.User: {}, targets.Group: {}},
		byName:  map[string]string{},
		changed: map[targets.Kind]uint64{},
		lines:   map[string][]byte{},
	}
	for kind, name := range Files {
		// A kill during a rewrite leaves a temporary file: the old file
		// is still whole.
		stale, _ := filepath.Glob(filepath.Join(dir, "."+name+".*.tmp"))
		for _, f := range stale {
			_ = os.Remove(f)
		}
		recs, err := ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			o := &targets.Object{Kind: kind, Anchor: r.Anchor, ObjectID: r.ObjectID, Attrs: r.Attributes, Disabled: r.Disabled, Members: r.Members}
			c.index(o, true)
		}
	}
	return c, nil
}

// ReadFile reads the records of one file; a missing file has none.
func ReadFile(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var r Record
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if r.Attributes, err = fromJSON(r.Attributes); err != nil || r.Anchor == "" {
			return nil, fmt.Errorf("%s:%d: invalid record (anchor %q): %v", path, i+1, r.Anchor, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Capabilities: users, groups, disable, lookup.
func (c *Connector) Capabilities() targets.Capabilities {
	return targets.Capabilities{Groups: true, Disable: true, Lookup: true}
}

// Create creates an object, or answers a conflict with the object that
// has its object id or its userName.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	var anchor string
	err := c.write(ctx, op, true, func() error {
		if id := c.byID[op.Kind][op.ObjectID]; id != "" {
			return conflict(c.objs[id])
		}
		attrs := setAttrs(nil, op.Attrs)
		if h := c.holder(op.Kind, attrs, ""); h != nil {
			return conflict(h)
		}
		anchor = uuid.NewString()
		o := &targets.Object{Kind: op.Kind, Anchor: anchor, ObjectID: op.ObjectID, Attrs: attrs}
		c.index(o, true)
		return nil
	})
	if err != nil {
		return "", err
	}
	return anchor, nil
}

// Update sets and clears attributes and records op.ObjectID.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	return c.write(ctx, op, false, func() error {
		o, err := c.target(op)
		if err != nil {
			return err
		}
		attrs := setAttrs(o.Attrs, op.Attrs)
		if h := c.holder(o.Kind, attrs, o.Anchor); h != nil {
			return conflict(h)
		}
		if id := c.byID[o.Kind][op.ObjectID]; id != "" && id != o.Anchor {
			return conflict(c.objs[id])
		}
		c.index(o, false)
		o.Attrs, o.ObjectID = attrs, op.ObjectID
		c.index(o, true)
		return nil
	})
}

// Delete removes an object and its memberships; a missing one is success.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	return c.write(ctx, op, false, func() error {
		o, err := c.target(op)
		if errors.Is(err, targets.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c.index(o, false)
		if o.Kind == targets.User {
			for _, g := range c.objs {
				if g.Kind == targets.Group && slices.Contains(g.Members, o.Anchor) {
					g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == o.Anchor })
					delete(c.lines, g.Anchor)
					c.touch(targets.Group)
				}
			}
		}
		return nil
	})
}

// Disable disables a user.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, true)
}

// Enable enables a user.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, false)
}

func (c *Connector) setDisabled(ctx context.Context, op targets.Op, disabled bool) error {
	return c.write(ctx, op, false, func() error {
		if op.Kind != targets.User {
			return targets.Permanent(fmt.Errorf("jsonl: disable of a %s: %w", op.Kind, errors.ErrUnsupported))
		}
		o, err := c.target(op)
		if err != nil {
			return err
		}
		o.Disabled = disabled
		return nil
	})
}

// AddMembers adds existing members to a group.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, true)
}

// RemoveMembers removes members from a group; absent ones are ignored.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, false)
}

func (c *Connector) members(ctx context.Context, op targets.Op, add bool) error {
	return c.write(ctx, op, false, func() error {
		if op.Kind != targets.Group {
			return targets.Permanent(fmt.Errorf("jsonl: members of a %s: %w", op.Kind, errors.ErrUnsupported))
		}
		g, err := c.target(op)
		if err != nil {
			return err
		}
		// Sets, so that a call costs the group's size plus the members'
		// count, not their product.
		if !add {
			drop := make(map[string]bool, len(op.Members))
			for _, m := range op.Members {
				drop[m] = true
			}
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return drop[m] })
			return nil
		}
		for _, m := range op.Members {
			if c.objs[m] == nil || m == g.Anchor {
				return targets.NotFound(fmt.Errorf("jsonl: member %q of group %q does not exist", m, g.Anchor))
			}
		}
		have := make(map[string]bool, len(g.Members)+len(op.Members))
		for _, m := range g.Members {
			have[m] = true
		}
		for _, m := range op.Members {
			if !have[m] {
				have[m] = true
				g.Members = append(g.Members, m)
			}
		}
		return nil
	})
}

// Get returns a copy of an object.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	if err := ctx.Err(); err != nil {
		return targets.Object{}, targets.Transient(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objs[anchor]
	if o == nil || o.Kind != kind {
		return targets.Object{}, targets.NotFound(fmt.Errorf("jsonl: no %s with anchor %q", kind, anchor))
	}
	return clone(o), nil
}

// List pages through the objects of a kind by anchor; the cursor is the
// last anchor of the page.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	if err := ctx.Err(); err != nil {
		return targets.Page{}, targets.Transient(err)
	}
	if cursor != "" {
		if _, err := uuid.Parse(cursor); err != nil {
			return targets.Page{}, targets.Permanent(fmt.Errorf("jsonl: invalid cursor %q", cursor))
		}
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var anchors []string
	for a, o := range c.objs {
		if o.Kind == kind && a > cursor {
			anchors = append(anchors, a)
		}
	}
	slices.Sort(anchors)
	var page targets.Page
	if len(anchors) > limit {
		anchors = anchors[:limit]
		page.Next = anchors[limit-1]
	}
	for _, a := range anchors {
		page.Objects = append(page.Objects, clone(c.objs[a]))
	}
	return page, nil
}

// Lookup returns the objects of kind whose attribute attr holds value, by
// anchor, at most limit of them (DefaultLookupLimit when limit <= 0). A
// value matches an attribute of the same type and the same value, or a
// list attribute one of whose strings it is; every attribute name is one
// the connector manages (it keeps any), so an unknown one matches nothing.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	switch value.(type) {
	case string, bool, int64, float64:
	default:
		return nil, targets.Permanent(fmt.Errorf("jsonl: lookup of attribute %q: a %T value, want one string, bool, int64 or float64", attr, value))
	}
	switch {
	case kind != targets.User && kind != targets.Group:
		return nil, targets.Permanent(fmt.Errorf("jsonl: lookup: unknown kind %q", kind))
	case attr == "":
		return nil, targets.Permanent(errors.New("jsonl: lookup without an attribute name"))
	}
	if limit <= 0 {
		limit = DefaultLookupLimit
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var anchors []string
	if name, ok := value.(string); ok && kind == targets.User && attr == UniqueUserAttr {
		if a := c.byName[name]; a != "" {
			anchors = append(anchors, a)
		}
	} else {
		for a, o := range c.objs {
			if o.Kind == kind && holds(o.Attrs[attr], value) {
				anchors = append(anchors, a)
			}
		}
		slices.Sort(anchors)
	}
	out := make([]targets.Object, 0, min(len(anchors), limit))
	for _, a := range anchors[:min(len(anchors), limit)] {
		out = append(out, clone(c.objs[a]))
	}
	return out, nil
}

// holds reports whether an attribute's value have holds want: the same
// type and value, or for a list, a string among its values.
func holds(have, want any) bool {
	if l, ok := have.([]string); ok {
		s, ok := want.(string)
		return ok && slices.Contains(l, s)
	}
	return have == want
}

// Close does nothing: every change is already on disk.
func (c *Connector) Close(context.Context) error { return nil }

// write checks op, applies it under the lock, then writes the changed
// files before returning.
func (c *Connector) write(ctx context.Context, op targets.Op, create bool, apply func() error) error {
	if err := ctx.Err(); err != nil {
		return targets.Transient(err) // Contract: a done context starts nothing.
	}
	if err := checkOp(op, create); err != nil {
		return err
	}
	c.mu.Lock()
	err := apply()
	if err == nil {
		c.touch(op.Kind)
		delete(c.lines, op.Anchor)
	}
	v := c.version
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.flush(v)
}

// touch marks a kind changed. Callers hold mu.
func (c *Connector) touch(k targets.Kind) {
	c.version++
	c.changed[k] = c.version
}

// flush returns once every change up to version v is on disk. It writes
// every kind changed since the last write, unless a write that began after
// change v (another caller's) covered it: concurrent changes share one
// write (group commit).
func (c *Connector) flush(v uint64) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	if c.written >= v {
		return nil
	}
	c.mu.Lock()
	files := map[targets.Kind][]byte{}
	for kind, ver := range c.changed {
		if ver > c.written {
			files[kind] = c.encode(kind)
		}
	}
	upTo := c.version
	c.mu.Unlock()
	for kind, b := range files {
		if err := writeAtomic(filepath.Join(c.dir, Files[kind]), b); err != nil {
			return targets.Transient(fmt.Errorf("jsonl: writing %s: %w", Files[kind], err))
		}
	}
	c.written = upTo
	return nil
}

// encode returns the file of a kind. Callers hold mu.
func (c *Connector) encode(kind targets.Kind) []byte {
	var anchors []string
	for a, o := range c.objs {
		if o.Kind == kind {
			anchors = append(anchors, a)
		}
	}
	slices.Sort(anchors)
	var b []byte
	for _, a := range anchors {
		line, ok := c.lines[a]
		if !ok {
			o := c.objs[a]
			var err error
			line, err = json.Marshal(Record{Anchor: o.Anchor, ObjectID: o.ObjectID, Attributes: toJSON(o.Attrs), Disabled: o.Disabled, Members: o.Members})
			if err != nil { // checkOp refused what JSON cannot hold
				panic(fmt.Sprintf("jsonl: encoding %s: %v", a, err))
			}
			c.lines[a] = line
		}
		b = append(append(b, line...), '\n')
	}
	return b
}

// writeAtomic replaces path with b durably: temporary file, sync, rename,
// sync of the directory.
func writeAtomic(path string, b []byte) error {
	dir, name := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a failure; a no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// index adds (or removes) o to (from) the indexes. Callers hold mu.
func (c *Connector) index(o *targets.Object, add bool) {
	name, _ := o.Attrs[UniqueUserAttr].(string)
	delete(c.lines, o.Anchor)
	if !add {
		delete(c.objs, o.Anchor)
		delete(c.byID[o.Kind], o.ObjectID)
		if o.Kind == targets.User && c.byName[name] == o.Anchor {
			delete(c.byName, name)
		}
		return
	}
	c.objs[o.Anchor] = o
	if o.ObjectID != "" {
		c.byID[o.Kind][o.ObjectID] = o.Anchor
	}
	if o.Kind == targets.User && name != "" {
		c.byName[name] = o.Anchor
	}
}

// holder returns the user other than self holding attrs' userName.
func (c *Connector) holder(kind targets.Kind, attrs map[string]any, self string) *targets.Object {
	name, ok := attrs[UniqueUserAttr].(string)
	if kind != targets.User || !ok {
		return nil
	}
	if a := c.byName[name]; a != "" && a != self {
		return c.objs[a]
	}
	return nil
}

// target returns the object op addresses, or ErrNotFound.
func (c *Connector) target(op targets.Op) (*targets.Object, error) {
	o := c.objs[op.Anchor]
	if o == nil || o.Kind != op.Kind {
		return nil, targets.NotFound(fmt.Errorf("jsonl: no %s with anchor %q", op.Kind, op.Anchor))
	}
	return o, nil
}

func conflict(o *targets.Object) error {
	return &targets.ConflictError{Anchor: o.Anchor, ObjectID: o.ObjectID}
}

// checkOp refuses a malformed operation, and values a file cannot hold.
func checkOp(op targets.Op, create bool) error {
	switch {
	case op.Kind != targets.User && op.Kind != targets.Group:
		return targets.Permanent(fmt.Errorf("jsonl: unknown kind %q", op.Kind))
	case op.ID == "" || op.ObjectID == "":
		return targets.Permanent(errors.New("jsonl: operation without an id or object id"))
	case create != (op.Anchor == ""):
		return targets.Permanent(fmt.Errorf("jsonl: operation %q: a Create takes no anchor, every other method needs one", op.ID))
	}
	if err := targets.CheckAttrs(op.Attrs); err != nil {
		return err
	}
	for k, v := range op.Attrs {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return targets.Permanent(fmt.Errorf("jsonl: attribute %q: %v cannot be written to JSON", k, f))
		}
	}
	return nil
}

// setAttrs returns a copy of base with changes applied: nil or an empty
// []string clears an attribute.
func setAttrs(base, changes map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(changes))
	for k, v := range base {
		out[k] = cloneValue(v)
	}
	for k, v := range changes {
		if l, ok := v.([]string); v == nil || ok && len(l) == 0 {
			delete(out, k)
			continue
		}
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	if l, ok := v.([]string); ok {
		return slices.Clone(l)
	}
	return v
}

func clone(o *targets.Object) targets.Object {
	out := *o
	out.Attrs = setAttrs(nil, o.Attrs)
	out.Members = slices.Clone(o.Members)
	return out
}

// toJSON returns attrs with float64 values as JSON numbers that read back
// as float64.
func toJSON(attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if f, ok := v.(float64); ok {
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			v = json.Number(s)
		}
		out[k] = v
	}
	return out
}

// fromJSON converts decoded attributes (json.Number, []any) to the types
// of package targets.
func fromJSON(attrs map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		switch v := v.(type) {
		case string, bool:
			out[k] = v
		case json.Number:
			s := v.String()
			if strings.ContainsAny(s, ".eE") {
				f, err := v.Float64()
				if err != nil {
					return nil, fmt.Errorf("attribute %q: %w", k, err)
				}
				out[k] = f
			} else {
				n, err := v.Int64()
				if err != nil {
					return nil, fmt.Errorf("attribute %q: %w", k, err)
				}
				out[k] = n
			}
		case []any:
			l := make([]string, len(v))
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("attribute %q: a list of %T", k, e)
				}
				l[i] = s
			}
			out[k] = l
		default:
			return nil, fmt.Errorf("attribute %q: unsupported %T", k, v)
		}
	}
	return out, nil
}
