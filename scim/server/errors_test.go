package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// TestScimError: every error kind of the model and the store answers with
// its status and scimType and the error's message as detail, wrapped or
// not; ScimErrors pass as they are; cancellation, shutdown, a store that
// cannot write and a read past its time limit are 503s with Retry-After;
// anything else is a 500 that does not show the error.
func TestScimError(t *testing.T) {
	s := &Server{opts: Options{QueryTimeout: 7 * time.Second}}
	tooLarge := scimerr.ScimError{Status: http.StatusRequestEntityTooLarge, Detail: "too large"}
	for _, tc := range []struct {
		name     string
		err      error
		status   int
		scimType scimerr.ScimType
		detail   string
		retry    string
	}{
		{"invalid syntax", scim.Errorf(scim.ErrInvalidSyntax, "bad %s", "json"), 400, scimerr.ScimTypeInvalidSyntax, "bad json", ""},
		{"invalid value", scim.Errorf(scim.ErrInvalidValue, "active: expected a boolean"), 400, scimerr.ScimTypeInvalidValue, "active: expected a boolean", ""},
		{"invalid filter", scim.Errorf(scim.ErrInvalidFilter, "invalid filter: x"), 400, scimerr.ScimTypeInvalidFilter, "invalid filter: x", ""},
		{"invalid path", scim.Errorf(scim.ErrInvalidPath, "invalid path"), 400, scimerr.ScimTypeInvalidPath, "invalid path", ""},
		{"no target", scim.Errorf(scim.ErrNoTarget, "no element"), 400, scimerr.ScimTypeNoTarget, "no element", ""},
		{"mutability", scim.Errorf(scim.ErrMutability, `"id" is readOnly`), 400, scimerr.ScimTypeMutability, `"id" is readOnly`, ""},
		{"wrapped model error", fmt.Errorf("Operations[2]: %w", scim.Errorf(scim.ErrInvalidValue, "v")), 400, scimerr.ScimTypeInvalidValue, "Operations[2]: v", ""},
		{"not found", scim.Errorf(store.ErrNotFound, `User "u" not found`), 404, "", `User "u" not found`, ""},
		{"conflict", scim.Errorf(store.ErrConflict, "userName taken"), 409, scimerr.ScimTypeUniqueness, "userName taken", ""},
		{"bare store conflict", store.ErrConflict, 409, scimerr.ScimTypeUniqueness, store.ErrConflict.Error(), ""},
		{"modified", scim.Errorf(store.ErrModified, "If-Match"), 412, "versionMismatch", "If-Match", ""},
		{"scim error", fmt.Errorf("reading: %w", tooLarge), 413, "", "too large", ""},
		{"cancelled", context.Canceled, 503, "", "the gateway is shutting down or the request was cancelled; nothing was changed, retry", "5"},
		{"store closed", fmt.Errorf("x: %w", store.ErrClosed), 503, "", "the gateway is shutting down or the request was cancelled; nothing was changed, retry", "5"},
		{"time limit", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, "",
			"the query did not finish within the gateway's time limit of 7s; retry later, or use a simpler filter", "5"},
		{"store cannot write", fmt.Errorf("disk full: %w", store.ErrUnavailable), 503, "",
			"the gateway's store cannot write (disk full, I/O error or read-only data directory); nothing was changed, retry later", "30"},
		{"anything else", errors.New("open /var/lib/secret: permission denied"), 500, "", "internal error; see the gateway log", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se, retry := s.scimError(tc.err)
			if se.Status != tc.status || se.ScimType != tc.scimType || se.Detail != tc.detail || retry != tc.retry {
				t.Errorf("got %d %q %q (Retry-After %q)\nwant %d %q %q (Retry-After %q)",
					se.Status, se.ScimType, se.Detail, retry, tc.status, tc.scimType, tc.detail, tc.retry)
			}
		})
	}
}
