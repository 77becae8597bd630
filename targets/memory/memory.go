// Package memory is the reference target connector (type "memory"): a target
// held in memory, complete, safe for concurrent use, and the model for
// connector authors. It supports every capability, is strict about its input
// (a malformed operation is ErrPermanent, so engine bugs surface in tests),
// and has hooks for the engine's tests: injected failures and delays
// (Inject), the record of the operations received (Calls) and a copy of its
// state (Snapshot).
//
// A zero Connector is ready to use, with the default configuration.
//
// With the file setting the connector keeps its objects in a file as well:
// it loads them at Open and rewrites the file durably after every change,
// so the target survives a restart, or a kill -9, of the gateway process.
// It is meant for tests and demos (it rewrites the whole state on every
// change), not for production.
//
// Connector authors: the comments marked "Contract:" point at the rules of
// package targets that each step implements; a connector for a real target
// does the same with its target's API, and passes connector.Run.
package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// Type is the target type of the memory connector in a TargetConfig.
const Type = "memory"

// Config is the configuration of a memory target:
//
//	config:
//	  capabilities: {groups: true, disable: false, lookup: true}  # default: all
//	  unique: {User: [userName, mail], Group: []}   # default: {User: [userName]}
type Config struct {
	// Capabilities the connector declares and enforces; nil means all. A
	// test of the engine's planning can switch groups or disable off.
	Capabilities *targets.Capabilities `yaml:"capabilities"`
	// Unique lists, per kind, the attributes whose string values no two
	// objects of the kind share (compared byte for byte), as a username in a
	// directory. nil means userName for users, nothing for groups.
	Unique map[targets.Kind][]string `yaml:"unique"`
	// File, when set, is where the connector keeps its objects: Open loads
	// them from it (a missing file is an empty target) and every
	// successful change rewrites it durably before the call returns (see
	// the package documentation). For tests and demos, not production.
	File string `yaml:"file"`
}

var defaultUnique = map[targets.Kind][]string{targets.User: {"userName"}}

// Validate checks the configuration, reporting every problem.
func (c *Config) Validate() error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(c.Unique)) {
		if k != targets.User && k != targets.Group {
			errs = append(errs, targets.FieldError("unique", "unknown kind %q (want User or Group)", k))
			continue
		}
		for i, a := range c.Unique[k] {
			if a == "" {
				errs = append(errs, targets.FieldError(fmt.Sprintf("unique.%s[%d]", k, i), "empty attribute name"))
			}
		}
	}
	return errors.Join(errs...)
}

// Provides returns the configured capabilities (default: all).
func (c *Config) Provides() targets.Capabilities {
	if c.Capabilities != nil {
		return *c.Capabilities
	}
	return targets.Capabilities{Groups: true, Disable: true, Lookup: true}
}

// Open returns a new connector: empty, or with the objects of Config.File.
func (c *Config) Open(ctx context.Context, _ targets.Env) (targets.Connector, error) {
	if c.File == "" {
		return New(*c), nil
	}
	return Load(ctx, *c)
}

// Method names a method of the connector, in Fault and Call.
type Method string

// The methods.
const (
	Create        Method = "Create"
	Update        Method = "Update"
	Delete        Method = "Delete"
	Disable       Method = "Disable"
	Enable        Method = "Enable"
	AddMembers    Method = "AddMembers"
	RemoveMembers Method = "RemoveMembers"
	Get           Method = "Get"
	List          Method = "List"
	Lookup        Method = "Lookup"
)

// Fault makes matching calls fail or wait (Inject). A call matches when each
// non-zero field among Method, Kind and ObjectID equals the call's (Get and
// List carry no object id: they match only faults without one).
type Fault struct {
	Method   Method
	Kind     targets.Kind
	ObjectID string
	// Err is returned by the matching calls (classify it, e.g.
	// targets.Transient(errors.New("down"))); nil returns the result of the
	// call itself, after Delay.
	Err error
	// Times is the number of matching calls the fault applies to; 0 means
	// every matching call until ClearFaults.
	Times int
	// Delay holds each matching call this long before it runs, or until its
	// context ends (then the call fails with the context's error): a slow or
	// hanging target.
	Delay time.Duration
	// Applied performs the operation before returning Err: the target did
	// the work but the answer was lost.
	Applied bool
}

// Call is one operation the connector received (reads are not recorded).
type Call struct {
	Method Method
	Op     targets.Op // a copy
	Anchor string     // Create: the anchor of the object created, if any
	Err    error      // the error returned; nil on success
}

