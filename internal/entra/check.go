package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// The least privileged application permission of each action, as the
// Graph v1.0 reference lists them (List group owners, which the access
// reviews of type groupOwners read: GroupMember.Read.All,
// https://learn.microsoft.com/en-us/graph/api/group-list-owners).
const (
	PermUserRead          = "User.Read.All"
	PermGroupRead         = "GroupMember.Read.All"
	PermGroupMemberWrite  = "GroupMember.ReadWrite.All"
	PermUserEnableDisable = "User.EnableDisableAccount.All"
	PermUserWrite         = "User.ReadWrite.All"
	PermRevokeSessions    = "User.RevokeSessions.All"
	PermAuditLogRead      = "AuditLog.Read.All"
	PermTAP               = "UserAuthenticationMethod.ReadWrite.All"
)

// Permission is a permission a feature needs: Name, or one of Also, more
// privileged permissions that include it.
type Permission struct {
	Name string   `json:"name"`
	Also []string `json:"also,omitempty"`
	For  string   `json:"for"`
}

// Permissions returns the permissions that the features need, lookups
// first.
func (f Features) Permissions() []Permission {
	ps := []Permission{
		{PermUserRead, []string{"User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}, "look up users"},
		{PermGroupRead, []string{"Group.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
			"look up groups, their owners and member counts"},
	}
	if f.Membership {
		ps = append(ps, Permission{PermGroupMemberWrite, []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"}, "add and remove group members (features.membership)"})
	}
	if f.EnableDisable {
		ps = append(ps, Permission{PermUserEnableDisable, []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}, "enable and disable users (features.enable_disable)"})
	}
	if f.CreateUsers {
		ps = append(ps, Permission{PermUserWrite, []string{"Directory.ReadWrite.All"}, "create users (features.create_users)"})
	}
	if f.UpdateUsers {
		ps = append(ps, Permission{PermUserWrite, []string{"Directory.ReadWrite.All"}, "write users' attributes (features.update_users)"})
	}
	if f.DeleteUsers {
		ps = append(ps, Permission{PermUserWrite, nil, "delete users (features.delete_users)"})
	}
	if f.RevokeSessions {
		ps = append(ps, Permission{PermRevokeSessions, []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}, "revoke users' sessions (features.revoke_sessions)"})
	}
	if f.SignInActivity {
		ps = append(ps, Permission{PermAuditLogRead, nil, "read users' sign-in activity (features.sign_in_activity; also an Entra ID P1/P2 licence)"})
	}
	if f.TemporaryAccessPass {
		ps = append(ps, Permission{PermTAP, []string{"UserAuthMethod-TAP.ReadWrite.All"}, "create Temporary Access Passes (features.temporary_access_pass)"})
	}
	return ps
}

// PermissionStatus tells whether a permission is granted, and by which
// granted permission.
type PermissionStatus struct {
	Permission
	Granted   bool   `json:"granted"`
	GrantedBy string `json:"grantedBy,omitempty"`
}

// Report is the result of Check.
type Report struct {
	TenantID string `json:"tenantId"`
	AppID    string `json:"appId"`
	// Delegated: the token is a user's (azure_cli): its scopes, not
	// application roles, are what was granted, and the user's directory
	// roles limit them further.
	Delegated   bool               `json:"delegated"`
	Granted     []string           `json:"granted"`
	Permissions []PermissionStatus `json:"permissions"`
}

// Missing returns the permissions the features need that are not granted.
func (r *Report) Missing() []string {
	var m []string
	for _, p := range r.Permissions {
		if !p.Granted {
			m = append(m, p.Name)
		}
	}
	return m
}

// Err returns an ErrForbidden *Error naming the missing permissions, or
// nil when none is missing.
func (r *Report) Err() error {
	m := r.Missing()
	if len(m) == 0 {
		return nil
	}
	return &Error{Op: "check", Kind: ErrForbidden, Permission: strings.Join(m, ", ")}
}

// Check gets a token with the configured credentials and reports which of
// the permissions the configured features need it grants (its roles
// claim), naming the missing ones in Report.Missing. An error means the
// credentials did not work.
func (c *Client) Check(ctx context.Context) (*Report, error) {
	const op = "check"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return nil, c.failure(request{op: op}, err)
	}
	claims, err := tokenClaims(tok.Token)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrAuthentication, Err: err}
	}
	r := &Report{TenantID: claims.TenantID, AppID: claims.AppID, Granted: claims.Roles}
	if r.AppID == "" {
		r.AppID = claims.AuthorizedParty
	}
	if len(claims.Roles) == 0 && claims.Scopes != "" {
		r.Delegated, r.Granted = true, strings.Fields(claims.Scopes)
	}
	if r.Granted == nil {
		r.Granted = []string{}
	}
	slices.Sort(r.Granted)
	for _, p := range c.cfg.Features.Permissions() {
		s := PermissionStatus{Permission: p}
		for _, name := range append([]string{p.Name}, p.Also...) {
			if slices.Contains(r.Granted, name) {
				s.Granted, s.GrantedBy = true, name
				break
			}
		}
		r.Permissions = append(r.Permissions, s)
	}
	return r, nil
}

// claims are the access token's claims that Check reads.
type claims struct {
	TenantID        string   `json:"tid"`
	AppID           string   `json:"appid"`
	AuthorizedParty string   `json:"azp"`
	Roles           []string `json:"roles"`
	Scopes          string   `json:"scp"`
}

// tokenClaims decodes the payload of a JWT access token. Its signature is
// not checked: the token came from the identity platform over TLS, and is
// only read to report what it grants; Graph checks it.
func tokenClaims(tok string) (claims, error) {
	var c claims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, errors.New("the access token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, fmt.Errorf("the access token's payload: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("the access token's claims: %w", err)
	}
	return c, nil
}
