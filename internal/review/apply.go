package review

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
)

// Apply applies the results of an ended instance (an administrator's
// apply): the items approved or denied that are not applied yet, or whose
// apply failed. It returns how many it applied (NotFound included) and
// ErrNotEnded for an instance in progress.
func (s *Service) Apply(ctx context.Context, instance int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(ctx, instance, store.ActorOf(ctx))
}

// apply applies the results of instance, by by.
func (s *Service) apply(ctx context.Context, instance int64, by string) (int, error) {
	in, err := s.opts.Store.ReviewInstance(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: instance %d", ErrNotFound, instance)
	}
	if err != nil {
		return 0, err
	}
	if in.Status == store.ReviewInProgress {
		return 0, fmt.Errorf("%w: instance %d of %s ends on %s", ErrNotEnded, instance, in.Definition, in.End.UTC().Format(time.RFC3339))
	}
	d, err := definitionOf(in)
	if err != nil {
		return 0, err
	}
	items, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
	if err != nil {
		return 0, err
	}
	n, failed := 0, 0
	for _, it := range items {
		if it.Decision != Approve && it.Decision != Deny || it.ApplyResult == Applied || it.ApplyResult == NotFound || it.ApplyResult == Reverted {
			continue
		}
		now := s.opts.Now()
		detail, err := s.applyItem(store.WithActor(ctx, "access review "+in.Definition), in, d, it, now)
		it.ApplyResult, it.ApplyDetail, it.AppliedAt = Applied, detail, now
		result := store.AuditOK
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound):
			it.ApplyResult, it.ApplyDetail = NotFound, err.Error()
		case err != nil:
			it.ApplyResult, it.ApplyDetail, result = Failed, err.Error(), store.AuditFailed
			failed++
		}
		if err := s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.UpdateReviewItem(ctx, it); err != nil {
				return err
			}
			return tx.Audit(ctx, store.AuditEntry{Actor: auditActor(by), Action: "review apply", Type: "User", ID: it.User, Target: itemTarget(it),
				Result: result, Detail: fmt.Sprintf("%s, instance %d, item %d (%s): %s: %s: %s", in.Definition, in.ID, it.Index, describeItem(it),
					it.Decision, it.ApplyResult, it.ApplyDetail)})
		}); err != nil {
			return n, err
		}
		if it.ApplyResult != Failed {
			n++
		}
	}
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.ReviewInstance(ctx, instance)
		if err != nil {
			return err
		}
		cur.Status, cur.Applied, cur.AppliedBy = store.ReviewApplied, s.opts.Now(), by
		if err := tx.UpdateReviewInstance(ctx, cur); err != nil {
			return err
		}
		result := store.AuditOK
		if failed > 0 {
			result = store.AuditFailed
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: auditActor(by), Action: "review apply", Type: "Review", ID: in.Definition,
			Target: d.Resource.Target, Result: result, Detail: fmt.Sprintf("instance %d: %d result(s) applied, %d failed", in.ID, n, failed)})
	})
	if failed > 0 && err == nil {
		s.log.Warn("access review: results not applied; apply again to retry", "review", in.Definition, "instance", in.ID, "failed", failed)
	}
	return n, err
}

// applyItem applies one decision and says what it did.
func (s *Service) applyItem(ctx context.Context, in store.ReviewInstance, d Config, it Item, now time.Time) (string, error) {
	if it.Decision == Approve {
		if it.Guest && s.opts.Guests != nil {
			if err := s.opts.Guests.Approve(ctx, it.User, in.Ended); err != nil {
				return "", err
			}
			return "access kept; the guest's approval renewed as of " + in.Ended.UTC().Format(time.RFC3339), nil
		}
		return "access kept", nil
	}
	reason := fmt.Sprintf("denied in access review %s (instance %d) by %s", in.Definition, in.ID, it.ReviewedBy)
	if it.Justification != "" {
		reason += ": " + it.Justification
	}
	if it.Guest && d.Settings.DeniedGuests == DeniedGuestsBlockThenDelete {
		if s.opts.Guests == nil {
			return "", errors.New("blockThenDelete needs the guest lifecycle (the guests section)")
		}
		if err := s.opts.Guests.Deny(ctx, it.User, now); err != nil {
			return "", err
		}
		return "guest blocked in every target, deleted after the guest lifecycle's grace period", nil
	}
	if s.opts.Engine == nil || s.opts.Policy == nil {
		return "", errors.New("no targets: nothing applies a denial")
	}
	if it.ResourceType == store.ReviewTarget {
		t, ok := s.opts.Policy.Target(it.Resource)
		if !ok {
			return "", fmt.Errorf("%w: target %s is no longer configured", ErrNotFound, it.Resource)
		}
		h := store.Hold{User: it.User, Source: HoldSource, Target: it.Resource, Action: store.HoldDisable, Reason: reason}
		lc := t.Lifecycle()
		what := "account disabled in " + it.Resource
		if !lc.DisableSupported {
			what = fmt.Sprintf("user out of the scope of %s (its lifecycle's outOfScope %s applies)", it.Resource, lc.OutOfScope)
		}
		if lc.OutOfScope == policy.ActionDelete {
			h.Action, what = store.HoldDelete, "account deleted in "+it.Resource
		}
		if _, err := s.opts.Engine.Hold(ctx, h, true); err != nil {
			return "", err
		}
		return what, nil
	}
	var removed []string
	for _, t := range s.opts.Policy.Targets() {
		if !t.ReceivesGroups() {
			continue
		}
		pr, err := s.opts.Store.Provisioned(ctx, t.Name(), "Group", it.Resource)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if rs, err := engine.RecordState(pr); err != nil {
			return "", err
		} else if !rs.Present || rs.Deleted {
			continue
		}
		_, err = s.opts.Engine.Hold(ctx, store.Hold{User: it.User, Source: HoldSource, Target: t.Name(), Group: it.Resource,
			Action: store.HoldRemove, Reason: reason}, true)
		if errors.Is(err, engine.ErrNotProvisioned) {
			continue
		}
		if err != nil {
			return "", err
		}
		removed = append(removed, t.Name())
	}
	if len(removed) == 0 {
		return "", fmt.Errorf("%w: group %s is provisioned in no target", ErrNotFound, nameOr(it.ResourceName, it.Resource))
	}
	return fmt.Sprintf("removed from group %s in %v", nameOr(it.ResourceName, it.Resource), removed), nil
}