// ErrClosed is returned by every method after Close.
var ErrClosed = targets.Permanent(errors.New("memory: connector closed"))

// Connector is an in-memory target. Create it with New, or use a zero value.
type Connector struct {
	cfg Config // fixed by New; the zero value means the defaults

	mu       sync.Mutex
	seq      uint64                                         // last anchor number
	objs     map[string]*object                             // by anchor
	order    map[targets.Kind][]*object                     // by kind, in creation (seq) order
	byID     map[targets.Kind]map[string]*object            // by kind and recorded object id
	uniq     map[targets.Kind]map[string]map[string]*object // by kind, unique attribute and value
	memberOf map[string]map[string]bool                     // member anchor → group anchors
	calls    []Call
	faults   []*Fault
	closed   bool
}

// object is one stored user or group.
type object struct {
	seq      uint64
	kind     targets.Kind
	anchor   string
	objectID string
	attrs    map[string]any
	disabled bool
	members  map[string]bool // groups: member anchors
}

// Interface guards.
var (
	_ targets.Connector = (*Connector)(nil)
	_ targets.Finder    = (*Connector)(nil)
)

// New returns an empty connector.
func New(cfg Config) *Connector { return &Connector{cfg: cfg} }

// init allocates the maps of a zero Connector. Callers hold mu.
func (c *Connector) init() {
	if c.objs == nil {
		c.objs = make(map[string]*object)
		c.order = make(map[targets.Kind][]*object)
		c.byID = map[targets.Kind]map[string]*object{targets.User: {}, targets.Group: {}}
		c.uniq = map[targets.Kind]map[string]map[string]*object{targets.User: {}, targets.Group: {}}
		c.memberOf = make(map[string]map[string]bool)
	}
}

// Capabilities returns the configured capabilities (default: all).
func (c *Connector) Capabilities() targets.Capabilities { return c.cfg.Provides() }

// unique returns the unique attributes of a kind.
func (c *Connector) unique(k targets.Kind) []string {
	if c.cfg.Unique != nil {
		return c.cfg.Unique[k]
	}
	return defaultUnique[k]
}

// Create creates an object and returns its anchor, "user-N" or "group-N".
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	return c.write(ctx, Create, op, func() (string, error) {
		if err := c.checkOp(op, Create); err != nil {
			return "", err
		}
		if op.Anchor != "" {
			return "", invalid(op, "create with an anchor")
		}
		// Contract: no second object for an object id; the existing one,
		// found by the object id recorded on it, is a *ConflictError with
		// its anchor. This is what makes a repeated Create safe.
		if o := c.byID[op.Kind][op.ObjectID]; o != nil {
			return "", &targets.ConflictError{Anchor: o.anchor, ObjectID: o.objectID}
		}
		attrs := setAttrs(nil, op.Attrs)
		// Contract: no second holder of a unique value.
		if o := c.holder(op.Kind, attrs, nil); o != nil {
			return "", &targets.ConflictError{Anchor: o.anchor, ObjectID: o.objectID}
		}
		c.seq++
		o := &object{
			seq:      c.seq,
			kind:     op.Kind,
			anchor:   strings.ToLower(string(op.Kind)) + "-" + strconv.FormatUint(c.seq, 10),
			objectID: op.ObjectID,
			attrs:    attrs,
		}
		if op.Kind == targets.Group {
			o.members = make(map[string]bool)
		}
		c.objs[o.anchor] = o
		c.order[o.kind] = append(c.order[o.kind], o)
		c.byID[o.kind][o.objectID] = o
		c.index(o, true)
		return o.anchor, nil
	})
}

// Update sets and clears attributes, renames included, and re-binds the
// object to op.ObjectID.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	_, err := c.write(ctx, Update, op, func() (string, error) {
		o, err := c.target(op, Update)
		if err != nil {
			return "", err
		}
		attrs := setAttrs(o.attrs, op.Attrs)
		// Check everything before changing anything: a failed call
		// leaves the object as it was.
		if h := c.holder(o.kind, attrs, o); h != nil {
			return "", &targets.ConflictError{Anchor: h.anchor, ObjectID: h.objectID}
		}
		if h := c.byID[o.kind][op.ObjectID]; h != nil && h != o {
			return "", &targets.ConflictError{Anchor: h.anchor, ObjectID: h.objectID}
		}
		c.index(o, false)
		o.attrs = attrs
		c.index(o, true)
		// Contract: record op.ObjectID (adoption or re-binding).
		delete(c.byID[o.kind], o.objectID)
		o.objectID = op.ObjectID
		c.byID[o.kind][o.objectID] = o
		return "", nil
	})
	return err
}

