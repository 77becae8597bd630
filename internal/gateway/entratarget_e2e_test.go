package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
)

// entraExample starts the gateway of examples/entra.yaml against a fake
// tenant with the groups Sales, Marketing and a dynamic one.
func entraExample(t *testing.T, s *graphtest.Server, mutate func(*config.Config)) (*Gateway, error) {
	t.Helper()
	cfg, err := config.Load("../../examples/entra.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENTRA_CLIENT_SECRET", entraSecret)
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Entra.TenantID, cfg.Entra.ClientID = graphtest.TenantID, entraClientID
	cfg.Entra.AuthorityHost, cfg.Entra.GraphURL = s.AuthorityHost, s.GraphURL
	if mutate != nil {
		mutate(&cfg)
	}
	clk := &graphtest.Clock{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) {
			o.Poll, o.BackoffBase, o.BackoffMax = 20*time.Millisecond, 5*time.Millisecond, 40*time.Millisecond
		},
		entra: entra.Options{Transport: s.Transport(), Now: clk.Now, After: clk.After},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g, nil
}

func entraGroupsOf(t *testing.T, s *graphtest.Server, upn string) []string {
	t.Helper()
	u, ok := s.User(upn)
	if !ok {
		t.Fatalf("no Entra user %s", upn)
	}
	var out []string
	for _, name := range []string{"Sales", "Marketing"} {
		for _, id := range []string{salesID, marketingID} {
			g, _ := s.Group(id)
			if g.DisplayName == name && slices.Contains(g.Members, u.ID) {
				out = append(out, name)
			}
		}
	}
	return out
}

const (
	salesID     = "5a1e5000-0000-4000-8000-000000000011"
	marketingID = "3a4c3000-0000-4000-8000-000000000012"
)

// TestEntraExampleMoverLeaver runs examples/entra.yaml: Entra provisions
// users to the gateway (SCIM), and the entra target puts them into the
// Entra group of their department, moves them when it changes, and
// disables a leaver's account; a user with no Entra account is a dead
// letter that says why.
func TestEntraExampleMoverLeaver(t *testing.T) {
	s := entraTenant(t, "User.Read.All", "GroupMember.ReadWrite.All", "User.EnableDisableAccount.All")
	s.AddGroup(graphtest.Group{ID: salesID, DisplayName: "Sales", SecurityEnabled: true})
	s.AddGroup(graphtest.Group{ID: marketingID, DisplayName: "Marketing", SecurityEnabled: true})
	g, err := entraExample(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: g.BaseURL()}
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	alice := c.must(201, "POST", "/Users", map[string]any{"userName": "alice@contoso.example", "active": true,
		ent: map[string]any{"department": "Sales"}}).body["id"].(string)
	c.must(201, "POST", "/Users", map[string]any{"userName": "bob@contoso.example", "active": true})
	c.must(201, "POST", "/Users", map[string]any{"userName": "nobody@contoso.example", "active": true, ent: map[string]any{"department": "Sales"}})
	wait := func() { waitFor(t, "the engine to deliver", func() (bool, string) { return idleNow(t.Context(), g) }) }
	wait()
	if got := entraGroupsOf(t, s, "alice@contoso.example"); !slices.Equal(got, []string{"Sales"}) {
		t.Errorf("joiner: alice in %v, want [Sales]", got)
	}
	if got := entraGroupsOf(t, s, "bob@contoso.example"); len(got) != 0 {
		t.Errorf("bob (no department) in %v", got)
	}

	c.must(200, "PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "Replace", "path": ent + ":department", "value": "Marketing"}}})
	wait()
	if got := entraGroupsOf(t, s, "alice@contoso.example"); !slices.Equal(got, []string{"Marketing"}) {
		t.Errorf("mover: alice in %v, want [Marketing]", got)
	}

	c.must(200, "PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "Replace", "path": "active", "value": false}}})
	wait()
	if u, _ := s.User("alice@contoso.example"); u.AccountEnabled {
		t.Error("leaver: alice's Entra account is still enabled")
	}
	if u, _ := s.User("bob@contoso.example"); !u.AccountEnabled {
		t.Error("bob was disabled")
	}

	dead, err := g.store.Outbox(t.Context(), "entra", true, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "no Entra user matches") {
		t.Fatalf("dead letters %+v; want one, for nobody@contoso.example, saying no Entra user matches", dead)
	}
	if v := s.TakeViolations(); len(v) > 0 {
		t.Errorf("Graph misuse: %v", v)
	}
}

// TestEntraTargetRefusesBadGroups: a rule naming a dynamic group, a
// group that does not exist or a name two groups share stops the gateway
// at startup, naming the rule.
func TestEntraTargetRefusesBadGroups(t *testing.T) {
	for _, tc := range []struct{ name, group, want string }{
		{"dynamic", dynID, "dynamic membership"},
		{"missing", "Nope", `no Entra group is named "Nope"`},
		{"ambiguous", "Twin", `2 Entra groups are named "Twin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := entraTenant(t, "User.Read.All", "GroupMember.ReadWrite.All", "User.EnableDisableAccount.All")
			s.AddGroup(graphtest.Group{ID: salesID, DisplayName: "Sales"})
			s.AddGroup(graphtest.Group{DisplayName: "Twin"})
			s.AddGroup(graphtest.Group{DisplayName: "Twin"})
			_, err := entraExample(t, s, func(c *config.Config) {
				rule := c.Targets[0].Config.Content[1].Content[0] // config.groups[0]
				if c.Targets[0].Config.Content[0].Value != "groups" || rule.Content[0].Value != "group" {
					t.Fatal("examples/entra.yaml: config.groups[0].group is not where the test looks")
				}
				rule.Content[1].Value = tc.group
			})
			if err == nil || !strings.Contains(err.Error(), "config.groups[0].group") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("startup error %v; want it to name config.groups[0].group and say %q", err, tc.want)
			}
		})
	}
}
