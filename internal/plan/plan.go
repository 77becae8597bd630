// Package plan previews what each provisioning target would receive for the
// identities in the store, without calling any target: which users and
// groups are in its scope, with which mapped attributes and members.
package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// Plan is the preview of every target.
type Plan struct {
	Targets []Target `json:"targets"`
}

// Target is the preview of one target.
type Target struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Users      Count       `json:"users"`
	Groups     Count       `json:"groups"`
	Operations []Operation `json:"operations"`
}

// Count is how many objects of a kind are in scope, of how many stored.
type Count struct {
	InScope int `json:"inScope"`
	Total   int `json:"total"`
}

// Operation is what the target would receive for one object. With no
// provisioning state yet, every object in scope is a create.
type Operation struct {
	Action     string         `json:"action"` // "create", or "error" when the policy failed for the object
	Kind       string         `json:"kind"`   // "User" or "Group"
	ID         string         `json:"id"`
	Name       string         `json:"name"` // userName or displayName
	Attributes map[string]any `json:"attributes,omitempty"`
	Members    []string       `json:"members,omitempty"` // names of in-scope members of a group
	Error      string         `json:"error,omitempty"`
}

// pageSize is how many resources are read from the store at a time.
const pageSize = 500

// Build evaluates pol over every user and group in st; only, when not "",
// restricts the plan to that target. types names each target's connector
// type, for display.
func Build(ctx context.Context, st store.Store, pol *policy.Policy, types map[string]string, only string) (Plan, error) {
	users, err := load(ctx, st, "User")
	if err != nil {
		return Plan{}, err
	}
	groups, err := load(ctx, st, "Group")
	if err != nil {
		return Plan{}, err
	}
	memberOf := map[string][]policy.GroupRef{}
	for _, g := range groups {
		members, _ := g.res["members"].([]any)
		for _, m := range members {
			if el, ok := m.(map[string]any); ok {
				v, _ := el["value"].(string)
				memberOf[v] = append(memberOf[v], policy.GroupRef{ID: g.id, DisplayName: g.name})
			}
		}
	}
	byName := map[string]*Target{}
	var out Plan
	for _, t := range pol.Targets() {
		if only != "" && t.Name() != only {
			continue
		}
		out.Targets = append(out.Targets, Target{Name: t.Name(), Type: types[t.Name()], Operations: []Operation{},
			Users: Count{Total: len(users)}, Groups: Count{Total: len(groups)}})
	}
	if only != "" && len(out.Targets) == 0 {
		return Plan{}, fmt.Errorf("no target named %q", only)
	}
	for i := range out.Targets {
		byName[out.Targets[i].Name] = &out.Targets[i]
	}
	inScope := map[string]map[string]string{} // target -> user id -> userName
	for _, u := range users {
		for _, d := range pol.EvaluateUser(u.res, memberOf[u.id]) {
			t := byName[d.Target]
			if t == nil {
				continue
			}
			if op, ok := operation("User", u, d); ok {
				t.Operations = append(t.Operations, op)
				if op.Action == "create" {
					t.Users.InScope++
					if inScope[d.Target] == nil {
						inScope[d.Target] = map[string]string{}
					}
					inScope[d.Target][u.id] = u.name
				}
			}
		}
	}
	for _, g := range groups {
		for _, d := range pol.EvaluateGroup(g.res) {
			t := byName[d.Target]
			if t == nil {
				continue
			}
			op, ok := operation("Group", g, d)
			if !ok {
				continue
			}
			if op.Action == "create" {
				t.Groups.InScope++
				members, _ := g.res["members"].([]any)
				for _, m := range members {
					el, _ := m.(map[string]any)
					v, _ := el["value"].(string)
					if name, ok := inScope[d.Target][v]; ok {
						op.Members = append(op.Members, name)
					}
				}
				slices.Sort(op.Members)
			}
			t.Operations = append(t.Operations, op)
		}
	}
	return out, nil
}

// object is a stored resource with its canonical form.
type object struct {
	id, name string
	res      map[string]any
}

func load(ctx context.Context, st store.Store, typ string) ([]object, error) {
	name := map[string]string{"User": "userName", "Group": "displayName"}[typ]
	var out []object
	for start := 1; ; start += pageSize {
		page, err := st.Query(ctx, typ, store.Query{StartIndex: start, Count: pageSize})
		if err != nil {
			return nil, err
		}
		for _, sr := range page.Resources {
			res, err := scim.DecodeResource(sr)
			if err != nil {
				return nil, err
			}
			n, _ := res[name].(string)
			out = append(out, object{id: sr.ID, name: n, res: res})
		}
		if start+pageSize > page.Total {
			return out, nil
		}
	}
}

// operation turns a decision into the operation a target would receive;
// ok is false for an object out of scope.
func operation(kind string, o object, d policy.Decision) (Operation, bool) {
	op := Operation{Action: "create", Kind: kind, ID: o.id, Name: o.name}
	switch {
	case d.Err != nil:
		op.Action, op.Error = "error", d.Err.Error()
		return op, true
	case !d.InScope:
		return op, false
	}
	op.Attributes = map[string]any{}
	for _, m := range []map[string]any{d.Attributes, d.OnCreate} {
		for k, v := range m {
			if _, secret := v.(policy.Secret); secret {
				v = policy.Redacted
			}
			op.Attributes[k] = v
		}
	}
	return op, true
}

// WriteJSON writes the plan as JSON.
func (p Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes the plan as a readable listing.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(p.Targets) == 0 {
		b.WriteString("no targets configured\n")
	}
	for _, t := range p.Targets {
		fmt.Fprintf(&b, "%s (%s): %d of %d users and %d of %d groups in scope\n",
			t.Name, t.Type, t.Users.InScope, t.Users.Total, t.Groups.InScope, t.Groups.Total)
		for _, op := range t.Operations {
			fmt.Fprintf(&b, "  %-6s %-5s %s", op.Action, op.Kind, op.Name)
			if op.Error != "" {
				fmt.Fprintf(&b, ": %s", op.Error)
			}
			for _, k := range slices.Sorted(maps.Keys(op.Attributes)) {
				fmt.Fprintf(&b, " %s=%s", k, show(op.Attributes[k]))
			}
			if len(op.Members) > 0 {
				fmt.Fprintf(&b, " members=[%s]", strings.Join(op.Members, ", "))
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func show(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if t == policy.Redacted {
			return t
		}
		return strconv.Quote(t)
	case []string:
		q := make([]string, len(t))
		for i, s := range t {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	return fmt.Sprint(v)
}
