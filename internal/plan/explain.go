package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Explanation is what scimgate plan --explain shows for one user or
// group: for every target, why it is in scope or not, the attributes it
// gets with their sources, and its provisioning state there.
type Explanation struct {
	Kind string `json:"kind"` // "User" or "Group"
	ID   string `json:"id"`
	Name string `json:"name,omitempty"` // userName or displayName ("" once deleted from the store)
	// Exists: the object is in the SCIM store. A deleted one has only its
	// provisioning state.
	Exists bool `json:"exists"`
	// Groups are the groups a user is a direct member of.
	Groups  []string            `json:"groups,omitempty"`
	Targets []TargetExplanation `json:"targets"`
}

// TargetExplanation is one target's decision for the object, with the
// object's state there.
type TargetExplanation struct {
	Type string `json:"type"` // the connector type
	policy.Explanation
	// State is the object's provisioning state in the target; nil when
	// the target does not receive its kind.
	State *State `json:"state,omitempty"`
}

// State is an object's provisioning state in a target, as the engine
// recorded it.
type State struct {
	Anchor string `json:"anchor"` // the target's identifier; "" when not (yet) created there
	// Present: in the target or its create queued; InScope: the policy
	// put it in scope when last planned; Disabled: disabled or queued to
	// be; Deleted: deleted in SCIM, its delete queued.
	Present  bool `json:"present"`
	InScope  bool `json:"inScope"`
	Disabled bool `json:"disabled"`
	Deleted  bool `json:"deleted"`
	// Pending are the queued operations (held ones included), Dead the
	// dead letters, in queue order.
	Pending []QueuedOp `json:"pending"`
	Dead    []QueuedOp `json:"dead"`
	// LastError is the newest error of its operations.
	LastError string `json:"lastError,omitempty"`
}

// QueuedOp is an operation in the outbox: pending, held or dead.
type QueuedOp struct {
	Seq       int64     `json:"seq"`
	Op        string    `json:"op"`
	Attrs     []string  `json:"attrs,omitempty"`   // names of the attributes it sets (never their values)
	Members   []string  `json:"members,omitempty"` // names of the members it adds or removes
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	Created   time.Time `json:"created"`
	NextAt    time.Time `json:"nextAt"`
	Held      bool      `json:"held,omitempty"`
}

// ErrUnknownObject: no user or group has the id or name given to
// Explain.
var ErrUnknownObject = errors.New("no such user or group")

// Explain explains every target's decision for the object that arg
// names: a user's or group's id, or a user's userName or a group's
// displayName compared as SCIM compares them (case-insensitively). An id
// no longer in the store but still known to a target shows its
// provisioning state only. only, when not "", restricts it to that target;
// types names each target's connector type. It calls no target and
// writes nothing.
func Explain(ctx context.Context, st Store, pol *policy.Policy, types map[string]string, only, arg string) (Explanation, error) {
	if only != "" {
		if _, ok := pol.Target(only); !ok {
			return Explanation{}, fmt.Errorf("no target named %q", only)
		}
	}
	kind, id, err := resolve(ctx, st, pol, arg)
	if err != nil {
		return Explanation{}, err
	}
	x := Explanation{Kind: string(kind), ID: id}
	names := &namer{st: st, cache: map[string]string{}}
	var decisions []policy.Explanation
	sr, err := st.Get(ctx, string(kind), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Explanation{}, err
	default:
		res, err := scim.DecodeWithMembers(ctx, st, sr)
		if err != nil {
			return Explanation{}, err
		}
		x.Exists, x.Name = true, nameOf(kind, res)
		if kind == targets.User {
			memberOf, err := groupsOf(ctx, st, id)
			if err != nil {
				return Explanation{}, err
			}
			for _, g := range memberOf {
				x.Groups = append(x.Groups, g.DisplayName)
			}
			decisions = pol.ExplainUser(res, memberOf)
		} else {
			decisions = pol.ExplainGroup(res)
		}
	}
	states, err := engine.ObjectStates(ctx, st, pol, kind, id)
	if err != nil {
		return Explanation{}, err
	}
	x.Targets = []TargetExplanation{}
	for i, t := range pol.Targets() {
		if only != "" && t.Name() != only {
			continue
		}
		te := TargetExplanation{Type: types[t.Name()], Explanation: policy.Explanation{Target: t.Name()}}
		if decisions != nil {
			te.Explanation = decisions[i]
		}
		for _, s := range states {
			if s.Target == t.Name() {
				if te.State, err = stateOf(ctx, s, names); err != nil {
					return Explanation{}, err
				}
			}
		}
		x.Targets = append(x.Targets, te)
	}
	return x, nil
}

