package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// The decisions and recommendations of items (Entra's).
const (
	Approve     = "Approve"
	Deny        = "Deny"
	DontKnow    = "DontKnow"
	NotReviewed = store.ReviewNotReviewed
)

// The apply results of items.
const (
	Applied  = "Applied"  // Entra's AppliedSuccessfully
	NotFound = "NotFound" // AppliedSuccessfullyButObjectNotFound
	Failed   = "Failed"   // AppliedWithUnknownFailure, with the error
	// Reverted: an applied denial an administrator undid (Revert).
	Reverted = "Reverted"
)

// Item is one decision of an instance.
type Item = store.ReviewItem

// candidate is a user whose access to the resource is reviewed.
type candidate struct {
	user       string
	outOfScope bool // no longer in the target's scope
}

// snapshot returns the items of an instance of d starting now, and a
// note for the start's audit entry ("" none): why the fallback reviewers
// decide when a group's owners are missing.
func (s *Service) snapshot(ctx context.Context, d Config, now time.Time) (items []Item, note string, err error) {
	st := s.opts.Store
	var cands []candidate
	resType, res, resName := store.ReviewTarget, d.Resource.Target, d.Resource.Target
	denied := map[string]bool{} // users whose access a review hold removed
	if d.Resource.Target != "" {
		recs, err := st.ProvisionedOf(ctx, d.Resource.Target)
		if err != nil {
			return nil, "", err
		}
		hs, err := st.Holds(ctx, store.HoldQuery{Source: HoldSource, Target: d.Resource.Target, Account: true})
		if err != nil {
			return nil, "", err
		}
		for _, h := range hs {
			denied[h.User] = true
		}
		for _, pr := range recs {
			if pr.Type != "User" {
				continue
			}
			rs, err := engine.RecordState(pr)
			if err != nil {
				return nil, "", err
			}
			if rs.Present && !rs.Deleted && !denied[pr.ID] {
				cands = append(cands, candidate{user: pr.ID, outOfScope: !rs.InScope})
			}
		}
	} else {
		gid, name, err := s.group(ctx, d.Resource.Group)
		if err != nil {
			return nil, "", err
		}
		resType, res, resName = store.ReviewGroup, gid, name
		hs, err := st.Holds(ctx, store.HoldQuery{Source: HoldSource, Group: gid})
		if err != nil {
			return nil, "", err
		}
		for _, h := range hs {
			denied[h.User] = true
		}
		ms, err := st.Members(ctx, "Group", gid, -1, 0)
		if err != nil {
			return nil, "", err
		}
		for _, m := range ms {
			if !denied[m.Value] {
				cands = append(cands, candidate{user: m.Value})
			}
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return strings.Compare(a.user, b.user) })
	signIns, err := s.guestSignIns(ctx)
	if err != nil {
		return nil, "", err
	}
	rv := &resolver{st: st, ids: map[string]string{}}
	if d.Reviewers.Type == ReviewersGroupOwners {
		if rv.owners, note, err = s.ownersOf(ctx, res, rv); err != nil {
			return nil, "", err
		}
		if note != "" {
			note = "the fallback reviewers decide: " + note
			s.log.Warn("access review: "+note, "review", d.Name, "group", resName)
		}
	}
	groupNames := map[string]string{}
	threshold := time.Duration(d.inactiveDays()) * 24 * time.Hour
	for _, c := range cands {
		r, err := st.Get(ctx, "User", c.user)
		if errors.Is(err, store.ErrNotFound) {
			continue // a group member that is no user, or a user deleted since
		}
		if err != nil {
			return nil, "", err
		}
		u, err := scim.DecodeResource(r)
		if err != nil {
			return nil, "", err
		}
		groups, err := s.groupsOf(ctx, c.user, groupNames)
		if err != nil {
			return nil, "", err
		}
		isGuest := s.opts.IsGuest(u, groups)
		if d.scope() == ScopeGuestsOnly && !isGuest {
			continue
		}
		userName, _ := u["userName"].(string)
		last, known := s.lastSignIn(ctx, userName, signIns[c.user])
		// Inactive since: the last sign-in, or the creation of a user
		// Entra says never signed in.
		var since time.Time
		if known {
			since = last
			if since.IsZero() {
				since = r.Created
			}
		}
		inactive := known && now.Sub(since) >= threshold
		if d.InactiveDays > 0 && !inactive {
			continue
		}
		it := Item{Index: len(items) + 1, User: c.user, UserName: userName, ResourceType: resType, Resource: res, ResourceName: resName,
			Guest: isGuest, LastSignIn: last, Decision: NotReviewed, Stage: 1}
		it.DisplayName, _ = u["displayName"].(string)
		switch {
		case c.outOfScope:
			it.Recommendation, it.Reason = Deny, fmt.Sprintf("no longer in the scope of target %s", res)
		case inactive && last.IsZero():
			it.Recommendation, it.Reason = Deny, fmt.Sprintf("never signed in (created %s)", since.UTC().Format(time.DateOnly))
		case inactive:
			it.Recommendation, it.Reason = Deny, fmt.Sprintf("no sign-in for %d days (last %s)", int(now.Sub(since).Hours()/24), since.UTC().Format(time.DateOnly))
		case known && !last.IsZero():
			it.Recommendation, it.Reason = Approve, fmt.Sprintf("signed in on %s", last.UTC().Format(time.DateOnly))
		default:
			it.Recommendation, it.Reason = Approve, "no sign-in information"
		}
		if it.Reviewers, err = s.reviewersOf(ctx, d.Reviewers, d.FallbackReviewers, c.user, u, rv); err != nil {
			return nil, "", err
		}
		if len(it.Reviewers) == 0 {
			s.log.Warn("access review: an item has no reviewer; the default decision applies to it", "review", d.Name, "user", userName)
		}
		items = append(items, it)
	}
	return items, note, nil
}