// Delete removes an object and its memberships; a missing one is success.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	_, err := c.write(ctx, Delete, op, func() (string, error) {
		o, err := c.target(op, Delete)
		if errors.Is(err, targets.ErrNotFound) {
			return "", nil // Contract: delete of a missing object is success.
		}
		if err != nil {
			return "", err
		}
		c.index(o, false)
		delete(c.objs, o.anchor)
		delete(c.byID[o.kind], o.objectID)
		list := c.order[o.kind]
		i := sort.Search(len(list), func(i int) bool { return list[i].seq >= o.seq })
		c.order[o.kind] = slices.Delete(list, i, i+1)
		for g := range c.memberOf[o.anchor] {
			delete(c.objs[g].members, o.anchor)
		}
		delete(c.memberOf, o.anchor)
		for m := range o.members {
			delete(c.memberOf[m], o.anchor)
		}
		return "", nil
	})
	return err
}

// Disable disables a user.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, Disable, op, true)
}

// Enable enables a user.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, Enable, op, false)
}

func (c *Connector) setDisabled(ctx context.Context, m Method, op targets.Op, disabled bool) error {
	_, err := c.write(ctx, m, op, func() (string, error) {
		o, err := c.target(op, m)
		if err != nil {
			return "", err
		}
		o.disabled = disabled // Contract: set semantics, so a repeat is harmless.
		return "", nil
	})
	return err
}

// AddMembers adds members to a group; all of them must exist.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	_, err := c.write(ctx, AddMembers, op, func() (string, error) {
		g, err := c.target(op, AddMembers)
		if err != nil {
			return "", err
		}
		for _, m := range op.Members {
			if c.objs[m] == nil || m == g.anchor {
				return "", targets.NotFound(fmt.Errorf("memory: member %q of group %q does not exist", m, g.anchor))
			}
		}
		for _, m := range op.Members {
			g.members[m] = true
			if c.memberOf[m] == nil {
				c.memberOf[m] = make(map[string]bool)
			}
			c.memberOf[m][g.anchor] = true
		}
		return "", nil
	})
	return err
}

// RemoveMembers removes members from a group; absent ones are ignored.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	_, err := c.write(ctx, RemoveMembers, op, func() (string, error) {
		g, err := c.target(op, RemoveMembers)
		if err != nil {
			return "", err
		}
		for _, m := range op.Members {
			delete(g.members, m)
			delete(c.memberOf[m], g.anchor)
		}
		return "", nil
	})
	return err
}

// Get returns a copy of an object.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	var out targets.Object
	err := c.read(ctx, Get, kind, func() error {
		o := c.objs[anchor]
		if o == nil || o.kind != kind {
			return targets.NotFound(fmt.Errorf("memory: no %s with anchor %q", kind, anchor))
		}
		out = o.export()
		return nil
	})
	return out, err
}

// List pages through the objects of a kind in creation order. The cursor is
// the number of the last anchor returned, so a page never repeats or skips
// an object, whatever is created or deleted between pages.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	var page targets.Page
	err := c.read(ctx, List, kind, func() error {
		var after uint64
		if cursor != "" {
			n, err := strconv.ParseUint(cursor, 10, 64)
			if err != nil {
				return targets.Permanent(fmt.Errorf("memory: invalid cursor %q", cursor))
			}
			after = n
		}
		if limit <= 0 || limit > 1000 {
			limit = 1000
		}
		list := c.order[kind]
		i := sort.Search(len(list), func(i int) bool { return list[i].seq > after })
		end := min(i+limit, len(list))
		page.Objects = make([]targets.Object, 0, end-i)
		for _, o := range list[i:end] {
			page.Objects = append(page.Objects, o.export())
		}
		if end < len(list) {
			page.Next = strconv.FormatUint(list[end-1].seq, 10)
		}
		return nil
	})
	return page, err
}

// defaultLookup is the number of objects Lookup returns when not told.
const defaultLookup = 1000

