package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/graphtest"
)

// Roles of the tests' app unless a case says otherwise.
var allRoles = []string{"User.Read.All", "GroupMember.ReadWrite.All", "User.EnableDisableAccount.All",
	"User.ReadWrite.All", "User.RevokeSessions.All", "AuditLog.Read.All"}

var allFeatures = Features{Membership: true, EnableDisable: true, DeleteUsers: true, RevokeSessions: true, SignInActivity: true}

const (
	clientID   = "11111111-2222-4333-8444-555555555555"
	testSecret = "s3cr3t-value-that-must-never-be-logged"
)

// fixture is a fake tenant with a client of an app of it.
type fixture struct {
	s      *graphtest.Server
	c      *Client
	clock  *graphtest.Clock
	alice  graphtest.User  // a member, with sign-in activity
	guest  graphtest.User  // a B2B guest: its UPN has #EXT#
	dollar graphtest.User  // a UPN starting with $ and holding a quote
	staff  graphtest.Group // alice is a member
	dyn    graphtest.Group // dynamic
}

// setup starts a tenant, registers the app with roles and returns a
// client with features over a client secret.
func setup(t *testing.T, roles []string, features Features) *fixture {
	t.Helper()
	s := graphtest.Start(t)
	f := &fixture{s: s, clock: &graphtest.Clock{}}
	f.clock.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s.AddApp(graphtest.App{ClientID: clientID, Secret: testSecret, Roles: roles})
	signIn := time.Date(2025, 12, 24, 8, 0, 0, 0, time.UTC)
	f.alice = s.AddUser(graphtest.User{UserPrincipalName: "alice@contoso.example", DisplayName: "Alice Adams", GivenName: "Alice",
		Surname: "Adams", Mail: "alice@contoso.example", JobTitle: "Engineer", Department: "R&D", AccountEnabled: true,
		SignInActivity: &graphtest.SignInActivity{LastSignInDateTime: signIn, LastSuccessfulSignInDateTime: signIn}})
	f.guest = s.AddUser(graphtest.User{UserPrincipalName: "bob_fabrikam.example#EXT#@contoso.example", DisplayName: "Bob (guest)",
		Mail: "bob@fabrikam.example", UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: true})
	f.dollar = s.AddUser(graphtest.User{UserPrincipalName: "$o'neil@contoso.example", DisplayName: "Pat O'Neil", AccountEnabled: true})
	f.staff = s.AddGroup(graphtest.Group{DisplayName: "Staff", Mail: "staff@contoso.example", SecurityEnabled: true, MailEnabled: true,
		GroupTypes: []string{"Unified"}, Members: []string{f.alice.ID}, Owners: []string{f.alice.ID}})
	f.dyn = s.AddGroup(graphtest.Group{DisplayName: "All R&D", SecurityEnabled: true, GroupTypes: []string{"DynamicMembership"},
		MembershipRule: `(user.department -eq "R&D")`, Members: []string{f.alice.ID}})
	t.Setenv("GRAPHTEST_CLIENT_SECRET", testSecret)
	f.c = f.client(t, Config{Credential: CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "GRAPHTEST_CLIENT_SECRET", Features: features})
	return f
}

// client returns a client of cfg against the fake tenant, on the fake
// clock.
func (f *fixture) client(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.AuthorityHost, cfg.GraphURL = f.s.AuthorityHost, f.s.GraphURL
	c, err := New(cfg, Options{Transport: f.s.Transport(), Now: f.clock.Now, After: f.clock.After})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if err != nil {
		t.Logf("error: %v", err)
	}
	switch {
	case kind == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case kind != nil && !errors.Is(err, kind):
		t.Fatalf("error %v, want %v", err, kind)
	}
}

