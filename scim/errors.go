package scim

import (
	"errors"
	"fmt"
)

// The model's errors. What is wrong with a resource, a filter, a path or a
// PATCH is an *Error: its Kind is one of the sentinels below (one per RFC
// 7644 §3.12 scimType the model reports), tested with errors.Is; its
// Detail tells the client what to fix. The SCIM server (scim/server) turns
// each kind into an HTTP status and scimType. Other errors (a stored
// resource that does not decode, a store error) are returned as they are.
var (
	// ErrInvalidSyntax: a request body (a PATCH, a resource) is not the
	// JSON structure its schema wants (scimType invalidSyntax).
	ErrInvalidSyntax = errors.New("scim: invalid syntax")
	// ErrInvalidValue: a value is missing, of the wrong type or not
	// allowed, or an attribute is unknown (scimType invalidValue).
	ErrInvalidValue = errors.New("scim: invalid value")
	// ErrInvalidFilter: a filter does not parse, names an unknown
	// attribute or exceeds a limit (scimType invalidFilter).
	ErrInvalidFilter = errors.New("scim: invalid filter")
	// ErrInvalidPath: a PATCH path does not parse or names nothing
	// (scimType invalidPath).
	ErrInvalidPath = errors.New("scim: invalid path")
	// ErrNoTarget: a PATCH path or filter selects nothing to change
	// (scimType noTarget).
	ErrNoTarget = errors.New("scim: no target")
	// ErrMutability: a change to a readOnly or immutable attribute
	// (scimType mutability).
	ErrMutability = errors.New("scim: mutability")
)

// Error is a model error: Kind is the sentinel it is (errors.Is), Detail
// what the client should know. Error returns the detail alone, as the
// client sees it.
//
// The SCIM server also gives store errors a detail this way (Kind
// store.ErrNotFound with the resource named, say).
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Unwrap returns the Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a formatted detail.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// invalidValue is an ErrInvalidValue error.
func invalidValue(format string, args ...any) error {
	return Errorf(ErrInvalidValue, format, args...)
}

// withDetail prefixes the detail of the model error in err (another
// error's message).
func withDetail(err error, prefix string) error {
	var me *Error
	if errors.As(err, &me) {
		return &Error{Kind: me.Kind, Detail: prefix + me.Detail}
	}
	return fmt.Errorf("%s%w", prefix, err)
}
