package engine

import (
	"context"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// ObjectStates returns an object's provisioning state in every target of
// pol that receives its kind, as recorded in st (Engine.Object), without
// calling any target nor writing to st: scimgate plan --explain reads it
// from the gateway's data directory.
func ObjectStates(ctx context.Context, st Store, pol *policy.Policy, kind targets.Kind, id string) ([]ObjectState, error) {
	e, err := readOnly(st, pol)
	if err != nil {
		return nil, err
	}
	return e.Object(ctx, kind, id)
}
