package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

const (
	coreUser   = "urn:ietf:params:scim:schemas:core:2.0:User"
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// kill9Config is the gateway configuration of the kill -9 tests: one
// memory target kept in a file (%q), users in scope by department, every
// group, users deleted in SCIM deleted at once, and the outOfScope action
// (%s).
const kill9Config = `targets:
  - name: crm
    type: memory
    config: {file: %q}
    users:
      scope:
        filters:
          - name: Sales staff
            clauses:
              - {attribute: department, operator: equals, value: Sales}
      mapping:
        - {target: login, source: userName}
        - {target: title, source: title}
        - {target: alias, expression: 'ToLower(user.userName)'}
    groups:
      scope: {all: true}
      mapping:
        - {target: name, source: displayName}
    lifecycle:
      outOfScope: %s
      deleteGracePeriod: 0s
`

// TestKill9Converges streams SCIM changes from several clients into a
// gateway process with a file-backed memory target, kills the gateway with
// SIGKILL several times mid-stream (restarting it on the same data each
// time), and then checks that the target converges to exactly what the
// policy implies for the final SCIM state: no operation lost, no object
// duplicated. It runs once per outOfScope action; the stream deletes any
// user, group members included, so it covers a user deleted in SCIM (or
// out of scope) while its delete, or an addMembers that names it, is
// still queued.
func TestKill9Converges(t *testing.T) {
	for _, outOfScope := range []string{"disable", "delete"} {
		t.Run(outOfScope, func(t *testing.T) { testKill9(t, outOfScope) })
	}
}

// testKill9 runs a kill -9 convergence test with the outOfScope action
// outOfScope.
func testKill9(t *testing.T, outOfScope string) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kill -9 convergence test starts gateway processes")
	}
	dir := t.TempDir()
	dataDir, targetFile := filepath.Join(dir, "data"), filepath.Join(dir, "crm.json")
	cfgFile := filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, kill9Config, targetFile, outOfScope), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *gatewayProc { return startProc(t, dataDir, "--config", cfgFile) }
	p := start()
	var base atomic.Pointer[string]
	base.Store(&p.base)

	const clients, kills = 4, 4
	var (
		answered atomic.Int64 // SCIM requests answered, any status
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	stopStream := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopStream) // also when a start fails
	for c := range clients {
		wg.Go(func() {
			s := &streamer{c: c, rnd: rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s.step(*base.Load()) {
					answered.Add(1)
				} else {
					time.Sleep(10 * time.Millisecond) // the gateway is down
				}
			}
		})
	}
	// waitFor lets the stream run for n more answered requests.
	waitFor := func(n int64) {
		t.Helper()
		goal := answered.Load() + n
		for deadline := time.Now().Add(60 * time.Second); answered.Load() < goal; {
			if time.Now().After(deadline) {
				stopStream()
				t.Fatalf("the SCIM stream stalled: %d requests answered, want %d", answered.Load(), goal)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	rnd := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for range kills {
		waitFor(int64(50 + rnd.IntN(200)))
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p = start()
		base.Store(&p.base)
	}
	waitFor(100)
	stopStream()
	t.Logf("%d SCIM requests answered across %d kills", answered.Load(), kills)

	want := expectedTarget(t, p.base, outOfScope == "delete")
	// Converged: the target matches and the outbox is empty, read with
	// the gateway stopped. A match while operations are still queued
	// (a no-op removeMembers, say) restarts the gateway and polls again.
	deadline := time.Now().Add(90 * time.Second)
	for {
		for {
			diff := compareTarget(want, readTarget(t, targetFile))
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the target did not converge to the SCIM state within 90s: %s", diff)
			}
			time.Sleep(100 * time.Millisecond)
		}
		stopProc(t, p)
		pending, dead := readOutbox(t, filepath.Join(dataDir, config.DatabaseFile), "crm")
		if len(dead) > 0 {
			t.Fatalf("%d operations are dead letters, the first: %s %s %s: %s", len(dead), dead[0].Type, dead[0].ID, dead[0].Payload, dead[0].LastError)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target matches but %d operations are still queued, the first: %s %s %s (last error %q)",
				len(pending), pending[0].Type, pending[0].ID, pending[0].Payload, pending[0].LastError)
		}
		p = start()
		time.Sleep(time.Second) // let the engine work (its poll interval)
	}
	t.Logf("target converged and outbox drained: %d users in scope, %d groups", len(want.users), len(want.groups))
}

// stopProc stops the gateway with SIGTERM and waits for it to exit.
func stopProc(t *testing.T, p *gatewayProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit within 30s of SIGTERM")
	}
}

// readOutbox returns the pending and the dead operations of a target in
// the store file db of a stopped gateway.
func readOutbox(t *testing.T, db, target string) (pending, dead []store.Outbox) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, db)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	defer st.Close()
	if pending, err = st.Outbox(ctx, target, false, 100); err == nil {
		dead, err = st.Outbox(ctx, target, true, 100)
	}
	if err != nil {
		t.Fatalf("reading the outbox: %v", err)
	}
	return pending, dead
}

