package engine

import (
	"context"
	"errors"
	"slices"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// PlannedOp is an operation that a target would receive (Preview).
type PlannedOp struct {
	Target string
	Kind   string // "User", "Group"
	ID     string // the gateway's object id
	Op     string // create, update, disable, enable, delete, addMembers, removeMembers
	// Attrs of a create or update, secrets redacted.
	Attrs   map[string]any
	Members []string // gateway ids of the members added or removed
	// Queued: already in the outbox, not yet delivered (attribute values
	// are then not shown); otherwise the planner would queue it now.
	Queued bool
	// Held by the deletion guard.
	Held bool
}

// previewCap is the capacity of the outbox rows Preview lists per target.
const previewCap = 1_000_000

// Preview returns, without calling any target nor writing to st, what
// each target of pol would receive: the operations queued and not yet
// delivered, then those that planning every user and group of st against
// the recorded provisioning state would add. Targets are assumed to have
// every capability.
func Preview(ctx context.Context, st Store, pol *policy.Policy) ([]PlannedOp, error) {
	e, err := readOnly(st, pol)
	if err != nil {
		return nil, err
	}
	var out []PlannedOp
	for _, t := range e.targets {
		rows, err := st.Outbox(ctx, t.pol.Name(), false, previewCap)
		if err != nil {
			return nil, err
		}
		ops, err := operations(rows)
		if err != nil {
			return nil, err
		}
		for _, o := range ops {
			out = append(out, PlannedOp{Target: o.Target, Kind: o.Kind, ID: o.ID, Op: o.Op, Members: o.Members, Queued: true, Held: o.Held})
		}
	}
	// Every object of the store, and every object recorded for a target
	// that the store no longer has (deleted in SCIM while the target was
	// not configured: its catch-up deletes it).
	var changes []store.Change
	seen := map[[2]string]bool{}
	add := func(typ, id string) {
		if k := [2]string{typ, id}; !seen[k] {
			seen[k] = true
			changes = append(changes, store.Change{Type: typ, ID: id})
		}
	}
	for _, kind := range []targets.Kind{targets.User, targets.Group} {
		ids, err := st.Find(ctx, string(kind), store.Const(true))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			add(string(kind), id)
		}
	}
	for _, t := range e.targets {
		recs, err := st.ProvisionedOf(ctx, t.pol.Name())
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			add(r.Type, r.ID)
		}
	}
	p := e.newPlanner()
	p.redact = true
	if err := p.planAll(ctx, changes); err != nil {
		return nil, err
	}
	for _, o := range p.ops {
		pl, err := decodePayload(o.Payload)
		if err != nil {
			return nil, err
		}
		out = append(out, PlannedOp{Target: o.Target, Kind: o.Type, ID: o.ID, Op: pl.Op, Attrs: pl.Attrs,
			Members: slices.Clone(pl.Members), Held: o.Held})
	}
	return out, nil
}

// readOnly returns an engine over st and pol that is never started, with
// stand-in connectors that are never called: Preview and ObjectStates read
// with it.
func readOnly(st Store, pol *policy.Policy) (*Engine, error) {
	conns := map[string]targets.Connector{}
	for _, t := range pol.Targets() {
		conns[t.Name()] = previewConnector{}
	}
	return New(Options{Store: st, Policy: pol, Connectors: conns})
}

// previewConnector stands in for the connectors while Preview plans: it
// declares every capability and is never called.
type previewConnector struct{}

var _ targets.Connector = previewConnector{}

var errPreview = targets.Permanent(errors.New("engine: a preview never calls a target"))

func (previewConnector) Capabilities() targets.Capabilities {
	return targets.Capabilities{Groups: true, Disable: true}
}
func (previewConnector) Create(context.Context, targets.Op) (string, error) { return "", errPreview }
func (previewConnector) Update(context.Context, targets.Op) error           { return errPreview }
func (previewConnector) Delete(context.Context, targets.Op) error           { return errPreview }
func (previewConnector) Disable(context.Context, targets.Op) error          { return errPreview }
func (previewConnector) Enable(context.Context, targets.Op) error           { return errPreview }
func (previewConnector) AddMembers(context.Context, targets.Op) error       { return errPreview }
func (previewConnector) RemoveMembers(context.Context, targets.Op) error    { return errPreview }
func (previewConnector) Close(context.Context) error                        { return nil }
func (previewConnector) Get(context.Context, targets.Kind, string) (targets.Object, error) {
	return targets.Object{}, errPreview
}
func (previewConnector) List(context.Context, targets.Kind, string, int) (targets.Page, error) {
	return targets.Page{}, errPreview
}
