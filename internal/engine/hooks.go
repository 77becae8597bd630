package engine

import (
	"context"

	"github.com/scimgate/scimgate/internal/store"
)

// ChangesHook is the type of Options.OnChanges.
type ChangesHook = func(ctx context.Context, tx store.Tx, changes []store.Change) error

// ChainChanges returns an Options.OnChanges that calls every non-nil
// hook in order in the planner's transaction, and stops at the first
// error (which fails the batch: it is planned again, and every hook sees
// it again, since nothing of the failed transaction is committed). The
// lifecycle workflows and the alerts both observe the journal. Without
// any hook it returns nil: the planner then calls nothing.
func ChainChanges(hooks ...ChangesHook) ChangesHook {
	var hs []ChangesHook
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return nil
	}
	return func(ctx context.Context, tx store.Tx, changes []store.Change) error {
		for _, h := range hs {
			if err := h(ctx, tx, changes); err != nil {
				return err
			}
		}
		return nil
	}
}