// streamer is one SCIM client of the stream, changing its own users and
// groups at random.
type streamer struct {
	c      int
	rnd    *rand.Rand
	n      int
	users  []string
	groups []string
}

// step sends one random change; false when the gateway did not answer.
func (s *streamer) step(base string) bool {
	var (
		status int
		body   []byte
		err    error
		id     string
	)
	pick := func(ids []string) string { return ids[s.rnd.IntN(len(ids))] }
	r := s.rnd.IntN(100)
	switch {
	case r < 25 || len(s.users) == 0:
		s.n++
		name := fmt.Sprintf("c%d-u%d@example.com", s.c, s.n)
		status, body, err = scimDo("POST", base+"/Users", map[string]any{
			"schemas":  []string{coreUser, enterprise},
			"userName": name, "active": s.rnd.IntN(5) > 0, "title": "Clerk",
			enterprise: map[string]any{"department": s.department()},
		})
		if err == nil && status == http.StatusCreated {
			var u struct{ ID string }
			if json.Unmarshal(body, &u) == nil && u.ID != "" {
				s.users = append(s.users, u.ID)
			}
		}
		return err == nil
	case r < 40:
		id = pick(s.users)
		status, _, err = scimDo("PATCH", base+"/Users/"+id, patch("Replace", enterprise+":department", s.department()))
	case r < 50:
		id = pick(s.users)
		status, _, err = scimDo("PATCH", base+"/Users/"+id, patch("Replace", "active", s.rnd.IntN(2) == 0))
	case r < 58:
		id = pick(s.users)
		status, _, err = scimDo("PATCH", base+"/Users/"+id, patch("Replace", "title", fmt.Sprintf("Title %d", s.rnd.IntN(10))))
	case r < 66:
		id = pick(s.users)
		status, _, err = scimDo("DELETE", base+"/Users/"+id, nil)
		if err == nil && (status == http.StatusNoContent || status == http.StatusNotFound) {
			s.users = slices.DeleteFunc(s.users, func(u string) bool { return u == id })
		}
		return err == nil
	case r < 72 || len(s.groups) == 0:
		s.n++
		member := pick(s.users)
		status, body, err = scimDo("POST", base+"/Groups", map[string]any{
			"displayName": fmt.Sprintf("c%d-g%d", s.c, s.n),
			"members":     []any{map[string]any{"value": member}},
		})
		if err == nil && status == http.StatusCreated {
			var g struct{ ID string }
			if json.Unmarshal(body, &g) == nil && g.ID != "" {
				s.groups = append(s.groups, g.ID)
			}
		}
		return err == nil
	case r < 86:
		id = pick(s.groups)
		member := pick(s.users)
		status, _, err = scimDo("PATCH", base+"/Groups/"+id, patch("Add", "members", []any{map[string]any{"value": member}}))
	case r < 97:
		id = pick(s.groups)
		status, _, err = scimDo("PATCH", base+"/Groups/"+id, patch("Remove", fmt.Sprintf("members[value eq %q]", pick(s.users)), nil))
	default:
		id = pick(s.groups)
		status, _, err = scimDo("DELETE", base+"/Groups/"+id, nil)
		if err == nil && (status == http.StatusNoContent || status == http.StatusNotFound) {
			s.groups = slices.DeleteFunc(s.groups, func(g string) bool { return g == id })
		}
		return err == nil
	}
	if err == nil && status == http.StatusNotFound { // deleted by a request whose answer was lost
		s.users = slices.DeleteFunc(s.users, func(u string) bool { return u == id })
		s.groups = slices.DeleteFunc(s.groups, func(g string) bool { return g == id })
	}
	return err == nil
}

// department is Sales (in the target's scope) more often than not.
func (s *streamer) department() string {
	if s.rnd.IntN(3) > 0 {
		return "Sales"
	}
	return "Engineering"
}

// patch is a SCIM PATCH request with one operation.
func patch(op, path string, value any) map[string]any {
	o := map[string]any{"op": op, "path": path}
	if value != nil {
		o["value"] = value
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{o}}
}

// wantUser and wantGroup are what the target must hold for one object.
type wantUser struct {
	attrs    map[string]any
	disabled bool
}

type wantGroup struct {
	name    string
	members []string // object ids of the members
}

// wantTarget is the target state the policy implies, by object id.
type wantTarget struct {
	users  map[string]wantUser  // users in scope
	groups map[string]wantGroup // every group
	// outOfScope are the users out of scope: absent from the target when
	// outOfScopeDelete, else absent or disabled.
	outOfScope       map[string]bool
	outOfScopeDelete bool
}

