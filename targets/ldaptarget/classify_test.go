package ldaptarget

import (
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// TestOverlongValueIsPermanent: slapd answers result code 80 ("other") to
// a value its database cannot hold (here an indexed naming value too long
// for an mdb key); retrying cannot help, so the error is permanent, not
// retried until the attempts run out.
func TestOverlongValueIsPermanent(t *testing.T) {
	ldaptest.SkipIfMissing(t)
	s := ldaptest.Start(t)
	cfg := testConfig(t, s)
	cfg.Users.DNTemplate = "uid={uid},ou=people,dc=example,dc=org"
	conn := open(t, cfg)
	_, err := conn.Create(t.Context(), user(strings.Repeat("u", 600)))
	if err == nil || targets.Class(err) != targets.ErrPermanent {
		t.Fatalf("Create with a 600-character uid: %v (class %v), want a permanent error", err, targets.Class(err))
	}
}
