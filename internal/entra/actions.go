package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// User is an Entra user as LookupUser reads it.
type User struct {
	ID                string    `json:"id"`
	UserPrincipalName string    `json:"userPrincipalName"`
	DisplayName       string    `json:"displayName"`
	GivenName         string    `json:"givenName"`
	Surname           string    `json:"surname"`
	Mail              string    `json:"mail"`
	JobTitle          string    `json:"jobTitle"`
	Department        string    `json:"department"`
	UserType          string    `json:"userType"`          // Member or Guest
	ExternalUserState string    `json:"externalUserState"` // PendingAcceptance, Accepted or "" (invited users)
	AccountEnabled    bool      `json:"accountEnabled"`
	CreatedDateTime   time.Time `json:"createdDateTime,omitzero"`
	// SignInActivity is read with the sign_in_activity feature, where the
	// tenant allows it (AuditLog.Read.All, an Entra ID P1/P2 licence);
	// SignInActivityError says why it is missing when it was asked for.
	SignInActivity      *SignInActivity `json:"signInActivity,omitempty"`
	SignInActivityError string          `json:"signInActivityError,omitempty"`
}

// SignInActivity is a user's last sign-ins; a zero time is none recorded.
type SignInActivity struct {
	// LastSignInDateTime is the last interactive sign-in attempt,
	// successful or not.
	LastSignInDateTime               time.Time `json:"lastSignInDateTime,omitzero"`
	LastNonInteractiveSignInDateTime time.Time `json:"lastNonInteractiveSignInDateTime,omitzero"`
	// LastSuccessfulSignInDateTime is recorded from December 2023 on.
	LastSuccessfulSignInDateTime time.Time `json:"lastSuccessfulSignInDateTime,omitzero"`
}

// Group is an Entra group as LookupGroup reads it.
type Group struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	Mail            string   `json:"mail"`
	GroupTypes      []string `json:"groupTypes"`
	SecurityEnabled bool     `json:"securityEnabled"`
	MailEnabled     bool     `json:"mailEnabled"`
	// MembershipRule is the rule of a dynamic group.
	MembershipRule string `json:"membershipRule"`
	// Owners are the group's owners; MemberCount counts its direct
	// members (eventually consistent).
	Owners      []Object `json:"owners"`
	MemberCount int      `json:"memberCount"`
}

// Dynamic reports whether the group's members follow its membership rule:
// they cannot be added or removed.
func (g *Group) Dynamic() bool { return slices.Contains(g.GroupTypes, "DynamicMembership") }

// Object is a directory object: a member or an owner of a group.
type Object struct {
	ID                string `json:"id"`
	Type              string `json:"type"` // user, group, servicePrincipal, device, orgContact
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	Mail              string `json:"mail,omitempty"`
}