func TestLookupUser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		roles    []string
		features Features
		premium  bool
		key      func(f *fixture) string
		want     func(f *fixture) graphtest.User
		wantPath string // a part of the path the fake must receive
		wantErr  error
		signIn   bool   // SignInActivity read
		signErr  string // in SignInActivityError
	}{
		{name: "by object id", roles: allRoles, key: func(f *fixture) string { return f.alice.ID },
			want: func(f *fixture) graphtest.User { return f.alice }},
		{name: "by userPrincipalName", roles: allRoles, key: func(f *fixture) string { return "ALICE@contoso.example" },
			want: func(f *fixture) graphtest.User { return f.alice }, wantPath: "/users/ALICE%40contoso.example"},
		{name: "guest #EXT# UPN percent-encoded", roles: allRoles, key: func(f *fixture) string { return f.guest.UserPrincipalName },
			want:     func(f *fixture) graphtest.User { return f.guest },
			wantPath: "/users/bob_fabrikam.example%23EXT%23%40contoso.example"},
		{name: "UPN starting with $ in key syntax", roles: allRoles, key: func(f *fixture) string { return f.dollar.UserPrincipalName },
			want: func(f *fixture) graphtest.User { return f.dollar }, wantPath: "/users('%24o%27%27neil%40contoso.example')"},
		{name: "sign-in activity", roles: allRoles, features: Features{SignInActivity: true}, premium: true,
			key: func(f *fixture) string { return f.alice.ID }, want: func(f *fixture) graphtest.User { return f.alice }, signIn: true},
		{name: "sign-in activity without AuditLog.Read.All", roles: []string{"User.Read.All"}, features: Features{SignInActivity: true},
			premium: true, key: func(f *fixture) string { return f.alice.ID }, want: func(f *fixture) graphtest.User { return f.alice },
			signErr: "needs AuditLog.Read.All and an Entra ID P1/P2 licence (Graph: Authorization_RequestDenied"},
		{name: "sign-in activity without a premium licence", roles: allRoles, features: Features{SignInActivity: true},
			key: func(f *fixture) string { return f.alice.ID }, want: func(f *fixture) graphtest.User { return f.alice },
			signErr: "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{name: "not found", roles: allRoles, key: func(f *fixture) string { return "nobody@contoso.example" }, wantErr: ErrNotFound},
		{name: "without User.Read.All", roles: []string{"GroupMember.Read.All"}, key: func(f *fixture) string { return f.alice.ID },
			wantErr: ErrForbidden},
		{name: "empty key", roles: allRoles, key: func(f *fixture) string { return "" }, wantErr: ErrInvalid},
		{name: "dot-dot key", roles: allRoles, key: func(f *fixture) string { return ".." }, wantErr: ErrInvalid},
		{name: "slash is escaped, not a path", roles: allRoles, key: func(f *fixture) string { return "../groups/x" },
			wantErr: ErrNotFound, wantPath: "/users/..%2Fgroups%2Fx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, tc.features)
			f.s.SetPremium(tc.premium || tc.features == Features{})
			u, err := f.c.LookupUser(t.Context(), tc.key(f))
			if tc.wantPath != "" {
				var paths []string
				for _, r := range f.s.Requests() {
					paths = append(paths, r.Path)
				}
				if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasSuffix(p, tc.wantPath) }) {
					t.Errorf("paths %q, want one ending in %q", paths, tc.wantPath)
				}
			}
			wantKind(t, err, tc.wantErr)
			if tc.wantErr != nil {
				if errors.Is(tc.wantErr, ErrForbidden) && !strings.Contains(err.Error(), "User.Read.All") {
					t.Errorf("error %q does not name User.Read.All", err)
				}
				return
			}
			w := tc.want(f)
			got := User{ID: u.ID, UserPrincipalName: u.UserPrincipalName, DisplayName: u.DisplayName, GivenName: u.GivenName,
				Surname: u.Surname, Mail: u.Mail, JobTitle: u.JobTitle, Department: u.Department, UserType: u.UserType,
				ExternalUserState: u.ExternalUserState, AccountEnabled: u.AccountEnabled, CreatedDateTime: u.CreatedDateTime}
			want := User{ID: w.ID, UserPrincipalName: w.UserPrincipalName, DisplayName: w.DisplayName, GivenName: w.GivenName,
				Surname: w.Surname, Mail: w.Mail, JobTitle: w.JobTitle, Department: w.Department, UserType: w.UserType,
				ExternalUserState: w.ExternalUserState, AccountEnabled: w.AccountEnabled, CreatedDateTime: w.CreatedDateTime}
			if got != want {
				t.Errorf("user\n got %+v\nwant %+v", got, want)
			}
			switch {
			case tc.signIn && (u.SignInActivity == nil || !u.SignInActivity.LastSignInDateTime.Equal(w.SignInActivity.LastSignInDateTime)):
				t.Errorf("signInActivity %+v, want last sign-in %v", u.SignInActivity, w.SignInActivity.LastSignInDateTime)
			case !tc.signIn && u.SignInActivity != nil:
				t.Errorf("signInActivity %+v, want none", u.SignInActivity)
			}
			if !strings.Contains(u.SignInActivityError, tc.signErr) || tc.signErr == "" && u.SignInActivityError != "" {
				t.Errorf("SignInActivityError %q, want %q", u.SignInActivityError, tc.signErr)
			}
		})
	}
}

func TestLookupGroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		roles   []string
		id      func(f *fixture) string
		dynamic bool
		count   int
		wantErr error
	}{
		{name: "unified group", roles: allRoles, id: func(f *fixture) string { return f.staff.ID }, count: 1},
		{name: "dynamic group says so", roles: allRoles, id: func(f *fixture) string { return f.dyn.ID }, dynamic: true, count: 1},
		{name: "with Group.Read.All only", roles: []string{"Group.Read.All"}, id: func(f *fixture) string { return f.staff.ID }, count: 1},
		{name: "not found", roles: allRoles, id: func(f *fixture) string { return "00000000-0000-4000-8000-000000000000" }, wantErr: ErrNotFound},
		{name: "not an object id", roles: allRoles, id: func(f *fixture) string { return "staff" }, wantErr: ErrInvalid},
		{name: "without a group permission", roles: []string{"User.Read.All"}, id: func(f *fixture) string { return f.staff.ID }, wantErr: ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, Features{})
			g, err := f.c.LookupGroup(t.Context(), tc.id(f))
			wantKind(t, err, tc.wantErr)
			if err != nil {
				if tc.wantErr == ErrForbidden && !strings.Contains(err.Error(), PermGroupRead) {
					t.Errorf("error %q does not name %s", err, PermGroupRead)
				}
				return
			}
			want, _ := f.s.Group(tc.id(f))
			if g.ID != want.ID || g.DisplayName != want.DisplayName || g.Mail != want.Mail || !slices.Equal(g.GroupTypes, want.GroupTypes) ||
				g.SecurityEnabled != want.SecurityEnabled || g.MembershipRule != want.MembershipRule {
				t.Errorf("group %+v, want %+v", g, want)
			}
			if g.Dynamic() != tc.dynamic || g.MemberCount != tc.count {
				t.Errorf("dynamic %v, member count %d; want %v, %d", g.Dynamic(), g.MemberCount, tc.dynamic, tc.count)
			}
			var owners []string
			for _, o := range g.Owners {
				owners = append(owners, o.Type+":"+o.ID)
			}
			var wantOwners []string
			for _, o := range want.Owners {
				wantOwners = append(wantOwners, "user:"+o)
			}
			if !slices.Equal(owners, wantOwners) {
				t.Errorf("owners %q, want %q", owners, wantOwners)
			}
			for _, r := range f.s.Requests() {
				if strings.HasSuffix(r.Path, "/members/$count") && r.Header.Get("ConsistencyLevel") != "eventual" {
					t.Errorf("$count without ConsistencyLevel: eventual")
				}
			}
		})
	}
}

// TestListMembersPages reads a group of 2,500 members: three pages of
// at most 999, followed by @odata.nextLink.
func TestListMembersPages(t *testing.T) {
	f := setup(t, allRoles, Features{})
	var ids []string
	for i := range 2500 {
		ids = append(ids, f.s.AddUser(graphtest.User{UserPrincipalName: fmt.Sprintf("u%04d@contoso.example", i)}).ID)
	}
	g := f.s.AddGroup(graphtest.Group{DisplayName: "Big", Members: ids})
	members, err := f.c.ListMembers(t.Context(), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%d members, want the %d in order", len(got), len(ids))
	}
	if n := f.s.Count(http.MethodGet, "/v1.0/groups/"+g.ID+"/members"); n != 3 {
		t.Errorf("%d pages requested, want 3", n)
	}
	if n := f.s.TokensIssued(); n != 1 {
		t.Errorf("%d tokens issued for 3 requests, want 1 (azidentity caches it)", n)
	}
}

