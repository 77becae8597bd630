// Package wire converts between the messages of the connector protocol
// (package connectorv1) and the Go types of package targets, for the
// gateway's side (grpctarget) and the SDK. It validates what it decodes:
// a peer's message can be malformed, never trusted.
package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	pb "github.com/scimgate/scimgate/proto/connector/v1"
	"github.com/scimgate/scimgate/targets"
)

// ProtocolMinor is the minor version of v1 this implementation speaks
// (SPEC.md, section 9): 1 adds the lookup capability and LookupRequest.
const ProtocolMinor = 1

// LookupMinor is the minor version that introduced the lookup capability.
const LookupMinor = 1

// MaxMessageLen bounds the error text taken from a peer.
const MaxMessageLen = 1024

// Kind returns the wire kind of k.
func Kind(k targets.Kind) pb.Kind {
	switch k {
	case targets.User:
		return pb.Kind_KIND_USER
	case targets.Group:
		return pb.Kind_KIND_GROUP
	}
	return pb.Kind_KIND_UNSPECIFIED
}

// GoKind returns the kind of k, or an error for an unknown kind.
func GoKind(k pb.Kind) (targets.Kind, error) {
	switch k {
	case pb.Kind_KIND_USER:
		return targets.User, nil
	case pb.Kind_KIND_GROUP:
		return targets.Group, nil
	}
	return "", fmt.Errorf("unknown kind %v", k)
}

// Value encodes an attribute value (see targets.CheckAttrs); nil is null.
func Value(v any) (*pb.Value, error) {
	switch v := v.(type) {
	case nil:
		return &pb.Value{}, nil
	case string:
		if !utf8.ValidString(v) {
			return nil, errNotUTF8
		}
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: v}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_Int64Value{Int64Value: v}}, nil
	case float64:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: v}}, nil
	case []string:
		if !validUTF8(v...) {
			return nil, errNotUTF8
		}
		return &pb.Value{Kind: &pb.Value_StringList{StringList: &pb.StringList{Values: v}}}, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// errNotUTF8: protobuf strings are UTF-8.
var errNotUTF8 = errors.New("not valid UTF-8")

// validUTF8 reports whether every string is valid UTF-8.
func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// GoValue decodes a value: nil for null, else string, bool, int64,
// float64 or []string (never nil; empty for an empty list).
func GoValue(v *pb.Value) any {
	switch k := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return k.StringValue
	case *pb.Value_BoolValue:
		return k.BoolValue
	case *pb.Value_Int64Value:
		return k.Int64Value
	case *pb.Value_DoubleValue:
		return k.DoubleValue
	case *pb.Value_StringList:
		return append([]string{}, k.StringList.GetValues()...)
	}
	return nil
}

// Attrs encodes attributes.
func Attrs(attrs map[string]any) (map[string]*pb.Value, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.Value, len(attrs))
	for k, v := range attrs {
		if k == "" || !utf8.ValidString(k) {
			return nil, fmt.Errorf("attribute name %q: empty or %w", k, errNotUTF8)
		}
		pv, err := Value(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = pv
	}
	return out, nil
}

// GoAttrs decodes attributes. keepNull keeps null values as nil (an
// operation's clear); otherwise null values and empty lists are dropped
// (an object has no such attributes).
func GoAttrs(attrs map[string]*pb.Value, keepNull bool) (map[string]any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if k == "" {
			return nil, errors.New("attribute with an empty name")
		}
		gv := GoValue(v)
		if l, ok := gv.([]string); !keepNull && (gv == nil || ok && len(l) == 0) {
			continue
		}
		out[k] = gv
	}
	return out, nil
}

// methods maps the wire methods to their names in package targets.
var methods = map[pb.Method]string{
	pb.Method_METHOD_CREATE:         "Create",
	pb.Method_METHOD_UPDATE:         "Update",
	pb.Method_METHOD_DELETE:         "Delete",
	pb.Method_METHOD_DISABLE:        "Disable",
	pb.Method_METHOD_ENABLE:         "Enable",
	pb.Method_METHOD_ADD_MEMBERS:    "AddMembers",
	pb.Method_METHOD_REMOVE_MEMBERS: "RemoveMembers",
}

// MethodName names a method as package targets does ("AddMembers"), or
// returns "" for an unknown one.
func MethodName(m pb.Method) string { return methods[m] }

// Operation encodes op as a call of method m.
func Operation(m pb.Method, op targets.Op) (*pb.Operation, error) {
	if !validUTF8(op.ID, op.ObjectID, op.Anchor) || !validUTF8(op.Members...) {
		return nil, fmt.Errorf("operation %q: an id, anchor or member is %w", op.ID, errNotUTF8)
	}
	attrs, err := Attrs(op.Attrs)
	if err != nil {
		return nil, err
	}
	return &pb.Operation{
		OpId:       op.ID,
		Method:     m,
		Kind:       Kind(op.Kind),
		ObjectId:   op.ObjectID,
		Anchor:     op.Anchor,
		Attributes: attrs,
		Members:    op.Members,
	}, nil
}

// GoOperation decodes and checks an operation.
func GoOperation(o *pb.Operation) (targets.Op, error) {
	if MethodName(o.GetMethod()) == "" {
		return targets.Op{}, fmt.Errorf("unknown method %v", o.GetMethod())
	}
	kind, err := GoKind(o.GetKind())
	if err != nil {
		return targets.Op{}, err
	}
	switch {
	case o.GetOpId() == "":
		return targets.Op{}, errors.New("empty op_id")
	case o.GetObjectId() == "":
		return targets.Op{}, errors.New("empty object_id")
	case o.GetMethod() != pb.Method_METHOD_CREATE && o.GetAnchor() == "":
		return targets.Op{}, errors.New("empty anchor")
	}
	attrs, err := GoAttrs(o.GetAttributes(), true)
	if err != nil {
		return targets.Op{}, err
	}
	return targets.Op{
		ID:       o.GetOpId(),
		ObjectID: o.GetObjectId(),
		Kind:     kind,
		Anchor:   o.GetAnchor(),
		Attrs:    attrs,
		Members:  append([]string(nil), o.GetMembers()...),
	}, nil
}

