// Package targets is the contract between the provisioning engine and the
// target connectors (SQL databases, LDAP directories, gRPC app connectors,
// Entra ID through Graph, the in-memory reference connector): the operations
// a target receives, what it answers, how its errors are classified, and how
// a target instance is configured and built (config.go).
//
// The engine owns policy, ordering and retries: for each target it keeps a
// durable outbox of operations, delivers them in order per object and in
// parallel across objects, and retries or dead-letters each one according to
// the class of the connector's error. A connector owns only the mapping of
// one operation onto its target, and must make every call safe to repeat.
//
// # Objects and anchors
//
// An object is a user or a group. The gateway identifies it by its object id
// (the SCIM resource id); the target identifies it by its anchor, the opaque
// identifier that Create returns and that the engine records per target and
// object and passes to every later call. Anchors:
//   - MUST be non-empty and unique within the target across both kinds (a
//     connector whose users and groups share a key space prefixes them);
//   - MUST stay valid across every Update, including a change of the naming
//     attribute (rename) or of the location (move): a connector whose target
//     names entries by a mutable value (an LDAP DN, a username key) uses an
//     immutable identifier as anchor (entryUUID, objectGUID, a surrogate key);
//   - MUST NOT be reused for a different object after a delete.
//
// # Idempotency
//
// The engine may call a connector twice with the same operation: after a
// timeout, a lost answer, a crash of the gateway, or a restart. Every Op
// carries an ID that is the same on every attempt, and an attempted Op is
// never changed (coalescing only merges operations that were never sent).
// Therefore:
//   - Update, Delete, Disable, Enable, AddMembers and RemoveMembers MUST be
//     idempotent: repeating a successful call succeeds and changes nothing.
//     They have set semantics (attributes set to values, members present or
//     absent), never increment or append semantics.
//   - Delete of an object that does not exist MUST succeed (return nil).
//   - RemoveMembers of members that are absent, and AddMembers of members
//     that are present, MUST succeed.
//   - Create MUST NOT create a second object for the same object id, nor a
//     second holder of a value the target keeps unique (a username). When
//     the object already exists - its own earlier attempt whose answer was
//     lost, or any other holder of the unique value - Create MUST return a
//     *ConflictError (matching ErrConflict) carrying the existing object's
//     Anchor, and the ObjectID recorded on it. A connector finds the existing
//     object by the object id it records in the target (see Object.ObjectID)
//     and otherwise by the unique value. The engine then adopts the anchor
//     when the recorded ObjectID is the operation's own, or when its matching
//     policy allows (ObjectID ""), and follows with an Update carrying the
//     full attributes; otherwise the conflict needs a person.
//   - A connector SHOULD record the gateway's object id in the target (a
//     column, an attribute, an extension property) and MUST then record
//     op.ObjectID on Create and on Update (an Update re-binds an adopted
//     object to the gateway object).
//
// # Errors
//
// Every error a connector returns SHOULD be classified with Transient,
// Permanent, NotFound or a *ConflictError, keeping the driver's error as the
// cause. The engine reads the class with Class: transient errors are retried
// with backoff until the attempt or age limit sends the operation to the
// dead-letter list; permanent errors go to the dead-letter list at once and
// need a person; ErrNotFound and ErrConflict are handled by rules (an Update,
// Disable or Enable of a missing object re-creates or re-syncs it; a Create
// conflict is adopted or escalated as above). Unclassified errors are
// treated as transient. A method outside the declared Capabilities MUST
// return an error matching both ErrPermanent and errors.ErrUnsupported.
//
// # Opening a target that is down
//
// A target that cannot be reached must not stop the gateway. Config.Open
// classifies a failure to reach the target (connection refused, a
// timeout, the server shutting down) ErrTransient, and a configuration
// that is wrong (a missing secret, a table or base entry that does not
// exist) as a FieldError or ErrPermanent. Registry.Build stops at the
// latter; for the former it returns a connector that has the
// capabilities of the configuration (Config.Provides) at once, answers
// every other call with an error matching ErrTransient and
// ErrNotConnected that gives the reason, and reports it from Health, while
// it opens the target again in the background with a growing wait
// (Retry); once opened it delegates every call to the opened connector.
// The engine meanwhile plans and queues the target's operations and
// retries their delivery as for any transient error.
//
// # Context
//
// Every call takes a context first and MUST honour its cancellation and
// deadline: when the context ends the call returns promptly with an error
// that is not permanent, not-found or conflict (wrap ctx.Err(); Class then
// reports it transient). A call whose context is already done MUST return
// such an error without starting the operation. A connector MUST NOT keep a
// context beyond the call.
package targets

import (
	"context"
	"errors"
	"fmt"
)

// Kind is the kind of a provisioned object. Its values are the SCIM resource
// type names of the store.
type Kind string

// The kinds of objects.
const (
	User  Kind = "User"
	Group Kind = "Group"
)