// Lookup returns the objects of kind whose attribute attr holds value,
// compared as the unique index compares, byte for byte (and with the same
// type: the string "5" is not the int64 5); a multi-valued attribute
// matches when one of its values does. A string value of a unique
// attribute is looked up in the unique index (which, as for conflicts,
// holds the attribute's single string values), any other by a scan in
// creation order. The connector accepts any attribute name, so only the
// empty name is unknown.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	var out []targets.Object
	err := c.read(ctx, Lookup, kind, func() error {
		if !c.Capabilities().Lookup {
			return unsupported(Lookup, "lookup")
		}
		if attr == "" {
			return targets.Permanent(errors.New("memory: Lookup: attribute with an empty name"))
		}
		switch value.(type) {
		case string, bool, int64, float64:
		default:
			return targets.Permanent(fmt.Errorf("memory: Lookup: attribute %q: a value of type %T, want one string, bool, int64 or float64", attr, value))
		}
		if limit <= 0 {
			limit = defaultLookup
		}
		out = []targets.Object{}
		if s, ok := value.(string); ok && slices.Contains(c.unique(kind), attr) {
			if o := c.uniq[kind][attr][s]; o != nil {
				out = append(out, o.export())
			}
			return nil
		}
		for _, o := range c.order[kind] {
			if len(out) == limit {
				break
			}
			if holds(o.attrs[attr], value) {
				out = append(out, o.export())
			}
		}
		return nil
	})
	return out, err
}

// holds reports whether an attribute's value v is value, or for a
// multi-valued attribute holds it.
func holds(v, value any) bool {
	if vs, ok := v.([]string); ok {
		s, ok := value.(string)
		return ok && slices.Contains(vs, s)
	}
	return v == value
}

// Close makes every later call fail with ErrClosed. The test hooks keep
// working.
func (c *Connector) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// Inject adds a fault. Faults are matched in the order they were injected;
// the first match applies.
func (c *Connector) Inject(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &f)
}

// ClearFaults removes every fault.
func (c *Connector) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// Calls returns the operations received so far, in the order they took
// effect (or failed), including failed ones.
func (c *Connector) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Call, len(c.calls))
	for i, call := range c.calls {
		call.Op = cloneOp(call.Op)
		out[i] = call
	}
	return out
}

// ResetCalls forgets the operations received so far.
func (c *Connector) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// Snapshot returns a copy of every object: users, then groups, each in
// creation order.
func (c *Connector) Snapshot() []targets.Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []targets.Object
	for _, k := range []targets.Kind{targets.User, targets.Group} {
		for _, o := range c.order[k] {
			out = append(out, o.export())
		}
	}
	return out
}

// write runs apply, a write operation, under the lock after the context
// check and the faults, and records the call.
func (c *Connector) write(ctx context.Context, m Method, op targets.Op, apply func() (string, error)) (string, error) {
	f, err := c.before(ctx, m, op.Kind, op.ObjectID)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	var anchor string
	switch {
	case err != nil:
	case f != nil && !f.Applied && f.Err != nil:
		err = f.Err
	default:
		if anchor, err = apply(); err == nil {
			err = c.save()
		}
		if err == nil && f != nil {
			err = f.Err
		}
	}
	c.calls = append(c.calls, Call{Method: m, Op: cloneOp(op), Anchor: anchor, Err: err})
	if err != nil {
		anchor = ""
	}
	return anchor, err
}

// read runs fn, a read, under the lock after the context check and faults.
func (c *Connector) read(ctx context.Context, m Method, kind targets.Kind, fn func() error) error {
	f, err := c.before(ctx, m, kind, "")
	if err != nil {
		return err
	}
	if f != nil && f.Err != nil && !f.Applied {
		return f.Err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	if err := c.checkKind(kind, m); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	if f != nil {
		return f.Err
	}
	return nil
}

// before runs the checks that precede every call: the context (Contract: a
// call whose context is done does not start), Close, and the faults,
// waiting out a fault's delay. It returns the matching fault, if any.
func (c *Connector) before(ctx context.Context, m Method, kind targets.Kind, objectID string) (*Fault, error) {
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	c.mu.Lock()
	closed := c.closed
	f := c.fault(m, kind, objectID)
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if f != nil && f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, targets.Transient(ctx.Err())
		}
	}
	// Contract: the operation must not start once the context is done.
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	return f, nil
}