// resolve finds the object arg names (see Explain): an id wins over a
// name; a name shared by a user and a group is ambiguous.
func resolve(ctx context.Context, st Store, pol *policy.Policy, arg string) (targets.Kind, string, error) {
	var found [][2]string // kind, id
	for _, rt := range []*scim.ResourceType{scim.UserType(), scim.GroupType()} {
		ids, err := rt.Lookup(ctx, st, arg)
		if err != nil {
			return "", "", err
		}
		if slices.Contains(ids, arg) {
			return targets.Kind(rt.Name), arg, nil
		}
		for _, id := range ids {
			found = append(found, [2]string{rt.Name, id})
		}
	}
	switch len(found) {
	case 1:
		return targets.Kind(found[0][0]), found[0][1], nil
	case 0:
		// An object deleted from the store that a target still holds.
		for _, kind := range []targets.Kind{targets.User, targets.Group} {
			states, err := engine.ObjectStates(ctx, st, pol, kind, arg)
			if err != nil {
				return "", "", err
			}
			for _, s := range states {
				if s.Present || s.Anchor != "" || len(s.Pending)+len(s.Dead) > 0 {
					return kind, arg, nil
				}
			}
		}
		return "", "", fmt.Errorf("%w: no user or group has the id, userName or displayName %q", ErrUnknownObject, arg)
	}
	var named []string
	for _, f := range found {
		named = append(named, f[0]+" "+f[1])
	}
	return "", "", fmt.Errorf("%q is ambiguous: it names %s; give the id", arg, strings.Join(named, " and "))
}

// groupsOf returns the groups user id is a direct member of.
func groupsOf(ctx context.Context, st store.Resources, id string) ([]policy.GroupRef, error) {
	ids, err := st.MemberOf(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	var out []policy.GroupRef
	for _, gid := range ids {
		sr, err := st.Get(ctx, "Group", gid)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since
		}
		if err != nil {
			return nil, err
		}
		res, err := scim.DecodeResource(sr)
		if err != nil {
			return nil, err
		}
		out = append(out, policy.GroupRef{ID: gid, DisplayName: nameOf(targets.Group, res)})
	}
	return out, nil
}

func nameOf(kind targets.Kind, res map[string]any) string {
	attr := "userName"
	if kind == targets.Group {
		attr = "displayName"
	}
	s, _ := res[attr].(string)
	return s
}

// namer finds the names of group members by id, each once.
type namer struct {
	st    store.Resources
	cache map[string]string
}

// name is the userName or displayName of a member, its id when it is no
// longer stored.
func (n *namer) name(ctx context.Context, id string) (string, error) {
	if s, ok := n.cache[id]; ok {
		return s, nil
	}
	name := id
	for _, kind := range []targets.Kind{targets.User, targets.Group} {
		sr, err := n.st.Get(ctx, string(kind), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		res, err := scim.DecodeResource(sr)
		if err != nil {
			return "", err
		}
		name = nameOf(kind, res)
		break
	}
	n.cache[id] = name
	return name, nil
}

func stateOf(ctx context.Context, s engine.ObjectState, names *namer) (*State, error) {
	out := &State{Anchor: s.Anchor, Present: s.Present, InScope: s.InScope, Disabled: s.Disabled, Deleted: s.Deleted,
		Pending: []QueuedOp{}, Dead: []QueuedOp{}, LastError: s.LastError}
	for _, list := range []struct {
		ops []engine.Operation
		dst *[]QueuedOp
	}{{s.Pending, &out.Pending}, {s.Dead, &out.Dead}} {
		for _, o := range list.ops {
			q := QueuedOp{Seq: o.Seq, Op: o.Op, Attrs: o.Attrs, Attempts: o.Attempts, LastError: o.LastError,
				Created: o.Created.UTC(), NextAt: o.NextAt.UTC(), Held: o.Held}
			for _, m := range o.Members {
				name, err := names.name(ctx, m)
				if err != nil {
					return nil, err
				}
				q.Members = append(q.Members, name)
			}
			slices.Sort(q.Members)
			*list.dst = append(*list.dst, q)
		}
	}
	return out, nil
}

// WriteJSON writes the explanation as JSON.
func (x Explanation) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(x)
}