// TestGroupOwnersPages reads a group's 1,200 owners, users, in two
// pages of at most 999, each owner with its type from @odata.type; an
// unknown group is ErrNotFound, an id that is no GUID ErrInvalid, and
// without a group-reading permission ErrForbidden names
// GroupMember.Read.All.
func TestGroupOwnersPages(t *testing.T) {
	f := setup(t, allRoles, Features{})
	var ids []string
	for i := range 1200 {
		ids = append(ids, f.s.AddUser(graphtest.User{UserPrincipalName: fmt.Sprintf("o%04d@contoso.example", i), Mail: fmt.Sprintf("o%04d@contoso.example", i)}).ID)
	}
	g := f.s.AddGroup(graphtest.Group{DisplayName: "Owned", Owners: ids, Members: []string{f.alice.ID}})
	owners, err := f.c.GroupOwners(t.Context(), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range owners {
		if o.Type != "user" || o.Mail == "" || o.UserPrincipalName != o.Mail {
			t.Errorf("owner %+v: want a user with its mail and userPrincipalName", o)
		}
		got = append(got, o.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%d owners, want the %d in order", len(got), len(ids))
	}
	if n := f.s.Count(http.MethodGet, "/v1.0/groups/"+g.ID+"/owners"); n != 2 {
		t.Errorf("%d pages requested, want 2", n)
	}
	if _, err := f.c.GroupOwners(t.Context(), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: %v, want ErrNotFound", err)
	}
	if _, err := f.c.GroupOwners(t.Context(), "sales"); !errors.Is(err, ErrInvalid) {
		t.Errorf("id sales: %v, want ErrInvalid", err)
	}
	c := setup(t, []string{"User.Read.All"}, Features{})
	_, err = c.c.GroupOwners(t.Context(), c.staff.ID)
	if e := (*Error)(nil); !errors.As(err, &e) || !errors.Is(err, ErrForbidden) || e.Permission != PermGroupRead {
		t.Errorf("without a group permission: %v, want ErrForbidden naming %s", err, PermGroupRead)
	}
}

func TestMembership(t *testing.T) {
	const missing = "00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name     string
		roles    []string
		features Features
		add      bool // AddMember, else RemoveMember
		group    func(f *fixture) string
		member   func(f *fixture) string
		changed  bool
		wantErr  error
		inGroup  bool // the member is in the group afterwards
		requests int  // Graph requests; -1: any
	}{
		{name: "add", roles: allRoles, features: allFeatures, add: true, group: staff, member: guest, changed: true, inGroup: true, requests: 1},
		{name: "add an existing member is success", roles: allRoles, features: allFeatures, add: true, group: staff, member: alice,
			inGroup: true, requests: 1},
		{name: "add to a dynamic group", roles: allRoles, features: allFeatures, add: true, group: dyn, member: guest,
			wantErr: ErrDynamicGroup, requests: 2},
		{name: "add to a missing group", roles: allRoles, features: allFeatures, add: true, group: func(*fixture) string { return missing },
			member: guest, wantErr: ErrNotFound, requests: 1},
		{name: "add a missing member", roles: allRoles, features: allFeatures, add: true, group: staff,
			member: func(*fixture) string { return missing }, wantErr: ErrNotFound, requests: 1},
		{name: "add without GroupMember.ReadWrite.All", roles: []string{"User.Read.All", "GroupMember.Read.All"}, features: allFeatures,
			add: true, group: staff, member: guest, wantErr: ErrForbidden, requests: 1},
		{name: "add with the feature off", roles: allRoles, add: true, group: staff, member: guest, wantErr: ErrNotEnabled},
		{name: "add a UPN is refused", roles: allRoles, features: allFeatures, add: true, group: staff,
			member: func(f *fixture) string { return f.guest.UserPrincipalName }, wantErr: ErrInvalid},
		{name: "remove", roles: allRoles, features: allFeatures, group: staff, member: alice, changed: true, requests: 1},
		{name: "remove a non-member is success", roles: allRoles, features: allFeatures, group: staff, member: guest, requests: 2},
		{name: "remove from a missing group", roles: allRoles, features: allFeatures, group: func(*fixture) string { return missing },
			member: alice, wantErr: ErrNotFound, requests: 2},
		{name: "remove from a dynamic group", roles: allRoles, features: allFeatures, group: dyn, member: alice,
			wantErr: ErrDynamicGroup, inGroup: true, requests: 2},
		{name: "remove without GroupMember.ReadWrite.All", roles: []string{"User.Read.All", "GroupMember.Read.All"}, features: allFeatures,
			group: staff, member: alice, wantErr: ErrForbidden, inGroup: true, requests: 1},
		{name: "remove with the feature off", roles: allRoles, group: staff, member: alice, wantErr: ErrNotEnabled, inGroup: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, tc.features)
			gid, mid := tc.group(f), tc.member(f)
			var changed bool
			var err error
			if tc.add {
				changed, err = f.c.AddMember(t.Context(), gid, mid)
			} else {
				changed, err = f.c.RemoveMember(t.Context(), gid, mid)
			}
			wantKind(t, err, tc.wantErr)
			if changed != tc.changed {
				t.Errorf("changed %v, want %v", changed, tc.changed)
			}
			if errors.Is(err, ErrForbidden) && !strings.Contains(err.Error(), PermGroupMemberWrite) {
				t.Errorf("error %q does not name %s", err, PermGroupMemberWrite)
			}
			if errors.Is(err, ErrDynamicGroup) && !strings.Contains(err.Error(), "user.department") {
				t.Errorf("error %q does not give the membership rule", err)
			}
			if g, ok := f.s.Group(gid); ok && slices.Contains(g.Members, mid) != tc.inGroup {
				t.Errorf("members %q: member %s there %v, want %v", g.Members, mid, !tc.inGroup, tc.inGroup)
			}
			reqs := f.s.Requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d Graph requests, want %d: %+v", len(reqs), tc.requests, reqs)
			}
			for _, r := range reqs {
				if r.Method == http.MethodDelete && !strings.HasSuffix(r.Path, "/$ref") {
					t.Errorf("DELETE %s without /$ref", r.Path)
				}
			}
			if u, ok := f.s.User(mid); ok && f.s.Deleted(u.ID) {
				t.Errorf("the member object was deleted")
			}
		})
	}
}