func (o *Object) UnmarshalJSON(b []byte) error {
	var v struct {
		ODataType         string `json:"@odata.type"`
		Type              string `json:"type"` // as Object encodes it
		ID                string `json:"id"`
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
		Mail              string `json:"mail"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.ODataType != "" {
		v.Type = strings.TrimPrefix(v.ODataType, "#microsoft.graph.")
	}
	*o = Object{ID: v.ID, Type: v.Type, DisplayName: v.DisplayName,
		UserPrincipalName: v.UserPrincipalName, Mail: v.Mail}
	return nil
}

var userFields = []string{"id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "jobTitle",
	"department", "userType", "externalUserState", "accountEnabled", "createdDateTime"}

var groupFields = []string{"id", "displayName", "mail", "groupTypes", "securityEnabled", "mailEnabled", "membershipRule"}

var objectFields = "id,displayName,userPrincipalName,mail"

// objectIDPattern is an Entra object id (a GUID).
var objectIDPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// objectID checks an object id (of a group or a member).
func objectID(op, what, id string) error {
	if !objectIDPattern.MatchString(id) {
		return &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("%s %q is not an object id (a GUID)", what, id)}
	}
	return nil
}

// userPath returns the URL template of a user, by object id or
// userPrincipalName, and the value of its parameter. The template escapes
// the value (a guest's "#EXT#" becomes %23EXT%23); a userPrincipalName
// that starts with "$" is addressed as /users('$...') as Graph requires,
// its quotes doubled.
func userPath(op, key string) (template string, path map[string]string, err error) {
	if key == "" || key == "." || key == ".." || len(key) > 1024 || strings.ContainsFunc(key, unicode.IsControl) {
		return "", nil, &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("%q is not a user object id or userPrincipalName", key)}
	}
	if strings.HasPrefix(key, "$") {
		return "{+baseurl}/users('{user%2Did}')", map[string]string{"user%2Did": strings.ReplaceAll(key, "'", "''")}, nil
	}
	return "{+baseurl}/users/{user%2Did}", map[string]string{"user%2Did": key}, nil
}

// LookupUser reads a user by object id or userPrincipalName.
func (c *Client) LookupUser(ctx context.Context, key string) (*User, error) {
	const op = "look up user"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tmpl, path, err := userPath(op, key)
	if err != nil {
		return nil, err
	}
	get := func(fields []string) (*User, error) {
		resp, err := c.send(ctx, request{op: op, method: abs.GET, template: tmpl + "{?%24select}", path: path,
			query: map[string]string{"%24select": strings.Join(fields, ",")}, permission: PermUserRead})
		if err != nil {
			return nil, err
		}
		var u User
		if err := json.Unmarshal(resp.body, &u); err != nil {
			return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
		}
		return &u, nil
	}
	if !c.cfg.Features.SignInActivity {
		return get(userFields)
	}
	u, err := get(append(slices.Clone(userFields), "signInActivity"))
	if e := (*Error)(nil); errors.As(err, &e) && e.Kind == ErrForbidden {
		// The tenant may refuse signInActivity alone (no
		// AuditLog.Read.All, no P1/P2 licence): read the rest.
		if u, err = get(userFields); err == nil {
			u.SignInActivityError = fmt.Sprintf("needs %s and an Entra ID P1/P2 licence (Graph: %s %s)", PermAuditLogRead, e.Code, e.Message)
		}
	}
	return u, err
}

// LookupGroup reads a group by object id, with its owners and its
// member count.
func (c *Client) LookupGroup(ctx context.Context, id string) (*Group, error) {
	const op = "look up group"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	g, err := c.group(ctx, op, id, groupFields)
	if err != nil {
		return nil, err
	}
	if g.Owners, err = c.owners(ctx, op, id); err != nil {
		return nil, err
	}
	// $count on directory objects is an advanced query: it needs
	// ConsistencyLevel: eventual.
	resp, err := c.send(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/groups/{group%2Did}/members/$count",
		path: map[string]string{"group%2Did": id}, header: map[string]string{"ConsistencyLevel": "eventual"}, permission: PermGroupRead})
	if err != nil {
		return nil, err
	}
	if g.MemberCount, err = strconv.Atoi(strings.TrimSpace(string(resp.body))); err != nil {
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: fmt.Errorf("member count %q: %w", resp.body, err)}
	}
	return g, nil
}

// GroupOwners returns a group's owners (users, and service principals
// where Graph lists them), following Graph's pages: GET
// /groups/{id}/owners, a directoryObject collection whose items carry
// their @odata.type.
func (c *Client) GroupOwners(ctx context.Context, groupID string) ([]Object, error) {
	const op = "list owners"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := objectID(op, "group id", groupID); err != nil {
		return nil, err
	}
	return c.owners(ctx, op, groupID)
}

// owners lists a group's owners. List group owners needs
// GroupMember.Read.All at least (PermGroupRead; "Least privileged
// permissions: Application GroupMember.Read.All",
// https://learn.microsoft.com/en-us/graph/api/group-list-owners).
func (c *Client) owners(ctx context.Context, op, id string) ([]Object, error) {
	owners := []Object{}
	err := c.list(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/groups/{group%2Did}/owners{?%24select,%24top}",
		path: map[string]string{"group%2Did": id}, query: map[string]string{"%24select": objectFields, "%24top": "999"},
		permission: PermGroupRead}, func(item json.RawMessage) error {
		var o Object
		if err := json.Unmarshal(item, &o); err != nil {
			return &Error{Op: op, Kind: ErrTransient, Err: err}
		}
		owners = append(owners, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return owners, nil
}

// group reads a group's fields.
func (c *Client) group(ctx context.Context, op, id string, fields []string) (*Group, error) {
	if err := objectID(op, "group id", id); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/groups/{group%2Did}{?%24select}",
		path: map[string]string{"group%2Did": id}, query: map[string]string{"%24select": strings.Join(fields, ",")},
		permission: PermGroupRead})
	if err != nil {
		return nil, err
	}
	var g Group
	if err := json.Unmarshal(resp.body, &g); err != nil {
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return &g, nil
}

// ListMembers returns a group's direct members, following Graph's pages.
func (c *Client) ListMembers(ctx context.Context, groupID string) ([]Object, error) {
	const op = "list members"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := objectID(op, "group id", groupID); err != nil {
		return nil, err
	}
	members := []Object{}
	err := c.list(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/groups/{group%2Did}/members{?%24select,%24top}",
		path: map[string]string{"group%2Did": groupID}, query: map[string]string{"%24select": objectFields, "%24top": "999"},
		permission: PermGroupRead}, func(item json.RawMessage) error {
		var o Object
		if err := json.Unmarshal(item, &o); err != nil {
			return &Error{Op: op, Kind: ErrTransient, Err: err}
		}
		members = append(members, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return members, nil
}

// enabled refuses an action whose feature is off.
func enabled(op string, on bool, field string) error {
	if !on {
		return &Error{Op: op, Kind: ErrNotEnabled, Err: fmt.Errorf("set features.%s", field)}
	}
	return nil
}

// AddMember adds a user (or another directory object) to a group, by
// their object ids: POST /groups/{id}/members/$ref. It reports whether
// the member was added: a member already there is success, not a change.
// A dynamic group refuses with ErrDynamicGroup.
func (c *Client) AddMember(ctx context.Context, groupID, memberID string) (added bool, err error) {
	const op = "add member"
	if err := enabled(op, c.cfg.Features.Membership, "membership"); err != nil {
		return false, err
	}
	if err := objectID(op, "group id", groupID); err != nil {
		return false, err
	}
	if err := objectID(op, "member id", memberID); err != nil {
		return false, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ref := c.cfg.GraphURL + "/directoryObjects/" + memberID // a GUID: nothing to escape
	_, err = c.send(ctx, request{op: op, method: abs.POST, template: "{+baseurl}/groups/{group%2Did}/members/$ref",
		path: map[string]string{"group%2Did": groupID}, body: map[string]string{"@odata.id": ref}, permission: PermGroupMemberWrite})
	if e, ok := err.(*Error); ok && e.Status == http.StatusBadRequest {
		if strings.Contains(e.Message, "added object references already exist") {
			return false, nil
		}
		return false, c.dynamicRefusal(ctx, op, groupID, e)
	}
	return err == nil, err
}

// RemoveMember removes a member from a group, by their object ids: DELETE
// /groups/{id}/members/{id}/$ref, never the URL without /$ref, which
// deletes the member object itself. It reports whether the member was
// removed: one that was not a member is success, not a change. A dynamic
// group refuses with ErrDynamicGroup.
func (c *Client) RemoveMember(ctx context.Context, groupID, memberID string) (removed bool, err error) {
	const op = "remove member"
	if err := enabled(op, c.cfg.Features.Membership, "membership"); err != nil {
		return false, err
	}
	if err := objectID(op, "group id", groupID); err != nil {
		return false, err
	}
	if err := objectID(op, "member id", memberID); err != nil {
		return false, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err = c.send(ctx, request{op: op, method: abs.DELETE, template: "{+baseurl}/groups/{group%2Did}/members/{directoryObject%2Did}/$ref",
		path: map[string]string{"group%2Did": groupID, "directoryObject%2Did": memberID}, permission: PermGroupMemberWrite})
	e, ok := err.(*Error)
	switch {
	case ok && e.Status == http.StatusNotFound:
		// Not a member, or no such group: Graph answers 404 to both.
		if _, gerr := c.group(ctx, op, groupID, []string{"id"}); gerr != nil {
			return false, gerr
		}
		return false, nil
	case ok && e.Status == http.StatusBadRequest:
		return false, c.dynamicRefusal(ctx, op, groupID, e)
	}
	return err == nil, err
}

// dynamicRefusal returns ErrDynamicGroup for a 400 of a dynamic group's
// member change, otherwise the 400 itself: the group's type tells, not
// the wording of Graph's message.
func (c *Client) dynamicRefusal(ctx context.Context, op, groupID string, e *Error) error {
	g, err := c.group(ctx, op, groupID, []string{"id", "groupTypes", "membershipRule"})
	if err != nil || !g.Dynamic() {
		return e
	}
	d := *e
	d.Kind = ErrDynamicGroup
	d.Err = fmt.Errorf("membershipRule %q", g.MembershipRule)
	return &d
}

// Enable enables a user's account (accountEnabled true).
func (c *Client) Enable(ctx context.Context, user string) error {
	return c.setAccountEnabled(ctx, "enable user", user, true)
}

// Disable disables a user's account (accountEnabled false): new sign-ins
// are blocked; sessions continue until they are revoked (RevokeSessions).
func (c *Client) Disable(ctx context.Context, user string) error {
	return c.setAccountEnabled(ctx, "disable user", user, false)
}

func (c *Client) setAccountEnabled(ctx context.Context, op, user string, on bool) error {
	if err := enabled(op, c.cfg.Features.EnableDisable, "enable_disable"); err != nil {
		return err
	}
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err = c.send(ctx, request{op: op, method: abs.PATCH, template: tmpl, path: path,
		body: map[string]bool{"accountEnabled": on}, permission: PermUserEnableDisable})
	return err
}

// DeleteUser deletes a user: Entra keeps it in deleted items, restorable
// for 30 days.
func (c *Client) DeleteUser(ctx context.Context, user string) error {
	const op = "delete user"
	if err := enabled(op, c.cfg.Features.DeleteUsers, "delete_users"); err != nil {
		return err
	}
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err = c.send(ctx, request{op: op, method: abs.DELETE, template: tmpl, path: path, permission: PermUserWrite})
	return err
}

// RevokeSessions revokes a user's refresh tokens and session cookies: the
// user must sign in again (access tokens already issued live until they
// expire).
func (c *Client) RevokeSessions(ctx context.Context, user string) error {
	const op = "revoke sessions"
	if err := enabled(op, c.cfg.Features.RevokeSessions, "revoke_sessions"); err != nil {
		return err
	}
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err = c.send(ctx, request{op: op, method: abs.POST, template: tmpl + "/revokeSignInSessions", path: path,
		permission: PermRevokeSessions})
	return err
}

// TemporaryAccessPass is a Temporary Access Pass Entra created. Pass is
// the code: it is returned only when the pass is created; it never
// reaches logs (LogValue and String leave it out) nor the store.
type TemporaryAccessPass struct {
	ID                string    `json:"id"`
	Pass              string    `json:"temporaryAccessPass"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	StartDateTime     time.Time `json:"startDateTime"`
	LifetimeInMinutes int       `json:"lifetimeInMinutes"`
	IsUsableOnce      bool      `json:"isUsableOnce"`
	IsUsable          bool      `json:"isUsable"`
}

// String describes the pass without its code.
func (t *TemporaryAccessPass) String() string {
	return fmt.Sprintf("Temporary Access Pass %s from %s for %d minutes (usable once: %t)",
		t.ID, t.StartDateTime.UTC().Format(time.RFC3339), t.LifetimeInMinutes, t.IsUsableOnce)
}

// LogValue logs the pass without its code.
func (t *TemporaryAccessPass) LogValue() slog.Value { return slog.StringValue(t.String()) }

// CreateTemporaryAccessPass creates a Temporary Access Pass for a user:
// POST /users/{id}/authentication/temporaryAccessPassMethods, valid from
// now for lifetimeMinutes (10 to 43200; the tenant's policy may bound it
// further), usable once or not. A new pass replaces the user's usable one.
func (c *Client) CreateTemporaryAccessPass(ctx context.Context, user string, lifetimeMinutes int, usableOnce bool) (*TemporaryAccessPass, error) {
	const op = "create temporary access pass"
	if err := enabled(op, c.cfg.Features.TemporaryAccessPass, "temporary_access_pass"); err != nil {
		return nil, err
	}
	if lifetimeMinutes < 10 || lifetimeMinutes > 43200 {
		return nil, &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("lifetime %d minutes: must be 10 to 43200", lifetimeMinutes)}
	}
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, request{op: op, method: abs.POST, template: tmpl + "/authentication/temporaryAccessPassMethods", path: path,
		body: map[string]any{"lifetimeInMinutes": lifetimeMinutes, "isUsableOnce": usableOnce}, permission: PermTAP})
	if err != nil {
		return nil, err
	}
	var t TemporaryAccessPass
	if err := json.Unmarshal(resp.body, &t); err != nil || t.Pass == "" {
		if err == nil {
			err = errors.New("no temporaryAccessPass in the response")
		}
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return &t, nil
}
