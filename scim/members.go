package scim

// Group members as store rows. A group's stored Data never holds
// "members": each member is a store.Member row (its id, its canonical
// element as JSON and the element's index entries), so that adding or
// removing k members costs O(k) whatever the size of the group, a user's
// groups come from the member index, and a group is read without its
// members when the response leaves them out.

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
)

// MemberReader reads a group's member rows; store.Store and store.Tx are
// MemberReaders.
type MemberReader interface {
	Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error)
}

// groupTypeName is the resource type whose members are store rows (the
// store's migration moved the members of this type out of Data).
const groupTypeName = "Group"

// hasMemberRows reports whether resources of type typ keep their
// members as store rows.
func hasMemberRows(typ string) bool { return typ == groupTypeName }

// readMembers reads every member row of typ/id, in the order they were
// added (element numbers start at 0, so the first page is after -1).
func readMembers(ctx context.Context, r MemberReader, typ, id string) ([]store.Member, error) {
	return r.Members(ctx, typ, id, -1, 0)
}

// GroupMembers returns the ids of every member of group id, in the order
// they were added (store.ErrNotFound without the group).
func GroupMembers(ctx context.Context, r MemberReader, id string) ([]string, error) {
	rows, err := readMembers(ctx, r, groupTypeName, id)
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
	if err != nil || !hasMemberRows(sr.Type) {
		return res, err
	}
	rows, err := readMembers(ctx, r, sr.Type, sr.ID)
	if err != nil {
		return nil, err
	}
	elems, err := decodeMembers(rows)
	if err != nil {
		return nil, fmt.Errorf("decoding the members of %s %s: %w", sr.Type, sr.ID, err)
	}
	if len(elems) > 0 {
		res["members"] = elems
	}
	return res, nil
}