func staff(f *fixture) string { return f.staff.ID }
func dyn(f *fixture) string   { return f.dyn.ID }
func alice(f *fixture) string { return f.alice.ID }
func guest(f *fixture) string { return f.guest.ID }

// TestRefInvariant checks that the fake catches the URL without /$ref,
// which deletes the member object in real Graph.
func TestRefInvariant(t *testing.T) {
	f := setup(t, allRoles, allFeatures)
	tok, _, err := f.s.AccessToken(clientID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, f.s.GraphURL+"/groups/"+f.staff.ID+"/members/"+f.alice.ID, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	v := f.s.TakeViolations()
	if len(v) != 1 || !strings.Contains(v[0], "without /$ref") {
		t.Errorf("violations %q, want the DELETE without /$ref", v)
	}
	if !f.s.Deleted(f.alice.ID) {
		t.Errorf("the fake did not delete the member object, as Graph does")
	}
}

func TestUserActions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		roles    []string
		features Features
		act      func(c *Client, ctx context.Context, user string) error
		user     func(f *fixture) string
		wantErr  error
		perm     string // named in ErrForbidden
		check    func(t *testing.T, f *fixture)
	}{
		{name: "disable", roles: []string{"User.Read.All", "User.EnableDisableAccount.All"}, features: allFeatures, act: (*Client).Disable, user: alice,
			check: func(t *testing.T, f *fixture) { wantEnabled(t, f, f.alice.ID, false) }},
		{name: "disable a guest by #EXT# UPN", roles: allRoles, features: allFeatures, act: (*Client).Disable,
			user:  func(f *fixture) string { return f.guest.UserPrincipalName },
			check: func(t *testing.T, f *fixture) { wantEnabled(t, f, f.guest.ID, false) }},
		{name: "enable", roles: []string{"User.ReadWrite.All"}, features: allFeatures, act: func(c *Client, ctx context.Context, u string) error {
			if err := c.Disable(ctx, u); err != nil {
				return err
			}
			return c.Enable(ctx, u)
		}, user: alice, check: func(t *testing.T, f *fixture) { wantEnabled(t, f, f.alice.ID, true) }},
		{name: "disable without permission", roles: []string{"User.Read.All"}, features: allFeatures, act: (*Client).Disable, user: alice,
			wantErr: ErrForbidden, perm: PermUserEnableDisable, check: func(t *testing.T, f *fixture) { wantEnabled(t, f, f.alice.ID, true) }},
		{name: "disable with the feature off", roles: allRoles, act: (*Client).Disable, user: alice, wantErr: ErrNotEnabled},
		{name: "disable a missing user", roles: allRoles, features: allFeatures, act: (*Client).Disable,
			user: func(*fixture) string { return "nobody@contoso.example" }, wantErr: ErrNotFound},
		{name: "delete", roles: []string{"User.ReadWrite.All"}, features: allFeatures, act: (*Client).DeleteUser, user: alice,
			check: func(t *testing.T, f *fixture) {
				if !f.s.Deleted(f.alice.ID) {
					t.Error("not in deleted items")
				}
			}},
		{name: "delete with EnableDisable only", roles: []string{"User.Read.All", "User.EnableDisableAccount.All"}, features: allFeatures,
			act: (*Client).DeleteUser, user: alice, wantErr: ErrForbidden, perm: PermUserWrite},
		{name: "delete with the feature off", roles: allRoles, features: Features{EnableDisable: true}, act: (*Client).DeleteUser, user: alice,
			wantErr: ErrNotEnabled, check: func(t *testing.T, f *fixture) {
				if f.s.Deleted(f.alice.ID) {
					t.Error("deleted")
				}
			}},
		{name: "revoke sessions", roles: []string{"User.RevokeSessions.All"}, features: allFeatures, act: (*Client).RevokeSessions, user: alice,
			check: func(t *testing.T, f *fixture) {
				if u, _ := f.s.User(f.alice.ID); u.SessionsRevoked != 1 {
					t.Errorf("sessions revoked %d times, want 1", u.SessionsRevoked)
				}
			}},
		{name: "revoke sessions without permission", roles: []string{"User.Read.All"}, features: allFeatures, act: (*Client).RevokeSessions,
			user: alice, wantErr: ErrForbidden, perm: PermRevokeSessions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, tc.features)
			err := tc.act(f.c, t.Context(), tc.user(f))
			wantKind(t, err, tc.wantErr)
			if tc.perm != "" {
				var e *Error
				if !errors.As(err, &e) || e.Permission != tc.perm || !strings.Contains(err.Error(), tc.perm) {
					t.Errorf("error %v does not name %s", err, tc.perm)
				}
			}
			if errors.Is(err, ErrNotEnabled) && len(f.s.Requests()) != 0 {
				t.Errorf("a disabled action sent %d requests", len(f.s.Requests()))
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func wantEnabled(t *testing.T, f *fixture, id string, want bool) {
	t.Helper()
	if u, ok := f.s.User(id); !ok || u.AccountEnabled != want {
		t.Errorf("accountEnabled %v, want %v", u.AccountEnabled, want)
	}
}

func TestThrottling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inject  func(s *graphtest.Server)
		budget  time.Duration
		waits   []time.Duration
		wantErr error
	}{
		{name: "429 storm drained within the budget", inject: func(s *graphtest.Server) { s.Throttle(5, 3*time.Second) },
			waits: []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}},
		{name: "429 storm longer than the budget", inject: func(s *graphtest.Server) { s.Throttle(100, 4*time.Second) }, budget: 10 * time.Second,
			waits: []time.Duration{4 * time.Second, 4 * time.Second}, wantErr: ErrThrottled},
		{name: "503 without Retry-After backs off exponentially", inject: func(s *graphtest.Server) { s.Fail(3, http.StatusServiceUnavailable) },
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "504 is retried", inject: func(s *graphtest.Server) { s.Fail(1, http.StatusGatewayTimeout) }, waits: []time.Duration{time.Second}},
		{name: "500 is not retried", inject: func(s *graphtest.Server) { s.Fail(1, http.StatusInternalServerError) }, wantErr: ErrTransient},
		{name: "at most 10 tries", inject: func(s *graphtest.Server) { s.Throttle(100, time.Second) }, budget: time.Hour,
			waits: slices.Repeat([]time.Duration{time.Second}, 9), wantErr: ErrThrottled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, allRoles, allFeatures)
			if tc.budget != 0 {
				t.Setenv("GRAPHTEST_CLIENT_SECRET", testSecret)
				f.c = f.client(t, Config{Credential: CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
					ClientSecretEnv: "GRAPHTEST_CLIENT_SECRET", Features: allFeatures, RetryBudget: tc.budget})
			}
			tc.inject(f.s)
			added, err := f.c.AddMember(t.Context(), f.staff.ID, f.guest.ID)
			wantKind(t, err, tc.wantErr)
			if got := f.clock.Waits(); !slices.Equal(got, tc.waits) {
				t.Errorf("waits %v, want %v", got, tc.waits)
			}
			if tc.wantErr == nil && !added {
				t.Errorf("not added")
			}
			if errors.Is(err, ErrThrottled) {
				var e *Error
				if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfter == 0 || !errors.Is(err, ErrTransient) {
					t.Errorf("error %#v: want a transient 429 with its Retry-After", err)
				}
			}
		})
	}
}