// Op is one operation for a target.
type Op struct {
	// ID identifies the operation; it is the same on every attempt.
	ID string
	// ObjectID is the gateway's id of the object (the SCIM resource id).
	ObjectID string
	// Kind is the kind of the object.
	Kind Kind
	// Anchor is the target's identifier of the object: "" for Create,
	// required by every other method.
	Anchor string
	// Attrs are the object's attributes under the target's own names, with
	// values of type string, bool, int64, float64 or []string (see
	// CheckAttrs). Create sets them (nil values are ignored); Update sets the
	// keys present, clears those whose value is nil or an empty []string,
	// and leaves every other attribute as it is. Other methods ignore Attrs.
	Attrs map[string]any
	// Members are the anchors of the members that AddMembers and
	// RemoveMembers add to or remove from the group Anchor.
	Members []string
}

// Object is an object as the target holds it (Get, List).
type Object struct {
	Kind   Kind
	Anchor string
	// ObjectID is the gateway object id recorded in the target, "" when the
	// target does not record one or the object was not created by a gateway.
	ObjectID string
	// Attrs are the attributes the connector manages, with the types and the
	// exact values they were written with (no trimming, case folding or
	// Unicode normalisation); multi-valued attributes in any order. Absent
	// attributes have no key: no nil values and no empty slices.
	Attrs map[string]any
	// Disabled reports a disabled user (Capabilities.Disable).
	Disabled bool
	// Members are the anchors of a group's members, in any order, each once.
	Members []string
}

// Page is one page of a List.
type Page struct {
	Objects []Object
	// Next is the cursor of the next page; "" after the last page.
	Next string
}

// Capabilities declares what a connector can do beyond the operations every
// connector supports: Create, Update, Delete, Get and List of users. The
// engine plans from them (a target without groups receives no group
// operations); calling a method outside them is an error (see package doc).
// A connector's capabilities may depend on its configuration but MUST NOT
// change while it is open.
type Capabilities struct {
	// Groups: group objects (Create, Update, Delete, Get, List of Kind
	// Group) and their membership (AddMembers, RemoveMembers).
	Groups bool `yaml:"groups"`
	// Disable: Disable and Enable of users, reported in Object.Disabled.
	Disable bool `yaml:"disable"`
	// Lookup: the connector implements Finder, so that the gateway can
	// match accounts that exist in the target before it creates them
	// (adoption) and while it reconciles.
	Lookup bool `yaml:"lookup"`
}

// Connector is one open target instance. It MUST be safe for concurrent use:
// the engine calls it in parallel for different objects (never for the same
// object at the same time). See the package documentation for the rules on
// anchors, idempotency, errors and contexts that every method follows.
type Connector interface {
	// Capabilities returns what the connector can do.
	Capabilities() Capabilities
	// Create creates the object op.ObjectID with op.Attrs and returns its
	// anchor. A group is created without members. An existing object is a
	// *ConflictError.
	Create(ctx context.Context, op Op) (anchor string, err error)
	// Update changes the attributes of op.Anchor as Op.Attrs says, including
	// renames and moves; the anchor stays the same. ErrNotFound when the
	// object does not exist; a *ConflictError when a unique value is held by
	// another object. A disabled user stays disabled.
	Update(ctx context.Context, op Op) error
	// Delete removes op.Anchor. A missing object is success.
	Delete(ctx context.Context, op Op) error
	// Disable disables the user op.Anchor; Enable enables it. Both are
	// idempotent; ErrNotFound when the user does not exist.
	// Capabilities.Disable.
	Disable(ctx context.Context, op Op) error
	Enable(ctx context.Context, op Op) error
	// AddMembers adds op.Members to the group op.Anchor; RemoveMembers
	// removes them. Members already present (added) or absent (removed) are
	// success. ErrNotFound when the group, or for AddMembers a member, does
	// not exist; then nothing changes. Capabilities.Groups.
	AddMembers(ctx context.Context, op Op) error
	RemoveMembers(ctx context.Context, op Op) error
	// Get returns the object of the given kind and anchor, or ErrNotFound.
	Get(ctx context.Context, kind Kind, anchor string) (Object, error)
	// List returns a page of the objects of a kind, in an order the
	// connector chooses, starting at cursor ("" for the first page) with at
	// most limit objects (limit <= 0: the connector's default). Following
	// Next until it is "" returns every object that exists for the whole
	// listing exactly once; objects created or deleted meanwhile may or may
	// not appear. Cursors are opaque; an invalid cursor is ErrPermanent.
	List(ctx context.Context, kind Kind, cursor string, limit int) (Page, error)
	// Close releases the connector's resources; no other call may follow.
	Close(ctx context.Context) error
}

