package engine

// Group memberships in the planner. A group's members are rows of the store
// (store.Member), its member changes journalled as deltas, and the members
// the engine put into a group in a target rows too (provisioned members):
// a change of k members of a group costs O(k), whatever the group's size.
// Only a change of the group itself (its creation, its attributes, a
// resync) compares all of its members.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// groupMembers returns the ids of a group's members in SCIM, sorted; none
// when the group does not exist.
func groupMembers(ctx context.Context, st store.Resources, id string) ([]string, error) {
	ms, err := st.Members(ctx, string(targets.Group), id, -1, 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Value
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// memberSet is the planner's pending changes to the record of one group's
// members in one target: clear drops the stored record first; in maps a
// member to recorded (true) or not (false).
type memberSet struct {
	clear bool
	in    map[string]bool
}

type groupKey struct{ target, group string }

// memberRecord returns the pending changes of a group's record in a target.
func (p *planner) memberRecord(tgt, gid string) *memberSet {
	k := groupKey{tgt, gid}
	ms := p.members[k]
	if ms == nil {
		ms = &memberSet{in: map[string]bool{}}
		p.members[k] = ms
		p.memberOrder = append(p.memberOrder, k)
	}
	return ms
}

// provisionedMember reports whether member m is recorded in group gid of
// target tgt, as planned in this batch, else as saved.
func (p *planner) provisionedMember(ctx context.Context, tgt, gid, m string) (bool, error) {
	if ms := p.members[groupKey{tgt, gid}]; ms != nil {
		if in, ok := ms.in[m]; ok {
			return in, nil
		}
		if ms.clear {
			return false, nil
		}
	}
	got, err := p.e.opts.Store.ProvisionedMembersIn(ctx, tgt, gid, []string{m})
	return len(got) > 0, err
}

// provisionedMembers returns the members recorded in group gid of target
// tgt, as planned in this batch, else as saved.
func (p *planner) provisionedMembers(ctx context.Context, tgt, gid string) (map[string]bool, error) {
	out := map[string]bool{}
	ms := p.members[groupKey{tgt, gid}]
	if ms == nil || !ms.clear {
		saved, err := p.e.opts.Store.ProvisionedMembers(ctx, tgt, gid)
		if err != nil {
			return nil, err
		}
		for _, m := range saved {
			out[m] = true
		}
	}
	if ms != nil {
		for m, in := range ms.in {
			if in {
				out[m] = true
			} else {
				delete(out, m)
			}
		}
	}
	return out, nil
}

// setMember records (in) or drops member m of group gid in target tgt.
func (p *planner) setMember(tgt, gid, m string, in bool) {
	p.memberRecord(tgt, gid).in[m] = in
}

// clearMembers drops the record of every member of group gid in tgt.
func (p *planner) clearMembers(tgt, gid string) {
	ms := p.memberRecord(tgt, gid)
	ms.clear = true
	clear(ms.in)
}

// saveMembers writes the planned member records in tx.
func (p *planner) saveMembers(ctx context.Context, tx store.Tx) error {
	for _, k := range p.memberOrder {
		ms := p.members[k]
		if ms.clear {
			if err := tx.RemoveProvisionedMembers(ctx, k.target, k.group, nil); err != nil {
				return err
			}
		}
		var add, remove []string
		for _, m := range slices.Sorted(maps.Keys(ms.in)) {
			if ms.in[m] {
				add = append(add, m)
			} else if !ms.clear {
				remove = append(remove, m)
			}
		}
		if len(remove) > 0 {
			if err := tx.RemoveProvisionedMembers(ctx, k.target, k.group, remove); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			if err := tx.AddProvisionedMembers(ctx, k.target, k.group, add); err != nil {
				return err
			}
		}
	}
	return nil
}

// isMember reports whether user id is a member of group gid in SCIM now.
func (p *planner) isMember(ctx context.Context, gid, id string) (bool, error) {
	gids, err := p.memberOf(ctx, id)
	return slices.Contains(gids, gid), err
}

// memberOf returns the groups id is a member of in SCIM, read once per
// batch.
func (p *planner) memberOf(ctx context.Context, id string) ([]string, error) {
	if gids, ok := p.groupsCache[id]; ok {
		return gids, nil
	}
	gids, err := p.e.opts.Store.MemberOf(ctx, string(targets.Group), id)
	if err != nil {
		return nil, err
	}
	p.groupsCache[id] = gids
	return gids, nil
}

// membersCursor marks, per target, that the members its group records held
// in their state (before member rows) were moved to rows.
const membersCursor = "engine.members."

// moveRecordedMembers moves, once per target, the members recorded inside
// the state of its groups (as engines before member rows kept them) to
// rows.
func (e *Engine) moveRecordedMembers(ctx context.Context) error {
	st := e.opts.Store
	for _, t := range e.targets {
		name := t.pol.Name()
		done, err := st.Cursor(ctx, membersCursor+name)
		if err != nil {
			return err
		}
		if done != 0 {
			continue
		}
		recs, err := st.ProvisionedOf(ctx, name)
		if err != nil {
			return err
		}
		err = st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, pr := range recs {
				if pr.Type != string(targets.Group) {
					continue
				}
				s, err := stateOf(pr)
				if err != nil {
					return err
				}
				if len(s.Members) == 0 {
					continue
				}
				if err := tx.AddProvisionedMembers(ctx, name, pr.ID, s.Members); err != nil {
					return err
				}
				s.Members = nil
				if pr.State, err = json.Marshal(s); err != nil {
					return err
				}
				if err := tx.PutProvisioned(ctx, pr); err != nil {
					return err
				}
			}
			return tx.SetCursor(ctx, membersCursor+name, 1)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
