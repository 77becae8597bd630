package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Matching and adoption. Before the engine creates an object in a target
// whose policy lists matching attributes for its kind (and whose connector
// can look accounts up: targets.Finder), it looks for an account whose
// attribute holds the object's mapped value, attribute by attribute in
// order of precedence, as Entra's provisioning service does:
//
//   - no account: the object is created;
//   - one account, linked to no identity (no object id recorded in it, no
//     record of the gateway's anchoring it): it is adopted (its anchor is
//     recorded, and an update with the mapped attributes, onCreate ones
//     left out, brings it to the mapped state and records the object id),
//     unless the target's adopt is false;
//   - one account already linked to the object itself (an earlier attempt):
//     it is the object's own, adopted likewise;
//   - an account linked to another identity, or several accounts: a
//     conflict that waits for a person, naming both sides.

// errMatch is the cause of the conflicts that matching finds.
var errMatch = errors.New("matching")

// match looks in t for an account to adopt for the object of op (a
// create), and returns its anchor and how it was found ("" when none).
func (e *Engine) match(ctx context.Context, t *target, op targets.Op) (anchor, how string, err error) {
	f, ok := t.conn.(targets.Finder)
	attrs := t.pol.Matching(op.Kind == targets.Group)
	if !ok || !t.conn.Capabilities().Lookup || len(attrs) == 0 {
		return "", "", nil
	}
	for _, a := range attrs {
		for _, v := range values(op.Attrs[a]) {
			anchor, how, err := e.matchValue(ctx, t, f, op, a, v)
			if anchor != "" || err != nil {
				return anchor, how, err
			}
		}
	}
	return "", "", nil
}

// values returns the values of an attribute to look up: one, or each of a
// multi-valued one; none for an absent or empty one.
func values(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		if t == "" {
			return nil
		}
	case []string:
		out := make([]any, 0, len(t))
		for _, s := range t {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return []any{v}
}

// matchValue looks up the accounts whose attribute a holds v, and returns
// the anchor of the one to adopt ("" when none matches), or the conflict.
func (e *Engine) matchValue(ctx context.Context, t *target, f targets.Finder, op targets.Op, a string, v any) (anchor, how string, err error) {
	name := t.pol.Name()
	{
		objs, err := f.Lookup(ctx, op.Kind, a, v, 2)
		if err != nil {
			return "", "", err
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
		}
		how = a + "=" + string(b)
		switch {
		case len(objs) == 0:
			return "", "", nil
		case len(objs) > 1:
			anchors := make([]string, len(objs))
			for i, o := range objs {
				anchors[i] = fmt.Sprintf("%q", o.Anchor)
			}
			return "", "", &targets.ConflictError{Err: fmt.Errorf("%w: several accounts in %s have %s (anchors %s, and maybe more): which one is %s's needs a person",
				errMatch, name, how, strings.Join(anchors, ", "), e.describe(ctx, op.Kind, op.ObjectID))}
		}
		o := objs[0]
		other := o.ObjectID
		if other == "" { // the connector records no object id: the engine's records tell
			recs, err := e.opts.Store.ProvisionedByAnchor(ctx, name, string(op.Kind), o.Anchor)
			if err != nil {
				return "", "", targets.Transient(err)
			}
			for _, r := range recs {
				if r.ID != op.ObjectID {
					other = r.ID
				}
			}
		}
		switch {
		case other == op.ObjectID:
			return o.Anchor, how, nil // its own, from an earlier attempt
		case other != "":
			return "", "", &targets.ConflictError{Anchor: o.Anchor, ObjectID: other,
				Err: fmt.Errorf("%w: the account in %s with %s (anchor %q) is linked to another identity, %s; %s cannot be linked to it",
					errMatch, name, how, o.Anchor, e.describe(ctx, op.Kind, other), e.describe(ctx, op.Kind, op.ObjectID))}
		case !t.pol.Adopt():
			return "", "", &targets.ConflictError{Anchor: o.Anchor,
				Err: fmt.Errorf("%w: an account in %s has %s (anchor %q), and adoption is off for the target (adopt: false): link it to %s or remove it",
					errMatch, name, how, o.Anchor, e.describe(ctx, op.Kind, op.ObjectID))}
		}
		return o.Anchor, how, nil
	}
}

// describe names an object for a person: its kind, id and userName or
// displayName when the store has it.
func (e *Engine) describe(ctx context.Context, kind targets.Kind, id string) string {
	out := strings.ToLower(string(kind)) + " " + id
	r, err := e.opts.Store.Get(ctx, string(kind), id)
	if err != nil {
		return out
	}
	res, err := scim.DecodeResource(r)
	if err != nil {
		return out
	}
	for _, k := range []string{"userName", "displayName"} {
		if n, _ := res[k].(string); n != "" {
			return fmt.Sprintf("%s (%s)", out, n)
		}
	}
	return out
}

// without returns attrs without the keys listed.
func without(attrs map[string]any, keys []string) map[string]any {
	out := maps.Clone(attrs)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}