// gateClock is a clock whose waits last until the test releases them.
type gateClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []chan time.Time
	started chan time.Duration // a wait began
}

func (c *gateClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *gateClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.pending = append(c.pending, ch)
	c.mu.Unlock()
	c.started <- d
	return ch
}

// release moves the time on by d and ends every wait.
func (c *gateClock) release(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, ch := range c.pending {
		ch <- c.now
	}
	c.pending = nil
}

// TestThrottlingSlowsTheClient: while one request waits for a
// Retry-After, another request of the client waits too, before it is
// sent, rather than finding the throttling out for itself.
func TestThrottlingSlowsTheClient(t *testing.T) {
	f := setup(t, allRoles, allFeatures)
	clk := &gateClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), started: make(chan time.Duration, 2)}
	t.Setenv("GRAPHTEST_CLIENT_SECRET", testSecret)
	cfg := Config{Credential: CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "GRAPHTEST_CLIENT_SECRET", AuthorityHost: f.s.AuthorityHost, GraphURL: f.s.GraphURL}
	c, err := New(cfg, Options{Transport: f.s.Transport(), Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.s.Throttle(1, 7*time.Second)
	errs := make(chan error, 2)
	lookup := func() {
		_, err := c.LookupUser(context.Background(), f.alice.ID)
		errs <- err
	}
	go lookup()
	if d := <-clk.started; d != 7*time.Second {
		t.Fatalf("first request waits %v, want the Retry-After 7s", d)
	}
	go lookup() // the first one is held on the clock: only the second can end
	select {
	case d := <-clk.started:
		if d != 7*time.Second {
			t.Fatalf("second request waits %v, want the 7s the first was asked to", d)
		}
	case err := <-errs:
		t.Fatalf("the second request was sent during the first one's Retry-After (error %v)", err)
	}
	if n := len(f.s.Requests()); n != 1 {
		t.Errorf("%d requests reached Graph during the wait, want only the throttled one", n)
	}
	clk.release(7 * time.Second)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(f.s.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		roles    []string
		features Features
		missing  []string
		by       map[string]string // permission: granted by
	}{
		{name: "everything granted", roles: allRoles, features: allFeatures},
		{name: "lookups only", roles: []string{"User.Read.All", "GroupMember.Read.All"}},
		{name: "nothing granted", features: allFeatures, missing: []string{"User.Read.All", "GroupMember.Read.All", "GroupMember.ReadWrite.All",
			"User.EnableDisableAccount.All", "User.ReadWrite.All", "User.RevokeSessions.All", "AuditLog.Read.All"}},
		{name: "membership without write", roles: []string{"User.Read.All", "GroupMember.Read.All"}, features: Features{Membership: true},
			missing: []string{"GroupMember.ReadWrite.All"}},
		{name: "higher permissions count", roles: []string{"Directory.ReadWrite.All", "User.ReadWrite.All"},
			features: Features{Membership: true, EnableDisable: true, DeleteUsers: true, SignInActivity: true},
			missing:  []string{"AuditLog.Read.All"},
			by: map[string]string{"User.Read.All": "User.ReadWrite.All", "GroupMember.Read.All": "Directory.ReadWrite.All",
				"User.EnableDisableAccount.All": "User.ReadWrite.All"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, tc.features)
			r, err := f.c.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if r.TenantID != graphtest.TenantID || r.AppID != clientID || r.Delegated {
				t.Errorf("tenant %q app %q delegated %v", r.TenantID, r.AppID, r.Delegated)
			}
			if got := r.Missing(); !slices.Equal(got, tc.missing) {
				t.Errorf("missing %q, want %q", got, tc.missing)
			}
			if err := r.Err(); (err != nil) != (len(tc.missing) > 0) || err != nil && (!errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), tc.missing[0])) {
				t.Errorf("Err() = %v", err)
			}
			for _, p := range r.Permissions {
				if want, ok := tc.by[p.Name]; ok && p.GrantedBy != want {
					t.Errorf("%s granted by %q, want %q", p.Name, p.GrantedBy, want)
				}
			}
			if len(r.Permissions) != len(tc.features.Permissions()) {
				t.Errorf("%d permissions reported, want %d", len(r.Permissions), len(tc.features.Permissions()))
			}
		})
	}
}

