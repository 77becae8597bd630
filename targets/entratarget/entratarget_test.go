package entratarget

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/targets"
)

const (
	clientID   = "11111111-2222-4333-8444-555555555555"
	testSecret = "entratarget-test-secret"
)

// tenant is a fake tenant: two department groups, an unmanaged group, a
// dynamic group, and users.
type tenant struct {
	s                       *graphtest.Server
	clock                   *graphtest.Clock
	sales, marketing, other graphtest.Group
	dynamic                 graphtest.Group
	alice, guest            graphtest.User
	client                  *entra.Client
}

var allFeatures = entra.Features{Membership: true, EnableDisable: true, DeleteUsers: true, UpdateUsers: true}

func newTenant(t *testing.T, roles []string, features entra.Features) *tenant {
	t.Helper()
	s := graphtest.Start(t)
	tn := &tenant{s: s, clock: &graphtest.Clock{}}
	s.AddApp(graphtest.App{ClientID: clientID, Secret: testSecret, Roles: roles})
	tn.alice = s.AddUser(graphtest.User{UserPrincipalName: "alice@contoso.example", DisplayName: "Alice", Department: "Sales", AccountEnabled: true})
	tn.guest = s.AddUser(graphtest.User{UserPrincipalName: "o'hara_fabrikam.example#EXT#@contoso.example", DisplayName: "Kim O'Hara",
		UserType: "Guest", AccountEnabled: true})
	tn.sales = s.AddGroup(graphtest.Group{DisplayName: "Sales", SecurityEnabled: true})
	tn.marketing = s.AddGroup(graphtest.Group{DisplayName: "Marketing", SecurityEnabled: true})
	tn.other = s.AddGroup(graphtest.Group{DisplayName: "Other", SecurityEnabled: true, Members: []string{tn.alice.ID}})
	tn.dynamic = s.AddGroup(graphtest.Group{DisplayName: "All staff", SecurityEnabled: true, GroupTypes: []string{"DynamicMembership"},
		MembershipRule: `(user.accountEnabled -eq true)`})
	s.AddGroup(graphtest.Group{DisplayName: "Twins"})
	s.AddGroup(graphtest.Group{DisplayName: "Twins"})
	t.Setenv("ENTRATARGET_SECRET", testSecret)
	c, err := entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "ENTRATARGET_SECRET", AuthorityHost: s.AuthorityHost, GraphURL: s.GraphURL, Features: features},
		entra.Options{Transport: s.Transport(), Now: tn.clock.Now, After: tn.clock.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tn.client = c
	return tn
}

var writeRoles = []string{"User.ReadWrite.All", "GroupMember.ReadWrite.All"}

