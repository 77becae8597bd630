package server

import (
	"errors"
	"fmt"
	"net/http"

	scimerr "github.com/elimity-com/scim/errors"
)

// Errors that reach a SCIM client are elimity-com/scim ScimError values
// (status, scimType, detail), which marshal to the RFC 7644 Error body.
// Functions inside this package return them (possibly wrapped); the HTTP edge
// turns any error into a body with errorBody.

// badRequest is a 400 with the given scimType and an actionable detail.
func badRequest(scimType scimerr.ScimType, format string, args ...any) scimerr.ScimError {
	return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// invalidValue is a 400 invalidValue.
func invalidValue(format string, args ...any) scimerr.ScimError {
	return badRequest(scimerr.ScimTypeInvalidValue, format, args...)
}

// asScimError finds the SCIM error in err; any other error is a 500 whose
// detail does not leak internals.
func asScimError(err error) scimerr.ScimError {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	var sp *scimerr.ScimError
	if errors.As(err, &sp) && sp != nil {
		return *sp
	}
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "internal error; see the gateway log"}
}
