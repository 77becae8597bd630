package entra

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kinds of failure, checked with errors.Is on the errors of a Client.
var (
	// ErrNotFound: the user, group or member does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the app lacks a permission (HTTP 403); the *Error
	// names the permission the call needs.
	ErrForbidden = errors.New("permission missing")
	// ErrDynamicGroup: the group has dynamic membership: its members
	// follow its membership rule and cannot be added or removed.
	ErrDynamicGroup = errors.New("dynamic group: its members follow its membership rule and cannot be changed")
	// ErrThrottled: Graph still answered 429 when the retry
	// budget was spent. It is also ErrTransient.
	ErrThrottled = errors.New("throttled by Microsoft Graph")
	// ErrTransient: a failure that may pass: 5xx, a network error, a
	// deadline.
	ErrTransient = errors.New("temporary failure")
	// ErrAuthentication: no token could be had (wrong secret, unknown
	// app, no managed identity) or Graph refused it (HTTP 401).
	ErrAuthentication = errors.New("authentication failed")
	// ErrInvalid: Graph refused the request as invalid (HTTP 400 and
	// other 4xx), or an id is not acceptable before any request.
	ErrInvalid = errors.New("invalid request")
	// ErrExists: another user already has the userPrincipalName (HTTP
	// 400 on a create or a rename).
	ErrExists = errors.New("already exists")
	// ErrNotEnabled: the action is not enabled in the configuration's
	// features.
	ErrNotEnabled = errors.New("not enabled in the configuration")
)

// Error is a failed action. It wraps its kind (a sentinel above).
type Error struct {
	Op   string // the action: "add member"
	Kind error  // ErrNotFound, ErrForbidden, ...
	// Status is the HTTP status (0 when no response arrived); Code and
	// Message are Graph's error code and message; RequestID is Graph's
	// request-id, for Microsoft support.
	Status        int
	Code, Message string
	RequestID     string
	// Permission is, for ErrForbidden, the application permission the
	// call needs (the least privileged one).
	Permission string
	// RetryAfter is the wait Graph asked for (throttling), 0 if none.
	RetryAfter time.Duration
	// Err is the underlying error (network, credential), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entra: %s: %v", e.Op, e.Kind)
	if e.Permission != "" {
		fmt.Fprintf(&b, ": the app needs the application permission(s) %s, admin consented", e.Permission)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.RequestID != "" {
			b.WriteString("; request-id " + e.RequestID)
		}
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v", e.RetryAfter)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the kind (throttling is also transient) and the
// underlying error.
func (e *Error) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Kind == ErrThrottled {
		errs = append(errs, ErrTransient)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// kindOf classifies an HTTP status.
func kindOf(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status >= 500:
		return ErrTransient
	default:
		return ErrInvalid
	}
}