// Lookup encodes a lookup of the objects of kind whose attribute attr
// holds value, at most limit of them (limit >= 1).
func Lookup(kind targets.Kind, attr string, value any, limit int) (*pb.LookupRequest, error) {
	if Kind(kind) == pb.Kind_KIND_UNSPECIFIED {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if err := checkLookup(attr, value, limit); err != nil {
		return nil, err
	}
	v, err := Value(value)
	if err != nil {
		return nil, fmt.Errorf("attribute %q: %w", attr, err)
	}
	return &pb.LookupRequest{Kind: Kind(kind), Attribute: attr, Value: v, Limit: int32(min(limit, math.MaxInt32))}, nil
}

// GoLookup decodes and checks a lookup.
func GoLookup(l *pb.LookupRequest) (kind targets.Kind, attr string, value any, limit int, err error) {
	if kind, err = GoKind(l.GetKind()); err != nil {
		return "", "", nil, 0, err
	}
	attr, value, limit = l.GetAttribute(), GoValue(l.GetValue()), int(l.GetLimit())
	if err := checkLookup(attr, value, limit); err != nil {
		return "", "", nil, 0, err
	}
	return kind, attr, value, limit, nil
}

// checkLookup refuses a lookup without an attribute name, of null, or
// without a positive limit.
func checkLookup(attr string, value any, limit int) error {
	switch {
	case attr == "" || !utf8.ValidString(attr):
		return fmt.Errorf("attribute name %q: empty or %w", attr, errNotUTF8)
	case value == nil:
		return fmt.Errorf("attribute %q: a lookup of null", attr)
	case limit < 1:
		return fmt.Errorf("limit %d: want at least 1", limit)
	}
	return nil
}

// Object encodes an object.
func Object(o targets.Object) (*pb.Object, error) {
	if !validUTF8(o.Anchor, o.ObjectID) || !validUTF8(o.Members...) {
		return nil, fmt.Errorf("object %q: an id, anchor or member is %w", o.Anchor, errNotUTF8)
	}
	attrs, err := Attrs(o.Attrs)
	if err != nil {
		return nil, err
	}
	return &pb.Object{
		Kind:       Kind(o.Kind),
		Anchor:     o.Anchor,
		ObjectId:   o.ObjectID,
		Attributes: attrs,
		Disabled:   o.Disabled,
		Members:    o.Members,
	}, nil
}

// GoObject decodes and checks an object.
func GoObject(o *pb.Object) (targets.Object, error) {
	kind, err := GoKind(o.GetKind())
	if err != nil {
		return targets.Object{}, err
	}
	if o.GetAnchor() == "" {
		return targets.Object{}, errors.New("object with an empty anchor")
	}
	attrs, err := GoAttrs(o.GetAttributes(), false)
	if err != nil {
		return targets.Object{}, fmt.Errorf("object %q: %w", o.GetAnchor(), err)
	}
	return targets.Object{
		Kind:     kind,
		Anchor:   o.GetAnchor(),
		ObjectID: o.GetObjectId(),
		Attrs:    attrs,
		Disabled: o.GetDisabled(),
		Members:  append([]string(nil), o.GetMembers()...),
	}, nil
}

// Error encodes a connector's error by its class (targets.Class).
func Error(err error) *pb.Error {
	e := &pb.Error{Message: truncate(err.Error())}
	switch targets.Class(err) {
	case targets.ErrConflict:
		e.Code = pb.Code_CODE_CONFLICT
		var ce *targets.ConflictError
		if errors.As(err, &ce) {
			e.ConflictAnchor, e.ConflictObjectId = ce.Anchor, ce.ObjectID
		}
	case targets.ErrNotFound:
		e.Code = pb.Code_CODE_NOT_FOUND
	case targets.ErrPermanent:
		e.Code = pb.Code_CODE_PERMANENT
		if errors.Is(err, errors.ErrUnsupported) {
			e.Code = pb.Code_CODE_UNSUPPORTED
		}
	default:
		e.Code = pb.Code_CODE_TRANSIENT
	}
	return e
}

// RemoteError is an error a connector reported.
type RemoteError struct {
	Connector string
	Message   string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("connector %s: %s", e.Connector, e.Message)
}

// GoError decodes the error a connector named name reported, classified
// by its code; an unknown code is transient.
func GoError(name string, e *pb.Error) error {
	remote := &RemoteError{Connector: name, Message: truncate(e.GetMessage())}
	switch e.GetCode() {
	case pb.Code_CODE_PERMANENT:
		return targets.Permanent(remote)
	case pb.Code_CODE_CONFLICT:
		return &targets.ConflictError{Anchor: e.GetConflictAnchor(), ObjectID: e.GetConflictObjectId(), Err: remote}
	case pb.Code_CODE_NOT_FOUND:
		return targets.NotFound(remote)
	case pb.Code_CODE_UNSUPPORTED:
		return targets.Permanent(fmt.Errorf("%w: %w", remote, errors.ErrUnsupported))
	}
	return targets.Transient(remote)
}

// truncate bounds a message from a peer and makes it valid UTF-8.
func truncate(s string) string {
	if len(s) > MaxMessageLen {
		s = s[:MaxMessageLen] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
