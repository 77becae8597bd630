package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// Trigger is what caused a run (the run's Trigger JSON), as templates and
// webhook payloads see it.
type Trigger struct {
	Kind      string `json:"kind"`                // time, event, onDemand
	On        string `json:"on,omitempty"`        // the event
	Attribute string `json:"attribute,omitempty"` // the date or the attribute changed
	Date      string `json:"date,omitempty"`      // time: the user's date (YYYY-MM-DD)
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Group     string `json:"group,omitempty"` // the group's id
	By        string `json:"by,omitempty"`    // onDemand: who asked
	// User is the user as it was when the run was created, for the tasks
	// of a user deleted since.
	User Person `json:"user"`
	// Manager is the user's manager's id then.
	Manager string `json:"manager,omitempty"`
}

// snapshot is what event triggers compare, per user (the store's
// workflow snapshot JSON).
type snapshot struct {
	Attrs  map[string]string `json:"attrs,omitempty"` // the attributes attributeChanged triggers watch
	Active bool              `json:"active"`
	Groups []string          `json:"groups,omitempty"` // group ids
	// GroupNames are the groups' displayNames, by id.
	GroupNames map[string]string `json:"groupNames,omitempty"`
	InScope    map[string]bool   `json:"inScope,omitempty"` // by workflow
	User       Person            `json:"user"`
	Manager    string            `json:"manager,omitempty"`
}

// epochKey is the snapshot row holding when workflows first saw changes:
// a user without a snapshot created after it is a created event; one
// created before was there before workflows were.
const epochKey = ""

// subject is a user being evaluated.
type subject struct {
	id      string
	res     store.Resource
	user    map[string]any
	refs    []policy.GroupRef
	groups  []string
	person  Person
	manager string
}