// TestCredentials authenticates with each kind of credential against the
// fake's token endpoint (and App Service managed identity endpoint, and
// an `az` on PATH), then looks a user up.
func TestCredentials(t *testing.T) {
	certPEM, cert := certificate(t)
	for _, tc := range []struct {
		name    string
		app     graphtest.App
		cfg     func(t *testing.T, f *fixture) Config
		wantErr error
	}{
		{name: "client secret from a file", app: graphtest.App{ClientID: "app-secret", Secret: "file-secret", Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				p := filepath.Join(t.TempDir(), "secret")
				if err := os.WriteFile(p, []byte("file-secret\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return Config{Credential: CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: "app-secret", ClientSecretFile: p}
			}},
		{name: "wrong client secret", app: graphtest.App{ClientID: "app-secret", Secret: "right", Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				t.Setenv("WRONG_SECRET", "wrong-"+testSecret)
				return Config{Credential: CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: "app-secret", ClientSecretEnv: "WRONG_SECRET"}
			}, wantErr: ErrAuthentication},
		{name: "client certificate", app: graphtest.App{ClientID: "app-cert", Certificate: cert, Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				p := filepath.Join(t.TempDir(), "cert.pem")
				if err := os.WriteFile(p, certPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				return Config{Credential: CredentialClientCertificate, TenantID: graphtest.TenantID, ClientID: "app-cert", CertificateFile: p}
			}},
		{name: "certificate of another app", app: graphtest.App{ClientID: "app-cert", Secret: "x", Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				p := filepath.Join(t.TempDir(), "cert.pem")
				if err := os.WriteFile(p, certPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				return Config{Credential: CredentialClientCertificate, TenantID: graphtest.TenantID, ClientID: "app-cert", CertificateFile: p}
			}, wantErr: ErrAuthentication},
		{name: "workload identity", app: graphtest.App{ClientID: "app-wi", FederatedSubjects: []string{"system:serviceaccount:scim:gateway"}, Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				tok, err := f.s.FederatedToken("system:serviceaccount:scim:gateway", time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
					t.Fatal(err)
				}
				return Config{Credential: CredentialWorkloadIdentity, TenantID: graphtest.TenantID, ClientID: "app-wi", TokenFile: p}
			}},
		{name: "workload identity of an untrusted subject", app: graphtest.App{ClientID: "app-wi", FederatedSubjects: []string{"system:serviceaccount:scim:gateway"}, Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				tok, _ := f.s.FederatedToken("system:serviceaccount:default:other", time.Hour)
				p := filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
					t.Fatal(err)
				}
				return Config{Credential: CredentialWorkloadIdentity, TenantID: graphtest.TenantID, ClientID: "app-wi", TokenFile: p}
			}, wantErr: ErrAuthentication},
		{name: "managed identity (App Service)", app: graphtest.App{ClientID: "mi-system", ManagedIdentity: true, SystemAssigned: true, Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				t.Setenv("IDENTITY_ENDPOINT", f.s.IdentityEndpoint)
				t.Setenv("IDENTITY_HEADER", f.s.IdentityHeader)
				return Config{Credential: CredentialManagedIdentity}
			}},
		{name: "user-assigned managed identity", app: graphtest.App{ClientID: "22222222-3333-4444-8555-666666666666", ManagedIdentity: true, Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				t.Setenv("IDENTITY_ENDPOINT", f.s.IdentityEndpoint)
				t.Setenv("IDENTITY_HEADER", f.s.IdentityHeader)
				return Config{Credential: CredentialManagedIdentity, ManagedIdentityClientID: "22222222-3333-4444-8555-666666666666"}
			}},
		{name: "Azure CLI", app: graphtest.App{ClientID: "app-cli", Roles: allRoles},
			cfg: func(t *testing.T, f *fixture) Config {
				t.Setenv("PATH", f.s.FakeAzureCLI(t, "app-cli")+string(os.PathListSeparator)+os.Getenv("PATH"))
				return Config{Credential: CredentialAzureCLI, TenantID: graphtest.TenantID}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, nil, Features{})
			f.s.AddApp(tc.app)
			c := f.client(t, tc.cfg(t, f))
			r, err := c.Check(t.Context())
			wantKind(t, err, tc.wantErr)
			if err != nil {
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("the error holds the secret: %v", err)
				}
				return
			}
			if r.AppID != tc.app.ClientID || len(r.Missing()) != 0 {
				t.Errorf("report %+v: want app %s with every permission", r, tc.app.ClientID)
			}
			u, err := c.LookupUser(t.Context(), f.alice.UserPrincipalName)
			if err != nil || u.ID != f.alice.ID {
				t.Fatalf("lookup: %v, %+v", err, u)
			}
		})
	}
}

// certificate returns a self-signed certificate and its key in PEM, and
// the certificate.
func certificate(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimgate test app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	return out, cert
}