// Finder is implemented by connectors that declare Capabilities.Lookup:
// they find existing objects by the value of one attribute, as Entra's
// provisioning service does with its matching attributes.
type Finder interface {
	// Lookup returns the objects of kind whose attribute attr (a name the
	// target's mapping writes) holds value, compared as the target compares
	// that attribute (a unique login as its unique index does; for a
	// multi-valued attribute, any of its values), at most limit of them
	// (limit <= 0: the connector's default, at least 2, so that one match
	// is told from several). No match is an empty list, not an error; each
	// Object is as Get returns it, ObjectID included. An attribute the
	// connector does not manage is ErrPermanent naming it. value is one
	// value: a string, bool, int64 or float64 (for a multi-valued attribute,
	// the one value sought among its values); nil, a []string or another
	// type is ErrPermanent. A value the target cannot hold (a NUL character
	// in a PostgreSQL text column) matches nothing. Every value is passed to
	// the target as data (a bound parameter, an escaped filter value), never
	// as query text, so that no character of it is a wildcard. A kind
	// outside the capabilities (Group without Capabilities.Groups), and a
	// call to a connector that does not declare Capabilities.Lookup, is an
	// error matching ErrPermanent and errors.ErrUnsupported.
	Lookup(ctx context.Context, kind Kind, attr string, value any, limit int) ([]Object, error)
}

// HealthChecker is implemented by connectors that can tell whether their
// target is reachable now (a ping, a bind, a registered gRPC connector). The
// admin API shows a target as down while Health returns an error, whose
// text says why; the engine keeps queueing its operations meanwhile.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Error classes, checked with errors.Is (or read with Class).
var (
	// ErrTransient: the call may succeed later (network, timeout,
	// throttling, target unavailable); the engine retries it.
	ErrTransient = errors.New("targets: transient error")
	// ErrPermanent: retrying cannot help (invalid value, denied, schema
	// mismatch, unsupported); the operation needs a person.
	ErrPermanent = errors.New("targets: permanent error")
	// ErrConflict: the object, or a value the target keeps unique, already
	// exists; returned as a *ConflictError.
	ErrConflict = errors.New("targets: conflict")
	// ErrNotFound: the object (or a member) does not exist in the target.
	ErrNotFound = errors.New("targets: not found")
)

// Transient classifies err as ErrTransient, keeping it as the cause.
func Transient(err error) error { return classify(ErrTransient, err) }

// Permanent classifies err as ErrPermanent, keeping it as the cause.
func Permanent(err error) error { return classify(ErrPermanent, err) }

// NotFound classifies err as ErrNotFound, keeping it as the cause.
func NotFound(err error) error { return classify(ErrNotFound, err) }

// classify wraps err into class; nil stays nil, and an error already of
// that class is returned unchanged.
func classify(class, err error) error {
	if err == nil || errors.Is(err, class) {
		return err
	}
	return fmt.Errorf("%w: %w", class, err)
}

// ConflictError is the error of a Create or Update that collides with an
// existing object. It matches ErrConflict and unwraps to Err.
type ConflictError struct {
	// Anchor is the existing object's anchor; it MUST be set when the
	// conflict is with the operation's own object (a repeated Create), and
	// SHOULD be set whenever the connector can find the existing object.
	Anchor string
	// ObjectID is the gateway object id recorded on the existing object,
	// "" when none is recorded.
	ObjectID string
	// Err is the cause (the driver's error), or nil.
	Err error
}

func (e *ConflictError) Error() string {
	msg := ErrConflict.Error() + ": object exists"
	if e.Anchor != "" {
		msg += fmt.Sprintf(" (anchor %q", e.Anchor)
		if e.ObjectID != "" {
			msg += fmt.Sprintf(", object id %q", e.ObjectID)
		}
		msg += ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrConflict and the cause.
func (e *ConflictError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrConflict}
	}
	return []error{ErrConflict, e.Err}
}

// Class returns the class of a connector's error: nil for nil, else one of
// ErrConflict, ErrNotFound, ErrPermanent and ErrTransient, checked in that
// order. Errors matching context.Canceled or context.DeadlineExceeded are
// ErrTransient whatever else they match (a call cut short by a shutdown or a
// deadline must be retried), and so are unclassified errors (an unknown
// failure is retried until the engine's attempt limit).
func Class(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrTransient
	case errors.Is(err, ErrConflict):
		return ErrConflict
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrPermanent):
		return ErrPermanent
	default:
		return ErrTransient
	}
}

// CheckAttrs reports, as an ErrPermanent error naming the attribute, the
// first attribute whose name is empty or whose value is not nil, string,
// bool, int64, float64 or []string.
func CheckAttrs(attrs map[string]any) error {
	for k, v := range attrs {
		if k == "" {
			return Permanent(errors.New("attribute with an empty name"))
		}
		switch v.(type) {
		case nil, string, bool, int64, float64, []string:
		default:
			return Permanent(fmt.Errorf("attribute %q: unsupported value type %T", k, v))
		}
	}
	return nil
}