// decodeMembers turns member rows into canonical elements.
func decodeMembers(rows []store.Member) ([]any, error) {
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

// splitMembers returns res without "members" (a new map when it had
// them) and its members.
func splitMembers(res map[string]any) (map[string]any, []any) {
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

// toMembers turns canonical member elements into store rows: each one's
// JSON and its index entries, normalised as IndexEntries normalises the
// members attribute (the store numbers the elements).
func (rt *ResourceType) toMembers(elems []any) ([]store.Member, error) {
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

// resolveMembers checks the members that a write of group gid brings and
// returns them as stored: each id must be a User or a Group other than the
// group itself, and its type ("User" or "Group", RFC 7643 §4.2 members.type)
// is set by the server; a second element with the same id is dropped.
// known gives the type of the ids that are members already (not looked up
// again). Ids that name no User or Group are an invalidValue error, or,
// with lenient (PATCH), left out and returned in skipped. Elements may be
// shared with other maps: changed ones are copies.
func (s *Server) resolveMembers(ctx context.Context, tx store.Tx, gid string, elems []any, known map[string]string, lenient bool) (out []any, skipped []string, err error) {
	seen := make(map[string]bool, len(elems))
	for _, e := range elems {
		el, _ := e.(map[string]any)
		v, _ := el["value"].(string)
		if v == "" {
			return nil, nil, invalidValue("members: an element has no \"value\" (the id of a User or Group)")
		}
		if seen[v] {
			continue
		}
		typ := known[v]
		if typ == "" {
			if typ, err = s.memberType(ctx, tx, v); err != nil {
				return nil, nil, err
			}
			switch {
			case typ == "" && lenient:
				skipped = append(skipped, v)
				continue
			case typ == "":
				return nil, nil, invalidValue("members: no User or Group has the id %q", v)
			case typ == groupTypeName && v == gid:
				return nil, nil, invalidValue("members: a group cannot be a member of itself")
			}
		}
		seen[v] = true
		if el["type"] != typ {
			el = maps.Clone(el)
			el["type"] = typ
		}
		out = append(out, el)
	}
	return out, skipped, nil
}

// memberType is the type of the served resource with id v ("User" or
// "Group"), "" when there is none.
func (s *Server) memberType(ctx context.Context, tx store.Tx, v string) (string, error) {
	for _, typ := range []string{"User", groupTypeName} {
		if _, ok := s.types["/"+typ+"s"]; !ok {
			continue
		}
		_, err := tx.Get(ctx, typ, v)
		if err == nil {
			return typ, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}

// knownTypes maps the ids of members to their stored types.
func knownTypes(elems []any) map[string]string {
	known := make(map[string]string, len(elems))
	for _, e := range elems {
		el, _ := e.(map[string]any)
		v, _ := el["value"].(string)
		if typ, _ := el["type"].(string); v != "" && typ != "" {
			known[v] = typ
		}
	}
	return known
}

// writeMembers brings the member rows of group gid from old (as stored)
// to next (resolved elements): it removes the members next lacks, and
// adds the new ones and those whose element changed. It reports whether
// it wrote anything.
func (s *Server) writeMembers(ctx context.Context, tx store.Tx, rt *ResourceType, gid string, old []store.Member, next []any) (bool, error) {
	rows, err := rt.toMembers(next)
	if err != nil {
		return false, err
	}
	stored := make(map[string][]byte, len(old))
	for _, m := range old {
		stored[m.Value] = m.Data
	}
	kept := make(map[string]bool, len(rows))
	var add []store.Member
	for _, m := range rows {
		kept[m.Value] = true
		if d, ok := stored[m.Value]; !ok || !bytes.Equal(d, m.Data) {
			add = append(add, m)
		}
	}
	var gone []string
	for _, m := range old {
		if !kept[m.Value] {
			gone = append(gone, m.Value)
		}
	}
	if len(gone) > 0 {
		if _, err := tx.RemoveMembers(ctx, rt.Name, gid, gone); err != nil {
			return false, err
		}
	}
	if len(add) > 0 {
		if _, err := tx.AddMembers(ctx, rt.Name, gid, add); err != nil {
			return false, err
		}
	}
	return len(gone)+len(add) > 0, nil
}

// saveGroup writes group res (its members included): a create when cur is
// nil, else a replacement of cur (PUT). The group's Data is written
// without members; the members are checked (strictly: an unknown id is an
// error) and their rows brought to res's by a diff against the stored
// ones. It returns the stored resource and res with the members as stored.
func (s *Server) saveGroup(ctx context.Context, tx store.Tx, rt *ResourceType, res map[string]any, cur *store.Resource) (store.Resource, map[string]any, error) {
	id := res["id"].(string)
	data, members := splitMembers(res)
	var (
		oldData map[string]any
		oldRows []store.Member
		known   map[string]string
		err     error
	)
	if cur != nil {
		if oldData, err = DecodeResource(*cur); err != nil {
			return store.Resource{}, nil, err
		}
		if oldRows, err = readMembers(ctx, tx, rt.Name, id); err != nil {
			return store.Resource{}, nil, err
		}
		oldElems, err := decodeMembers(oldRows)
		if err != nil {
			return store.Resource{}, nil, err
		}
		known = knownTypes(oldElems)
	}
	resolved, _, err := s.resolveMembers(ctx, tx, id, members, known, false)
	if err != nil {
		return store.Resource{}, nil, err
	}
	sr, err := s.toStore(rt, data)
	if err != nil {
		return sr, nil, err
	}
	sr.Changed = changedPaths(oldData, data)
	if cur == nil {
		err = tx.Create(ctx, &sr)
	} else {
		sr.Version, sr.Created = cur.Version, cur.Created
		err = tx.Update(ctx, &sr)
	}
	if err = s.conflict(rt, data, err); err != nil {
		return sr, nil, err
	}
	wrote, err := s.writeMembers(ctx, tx, rt, id, oldRows, resolved)
	if err != nil {
		return sr, nil, err
	}
	if wrote {
		if sr, err = tx.Get(ctx, rt.Name, id); err != nil {
			return sr, nil, err
		}
	}
	out := data
	if len(resolved) > 0 {
		out = maps.Clone(data)
		out["members"] = resolved
	}
	return sr, out, nil
}

// errSlowMembers: a PATCH op on members that patchGroup does not apply
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

// patched is the outcome of a PATCH of a group.
type patched struct {
	stored store.Resource
	res    map[string]any // the group; with its members only when full
	full   bool
	// skipped are the ids of members to add that name no User or Group.
	skipped []string
}

// patchGroup applies ops to group cur. The member ops of the shapes
// fastMemberOp takes are applied to the member rows (O(k) for k members
// named), the others to the group's Data as Patch applies them, in one
// pass in request order. When some op on members needs every member, the
// group is patched as a whole instead: every member is read, Patch
// applied, and the rows brought to the result.
func (s *Server) patchGroup(ctx context.Context, tx store.Tx, rt *ResourceType, cur store.Resource, ops []PatchOp) (patched, error) {
	data, err := DecodeResource(cur)
	if err != nil {
		return patched{}, err
	}
	var mops []memberOp
	next, changed, err := rt.patch(data, ops, func(kind, path string, pp PatchPath, v any) error {
		op, err := fastMemberOp(kind, path, pp, v)
		if err == nil {
			mops = append(mops, op)
		}
		return err
	})
	if errors.Is(err, errSlowMembers) {
		return s.patchGroupWhole(ctx, tx, rt, cur, data, ops)
	}
	if err != nil {
		return patched{}, err
	}
	out := patched{stored: cur, res: next}
	if changed {
		if err := s.updateData(ctx, tx, rt, &out.stored, data, next); err != nil {
			return patched{}, err
		}
	}
	wrote, skipped, err := s.applyMemberOps(ctx, tx, rt, cur.ID, mops)
	if err != nil {
		return patched{}, err
	}
	out.skipped = skipped
	if wrote {
		if out.stored, err = tx.Get(ctx, rt.Name, cur.ID); err != nil {
			return patched{}, err
		}
	}
	return out, nil
}

// patchGroupWhole is patchGroup's generic path: Patch applied to the group
// with every member.
func (s *Server) patchGroupWhole(ctx context.Context, tx store.Tx, rt *ResourceType, cur store.Resource, data map[string]any, ops []PatchOp) (patched, error) {
	rows, err := readMembers(ctx, tx, rt.Name, cur.ID)
	if err != nil {
		return patched{}, err
	}
	elems, err := decodeMembers(rows)
	if err != nil {
		return patched{}, err
	}
	old := data
	if len(elems) > 0 {
		old = maps.Clone(data)
		old["members"] = elems
	}
	next, changed, err := rt.Patch(old, ops)
	if err != nil {
		return patched{}, err
	}
	out := patched{stored: cur, res: old, full: true}
	if !changed {
		return out, nil
	}
	nextData, members := splitMembers(next)
	resolved, skipped, err := s.resolveMembers(ctx, tx, cur.ID, members, knownTypes(elems), true)
	if err != nil {
		return patched{}, err
	}
	out.skipped = skipped
	if !equalValue(nextData, data) {
		if err := s.updateData(ctx, tx, rt, &out.stored, data, nextData); err != nil {
			return patched{}, err
		}
	}
	wrote, err := s.writeMembers(ctx, tx, rt, cur.ID, rows, resolved)
	if err != nil {
		return patched{}, err
	}
	if wrote {
		if out.stored, err = tx.Get(ctx, rt.Name, cur.ID); err != nil {
			return patched{}, err
		}
	}
	out.res = nextData
	if len(resolved) > 0 {
		out.res = maps.Clone(nextData)
		out.res["members"] = resolved
	}
	return out, nil
}

// updateData writes next as the Data of group *sr (whose Data is old), and
// updates *sr.
func (s *Server) updateData(ctx context.Context, tx store.Tx, rt *ResourceType, sr *store.Resource, old, next map[string]any) error {
	nr, err := s.toStore(rt, next)
	if err != nil {
		return err
	}
	nr.Changed = changedPaths(old, next)
	nr.Version, nr.Created = sr.Version, sr.Created
	if err := s.conflict(rt, next, tx.Update(ctx, &nr)); err != nil {
		return err
	}
	*sr = nr
	return nil
}

// applyMemberOps applies member ops, in order, to the rows of group gid:
// their net effect is computed first (the first add of an id counts, as
// Patch's add skips values already there; a later remove undoes it), then
// the ids to remove are removed and those to add that are not members yet
// (store.Tx.MemberOf, O(groups of the id)) are checked and added. Ids that
// name no User or Group are skipped and returned. It reports whether it
// wrote anything.
func (s *Server) applyMemberOps(ctx context.Context, tx store.Tx, rt *ResourceType, gid string, ops []memberOp) (bool, []string, error) {
	var order []string
	state := map[string]any{} // id -> element to add, or nil: remove
	set := func(v string, el any) {
		if _, ok := state[v]; !ok {
			order = append(order, v)
		}
		state[v] = el
	}
	for _, op := range ops {
		for _, e := range op.add {
			v, _ := elemValue(e)
			if v == "" {
				return false, nil, invalidValue("members: an element has no \"value\" (the id of a User or Group)")
			}
			if state[v] == nil {
				set(v, e)
			}
		}
		for _, v := range op.remove {
			set(v, nil)
		}
	}
	var gone []string
	var add []any
	for _, v := range order {
		if state[v] == nil {
			gone = append(gone, v)
			continue
		}
		of, err := tx.MemberOf(ctx, rt.Name, v)
		if err != nil {
			return false, nil, err
		}
		if !slices.Contains(of, gid) {
			add = append(add, state[v])
		}
	}
	wrote := false
	if len(gone) > 0 {
		removed, err := tx.RemoveMembers(ctx, rt.Name, gid, gone)
		if err != nil {
			return false, nil, err
		}
		wrote = len(removed) > 0
	}
	resolved, skipped, err := s.resolveMembers(ctx, tx, gid, add, nil, true)
	if err != nil {
		return false, nil, err
	}
	rows, err := rt.toMembers(resolved)
	if err != nil {
		return false, nil, err
	}
	if len(rows) > 0 {
		if _, err := tx.AddMembers(ctx, rt.Name, gid, rows); err != nil {
			return false, nil, err
		}
		wrote = true
	}
	return wrote, skipped, nil
}

// auditSkipped is how many skipped member ids a log line or audit entry
// names.
const auditSkipped = 20

// skippedText lists ids, at most auditSkipped of them.
func skippedText(ids []string) string {
	s := strings.Join(ids[:min(len(ids), auditSkipped)], ", ")
	if len(ids) > auditSkipped {
		s += fmt.Sprintf(" and %d more", len(ids)-auditSkipped)
	}
	return s
}

// auditSkippedMembers records, in the PATCH's transaction, the member ids
// it skipped because they name no User or Group.
func auditSkippedMembers(ctx context.Context, tx store.Tx, rt *ResourceType, gid string, skipped []string) error {
	return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "update", Type: rt.Name, ID: gid,
		Result: store.AuditFailed, Detail: fmt.Sprintf("members not added, no User or Group has the id (%d): %s",
			len(skipped), skippedText(skipped))})
}