// group resolves a group by id or displayName (case-insensitive).
func (s *Service) group(ctx context.Context, key string) (id, name string, err error) {
	if r, err := s.opts.Store.Get(ctx, "Group", key); err == nil {
		g, err := scim.DecodeResource(r)
		if err != nil {
			return "", "", err
		}
		name, _ = g["displayName"].(string)
		return key, name, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	ids, err := s.opts.Store.Find(ctx, "Group", store.Compare{Paths: []string{"displayname"}, Op: store.Eq, Str: strings.ToLower(key)})
	if err != nil {
		return "", "", err
	}
	if len(ids) == 0 {
		return "", "", fmt.Errorf("%w: group %q", ErrNotFound, key)
	}
	return ids[0], key, nil
}

// groupsOf returns the groups user is a direct member of, their names
// cached in names.
func (s *Service) groupsOf(ctx context.Context, user string, names map[string]string) ([]policy.GroupRef, error) {
	gids, err := s.opts.Store.MemberOf(ctx, "Group", user)
	if err != nil {
		return nil, err
	}
	out := make([]policy.GroupRef, 0, len(gids))
	for _, gid := range gids {
		name, ok := names[gid]
		if !ok {
			r, err := s.opts.Store.Get(ctx, "Group", gid)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if err == nil {
				if g, err := scim.DecodeResource(r); err == nil {
					name, _ = g["displayName"].(string)
				}
			}
			names[gid] = name
		}
		out = append(out, policy.GroupRef{ID: gid, DisplayName: name})
	}
	return out, nil
}

// guestSignIns returns the last sign-ins the guest lifecycle knows (from
// Entra and from a target's last login), by user.
func (s *Service) guestSignIns(ctx context.Context) (map[string]time.Time, error) {
	recs, err := guest.Records(ctx, s.opts.Store)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, r := range recs {
		if !r.LastSignIn.IsZero() {
			out[r.User] = r.LastSignIn
		}
	}
	return out, nil
}

// lastSignIn returns a user's last sign-in, the latest of the guest
// lifecycle's (known) and Entra's signInActivity, and whether it is
// known: a zero time with known true is a user Entra says never signed
// in.
func (s *Service) lastSignIn(ctx context.Context, userName string, known time.Time) (time.Time, bool) {
	last, ok := known, !known.IsZero()
	if s.opts.Entra == nil || userName == "" {
		return last, ok
	}
	u, err := s.opts.Entra.LookupUser(ctx, userName)
	if err != nil {
		s.log.Warn("access review: reading the sign-in activity", "user", userName, "err", err)
		return last, ok
	}
	if a := u.SignInActivity; a != nil {
		for _, t := range []time.Time{a.LastSignInDateTime, a.LastNonInteractiveSignInDateTime, a.LastSuccessfulSignInDateTime} {
			if t.After(last) {
				last = t
			}
		}
		ok = true
	}
	return last, ok
}

// reviewersOf returns the reviewers of user u (id; u nil: no longer a
// user) by rc: its manager, the named reviewers or itself, else the
// fallback reviewers.
func (s *Service) reviewersOf(ctx context.Context, rc ReviewersConfig, fallback []string, id string, u map[string]any, rv *resolver) ([]string, error) {
	var out []string
	switch rc.Type {
	case ReviewersManager:
		if m, ok := u[scim.URNEnterpriseUser].(map[string]any); ok {
			if mgr, ok := m["manager"].(map[string]any); ok {
				if v, _ := mgr["value"].(string); v != "" {
					if _, err := s.opts.Store.Get(ctx, "User", v); err == nil {
						out = append(out, v)
					} else if !errors.Is(err, store.ErrNotFound) {
						return nil, err
					}
				}
			}
		}
	case ReviewersNamed:
		for _, n := range rc.Named {
			r, err := rv.resolve(ctx, n)
			if err != nil {
				return nil, err
			}
			if r != "" {
				out = append(out, r)
			}
		}
	case ReviewersSelf:
		if u != nil {
			out = append(out, id)
		}
	case ReviewersGroupOwners:
		out = append(out, rv.owners...)
	}
	if len(out) == 0 {
		for _, n := range fallback {
			r, err := rv.resolve(ctx, n)
			if err != nil {
				return nil, err
			}
			if r != "" {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// resolver finds reviewers named by userName or email, once each.
type resolver struct {
	st  store.Resources
	ids map[string]string
	// owners are the reviewer keys of the group's owners (type
	// groupOwners), read once at the start.
	owners []string
}

// ownersOf returns the reviewer keys of the owners in Entra of the SCIM
// group gid (type groupOwners): Entra's provisioning sends a group's
// object id as its externalId. An owner is the SCIM user whose
// externalId is the owner's object id, else its mail (or
// userPrincipalName) resolved as a named reviewer is; owners that are no
// user (service principals) do not review. No owners: why says why (the
// fallback reviewers decide). A failure to read them is an error: the
// instance starts later, never with the wrong reviewers.
func (s *Service) ownersOf(ctx context.Context, gid string, rv *resolver) (keys []string, why string, err error) {
	if s.opts.Owners == nil {
		return nil, "", errors.New("reviewers of type groupOwners need the entra section (the owners are read from Entra)")
	}
	r, err := s.opts.Store.Get(ctx, "Group", gid)
	if err != nil {
		return nil, "", err
	}
	g, err := scim.DecodeResource(r)
	if err != nil {
		return nil, "", err
	}
	ext, _ := g["externalId"].(string)
	if ext == "" {
		return nil, "the group has no externalId (its Entra object id), so its owners are unknown", nil
	}
	owners, err := s.opts.Owners.GroupOwners(ctx, ext)
	switch {
	case errors.Is(err, entra.ErrNotFound), errors.Is(err, entra.ErrInvalid):
		return nil, fmt.Sprintf("the group's externalId %q is no Entra group (%v)", ext, err), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading the owners of group %s (Entra object %s): %w", gid, ext, err)
	}
	for _, o := range owners {
		if o.Type != "" && o.Type != "user" {
			continue
		}
		ids, err := s.opts.Store.Find(ctx, "User", store.Compare{Paths: []string{"externalid"}, Op: store.Eq, Str: o.ID})
		if err != nil {
			return nil, "", err
		}
		if len(ids) > 0 {
			keys = append(keys, ids[0])
			continue
		}
		k, err := rv.resolve(ctx, nameOr(o.Mail, o.UserPrincipalName))
		if err != nil {
			return nil, "", err
		}
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Sprintf("the group has no owner in Entra (object %s) who can review", ext), nil
	}
	return keys, "", nil
}

// resolve returns the reviewer key of a name: the id of the SCIM user
// with that id, userName or email, else the (lower-case) address when it
// is one; "" when it is neither.
func (r *resolver) resolve(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if id, ok := r.ids[name]; ok {
		return id, nil
	}
	id, err := resolveReviewer(ctx, r.st, name)
	if err != nil {
		return "", err
	}
	r.ids[name] = id
	return id, nil
}

func resolveReviewer(ctx context.Context, st store.Resources, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if _, err := st.Get(ctx, "User", name); err == nil {
		return name, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	low := strings.ToLower(name)
	for _, path := range []string{"username", "emails.value"} {
		ids, err := st.Find(ctx, "User", store.Compare{Paths: []string{path}, Op: store.Eq, Str: low})
		if err != nil {
			return "", err
		}
		if len(ids) > 0 {
			return ids[0], nil
		}
	}
	if strings.Contains(name, "@") {
		return low, nil
	}
	return "", nil
}
