package server

// Writing a group's members: its stored Data never holds "members", each
// member is a store.Member row (see scim/members.go), so that adding or
// removing k members costs O(k) whatever the size of the group.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

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
			case typ == "Group" && v == gid:
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
	for _, typ := range []string{"User", "Group"} {
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
func (s *Server) writeMembers(ctx context.Context, tx store.Tx, rt *scim.ResourceType, gid string, old []store.Member, next []any) (bool, error) {
	rows, err := rt.EncodeMembers(next)
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
func (s *Server) saveGroup(ctx context.Context, tx store.Tx, rt *scim.ResourceType, res map[string]any, cur *store.Resource) (store.Resource, map[string]any, error) {
	id := res["id"].(string)
	data, members := scim.SplitMembers(res)
	var (
		oldData map[string]any
		oldRows []store.Member
		known   map[string]string
		err     error
	)
	if cur != nil {
		if oldData, err = scim.DecodeResource(*cur); err != nil {
			return store.Resource{}, nil, err
		}
		if oldRows, err = scim.ReadMembers(ctx, tx, rt.Name, id); err != nil {
			return store.Resource{}, nil, err
		}
		oldElems, err := scim.DecodeMembers(oldRows)
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
	sr.Changed = scim.ChangedPaths(oldData, data)
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

// patched is the outcome of a PATCH of a group.
type patched struct {
	stored store.Resource
	res    map[string]any // the group; with its members only when full
	full   bool
	// skipped are the ids of members to add that name no User or Group.
	skipped []string
}

// patchGroup applies ops to group cur as scim.ResourceType.PlanGroupPatch
// plans them: the member ops Entra and Okta send are applied to the member
// rows (O(k) for k members named), the others to the group's Data. When
// some op on members needs every member, the group is patched as a whole
// instead: every member is read, Patch applied, and the rows brought to
// the result.
func (s *Server) patchGroup(ctx context.Context, tx store.Tx, rt *scim.ResourceType, cur store.Resource, ops []scim.PatchOp) (patched, error) {
	data, err := scim.DecodeResource(cur)
	if err != nil {
		return patched{}, err
	}
	gp, err := rt.PlanGroupPatch(data, ops)
	if err != nil {
		return patched{}, err
	}
	if gp.Whole {
		return s.patchGroupWhole(ctx, tx, rt, cur, data, ops)
	}
	out := patched{stored: cur, res: gp.Data}
	if gp.Changed {
		if err := s.updateData(ctx, tx, rt, &out.stored, data, gp.Data); err != nil {
			return patched{}, err
		}
	}
	wrote, skipped, err := s.applyMemberOps(ctx, tx, rt, cur.ID, gp.Remove, gp.Add)
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
func (s *Server) patchGroupWhole(ctx context.Context, tx store.Tx, rt *scim.ResourceType, cur store.Resource, data map[string]any, ops []scim.PatchOp) (patched, error) {
	rows, err := scim.ReadMembers(ctx, tx, rt.Name, cur.ID)
	if err != nil {
		return patched{}, err
	}
	elems, err := scim.DecodeMembers(rows)
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
	nextData, members := scim.SplitMembers(next)
	resolved, skipped, err := s.resolveMembers(ctx, tx, cur.ID, members, knownTypes(elems), true)
	if err != nil {
		return patched{}, err
	}
	out.skipped = skipped
	if !scim.Equal(nextData, data) {
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
func (s *Server) updateData(ctx context.Context, tx store.Tx, rt *scim.ResourceType, sr *store.Resource, old, next map[string]any) error {
	nr, err := s.toStore(rt, next)
	if err != nil {
		return err
	}
	nr.Changed = scim.ChangedPaths(old, next)
	nr.Version, nr.Created = sr.Version, sr.Created
	if err := s.conflict(rt, next, tx.Update(ctx, &nr)); err != nil {
		return err
	}
	*sr = nr
	return nil
}

// applyMemberOps applies the net member changes of a PATCH (see
// scim.GroupPatch) to the rows of group gid: the ids in remove are removed,
// and the elements in add that are not members yet (store.Tx.MemberOf,
// O(groups of the id)) are checked and added. Ids that name no User or
// Group are skipped and returned. It reports whether it wrote anything.
func (s *Server) applyMemberOps(ctx context.Context, tx store.Tx, rt *scim.ResourceType, gid string, remove []string, add []any) (bool, []string, error) {
	var fresh []any
	for _, e := range add {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		of, err := tx.MemberOf(ctx, rt.Name, v)
		if err != nil {
			return false, nil, err
		}
		if !slices.Contains(of, gid) {
			fresh = append(fresh, e)
		}
	}
	wrote := false
	if len(remove) > 0 {
		removed, err := tx.RemoveMembers(ctx, rt.Name, gid, remove)
		if err != nil {
			return false, nil, err
		}
		wrote = len(removed) > 0
	}
	resolved, skipped, err := s.resolveMembers(ctx, tx, gid, fresh, nil, true)
	if err != nil {
		return false, nil, err
	}
	rows, err := rt.EncodeMembers(resolved)
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
func auditSkippedMembers(ctx context.Context, tx store.Tx, rt *scim.ResourceType, gid string, skipped []string) error {
	return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "update", Type: rt.Name, ID: gid,
		Result: store.AuditFailed, Detail: fmt.Sprintf("members not added, no User or Group has the id (%d): %s",
			len(skipped), skippedText(skipped))})
}
