package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/graphtest"
)

// entraKill9Config is a gateway whose entra target keeps users in the
// Entra group of their department and disables leavers (%s: tenant,
// client, authority host, Graph URL).
const entraKill9Config = `entra:
  tenant_id: %s
  client_id: %s
  credential: client_secret
  client_secret_env: TEST_ENTRA_CLIENT_SECRET
  authority_host: %s
  graph_url: %s
  retry_budget: 2s
  features: {membership: true, enable_disable: true}
engine:
  backoff_base: 100ms
  backoff_max: 1s
targets:
  - name: entra
    type: entra
    config:
      groups:
        - {group: Sales, when: 'user.enterprise.department == "Sales"'}
        - {group: Marketing, when: 'user.enterprise.department == "Marketing"'}
        - {group: Support, when: 'user.enterprise.department == "Support"'}
      disable: true
    users:
      scope: {all: true}
      matching: [userPrincipalName]
      mapping:
        - {target: userPrincipalName, source: userName}
    lifecycle:
      outOfScope: disable
`

// TestEntraKill9 streams department changes and leavers into a gateway
// process with an entra target, kills it with SIGKILL several times while
// it delivers to the fake tenant (restarting it on the same data), and
// then checks that Entra converges to what SCIM says: every user in
// exactly the group of their last department, disabled exactly when
// inactive, no user created, no dead letter, nothing left queued.
func TestEntraKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kill -9 test starts gateway processes")
	}
	const users = 20
	s := entraTenant(t)
	depts := []string{"Sales", "Marketing", "Support"}
	groupID := map[string]string{}
	for _, d := range depts {
		groupID[d] = s.AddGroup(graphtest.Group{DisplayName: d, SecurityEnabled: true}).ID
	}
	for i := range users {
		s.AddUser(graphtest.User{UserPrincipalName: fmt.Sprintf("k%02d@contoso.example", i), AccountEnabled: true})
	}
	dir := t.TempDir()
	dataDir, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, entraKill9Config, graphtest.TenantID, entraApp, s.AuthorityHost, s.GraphURL), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dataDir, "--config", cfgFile)

	type want struct {
		id     string
		dept   string
		active bool
	}
	state := make([]want, users)
	rnd := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for i := range users {
		d := depts[rnd.IntN(len(depts))]
		code, body, err := scimDo("POST", p.base+"/Users", map[string]any{"schemas": []string{coreUser, ent},
			"userName": fmt.Sprintf("k%02d@contoso.example", i), "active": true, ent: map[string]any{"department": d}})
		if err != nil || code != 201 {
			t.Fatalf("create k%02d: %d %s %v", i, code, body, err)
		}
		var created struct{ ID string }
		if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
			t.Fatalf("create k%02d: no id in %s", i, body)
		}
		state[i] = want{id: created.ID, dept: d, active: true}
	}
	const kills, changes = 3, 150
	killAt := map[int]bool{}
	for len(killAt) < kills {
		killAt[10+rnd.IntN(changes-20)] = true
	}
	for n := range changes {
		if killAt[n] {
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			p = start(t, dataDir, cfgFile)
		}
		i := rnd.IntN(users)
		var op map[string]any
		if rnd.IntN(5) == 0 {
			state[i].active = !state[i].active
			op = patch("replace", "active", state[i].active)
		} else {
			state[i].dept = depts[rnd.IntN(len(depts))]
			op = patch("replace", ent+":department", state[i].dept)
		}
		code, body, err := scimDo("PATCH", p.base+"/Users/"+state[i].id, op)
		if err != nil || code != 200 && code != 204 {
			t.Fatalf("change %d: %d %s %v", n, code, body, err)
		}
	}

	converged := func() string {
		for i, w := range state {
			u, ok := s.User(fmt.Sprintf("k%02d@contoso.example", i))
			if !ok {
				return fmt.Sprintf("k%02d is gone from Entra", i)
			}
			var in []string
			for _, d := range depts {
				g, _ := s.Group(groupID[d])
				if slices.Contains(g.Members, u.ID) {
					in = append(in, d)
				}
			}
			if !slices.Equal(in, []string{w.dept}) || u.AccountEnabled != w.active {
				return fmt.Sprintf("k%02d: groups %v enabled %v; want [%s] enabled %v", i, in, u.AccountEnabled, w.dept, w.active)
			}
		}
		return ""
	}
	// Converged, and the outbox empty, read with the gateway stopped: a
	// match while operations are still queued (a membership already
	// right) restarts the gateway and waits again.
	deadline := time.Now().Add(90 * time.Second)
	for {
		for diff := converged(); diff != ""; diff = converged() {
			if time.Now().After(deadline) {
				t.Fatalf("Entra did not converge to the SCIM state within 90s: %s", diff)
			}
			time.Sleep(50 * time.Millisecond) // the gateway delivers in the background
		}
		stopProc(t, p)
		pending, dead := readOutbox(t, filepath.Join(dataDir, config.DatabaseFile), "entra")
		if len(dead) > 0 {
			t.Fatalf("%d dead letters, the first: %s %s: %s", len(dead), dead[0].Type, dead[0].ID, dead[0].LastError)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Entra matches but %d operations are still queued, the first: %s %s (last error %q)",
				len(pending), pending[0].Type, pending[0].ID, pending[0].LastError)
		}
		p = start(t, dataDir, cfgFile)
		time.Sleep(time.Second) // let the engine work (its poll interval)
	}
	if n := s.Count("POST", "/v1.0/users"); n != 0 {
		t.Errorf("the entra target created %d users; it links existing ones", n)
	}
	t.Logf("%d changes across %d kills converged", changes, kills)
}

// start starts the gateway process again on dataDir with cfgFile.
func start(t *testing.T, dataDir, cfgFile string) *gatewayProc {
	t.Helper()
	return startProc(t, dataDir, "--config", cfgFile)
}