// loadSubject reads a user and its groups through tx (or the store when
// tx is nil); nil when there is no such user.
func loadSubject(ctx context.Context, get func(ctx context.Context, typ, id string) (store.Resource, error),
	memberOf func(ctx context.Context, typ, value string) ([]string, error), id string) (*subject, error) {
	res, err := get(ctx, "User", id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := scim.DecodeResource(res)
	if err != nil {
		return nil, err
	}
	s := &subject{id: id, res: res, user: u, person: personOf(id, u)}
	s.manager, _ = lookup(u, scim.URNEnterpriseUser+":manager.value")
	gids, err := memberOf(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	for _, gid := range gids {
		g, err := get(ctx, "Group", gid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		gm, err := scim.DecodeResource(g)
		if err != nil {
			return nil, err
		}
		name, _ := gm["displayName"].(string)
		s.refs = append(s.refs, policy.GroupRef{ID: gid, DisplayName: name})
		s.groups = append(s.groups, gid)
	}
	return s, nil
}

// personOf returns the names and email of a user.
func personOf(id string, u map[string]any) Person {
	p := Person{ID: id}
	p.UserName, _ = u["userName"].(string)
	p.DisplayName, _ = u["displayName"].(string)
	if p.DisplayName == "" {
		p.DisplayName = p.UserName
	}
	if emails, ok := u["emails"].([]any); ok {
		for _, e := range emails {
			m, _ := e.(map[string]any)
			v, _ := m["value"].(string)
			if v == "" {
				continue
			}
			if p.Email == "" || m["primary"] == true {
				p.Email = v
			}
		}
	}
	if p.Email == "" && strings.Contains(p.UserName, "@") {
		p.Email = p.UserName
	}
	return p
}

// lookup reads an attribute of a user as text: a path ("department",
// "name.givenName"), looked up in the user, then in the enterprise
// extension, then in the other extensions; or "<URN>:<path>".
func lookup(u map[string]any, attr string) (string, bool) {
	urn, path := splitURN(attr)
	if urn != "" {
		for k, v := range u {
			if strings.EqualFold(k, urn) {
				m, _ := v.(map[string]any)
				return lookupPath(m, path)
			}
		}
		return "", false
	}
	if v, ok := lookupPath(u, path); ok {
		return v, true
	}
	if m, ok := u[scim.URNEnterpriseUser].(map[string]any); ok {
		if v, ok := lookupPath(m, path); ok {
			return v, true
		}
	}
	for k, v := range u {
		if m, ok := v.(map[string]any); ok && strings.HasPrefix(strings.ToLower(k), "urn:") {
			if v, ok := lookupPath(m, path); ok {
				return v, true
			}
		}
	}
	return "", false
}

func lookupPath(m map[string]any, path string) (string, bool) {
	var v any = m
	for part := range strings.SplitSeq(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		found := false
		for k, x := range mm {
			if strings.EqualFold(k, part) {
				v, found = x, true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case map[string]any, []any:
		return "", false
	default:
		return fmt.Sprint(v), true
	}
}

// active reads a user's active attribute (absent: active).
func active(u map[string]any) bool {
	a, ok := u["active"].(bool)
	return !ok || a
}

// dateOf returns the date a time trigger reads, false when the user has
// none (or one that is not a date).
func dateOf(s *subject, attr string) (time.Time, bool) {
	if attr == "meta.created" {
		return s.res.Created.UTC(), !s.res.Created.IsZero()
	}
	v, ok := lookup(s.user, attr)
	if !ok || v == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// OnChanges turns a batch of the change journal into workflow events and
// schedules, in the engine's planning transaction tx (engine.Options.OnChanges):
// each change is seen once, and a run it causes is created with it.
func (r *Runner) OnChanges(ctx context.Context, tx store.Tx, changes []store.Change) error {
	if len(r.wfs) == 0 {
		return nil
	}
	now := r.opts.Now()
	epoch, err := r.epoch(ctx, tx, now)
	if err != nil {
		return err
	}
	states, err := tx.WorkflowStates(ctx)
	if err != nil {
		return err
	}
	var order []string
	seqs := map[string]int64{}
	touch := func(id string, seq int64) {
		if _, ok := seqs[id]; !ok {
			order = append(order, id)
		}
		seqs[id] = max(seqs[id], seq)
	}
	for _, c := range changes {
		switch c.Type {
		case "User":
			touch(c.ID, c.Seq)
		case "Group":
			for _, m := range append(append([]string{}, c.Added...), c.Removed...) {
				touch(m, c.Seq)
			}
			if !c.MembersOnly { // a create or replace may set members without a delta
				ms, err := tx.Members(ctx, "Group", c.ID, -1, 0)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				for _, m := range ms {
					touch(m.Value, c.Seq)
				}
			}
		}
	}
	for _, id := range order {
		if err := r.userChanged(ctx, tx, id, seqs[id], epoch, states, now); err != nil {
			return err
		}
	}
	return nil
}

// epoch returns when workflows first saw changes, recording it now the
// first time.
func (r *Runner) epoch(ctx context.Context, tx store.Tx, now time.Time) (time.Time, error) {
	b, err := tx.WorkflowSnapshot(ctx, epochKey)
	if errors.Is(err, store.ErrNotFound) {
		return now, tx.PutWorkflowSnapshot(ctx, epochKey, []byte(now.UTC().Format(store.TimeFormat)))
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(store.TimeFormat, string(b))
}

// userChanged compares user id with its snapshot, creates the runs of the
// events and updates the schedules of the time triggers.
func (r *Runner) userChanged(ctx context.Context, tx store.Tx, id string, seq int64, epoch time.Time, states map[string]bool, now time.Time) error {
	var prev *snapshot
	b, err := tx.WorkflowSnapshot(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		prev = &snapshot{}
		if err := json.Unmarshal(b, prev); err != nil {
			return fmt.Errorf("workflow: snapshot of %q: %w", id, err)
		}
	}
	s, err := loadSubject(ctx, tx.Get, tx.MemberOf, id)
	if err != nil {
		return err
	}
	if s == nil { // deleted (or a member that is not a user)
		if prev == nil {
			return nil
		}
		for _, w := range r.wfs {
			if w.cfg.Trigger.Time != nil {
				if err := tx.DeleteWorkflowSchedule(ctx, w.Name(), id); err != nil {
					return err
				}
			}
			if ev := w.cfg.Trigger.Event; ev != nil && ev.On == "deleted" && prev.InScope[w.Name()] && r.enabled(w, states) {
				tr := Trigger{Kind: "event", On: "deleted", User: prev.User, Manager: prev.Manager}
				if err := r.createRun(ctx, tx, w, id, "deleted", tr, now); err != nil {
					return err
				}
			}
		}
		return tx.DeleteWorkflowSnapshot(ctx, id)
	}
	cur := &snapshot{Attrs: map[string]string{}, Active: active(s.user), Groups: s.groups, InScope: map[string]bool{},
		User: s.person, Manager: s.manager, GroupNames: map[string]string{}}
	for _, g := range s.refs {
		cur.GroupNames[g.ID] = g.DisplayName
	}
	for _, w := range r.wfs {
		if ev := w.cfg.Trigger.Event; ev != nil && ev.On == "attributeChanged" {
			cur.Attrs[strings.ToLower(ev.Attribute)], _ = lookup(s.user, ev.Attribute)
		}
	}
	created := prev == nil && !s.res.Created.Before(epoch)
	for _, w := range r.wfs {
		in, err := w.inScope(s)
		if err != nil {
			r.log.Warn("workflow: scope failed; the user's events and schedule are left as they are", "workflow", w.Name(), "user", id, "err", err)
			if prev != nil {
				cur.InScope[w.Name()] = prev.InScope[w.Name()]
			}
			continue
		}
		cur.InScope[w.Name()] = in
		switch {
		case w.cfg.Trigger.Time != nil:
			if err := r.schedule(ctx, tx, w, s, in); err != nil {
				return err
			}
		case w.cfg.Trigger.Event != nil && in && r.enabled(w, states):
			for _, ev := range w.events(prev, cur, created) {
				ev.User, ev.Manager = s.person, s.manager
				occ := ev.On
				if ev.On != "created" {
					occ = fmt.Sprintf("%s:%s%s@%d", ev.On, ev.Attribute, ev.Group, seq)
				}
				if err := r.createRun(ctx, tx, w, id, occ, ev, now); err != nil {
					return err
				}
			}
		}
	}
	nb, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return tx.PutWorkflowSnapshot(ctx, id, nb)
}

// inScope evaluates the workflow's scope for s.
func (w *Workflow) inScope(s *subject) (bool, error) {
	if w.scope == nil {
		return true, nil
	}
	return w.scope.Match(s.user, s.refs)
}

// events returns the events of an event-triggered workflow between two
// snapshots of a user (prev nil: none was kept).
func (w *Workflow) events(prev, cur *snapshot, created bool) []Trigger {
	ev := w.cfg.Trigger.Event
	switch ev.On {
	case "created":
		if created {
			return []Trigger{{Kind: "event", On: "created"}}
		}
	case "attributeChanged":
		if prev == nil {
			return nil
		}
		key := strings.ToLower(ev.Attribute)
		from, seen := prev.Attrs[key]
		to := cur.Attrs[key]
		if !seen || from == to || ev.From != "" && !strings.EqualFold(ev.From, from) || ev.To != "" && !strings.EqualFold(ev.To, to) {
			return nil
		}
		return []Trigger{{Kind: "event", On: ev.On, Attribute: ev.Attribute, From: from, To: to}}
	case "activated", "deactivated":
		if prev != nil && prev.Active != cur.Active && cur.Active == (ev.On == "activated") {
			return []Trigger{{Kind: "event", On: ev.On}}
		}
	case "addedToGroup", "removedFromGroup":
		if prev == nil && !created {
			return nil
		}
		var before []string
		if prev != nil {
			before = prev.Groups
		}
		a, b := before, cur.Groups
		if ev.On == "addedToGroup" {
			a, b = b, a
		}
		names := cur.GroupNames
		if ev.On == "removedFromGroup" && prev != nil {
			names = prev.GroupNames
		}
		var out []Trigger
		for _, g := range a { // in a, not in b
			if !contains(b, g) && w.groupMatches(g, names[g]) {
				out = append(out, Trigger{Kind: "event", On: ev.On, Group: g})
			}
		}
		return out
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// groupMatches reports whether the group gid, named name, is the
// trigger's group (by id or displayName).
func (w *Workflow) groupMatches(gid, name string) bool {
	g := w.cfg.Trigger.Event.Group
	return g == "" || strings.EqualFold(g, gid) || name != "" && strings.EqualFold(g, name)
}

// schedule records, replaces or removes the schedule of a time-triggered
// workflow for s.
func (r *Runner) schedule(ctx context.Context, tx store.Tx, w *Workflow, s *subject, in bool) error {
	tt := w.cfg.Trigger.Time
	d, ok := dateOf(s, tt.Attribute)
	if !in || !ok {
		return tx.DeleteWorkflowSchedule(ctx, w.Name(), s.id)
	}
	occ := occurrenceOf(tt, d)
	cur, err := tx.WorkflowSchedule(ctx, w.Name(), s.id)
	if err == nil && cur.Occurrence == occ {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return tx.PutWorkflowSchedule(ctx, store.WorkflowSchedule{Workflow: w.Name(), User: s.id, Occurrence: occ,
		Due: d.AddDate(0, 0, tt.OffsetDays)})
}

// occurrenceOf names the occurrence of a time trigger for a date.
func occurrenceOf(tt *TimeTrigger, d time.Time) string {
	return fmt.Sprintf("%s=%s%+dd", tt.Attribute, d.Format(time.RFC3339), tt.OffsetDays)
}
