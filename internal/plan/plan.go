// Package plan previews what each provisioning target would receive for the
// identities in the store, without calling any target: the operations
// queued and not yet delivered, and those that the engine would plan now
// against the provisioning state it recorded (for a new target: a create
// for every user and group in scope, then the memberships).
package plan

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// Plan is the preview of every target.
type Plan struct {
	Targets []Target `json:"targets"`
	// Guests are the guest lifecycle's upcoming steps (GuestSteps); nil
	// without guest lifecycle.
	Guests *Guests `json:"guests,omitempty"`
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

// Operation is what the target would receive for one object.
type Operation struct {
	// Action is the operation (create, update, disable, enable, delete,
	// addMembers, removeMembers), or "error" when the policy failed for
	// the object.
	Action     string         `json:"action"`
	Kind       string         `json:"kind"` // "User" or "Group"
	ID         string         `json:"id"`
	Name       string         `json:"name"` // userName or displayName ("" for an object no longer stored)
	Attributes map[string]any `json:"attributes,omitempty"`
	Members    []string       `json:"members,omitempty"` // names of the members added or removed
	// Queued: already queued, not yet delivered (its attribute values are
	// not shown); Held: held by the deletion guard.
	Queued bool   `json:"queued,omitempty"`
	Held   bool   `json:"held,omitempty"`
	Error  string `json:"error,omitempty"`
}

// pageSize is how many resources are read from the store at a time.
const pageSize = 500

// Build evaluates pol over every user and group in st; only, when not "",
// restricts the plan to that target. types names each target's connector
// type, for display.
func Build(ctx context.Context, st Store, pol *policy.Policy, types map[string]string, only string) (Plan, error) {
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
	names := map[string]string{}
	for _, u := range users {
		names[u.id] = u.name
		for _, d := range pol.EvaluateUser(u.res, memberOf[u.id]) {
			if t := byName[d.Target]; t != nil {
				count(t, &t.Users, "User", u, d)
			}
		}
	}
	for _, g := range groups {
		names[g.id] = g.name
		for _, d := range pol.EvaluateGroup(g.res) {
			if t := byName[d.Target]; t != nil {
				count(t, &t.Groups, "Group", g, d)
			}
		}
	}
	ops, err := engine.Preview(ctx, st, pol)
	if err != nil {
		return Plan{}, err
	}
	for _, o := range ops {
		t := byName[o.Target]
		if t == nil {
			continue
		}
		op := Operation{Action: o.Op, Kind: o.Kind, ID: o.ID, Name: names[o.ID], Attributes: o.Attrs, Queued: o.Queued, Held: o.Held}
		for _, m := range o.Members {
			op.Members = append(op.Members, cmp.Or(names[m], m))
		}
		slices.Sort(op.Members)
		t.Operations = append(t.Operations, op)
	}
	// Queued operations first, then users before groups, by name; the
	// operations of one object keep their order.
	for _, t := range out.Targets {
		slices.SortStableFunc(t.Operations, func(a, b Operation) int {
			return cmp.Or(-cmpBool(a.Queued, b.Queued), -cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
	}
	return out, nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// count counts an object in its target's scope, or records the failure of
// the policy as an operation of action "error".
func count(t *Target, c *Count, kind string, o object, d policy.Decision) {
	switch {
	case d.Err != nil:
		t.Operations = append(t.Operations, Operation{Action: "error", Kind: kind, ID: o.id, Name: o.name, Error: d.Err.Error()})
	case d.InScope:
		c.InScope++
	}
}

// object is a stored resource with its canonical form.
type object struct {
	id, name string
	res      map[string]any
}

func load(ctx context.Context, st store.Resources, typ string) ([]object, error) {
	name := map[string]string{"User": "userName", "Group": "displayName"}[typ]
	var out []object
	for start := 1; ; start += pageSize {
		page, err := st.Query(ctx, typ, store.Query{StartIndex: start, Count: pageSize})
		if err != nil {
			return nil, err
		}
		for _, sr := range page.Resources {
			// A group's members are store rows: the policy sees them
			// as group.members, and memberOf is built from them.
			res, err := scim.DecodeWithMembers(ctx, st, sr)
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
			name := op.Name
			if name == "" {
				name = op.ID
			}
			fmt.Fprintf(&b, "  %-13s %-5s %s", op.Action, op.Kind, name)
			switch {
			case op.Held:
				b.WriteString(" (queued, held by the deletion guard)")
			case op.Queued:
				b.WriteString(" (queued)")
			}
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
	if p.Guests != nil {
		b.WriteByte('\n')
		p.Guests.writeText(&b)
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
