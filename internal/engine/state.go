package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
)

// state is what the planner last decided for one object in one target
// (the JSON of store.Provisioned.State).
type state struct {
	// Present: the object exists in the target, or its create is queued.
	Present bool `json:"present,omitempty"`
	// InScope: the policy put the object in the target's scope.
	InScope bool `json:"inScope,omitempty"`
	// Disabled: a disable is queued or done (users).
	Disabled bool `json:"disabled,omitempty"`
	// Deleted: the object was deleted in SCIM; its final delete is queued.
	Deleted bool `json:"deleted,omitempty"`
	// Attrs are the mapped attributes sent so far.
	Attrs map[string]any `json:"attrs,omitempty"`
	// Members are the gateway ids of a group's members in the target.
	Members []string `json:"members,omitempty"`
	// ExternalID is a user's externalId: a user created again with it
	// (rehire) takes over the anchor of a deleted one still in the target.
	ExternalID string `json:"externalId,omitempty"`
	// Resync: the next plan re-sends the object's whole state (Attrs and
	// Members were cleared; the enabled state is sent again).
	Resync bool `json:"resync,omitempty"`
}

// stateOf decodes the engine's state of a provisioned record.
func stateOf(pr store.Provisioned) (state, error) {
	var s state
	if err := json.Unmarshal(pr.State, &s); err != nil {
		return state{}, fmt.Errorf("engine: state of %s %q in %q: %w", pr.Type, pr.ID, pr.Target, err)
	}
	return s, nil
}

// recordOf reads, in tx, an object's record in a target and decodes its
// state; found is false when there is none.
func recordOf(ctx context.Context, tx store.Tx, tgt, typ, id string) (pr store.Provisioned, s state, found bool, err error) {
	pr, err = tx.Provisioned(ctx, tgt, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Provisioned{}, state{}, false, nil
	}
	if err != nil {
		return store.Provisioned{}, state{}, false, err
	}
	s, err = stateOf(pr)
	return pr, s, err == nil, err
}

// live reports an object that is in the target and in its scope.
func (s state) live() bool { return s.Present && s.InScope && !s.Deleted }

// The operations of the outbox payload.
const (
	opCreate        = "create"
	opUpdate        = "update"
	opDisable       = "disable"
	opEnable        = "enable"
	opDelete        = "delete"
	opAddMembers    = "addMembers"
	opRemoveMembers = "removeMembers"
)

// payload is one queued operation (the JSON of store.Outbox.Payload).
type payload struct {
	Op   string `json:"op"`
	OpID string `json:"opId"`
	// Attrs of create and update, secrets revealed.
	Attrs map[string]any `json:"attrs,omitempty"`
	// Members are gateway ids, resolved to anchors at delivery.
	Members []string `json:"members,omitempty"`
	// Final: the delete of an object deleted in SCIM; its state is
	// forgotten afterwards.
	Final bool `json:"final,omitempty"`
	// Remainder: an addMembers of the members that an earlier one could
	// not add yet; it stays the last operation of its group.
	Remainder bool `json:"remainder,omitempty"`
	// OnCreate names the attributes of a create that apply on create only
	// (an initial password): an account adopted instead keeps its own.
	OnCreate []string `json:"onCreate,omitempty"`
	// Secret names the attributes whose values are secrets (policy.Secret
	// before reveal): the audit log shows them redacted.
	Secret []string `json:"secret,omitempty"`
}

// secretNames returns the attributes of attrs whose values the decision d
// holds as secrets, sorted.
func secretNames(attrs map[string]any, d policy.Decision) []string {
	var out []string
	for k := range attrs {
		for _, m := range []map[string]any{d.Attributes, d.OnCreate} {
			if _, ok := m[k].(policy.Secret); ok {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// describe tells what an operation sets, for the audit log: its
// attributes with their values (JSON; secrets redacted) or its members.
func (p payload) describe() string {
	switch {
	case len(p.Attrs) > 0:
		parts := make([]string, 0, len(p.Attrs))
		for _, k := range slices.Sorted(maps.Keys(p.Attrs)) {
			v := policy.Redacted
			if !slices.Contains(p.Secret, k) {
				b, err := json.Marshal(p.Attrs[k])
				if err != nil {
					b = []byte(fmt.Sprintf("%q", fmt.Sprint(p.Attrs[k])))
				}
				v = string(b)
			}
			parts = append(parts, k+"="+v)
		}
		return "attributes: " + strings.Join(parts, ", ")
	case len(p.Members) > 0:
		return "members: " + strings.Join(p.Members, ", ")
	}
	return ""
}

// reveal returns a copy of attrs with every policy.Secret revealed.
func reveal(attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if s, ok := v.(policy.Secret); ok {
			v = s.Reveal()
		}
		out[k] = v
	}
	return out
}

// diff returns the attributes of next whose value differs from, or is
// missing in, prev. Attributes absent from next are left alone.
func diff(prev, next map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range next {
		old, ok := prev[k]
		if !ok || !sameJSON(old, v) {
			out[k] = v
		}
	}
	return out
}

// sameJSON compares two values as JSON (state values come back from JSON).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// merge returns prev with next's attributes set.
func merge(prev, next map[string]any) map[string]any {
	out := maps.Clone(prev)
	if out == nil {
		out = map[string]any{}
	}
	maps.Copy(out, next)
	return out
}

// decodePayload reads a payload, turning JSON values back into the types
// of targets.Op.Attrs: integers int64, other numbers float64, lists of
// strings []string.
func decodePayload(b []byte) (payload, error) {
	var p payload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return payload{}, fmt.Errorf("engine: decoding operation: %w", err)
	}
	for k, v := range p.Attrs {
		p.Attrs[k] = attrValue(v)
	}
	return p, nil
}

func attrValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return v // not a string list: the connector refuses it
			}
			out = append(out, s)
		}
		return out
	}
	return v
}
