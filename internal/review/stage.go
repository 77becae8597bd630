package review

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// stageOf is the stage an instance is in (1 for an instance saved
// without one).
func stageOf(in store.ReviewInstance) int { return max(in.Stage, 1) }

// itemStage is the stage an item is decided in.
func itemStage(it Item) int { return max(it.Stage, 1) }

// stageWindow returns the start and the end of the stage in is in: the
// whole instance without a second stage.
func stageWindow(in store.ReviewInstance, d Config) (start, end time.Time) {
	if d.SecondStage == nil {
		return in.Start, in.End
	}
	mid := in.Start.Add(d.stage1Duration())
	switch {
	case stageOf(in) >= 2:
		return mid, in.End
	case in.End.Before(mid): // stopped during the first stage
		return in.Start, in.End
	}
	return in.Start, mid
}

// stage1Due reports whether the first stage of an instance in progress
// has ended at now and its items have not moved to the second yet.
func stage1Due(in store.ReviewInstance, d Config, now time.Time) bool {
	_, end := stageWindow(in, d)
	return d.SecondStage != nil && stageOf(in) == 1 && in.Status == store.ReviewInProgress && !now.Before(end)
}

// nextStage ends the first stage of an instance at at: the items whose
// first decision moves them (decisionsToNextStage) move to the second
// stage, their first decision kept, their reviewers the second stage's,
// resolved now as at the start; the others keep their decision. It does
// so once: an instance already in its second stage is left alone. It
// reports whether it moved the instance.
func (s *Service) nextStage(ctx context.Context, instance int64, at time.Time) (bool, error) {
	in, err := s.opts.Store.ReviewInstance(ctx, instance)
	if err != nil {
		return false, err
	}
	d, err := definitionOf(in)
	if err != nil || !stage1Due(in, d, at) {
		return false, err
	}
	// The second stage's reviewers of every item's user, resolved before
	// the transaction (they read the users, not the decisions: the first
	// stage's decisions are final from its end).
	items, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
	if err != nil {
		return false, err
	}
	st := *d.SecondStage
	rv := &resolver{st: s.opts.Store, ids: map[string]string{}}
	if st.Reviewers.Type == ReviewersGroupOwners && len(items) > 0 {
		// The owners now, as the first stage's were at its start; an
		// Entra that fails leaves the move for the next run.
		var why string
		if rv.owners, why, err = s.ownersOf(ctx, items[0].Resource, rv); err != nil {
			return false, err
		}
		if why != "" {
			s.log.Info("access review: second stage: the group's owners are unknown; fallback reviewers decide",
				"instance", instance, "why", why)
		}
	}
	reviewers := map[string][]string{}
	for _, it := range items {
		if _, ok := reviewers[it.User]; ok {
			continue
		}
		var u map[string]any
		r, err := s.opts.Store.Get(ctx, "User", it.User)
		switch {
		case err == nil:
			if u, err = scim.DecodeResource(r); err != nil {
				return false, err
			}
		case !errors.Is(err, store.ErrNotFound):
			return false, err
		}
		if reviewers[it.User], err = s.reviewersOf(ctx, st.Reviewers, st.FallbackReviewers, it.User, u, rv); err != nil {
			return false, err
		}
	}
	done, moved, kept, none := false, 0, 0, 0
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		done, moved, kept, none = false, 0, 0, 0
		cur, err := tx.ReviewInstance(ctx, instance)
		if err != nil || !stage1Due(cur, d, at) {
			return err // moved already (or ended): once only
		}
		done = true
		items, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
		if err != nil {
			return err
		}
		for _, it := range items {
			if !st.toNextStage(it.Decision) {
				kept++
				continue
			}
			it.Stage1Decision, it.Stage1Justification, it.Stage1ReviewedBy, it.Stage1ReviewedAt = it.Decision, it.Justification, it.ReviewedBy, it.ReviewedAt
			it.Stage, it.Decision, it.Justification, it.ReviewedBy, it.ReviewedAt = 2, NotReviewed, "", "", time.Time{}
			it.Reviewers = reviewers[it.User]
			if len(it.Reviewers) == 0 {
				none++
			}
			if err := tx.UpdateReviewItem(ctx, it); err != nil {
				return err
			}
			moved++
		}
		cur.Stage = 2
		if err := tx.UpdateReviewInstance(ctx, cur); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: actor, Action: "review stage", Type: "Review", ID: in.Definition, Target: d.Resource.Target,
			Result: store.AuditOK, Detail: fmt.Sprintf("instance %d: stage 1 ended; stage 2 until %s: %d item(s) moved to the second stage's reviewers, %d kept their first decision",
				in.ID, cur.End.UTC().Format(time.RFC3339), moved, kept)})
	})
	if err != nil || !done {
		return false, err
	}
	if none > 0 {
		s.log.Warn("access review: items of the second stage have no reviewer; the default decision applies to them", "review", d.Name,
			"instance", in.ID, "items", none)
	}
	s.log.Info("access review: second stage started", "review", d.Name, "instance", in.ID, "moved", moved, "kept", kept, "end", in.End)
	return true, nil
}
