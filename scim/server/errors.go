package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// Errors reach a SCIM client as RFC 7644 Error bodies: elimity-com/scim
// ScimError values (status, scimType, detail). The handlers return the
// model's errors (scim.Error: a kind and a detail), the store's, and, for
// what only HTTP knows (no such endpoint, a method not allowed, a body too
// large), ScimErrors; scimError is the one place that turns them into
// bodies.

// kinds are the statuses and scimTypes of the model's and the store's
// error kinds.
var kinds = []struct {
	kind     error
	status   int
	scimType scimerr.ScimType
}{
	{scim.ErrInvalidSyntax, http.StatusBadRequest, scimerr.ScimTypeInvalidSyntax},
	{scim.ErrInvalidValue, http.StatusBadRequest, scimerr.ScimTypeInvalidValue},
	{scim.ErrInvalidFilter, http.StatusBadRequest, scimerr.ScimTypeInvalidFilter},
	{scim.ErrInvalidPath, http.StatusBadRequest, scimerr.ScimTypeInvalidPath},
	{scim.ErrNoTarget, http.StatusBadRequest, scimerr.ScimTypeNoTarget},
	{scim.ErrMutability, http.StatusBadRequest, scimerr.ScimTypeMutability},
	{store.ErrNotFound, http.StatusNotFound, ""},
	{store.ErrConflict, http.StatusConflict, scimerr.ScimTypeUniqueness},
	{store.ErrInvalidText, http.StatusBadRequest, scimerr.ScimTypeInvalidValue},
	// An If-Match that names another version (RFC 7644 §3.14).
	{store.ErrModified, http.StatusPreconditionFailed, "versionMismatch"},
}

// scimError is the SCIM error that answers err, and the Retry-After of a
// 503 ("" for none). A request cancelled or cut short by shutdown, a store
// that cannot write (store.ErrUnavailable) and a read past its time limit
// are 503s; an error of a kind in kinds has that kind's status and
// scimType, with the error's message as detail; any other error is a 500
// whose detail does not leak internals.
func (s *Server) scimError(err error) (scimerr.ScimError, string) {
	switch {
	case errors.Is(err, store.ErrClosed), errors.Is(err, context.Canceled):
		return scimerr.ScimError{Status: http.StatusServiceUnavailable,
			Detail: "the gateway is shutting down or the request was cancelled; nothing was changed, retry"}, "5"
	case errors.Is(err, context.DeadlineExceeded):
		// 503, not 400 tooMany: a busy gateway runs out of time on any
		// query; a filter too large to run at all is refused up front.
		return scimerr.ScimError{Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("the query did not finish within the gateway's time limit of %s; retry later, or use a simpler filter", s.opts.QueryTimeout)}, "5"
	case errors.Is(err, store.ErrUnavailable):
		return scimerr.ScimError{Status: http.StatusServiceUnavailable,
			Detail: "the gateway's store cannot write (disk full, I/O error or read-only data directory); nothing was changed, retry later"}, "30"
	}
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se, ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return scimerr.ScimError{Status: k.status, ScimType: k.scimType, Detail: err.Error()}, ""
		}
	}
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "internal error; see the gateway log"}, ""
}

// invalidValue is a scim.ErrInvalidValue error.
func invalidValue(format string, args ...any) error {
	return scim.Errorf(scim.ErrInvalidValue, format, args...)
}