// WriteText writes the explanation as a readable listing; "*" marks the
// conditions that decided.
func (x Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	where := "in the SCIM store"
	if !x.Exists {
		where = "deleted from the SCIM store"
	}
	if x.Name != "" {
		fmt.Fprintf(&b, "%s %s, id %s (%s)\n", x.Kind, x.Name, x.ID, where)
	} else {
		fmt.Fprintf(&b, "%s %s (%s)\n", x.Kind, x.ID, where)
	}
	if x.Kind == string(targets.User) && x.Exists {
		groups := "none"
		if len(x.Groups) > 0 {
			groups = strings.Join(x.Groups, ", ")
		}
		fmt.Fprintf(&b, "member of: %s\n", groups)
	}
	if len(x.Targets) == 0 {
		b.WriteString("no targets configured\n")
	}
	kind := strings.ToLower(x.Kind) + "s"
	for _, t := range x.Targets {
		fmt.Fprintf(&b, "\n%s (%s): ", t.Target, t.Type)
		switch {
		case !x.Exists:
			b.WriteString("no decision (the object is no longer in the SCIM store)\n")
		case !t.Receives:
			fmt.Fprintf(&b, "does not receive %s\n", kind)
		case t.Error != "":
			fmt.Fprintf(&b, "the policy failed: %s\n", t.Error)
		case t.InScope:
			b.WriteString("in scope\n")
		default:
			b.WriteString("not in scope\n")
		}
		if len(t.Scope) > 0 {
			b.WriteString("  scope (* decided):\n")
			for _, c := range t.Scope {
				writeCheck(&b, c, "  ")
			}
		}
		if len(t.Attributes) > 0 {
			b.WriteString("  attributes:\n")
			for _, a := range t.Attributes {
				writeAttribute(&b, a)
			}
		}
		if t.State != nil {
			writeState(&b, t.State)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCheck writes a scope check and its clauses, "*" before those that
// decided.
func writeCheck(b *strings.Builder, c policy.Check, indent string) {
	mark := " "
	if c.Decisive {
		mark = "*"
	}
	fmt.Fprintf(b, "  %s%s", mark, indent)
	switch c.Part {
	case policy.PartFilter:
		b.WriteString("filter")
		if c.Name != "" {
			fmt.Fprintf(b, " %q", c.Name)
		}
		fmt.Fprintf(b, " (%s, all clauses must hold)", c.Field)
	case policy.PartClause:
		b.WriteString(c.Rule)
	case policy.PartAll:
		b.WriteString("all")
	default:
		fmt.Fprintf(b, "%s: %s", c.Part, c.Rule)
	}
	fmt.Fprintf(b, ": %v", c.Result)
	if c.Error != "" {
		fmt.Fprintf(b, " (failed: %s)", c.Error)
	}
	if len(c.Values) > 0 {
		var vals []string
		for _, v := range c.Values {
			vals = append(vals, v.Path+"="+showValue(v.Value))
		}
		fmt.Fprintf(b, "; read %s", strings.Join(vals, ", "))
	}
	b.WriteByte('\n')
	for _, cl := range c.Clauses {
		writeCheck(b, cl, indent+"  ")
	}
}

func writeAttribute(b *strings.Builder, a policy.Attribute) {
	from := a.From
	if a.Source != "" {
		from += " " + a.Source
	}
	if a.OnCreate {
		from += ", on create only"
	}
	switch {
	case a.Error != "":
		fmt.Fprintf(b, "    %s: failed: %s (%s)\n", a.Target, a.Error, from)
	case a.Ignored:
		fmt.Fprintf(b, "    %s: not sent, the target keeps its value (%s gave nothing)\n", a.Target, from)
	case a.Default:
		fmt.Fprintf(b, "    %s = %s (%s gave null: the default)\n", a.Target, showValue(a.Value), from)
	default:
		fmt.Fprintf(b, "    %s = %s (%s)\n", a.Target, showValue(a.Value), from)
	}
}

func writeState(b *strings.Builder, s *State) {
	if s.Anchor == "" && !s.Present && !s.Deleted && len(s.Pending)+len(s.Dead) == 0 {
		b.WriteString("  state: never provisioned\n")
		return
	}
	var facts []string
	if s.Anchor != "" {
		facts = append(facts, fmt.Sprintf("anchor %q", s.Anchor))
	} else {
		facts = append(facts, "no anchor (not created there)")
	}
	switch {
	case s.Deleted:
		facts = append(facts, "deleted in SCIM, its delete queued")
	case s.Present:
		facts = append(facts, "present")
	default:
		facts = append(facts, "not present")
	}
	if s.InScope {
		facts = append(facts, "in scope")
	} else {
		facts = append(facts, "out of scope")
	}
	if s.Disabled {
		facts = append(facts, "disabled")
	}
	fmt.Fprintf(b, "  state: %s\n", strings.Join(facts, ", "))
	for _, list := range []struct {
		what string
		ops  []QueuedOp
	}{{"pending", s.Pending}, {"dead", s.Dead}} {
		for _, o := range list.ops {
			what := list.what
			if o.Held {
				what = "held"
			}
			fmt.Fprintf(b, "    %s %d %s", what, o.Seq, o.Op)
			if len(o.Attrs) > 0 {
				fmt.Fprintf(b, " [%s]", strings.Join(o.Attrs, ", "))
			}
			if len(o.Members) > 0 {
				fmt.Fprintf(b, " members=[%s]", strings.Join(o.Members, ", "))
			}
			attempts := fmt.Sprintf("%d attempts", o.Attempts)
			if o.Attempts == 1 {
				attempts = "1 attempt"
			}
			fmt.Fprintf(b, ": %s, queued %s", attempts, fmtTime(o.Created))
			if list.what == "pending" && !o.Held {
				fmt.Fprintf(b, ", next %s", fmtTime(o.NextAt))
			}
			b.WriteByte('\n')
			if o.LastError != "" {
				fmt.Fprintf(b, "      error: %s\n", strings.ReplaceAll(strings.TrimSpace(o.LastError), "\n", "\n             "))
			}
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// showValue shows a value as JSON, a redacted secret as it is.
func showValue(v any) string {
	if v == policy.Redacted {
		return policy.Redacted
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(buf.String())
}