// fault returns a copy of the first fault matching a call and uses up one of
// its Times. Callers hold mu.
func (c *Connector) fault(m Method, kind targets.Kind, objectID string) *Fault {
	for i, f := range c.faults {
		if f.Method != "" && f.Method != m || f.Kind != "" && f.Kind != kind || f.ObjectID != "" && f.ObjectID != objectID {
			continue
		}
		out := *f
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				c.faults = slices.Delete(c.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

// checkKind refuses a kind that is unknown or outside the capabilities.
func (c *Connector) checkKind(k targets.Kind, m Method) error {
	caps := c.Capabilities()
	switch {
	case k != targets.User && k != targets.Group:
		return targets.Permanent(fmt.Errorf("memory: %s: unknown kind %q", m, k))
	case k == targets.Group && !caps.Groups:
		return unsupported(m, "groups")
	case (m == Disable || m == Enable) && (k != targets.User || !caps.Disable):
		return unsupported(m, "disable of "+string(k)+"s")
	case (m == AddMembers || m == RemoveMembers) && k != targets.Group:
		return unsupported(m, "members of "+string(k)+"s")
	}
	return nil
}

// checkOp refuses a malformed operation.
func (c *Connector) checkOp(op targets.Op, m Method) error {
	if err := c.checkKind(op.Kind, m); err != nil {
		return err
	}
	switch {
	case op.ID == "":
		return invalid(op, "empty operation id")
	case op.ObjectID == "":
		return invalid(op, "empty object id")
	case m != Create && op.Anchor == "":
		return invalid(op, "empty anchor")
	}
	if err := targets.CheckAttrs(op.Attrs); err != nil {
		return fmt.Errorf("memory: %s %s: %w", m, op.Kind, err)
	}
	return nil
}

// target checks op and returns the object it addresses, or ErrNotFound.
func (c *Connector) target(op targets.Op, m Method) (*object, error) {
	if err := c.checkOp(op, m); err != nil {
		return nil, err
	}
	o := c.objs[op.Anchor]
	if o == nil || o.kind != op.Kind {
		return nil, targets.NotFound(fmt.Errorf("memory: %s: no %s with anchor %q", m, op.Kind, op.Anchor))
	}
	return o, nil
}

// holder returns an object other than self that holds one of the unique
// values in attrs.
func (c *Connector) holder(k targets.Kind, attrs map[string]any, self *object) *object {
	for _, a := range c.unique(k) {
		if v, ok := attrs[a].(string); ok {
			if h := c.uniq[k][a][v]; h != nil && h != self {
				return h
			}
		}
	}
	return nil
}

// index adds (or removes) o's unique values to (from) the unique index.
func (c *Connector) index(o *object, add bool) {
	for _, a := range c.unique(o.kind) {
		v, ok := o.attrs[a].(string)
		if !ok {
			continue
		}
		if add {
			if c.uniq[o.kind][a] == nil {
				c.uniq[o.kind][a] = make(map[string]*object)
			}
			c.uniq[o.kind][a][v] = o
		} else {
			delete(c.uniq[o.kind][a], v)
		}
	}
}

// export returns a copy of o that shares no memory with it.
func (o *object) export() targets.Object {
	out := targets.Object{
		Kind:     o.kind,
		Anchor:   o.anchor,
		ObjectID: o.objectID,
		Attrs:    setAttrs(nil, o.attrs),
		Disabled: o.disabled,
	}
	if o.kind == targets.Group {
		out.Members = slices.Sorted(maps.Keys(o.members))
	}
	return out
}

// setAttrs returns a copy of base with changes applied: a nil value or an
// empty []string clears the attribute, any other value is copied in.
func setAttrs(base, changes map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(changes))
	for k, v := range base {
		out[k] = cloneValue(v)
	}
	for k, v := range changes {
		if s, ok := v.([]string); v == nil || ok && len(s) == 0 {
			delete(out, k)
			continue
		}
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	if s, ok := v.([]string); ok {
		return slices.Clone(s)
	}
	return v
}

func cloneOp(op targets.Op) targets.Op {
	if op.Attrs != nil {
		attrs := make(map[string]any, len(op.Attrs))
		for k, v := range op.Attrs {
			attrs[k] = cloneValue(v)
		}
		op.Attrs = attrs
	}
	op.Members = slices.Clone(op.Members)
	return op
}

func invalid(op targets.Op, msg string) error {
	return targets.Permanent(fmt.Errorf("memory: operation %q on %s %q: %s", op.ID, op.Kind, op.ObjectID, msg))
}

func unsupported(m Method, what string) error {
	return targets.Permanent(fmt.Errorf("memory: %s: %s: %w", m, what, errors.ErrUnsupported))
}
