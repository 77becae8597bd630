package scim

// Group members as store rows. A group's stored Data never holds
// "members": each member is a store.Member row (its id, its canonical
// element as JSON and the element's index entries), so that adding or
// removing k members costs O(k) whatever the size of the group, a user's
// groups come from the member index, and a group is read without its
// members when the response leaves them out. This file is the model's
// half: reading, decoding and encoding the rows, and planning a PATCH of a
// group; the SCIM server (scim/server) writes them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
)

// MemberReader reads a group's member rows; store.Resources and store.Tx are
// MemberReaders.
type MemberReader interface {
	Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error)
}

// groupTypeName is the resource type whose members are store rows (the
// store's migration moved the members of this type out of Data).
const groupTypeName = "Group"

// HasMemberRows reports whether resources of type typ keep their
// members as store rows.
func HasMemberRows(typ string) bool { return typ == groupTypeName }

// ReadMembers reads every member row of typ/id, in the order they were
// added (element numbers start at 0, so the first page is after -1).
func ReadMembers(ctx context.Context, r MemberReader, typ, id string) ([]store.Member, error) {
	return r.Members(ctx, typ, id, -1, 0)
}

// GroupMembers returns the ids of every member of group id, in the order
// they were added (store.ErrNotFound without the group).
func GroupMembers(ctx context.Context, r MemberReader, id string) ([]string, error) {
	rows, err := ReadMembers(ctx, r, groupTypeName, id)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, m := range rows {
		ids[i] = m.Value
	}
	return ids, nil
}

// DecodeWithMembers decodes a stored resource as DecodeResource does and,
// for a group, adds its members from the store's rows as the canonical
// "members" attribute: for readers that need the whole group (policy
// evaluation). It reads every member; readers that need only the ids use
// GroupMembers.
func DecodeWithMembers(ctx context.Context, r MemberReader, sr store.Resource) (map[string]any, error) {
	res, err := DecodeResource(sr)
	if err != nil || !HasMemberRows(sr.Type) {
		return res, err
	}
	rows, err := ReadMembers(ctx, r, sr.Type, sr.ID)
	if err != nil {
		return nil, err
	}
	elems, err := DecodeMembers(rows)
	if err != nil {
		return nil, fmt.Errorf("decoding the members of %s %s: %w", sr.Type, sr.ID, err)
	}
	if len(elems) > 0 {
		res["members"] = elems
	}
	return res, nil
}

// DecodeMembers turns member rows into canonical elements.
func DecodeMembers(rows []store.Member) ([]any, error) {
	out := make([]any, 0, len(rows))
	for _, m := range rows {
		dec := json.NewDecoder(bytes.NewReader(m.Data))
		dec.UseNumber()
		var el map[string]any
		if err := dec.Decode(&el); err != nil {
			return nil, fmt.Errorf("member %q: %w", m.Value, err)
		}
		fixNumbers(el)
		out = append(out, el)
	}
	return out, nil
}

// SplitMembers returns res without "members" (a new map when it had
// them) and its members.
func SplitMembers(res map[string]any) (map[string]any, []any) {
	members, ok := res["members"]
	if !ok {
		return res, nil
	}
	data := maps.Clone(res)
	delete(data, "members")
	list, _ := members.([]any)
	return data, list
}

// membersPlan is the index plan of rt's core "members" attribute.
func (rt *ResourceType) membersPlan() (*attrPlan, error) {
	p := rt.indexPlan()
	for i := range p.schemas[0].attrs {
		if a := &p.schemas[0].attrs[i]; a.key == "members" {
			return a, nil
		}
	}
	return nil, fmt.Errorf("scim: %s has no members attribute", rt.Name)
}

// EncodeMembers turns canonical member elements into store rows: each
// one's JSON and its index entries, normalised as IndexEntries normalises
// the members attribute (the store numbers the elements).
func (rt *ResourceType) EncodeMembers(elems []any) ([]store.Member, error) {
	plan, err := rt.membersPlan()
	if err != nil {
		return nil, err
	}
	out := make([]store.Member, 0, len(elems))
	for _, e := range elems {
		v, ok := elemValue(e)
		if !ok || v == "" {
			return nil, invalidValue("members: an element has no \"value\" (the id of a User or Group)")
		}
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding member %q: %w", v, err)
		}
		out = append(out, store.Member{Value: v, Data: data, Index: plan.appendElem(nil, e, 0)})
	}
	return out, nil
}

// errSlowMembers: a PATCH op on members that PlanGroupPatch does not apply
// to the rows directly.
var errSlowMembers = errors.New("scim: member op needs every member")