// open opens a target with rules for Sales (by name) and Marketing (by id).
func (tn *tenant) open(t *testing.T, mutate func(*Config)) *Connector {
	t.Helper()
	cfg := &Config{
		Groups: []Rule{
			{Group: "Sales", When: `user.enterprise.department == "Sales"`},
			{Group: tn.marketing.ID, When: `user.enterprise.department == "Marketing"`},
		},
		WriteBack: []string{"jobTitle", "department"},
		Disable:   true,
		Client:    tn.client,
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := cfg.Open(t.Context(), targets.Env{Name: "entra", Attributes: map[targets.Kind][]string{
		targets.User: {"userPrincipalName", "jobTitle", "department", MemberOf}}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c.(*Connector)
}

func (tn *tenant) groupsOf(t *testing.T, userID string) []string {
	t.Helper()
	var out []string
	for _, g := range []graphtest.Group{tn.sales, tn.marketing, tn.other} {
		got, _ := tn.s.Group(g.ID)
		if slices.Contains(got.Members, userID) {
			out = append(out, got.DisplayName)
		}
	}
	return out
}

func TestMembershipFollowsRules(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	c := tn.open(t, nil)
	ctx := t.Context()
	steps := []struct {
		name  string
		value any
		want  []string
	}{
		{"joins Sales", []string{"Sales"}, []string{"Sales", "Other"}},
		{"again: nothing changes", []string{"Sales"}, []string{"Sales", "Other"}},
		{"moves to Marketing", []string{tn.marketing.ID}, []string{"Marketing", "Other"}},
		{"both", []string{"Sales", tn.marketing.ID}, []string{"Sales", "Marketing", "Other"}},
		{"none: the unmanaged group stays", nil, []string{"Other"}},
	}
	for _, st := range steps {
		if err := c.Update(ctx, targets.Op{ID: st.name, Kind: targets.User, Anchor: tn.alice.ID, Attrs: map[string]any{MemberOf: st.value}}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := tn.groupsOf(t, tn.alice.ID); !slices.Equal(got, st.want) {
			t.Errorf("%s: groups %v, want %v", st.name, got, st.want)
		}
	}
	if v := tn.s.TakeViolations(); len(v) > 0 {
		t.Errorf("Graph misuse: %v", v)
	}
	// The move (one add, one remove) went as one JSON batch.
	batched := 0
	for _, r := range tn.s.Requests() {
		if r.Batch {
			batched++
		}
	}
	if batched == 0 {
		t.Error("no membership change was sent in a $batch")
	}
}

func TestGetAndLookup(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	c := tn.open(t, nil)
	ctx := t.Context()
	if err := c.Update(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID, Attrs: map[string]any{MemberOf: []string{"Sales"}, "jobTitle": "Lead"}}); err != nil {
		t.Fatal(err)
	}
	o, err := c.Get(ctx, targets.User, tn.alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Anchor != tn.alice.ID || o.Attrs["jobTitle"] != "Lead" || o.Attrs["department"] != "Sales" ||
		!slices.Equal(o.Attrs[MemberOf].([]string), []string{"Sales"}) || o.Disabled {
		t.Errorf("Get = %+v", o)
	}
	// Lookup by userPrincipalName: a guest's #EXT# and a quote travel as data.
	objs, err := c.Lookup(ctx, targets.User, "userPrincipalName", tn.guest.UserPrincipalName, 0)
	if err != nil || len(objs) != 1 || objs[0].Anchor != tn.guest.ID {
		t.Fatalf("Lookup guest = %+v, %v", objs, err)
	}
	for _, v := range []string{"' or 1 eq 1 or 'a' eq '", "nobody@contoso.example", "alice@contoso.example\x00"} {
		objs, err := c.Lookup(ctx, targets.User, "userPrincipalName", v, 0)
		if err != nil || len(objs) != 0 {
			t.Errorf("Lookup %q = %+v, %v; want none", v, objs, err)
		}
	}
	if _, err := c.Lookup(ctx, targets.User, "password", "x", 0); !errors.Is(err, targets.ErrPermanent) {
		t.Errorf("Lookup by password: %v, want permanent", err)
	}
	if _, err := c.Get(ctx, targets.User, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, targets.ErrNotFound) {
		t.Errorf("Get missing: %v, want not found", err)
	}
}

func TestListPages(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	for i := range 7 {
		tn.s.AddUser(graphtest.User{UserPrincipalName: "u" + string(rune('a'+i)) + "@contoso.example", AccountEnabled: i%2 == 0})
	}
	c := tn.open(t, nil)
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := c.List(t.Context(), targets.User, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			all = append(all, o.Anchor)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 10 {
			t.Fatal("List does not end")
		}
	}
	if len(all) != 9 {
		t.Errorf("List returned %d users, want 9", len(all))
	}
	if _, err := c.List(t.Context(), targets.User, "https://elsewhere.example/v1.0/users", 3); !errors.Is(err, targets.ErrPermanent) {
		t.Errorf("a cursor off Graph: %v, want permanent", err)
	}
}

func TestWriteBackDisableDelete(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	ctx := t.Context()
	c := tn.open(t, nil)
	if err := c.Update(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID, Attrs: map[string]any{"jobTitle": "Director", "department": nil,
		"userPrincipalName": "ignored@contoso.example"}}); err != nil {
		t.Fatal(err)
	}
	u, _ := tn.s.User(tn.alice.ID)
	if u.JobTitle != "Director" || u.Department != "" || u.UserPrincipalName != "alice@contoso.example" {
		t.Errorf("after write-back: %+v", u)
	}
	if err := c.Disable(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID}); err != nil {
		t.Fatal(err)
	}
	if u, _ := tn.s.User(tn.alice.ID); u.AccountEnabled {
		t.Error("Disable left the account enabled")
	}
	if err := c.Enable(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID}); err != nil {
		t.Fatal(err)
	}
	if u, _ := tn.s.User(tn.alice.ID); !u.AccountEnabled {
		t.Error("Enable left the account disabled")
	}
	// Without delete: a delete takes the user out of the rules' groups only.
	if err := c.Update(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID, Attrs: map[string]any{MemberOf: []string{"Sales"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tn.s.User(tn.alice.ID); !ok || !slices.Equal(tn.groupsOf(t, tn.alice.ID), []string{"Other"}) {
		t.Errorf("delete without delete: set: user present %v, groups %v", ok, tn.groupsOf(t, tn.alice.ID))
	}
	// With delete: the account goes; again is success.
	d := tn.open(t, func(c *Config) { c.Delete = true })
	for range 2 {
		if err := d.Delete(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if !tn.s.Deleted(tn.alice.ID) {
		t.Error("delete: true did not delete the Entra user")
	}
	if _, err := c.Create(ctx, targets.Op{Kind: targets.User, ObjectID: "x", Attrs: map[string]any{"userPrincipalName": "new@contoso.example"}}); !errors.Is(err, targets.ErrPermanent) ||
		!strings.Contains(err.Error(), "does not create users") {
		t.Errorf("Create: %v", err)
	}
}

func TestOpenProblems(t *testing.T) {
	tn := newTenant(t, writeRoles, entra.Features{Membership: true})
	cases := []struct {
		name   string
		mutate func(*Config)
		attrs  []string
		want   []string
	}{
		{"missing group", func(c *Config) { c.Groups[0].Group = "Nope"; c.WriteBack, c.Disable = nil, false }, nil,
			[]string{`groups[0].group`, `no Entra group is named "Nope"`}},
		{"ambiguous name", func(c *Config) { c.Groups[0].Group = "Twins"; c.WriteBack, c.Disable = nil, false }, nil,
			[]string{`2 Entra groups are named "Twins"`, "give the object id"}},
		{"dynamic group", func(c *Config) { c.Groups[1].Group = tn.dynamic.ID; c.WriteBack, c.Disable = nil, false }, nil,
			[]string{`groups[1].group`, "dynamic membership", "user.accountEnabled"}},
		{"features", nil, nil, []string{"write_back: needs features.update_users", "disable: needs features.enable_disable"}},
		{"unmapped attribute", func(c *Config) { c.WriteBack, c.Disable = nil, false }, []string{"userPrincipalName", "manager", MemberOf},
			[]string{`writes "manager"`}},
		{"rules without memberOf", func(c *Config) { c.WriteBack, c.Disable = nil, false }, []string{"userPrincipalName"},
			[]string{"no memberOf attribute"}},
		{"no entra section", func(c *Config) { c.Client = nil }, nil, []string{"needs the gateway's entra section"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Groups: []Rule{{Group: "Sales", When: "true"}, {Group: tn.marketing.ID, When: "true"}},
				WriteBack: []string{"jobTitle"}, Disable: true, Client: tn.client}
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			attrs := tc.attrs
			if attrs == nil {
				attrs = []string{"userPrincipalName", "jobTitle", MemberOf}
			}
			_, err := cfg.Open(t.Context(), targets.Env{Name: "entra", Attributes: map[targets.Kind][]string{targets.User: attrs}})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cfg := &Config{Groups: []Rule{{Group: "", When: ""}, {Group: "x", When: "true"}}, WriteBack: []string{"password", "jobTitle", "jobTitle"}}
	err := cfg.Validate()
	for _, w := range []string{"groups[0].group: required", "groups[0].when: required", `write_back[0]: "password" cannot be written`, `write_back[2]: "jobTitle" listed twice`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v; want %q", err, w)
		}
	}
}

func TestDerived(t *testing.T) {
	cfg := &Config{Groups: []Rule{{Group: "Sales", When: "a"}, {Group: `Q"x`, When: "b"}, {Group: "Sales", When: "c"}}}
	d := cfg.Derived()
	want := `((a) || (c) ? ["Sales"] : []) + ((b) ? ["Q\"x"] : [])`
	if len(d) != 1 || d[0].Attribute != MemberOf || d[0].Expression != want || d[0].Field != "groups" {
		t.Errorf("Derived = %+v, want expression %s", d, want)
	}
	if (&Config{}).Derived() != nil {
		t.Error("Derived without rules is not empty")
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := t.Context()
	ro := newTenant(t, []string{"User.Read.All", "GroupMember.Read.All"}, allFeatures)
	err := ro.open(t, nil).Update(ctx, targets.Op{Kind: targets.User, Anchor: ro.alice.ID, Attrs: map[string]any{MemberOf: []string{"Sales", ro.marketing.ID}}})
	if !errors.Is(err, targets.ErrPermanent) || !strings.Contains(err.Error(), "GroupMember.ReadWrite.All") {
		t.Errorf("without GroupMember.ReadWrite.All: %v; want permanent naming the permission", err)
	}
	tn := newTenant(t, writeRoles, allFeatures)
	c := tn.open(t, nil)
	tn.s.Fail(1, 502)
	if err := c.Disable(ctx, targets.Op{Kind: targets.User, Anchor: tn.alice.ID}); !errors.Is(err, targets.ErrTransient) {
		t.Errorf("502: %v; want transient", err)
	}
	if err := c.Disable(context.Background(), targets.Op{Kind: targets.User, Anchor: "00000000-0000-4000-8000-000000000000"}); !errors.Is(err, targets.ErrNotFound) {
		t.Errorf("missing user: %v; want not found", err)
	}
}

func TestThrottledBatchDrains(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	c := tn.open(t, nil)
	// The next 3 requests (the memberOf read, then the batch's two
	// sub-requests) are answered 429 with Retry-After 2.
	tn.s.Throttle(3, 2*time.Second)
	if err := c.Update(t.Context(), targets.Op{Kind: targets.User, Anchor: tn.alice.ID, Attrs: map[string]any{MemberOf: []string{"Sales", tn.marketing.ID}}}); err != nil {
		t.Fatal(err)
	}
	if got := tn.groupsOf(t, tn.alice.ID); !slices.Equal(got, []string{"Sales", "Marketing", "Other"}) {
		t.Errorf("groups %v", got)
	}
	if total := tn.clock.Waited(); total < 4*time.Second {
		t.Errorf("waited %v in all (%v): Retry-After not honoured", total, tn.clock.Waits())
	}
}

// TestOpenWithoutToken: a token that cannot be had (a wrong secret here;
// an unreachable identity platform alike) is transient: the gateway opens
// the target again later instead of refusing to start.
func TestOpenWithoutToken(t *testing.T) {
	tn := newTenant(t, writeRoles, allFeatures)
	t.Setenv("ENTRATARGET_SECRET", "not-the-secret")
	c, err := entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "ENTRATARGET_SECRET", AuthorityHost: tn.s.AuthorityHost, GraphURL: tn.s.GraphURL, Features: allFeatures},
		entra.Options{Transport: tn.s.Transport(), Now: tn.clock.Now, After: tn.clock.After})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Groups: []Rule{{Group: "Sales", When: "true"}}, Client: c}
	_, err = cfg.Open(t.Context(), targets.Env{Name: "entra", Attributes: map[targets.Kind][]string{targets.User: {"userPrincipalName", MemberOf}}})
	if !errors.Is(err, targets.ErrTransient) || !errors.Is(err, entra.ErrAuthentication) {
		t.Fatalf("Open without a token: %v; want transient (authentication failed)", err)
	}
}