// expectedTarget reads every user and group from the SCIM API and returns
// what kill9Config implies for the target.
func expectedTarget(t *testing.T, base string, outOfScopeDelete bool) wantTarget {
	t.Helper()
	want := wantTarget{users: map[string]wantUser{}, groups: map[string]wantGroup{}, outOfScope: map[string]bool{}, outOfScopeDelete: outOfScopeDelete}
	for _, u := range scimList(t, base, "Users") {
		ent, _ := u[enterprise].(map[string]any)
		if ent["department"] != "Sales" {
			want.outOfScope[u["id"].(string)] = true
			continue
		}
		name, _ := u["userName"].(string)
		attrs := map[string]any{"login": name, "alias": strings.ToLower(name)}
		if title, ok := u["title"].(string); ok {
			attrs["title"] = title
		}
		want.users[u["id"].(string)] = wantUser{attrs: attrs, disabled: u["active"] == false}
	}
	for _, g := range scimList(t, base, "Groups") {
		wg := wantGroup{name: fmt.Sprint(g["displayName"]), members: []string{}}
		ms, _ := g["members"].([]any)
		for _, m := range ms {
			id, _ := m.(map[string]any)["value"].(string)
			if _, ok := want.users[id]; ok && !slices.Contains(wg.members, id) {
				wg.members = append(wg.members, id)
			}
		}
		sort.Strings(wg.members)
		want.groups[g["id"].(string)] = wg
	}
	return want
}

// scimList returns every resource of an endpoint, page by page.
func scimList(t *testing.T, base, endpoint string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for start := 1; start < 100_000; {
		status, body, err := scimDo("GET", fmt.Sprintf("%s/%s?startIndex=%d&count=100", base, endpoint, start), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("listing %s: %d %v %s", endpoint, status, err, body)
		}
		var lr struct {
			TotalResults int              `json:"totalResults"`
			Resources    []map[string]any `json:"Resources"`
		}
		if err := json.Unmarshal(body, &lr); err != nil {
			t.Fatalf("listing %s: %v", endpoint, err)
		}
		out = append(out, lr.Resources...)
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > lr.TotalResults {
			return out
		}
	}
	t.Fatalf("listing %s: too many pages", endpoint)
	return nil
}

// readTarget returns the objects in the target's state file.
func readTarget(t *testing.T, file string) []targets.Object {
	t.Helper()
	c, err := (&memory.Config{File: file}).Open(context.Background(), targets.Env{Name: "crm"})
	if err != nil {
		t.Fatalf("reading the target: %v", err)
	}
	defer c.Close(context.Background())
	return c.(*memory.Connector).Snapshot()
}

// compareTarget describes the first difference between the target's
// objects and want, or returns "" when they match.
func compareTarget(want wantTarget, got []targets.Object) string {
	anchors := map[string]string{} // user anchor → object id
	seen := map[targets.Kind]map[string]bool{targets.User: {}, targets.Group: {}}
	for _, o := range got {
		if seen[o.Kind][o.ObjectID] {
			return fmt.Sprintf("%s %q is in the target twice", o.Kind, o.ObjectID)
		}
		seen[o.Kind][o.ObjectID] = true
		if o.Kind == targets.User {
			anchors[o.Anchor] = o.ObjectID
		}
	}
	for _, o := range got {
		switch o.Kind {
		case targets.User:
			w, ok := want.users[o.ObjectID]
			switch {
			case !ok && want.outOfScope[o.ObjectID] && !want.outOfScopeDelete:
				if !o.Disabled {
					return fmt.Sprintf("user %q (%v) is out of scope but enabled in the target", o.ObjectID, o.Attrs["login"])
				}
			case !ok:
				return fmt.Sprintf("user %q (%v) is in the target but not in scope in SCIM", o.ObjectID, o.Attrs["login"])
			case !reflect.DeepEqual(o.Attrs, w.attrs):
				return fmt.Sprintf("user %q has attributes %v, want %v", o.ObjectID, o.Attrs, w.attrs)
			case o.Disabled != w.disabled:
				return fmt.Sprintf("user %q disabled=%v, want %v", o.ObjectID, o.Disabled, w.disabled)
			}
		case targets.Group:
			w, ok := want.groups[o.ObjectID]
			if !ok {
				return fmt.Sprintf("group %q (%v) is in the target but not in SCIM", o.ObjectID, o.Attrs["name"])
			}
			if !reflect.DeepEqual(o.Attrs, map[string]any{"name": w.name}) {
				return fmt.Sprintf("group %q has attributes %v, want name %q", o.ObjectID, o.Attrs, w.name)
			}
			members := []string{}
			for _, a := range o.Members {
				members = append(members, anchors[a])
			}
			sort.Strings(members)
			if !slices.Equal(members, w.members) {
				return fmt.Sprintf("group %q has members %v, want %v", o.ObjectID, members, w.members)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want.users)) {
		if !seen[targets.User][id] {
			return fmt.Sprintf("user %q is in scope in SCIM but not in the target", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want.groups)) {
		if !seen[targets.Group][id] {
			return fmt.Sprintf("group %q is in SCIM but not in the target", id)
		}
	}
	return ""
}
