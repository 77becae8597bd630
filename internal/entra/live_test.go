package entra

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLive runs the actions against a real tenant: see
// docs/entra-live-test.md. It skips, saying so, without ENTRA_LIVE_*.
func TestLive(t *testing.T) {
	env := func(name string) string { return strings.TrimSpace(os.Getenv("ENTRA_LIVE_" + name)) }
	if env("TENANT_ID") == "" || env("CLIENT_ID") == "" || env("USER") == "" {
		t.Skip("SKIPPED: no real Entra tenant configured: set ENTRA_LIVE_TENANT_ID, ENTRA_LIVE_CLIENT_ID, ENTRA_LIVE_CLIENT_SECRET " +
			"(or ENTRA_LIVE_CERTIFICATE_FILE) and ENTRA_LIVE_USER, see docs/entra-live-test.md; the same actions ran against internal/graphtest")
	}
	write := env("WRITE") == "1"
	cfg := Config{TenantID: env("TENANT_ID"), ClientID: env("CLIENT_ID"), AuthorityHost: env("AUTHORITY_HOST"), GraphURL: env("GRAPH_URL"),
		Features: Features{Membership: write, EnableDisable: write, RevokeSessions: write && env("REVOKE") == "1", SignInActivity: true}}
	switch {
	case env("CERTIFICATE_FILE") != "":
		cfg.Credential, cfg.CertificateFile = CredentialClientCertificate, env("CERTIFICATE_FILE")
	case env("CLIENT_SECRET") != "":
		cfg.Credential, cfg.ClientSecretEnv = CredentialClientSecret, "ENTRA_LIVE_CLIENT_SECRET"
	default:
		t.Fatal("ENTRA_LIVE_CLIENT_SECRET or ENTRA_LIVE_CERTIFICATE_FILE is required")
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()

	t.Run("check", func(t *testing.T) {
		r, err := c.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Permissions {
			t.Logf("%-32s granted=%-5v by=%-28s for %s", p.Name, p.Granted, p.GrantedBy, p.For)
		}
		if r.TenantID == "" || r.AppID == "" {
			t.Errorf("report %+v without tenant or app", r)
		}
	})
	var userID string
	t.Run("look up user", func(t *testing.T) {
		u, err := c.LookupUser(ctx, env("USER"))
		if err != nil {
			t.Fatal(err)
		}
		userID = u.ID
		t.Logf("%s %s type=%s enabled=%v signInActivity=%+v %s", u.ID, u.UserPrincipalName, u.UserType, u.AccountEnabled,
			u.SignInActivity, u.SignInActivityError)
		if _, err := c.LookupUser(ctx, "no-such-user-"+time.Now().Format("150405")+"@"+strings.SplitN(u.UserPrincipalName, "@", 2)[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("a missing user: %v, want ErrNotFound", err)
		}
	})
	t.Run("look up guest by #EXT# UPN", func(t *testing.T) {
		if env("GUEST_UPN") == "" {
			t.Skip("SKIPPED: set ENTRA_LIVE_GUEST_UPN to a guest's userPrincipalName (with #EXT#)")
		}
		u, err := c.LookupUser(ctx, env("GUEST_UPN"))
		if err != nil || !strings.EqualFold(u.UserPrincipalName, env("GUEST_UPN")) {
			t.Fatalf("%+v, %v", u, err)
		}
	})
	t.Run("group membership", func(t *testing.T) {
		if env("GROUP") == "" || userID == "" {
			t.Skip("SKIPPED: set ENTRA_LIVE_GROUP to the object id of an assigned security group")
		}
		g, err := c.LookupGroup(ctx, env("GROUP"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("group %s %q types=%v dynamic=%v owners=%d members=%d", g.ID, g.DisplayName, g.GroupTypes, g.Dynamic(), len(g.Owners), g.MemberCount)
		if !write {
			t.Skip("SKIPPED: membership changes need ENTRA_LIVE_WRITE=1")
		}
		// Remove (whatever the state), add twice, remove twice: the
		// second of each is a success without change.
		if _, err := c.RemoveMember(ctx, g.ID, userID); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			if added, err := c.AddMember(ctx, g.ID, userID); err != nil || added != want {
				t.Fatalf("add %d: %v, %v; want %v", i+1, added, err, want)
			}
		}
		for i, want := range []bool{true, false} {
			if removed, err := c.RemoveMember(ctx, g.ID, userID); err != nil || removed != want {
				t.Fatalf("remove %d: %v, %v; want %v", i+1, removed, err, want)
			}
		}
	})
	t.Run("dynamic group refuses", func(t *testing.T) {
		if env("DYNAMIC_GROUP") == "" || !write || userID == "" {
			t.Skip("SKIPPED: set ENTRA_LIVE_DYNAMIC_GROUP (a dynamic group's object id) and ENTRA_LIVE_WRITE=1")
		}
		if _, err := c.AddMember(ctx, env("DYNAMIC_GROUP"), userID); !errors.Is(err, ErrDynamicGroup) {
			t.Errorf("add to a dynamic group: %v, want ErrDynamicGroup", err)
		}
	})
	t.Run("disable and enable", func(t *testing.T) {
		if !write || env("DISABLE") != "1" {
			t.Skip("SKIPPED: disabling ENTRA_LIVE_USER needs ENTRA_LIVE_WRITE=1 and ENTRA_LIVE_DISABLE=1")
		}
		if err := c.Disable(ctx, userID); err != nil {
			t.Fatal(err)
		}
		if err := c.Enable(ctx, userID); err != nil {
			t.Fatal(err)
		}
	})
}
