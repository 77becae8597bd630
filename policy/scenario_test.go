package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/scim"
)

// A scenario (testdata/scenarios/*.yaml, format in README.md there) is a
// policy, a start time and steps; each step changes identities through the
// gateway's SCIM normaliser and PATCH engine, may advance the clock, and
// lists the decisions expected afterwards.
type scenario struct {
	Description string         `yaml:"description"`
	Start       time.Time      `yaml:"start"`
	Seed        uint64         `yaml:"seed"`
	Policy      Config         `yaml:"policy"`
	Steps       []scenarioStep `yaml:"steps"`
}

type scenarioStep struct {
	Name    string        `yaml:"name"`
	Advance time.Duration `yaml:"advance"`
	Put     struct {
		Users  []map[string]any `yaml:"users"`
		Groups []map[string]any `yaml:"groups"`
	} `yaml:"put"`
	Patch struct {
		Users  map[string][]map[string]any `yaml:"users"`
		Groups map[string][]map[string]any `yaml:"groups"`
	} `yaml:"patch"`
	Delete struct {
		Users  []string `yaml:"users"`
		Groups []string `yaml:"groups"`
	} `yaml:"delete"`
	// Expect lists, per object id, the targets whose scope it is in and
	// what they receive; targets not listed must have it out of scope.
	// (Engine scenarios will add the operations expected.)
	Expect struct {
		Users  map[string]map[string]expectedDecision `yaml:"users"`
		Groups map[string]map[string]expectedDecision `yaml:"groups"`
	} `yaml:"expect"`
}

type expectedDecision struct {
	Attributes map[string]any `yaml:"attributes"`
	OnCreate   map[string]any `yaml:"onCreate"`
	Error      string         `yaml:"error"`
}

// world is the identities a scenario has loaded, and its clock.
type world struct {
	now    time.Time
	userRT *scim.ResourceType
	grpRT  *scim.ResourceType
	users  map[string]map[string]any
	groups map[string]map[string]any
}

func TestScenarios(t *testing.T) {
	for _, file := range testFiles(t, "scenarios") {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			var sc scenario
			readYAML(t, file, &sc)
			w := &world{now: sc.Start, userRT: testUserType(), grpRT: scim.GroupType(),
				users: map[string]map[string]any{}, groups: map[string]map[string]any{}}
			p, err := Compile(sc.Policy, WithResourceTypes(w.userRT, w.grpRT),
				WithClock(func() time.Time { return w.now }), WithRand(seeded(sc.Seed)))
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range sc.Steps {
				if len(st.Expect.Users)+len(st.Expect.Groups) == 0 {
					t.Fatalf("step %d (%s) expects nothing", i, st.Name)
				}
				w.apply(t, st)
				for _, id := range slices.Sorted(maps.Keys(st.Expect.Users)) {
					u, ok := w.users[id]
					if !ok {
						t.Fatalf("step %d (%s): no user %q", i, st.Name, id)
					}
					got := p.EvaluateUser(u, w.memberOf(id))
					checkDecisions(t, fmt.Sprintf("step %d (%s), user %s", i, st.Name, id), got, st.Expect.Users[id])
				}
				for _, id := range slices.Sorted(maps.Keys(st.Expect.Groups)) {
					g, ok := w.groups[id]
					if !ok {
						t.Fatalf("step %d (%s): no group %q", i, st.Name, id)
					}
					got := p.EvaluateGroup(g)
					checkDecisions(t, fmt.Sprintf("step %d (%s), group %s", i, st.Name, id), got, st.Expect.Groups[id])
				}
			}
		})
	}
}

func (w *world) apply(t *testing.T, st scenarioStep) {
	t.Helper()
	w.now = w.now.Add(st.Advance)
	put := func(rt *scim.ResourceType, store map[string]map[string]any, bodies []map[string]any) {
		for _, b := range bodies {
			id, _ := b["id"].(string)
			if id == "" {
				t.Fatalf("step %s: a resource to put needs an id", st.Name)
			}
			store[id] = canonical(t, rt, b)
		}
	}
	put(w.userRT, w.users, st.Put.Users)
	put(w.grpRT, w.groups, st.Put.Groups)
	patch := func(rt *scim.ResourceType, store map[string]map[string]any, ops map[string][]map[string]any) {
		for id, list := range ops {
			res, ok := store[id]
			if !ok {
				t.Fatalf("step %s: no resource %q to patch", st.Name, id)
			}
			body, err := json.Marshal(map[string]any{"schemas": []string{scim.URNPatchOp}, "Operations": list})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := scim.ParsePatchRequest(body)
			if err != nil {
				t.Fatalf("step %s: %v", st.Name, err)
			}
			if store[id], _, err = rt.Patch(res, parsed); err != nil {
				t.Fatalf("step %s: patching %s: %v", st.Name, id, err)
			}
		}
	}
	patch(w.userRT, w.users, st.Patch.Users)
	patch(w.grpRT, w.groups, st.Patch.Groups)
	for _, id := range st.Delete.Users {
		delete(w.users, id)
	}
	for _, id := range st.Delete.Groups {
		delete(w.groups, id)
	}
}

// memberOf lists the groups that have the user as a direct member.
func (w *world) memberOf(id string) []GroupRef {
	var out []GroupRef
	for _, gid := range slices.Sorted(maps.Keys(w.groups)) {
		g := w.groups[gid]
		members, _ := g["members"].([]any)
		for _, m := range members {
			if mm, _ := m.(map[string]any); mm["value"] == id {
				name, _ := g["displayName"].(string)
				out = append(out, GroupRef{ID: gid, DisplayName: name})
			}
		}
	}
	return out
}

// printed turns secrets into their printed form, so scenarios show that
// a value is secret without depending on it.
func printed(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if s, ok := v.(Secret); ok {
			v = fmt.Sprint(s)
		}
		out[k] = v
	}
	return out
}

func checkDecisions(t *testing.T, where string, got []Decision, want map[string]expectedDecision) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range got {
		seen[d.Target] = true
		w, listed := want[d.Target]
		switch {
		case w.Error != "":
			if d.Err == nil || !strings.Contains(d.Err.Error(), w.Error) {
				t.Errorf("%s, target %s: error = %v, want one containing %q", where, d.Target, d.Err, w.Error)
			}
			continue
		case d.Err != nil:
			t.Errorf("%s, target %s: %v", where, d.Target, d.Err)
			continue
		case d.InScope != listed:
			t.Errorf("%s, target %s: in scope = %v, want %v", where, d.Target, d.InScope, listed)
			continue
		}
		if !equal(printed(d.Attributes), w.Attributes) {
			t.Errorf("%s, target %s: attributes\n got %v\nwant %v", where, d.Target, plain(printed(d.Attributes)), plain(w.Attributes))
		}
		if !equal(printed(d.OnCreate), w.OnCreate) {
			t.Errorf("%s, target %s: onCreate\n got %v\nwant %v", where, d.Target, plain(printed(d.OnCreate)), plain(w.OnCreate))
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: no target %s receives this object type", where, name)
		}
	}
}