// memberOp is a PATCH op on a group's members that is applied to the
// member rows directly: add the elements, or remove the ids.
type memberOp struct {
	add    []any
	remove []string
}

// fastMemberOp returns the memberOp of a PATCH op on members, or
// errSlowMembers for the ops that need every member (replace, remove
// without value, other filters, sub-attributes). The shapes taken are
// those Entra and Okta send: add with path "members" (or a no-path add
// whose value has "members"), remove with path "members" and a value
// (Entra), and remove with path `members[value eq "id"]`. Values are
// coerced as Patch coerces them.
//
// members.value is not caseExact, so the filter matches ids without case;
// the rows hold ids exactly. Ids are the server's lower-case UUIDs, so a
// lower-case literal removes exactly what the filter selects; any other
// literal takes the generic path.
func fastMemberOp(kind, path string, pp PatchPath, v any) (memberOp, error) {
	def := pp.Attr.Def
	if pp.Attr.Sub != nil {
		return memberOp{}, errSlowMembers
	}
	switch {
	case kind == "add" && pp.Elems == nil:
		c, err := coerceAttr("", def, v)
		if err != nil {
			return memberOp{}, err
		}
		list, _ := c.([]any)
		return memberOp{add: list}, nil
	case kind == "remove" && pp.Elems == nil && v != nil:
		given, err := coerceAttr("", def, v)
		if err != nil {
			return memberOp{}, err
		}
		list, _ := given.([]any)
		op := memberOp{remove: []string{}}
		for _, e := range list {
			if id, ok := elemValue(e); ok {
				op.remove = append(op.remove, id)
			}
		}
		return op, nil
	case kind == "remove" && pp.Elems != nil:
		names, lits, ok := filterEqualities(path)
		if !ok || len(names) != 1 || !strings.EqualFold(names[0], "value") {
			break
		}
		if id, isStr := lits[0].(string); isStr && id == strings.ToLower(id) {
			return memberOp{remove: []string{id}}, nil
		}
	}
	return memberOp{}, errSlowMembers
}

// GroupPatch is a PATCH of a group planned by PlanGroupPatch.
type GroupPatch struct {
	// Whole: some op on members needs every member (replace, remove
	// without value, other filters, sub-attributes); the other fields are
	// unset and the caller applies Patch to the group with its members.
	Whole bool
	// Data is the group without members after the ops; Changed reports
	// whether it differs from the data patched.
	Data    map[string]any
	Changed bool
	// Remove are the ids of the members to remove and Add the elements of
	// the members to add: the net effect of the ops on members, in the
	// order the ops first name each id (the first add of an id counts, as
	// Patch's add skips values already there; a later remove undoes it).
	// Add may name members the group has already.
	Remove []string
	Add    []any
}

// PlanGroupPatch applies ops to data, a group without its members (as
// stored). The ops on members of the shapes Entra and Okta send (add, and
// remove by value or by `members[value eq "id"]`) are not applied to data
// but returned as the net change to the member rows, so that adding or
// removing k members costs O(k); when some op on members needs every
// member, the plan is Whole. Errors are those of Patch.
func (rt *ResourceType) PlanGroupPatch(data map[string]any, ops []PatchOp) (GroupPatch, error) {
	var mops []memberOp
	next, changed, err := rt.patch(data, ops, func(kind, path string, pp PatchPath, v any) error {
		op, err := fastMemberOp(kind, path, pp, v)
		if err == nil {
			mops = append(mops, op)
		}
		return err
	})
	if errors.Is(err, errSlowMembers) {
		return GroupPatch{Whole: true}, nil
	}
	if err != nil {
		return GroupPatch{}, err
	}
	gp := GroupPatch{Data: next, Changed: changed}
	var order []string
	state := map[string]any{} // id -> element to add, or nil: remove
	set := func(v string, el any) {
		if _, ok := state[v]; !ok {
			order = append(order, v)
		}
		state[v] = el
	}
	for _, op := range mops {
		for _, e := range op.add {
			v, _ := elemValue(e)
			if v == "" {
				return GroupPatch{}, invalidValue("members: an element has no \"value\" (the id of a User or Group)")
			}
			if state[v] == nil {
				set(v, e)
			}
		}
		for _, v := range op.remove {
			set(v, nil)
		}
	}
	for _, v := range order {
		if state[v] == nil {
			gp.Remove = append(gp.Remove, v)
		} else {
			gp.Add = append(gp.Add, state[v])
		}
	}
	return gp, nil
}
