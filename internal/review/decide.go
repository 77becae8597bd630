package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// Decision is a reviewer's decision on one item.
type Decision struct {
	Item          int    // the item's Index
	Decision      string // Approve, Deny, DontKnow, or NotReviewed (undo)
	Justification string
}

// Decide records a reviewer's decisions on items of an instance in
// progress, all or none: ErrNotReviewer when an item is not the
// reviewer's, ErrBadDecision for a decision that is none or lacks a
// required justification, ErrNotInProgress after the end, ErrNotFound
// for an unknown instance or item. A decision may change until the end.
func (s *Service) Decide(ctx context.Context, reviewer string, instance int64, ds []Decision) error {
	if len(ds) == 0 {
		return nil
	}
	return s.decide(ctx, reviewer, instance, func(d Config, _ int, it Item) (Item, bool, error) {
		i := slices.IndexFunc(ds, func(x Decision) bool { return x.Item == it.Index })
		if i < 0 {
			return it, false, nil
		}
		return decided(d, it, ds[i].Decision, strings.TrimSpace(ds[i].Justification))
	}, func(items []Item) error {
		for _, x := range ds {
			if !slices.ContainsFunc(items, func(it Item) bool { return it.Index == x.Item }) {
				return fmt.Errorf("%w: item %d of instance %d", ErrNotFound, x.Item, instance)
			}
		}
		return nil
	})
}

// AcceptRecommendations decides every pending item of the reviewer in an
// instance as recommended, and returns how many. The justification, when
// empty, says the recommendation was accepted and why it was made.
func (s *Service) AcceptRecommendations(ctx context.Context, reviewer string, instance int64, justification string) (int, error) {
	n := 0
	err := s.decide(ctx, reviewer, instance, func(d Config, stage int, it Item) (Item, bool, error) {
		if it.Decision != NotReviewed || !slices.Contains(it.Reviewers, reviewer) || itemStage(it) != stage {
			return it, false, nil
		}
		j := strings.TrimSpace(justification)
		if j == "" {
			j = "accepted the recommendation: " + it.Reason
		}
		it, ok, err := decided(d, it, it.Recommendation, j)
		if ok {
			n++
		}
		return it, ok, err
	}, nil)
	return n, err
}

// decided returns it with decision made, checking it.
func decided(d Config, it Item, decision, justification string) (Item, bool, error) {
	switch decision {
	case Approve, Deny:
		if d.Settings.JustificationRequired && justification == "" {
			return it, false, fmt.Errorf("%w: item %d: this review requires a justification to %s", ErrBadDecision, it.Index, strings.ToLower(decision))
		}
	case DontKnow, NotReviewed:
	default:
		return it, false, fmt.Errorf("%w: item %d: %q (want %s, %s, %s or %s)", ErrBadDecision, it.Index, decision, Approve, Deny, DontKnow, NotReviewed)
	}
	it.Decision, it.Justification = decision, justification
	return it, true, nil
}

// decide applies change to the items of instance that the reviewer may
// decide (those of the stage in progress whose reviewers include them),
// in one transaction: each item change (given the stage in progress)
// reports changed, with the item as it is to be saved (ReviewedBy and
// ReviewedAt are set here); check, when set, sees the instance's items
// first.
func (s *Service) decide(ctx context.Context, reviewer string, instance int64, change func(Config, int, Item) (Item, bool, error),
	check func([]Item) error) error {
	now := s.opts.Now()
	return s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		in, d, err := s.inProgress(ctx, tx, instance, now)
		if err != nil {
			return err
		}
		items, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(items); err != nil {
				return err
			}
		}
		for _, it := range items {
			next, changed, err := change(d, stageOf(in), it)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if err := mayDecide(in, it, reviewer, "decide"); err != nil {
				return err
			}
			next.ReviewedBy, next.ReviewedAt = reviewer, now
			if next.Decision == NotReviewed {
				next.ReviewedBy, next.ReviewedAt, next.Justification = "", time.Time{}, ""
			}
			if err := tx.UpdateReviewItem(ctx, next); err != nil {
				return err
			}
			detail := fmt.Sprintf("%s, instance %d, item %d (%s): %s by %s", in.Definition, in.ID, it.Index, describeItem(it), next.Decision, reviewer)
			if next.Justification != "" {
				detail += ": " + next.Justification
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: "reviewer: " + reviewer, Action: "review decide", Type: "User", ID: it.User,
				Target: itemTarget(it), Result: store.AuditOK, Detail: detail}); err != nil {
				return err
			}
		}
		return nil
	})
}

// mayDecide checks that reviewer ("" an administrator) may decide or
// reassign (what) item it of instance in: it is in the stage in progress
// (a first stage's decision is final once the item stays or moves on),
// and the reviewer is one of its reviewers.
func mayDecide(in store.ReviewInstance, it Item, reviewer, what string) error {
	if itemStage(it) != stageOf(in) {
		return fmt.Errorf("%w: item %d of instance %d was decided in stage %d, which has ended: its decision is final", ErrNotReviewer,
			it.Index, in.ID, itemStage(it))
	}
	if reviewer != "" && !slices.Contains(it.Reviewers, reviewer) {
		return fmt.Errorf("%w: item %d of instance %d is not %s's to %s", ErrNotReviewer, it.Index, in.ID, reviewer, what)
	}
	return nil
}

// inProgress returns instance and its definition, or ErrNotInProgress
// when it ended (or its end has passed), or when the end of its first
// stage has passed and its items have not moved to the second yet.
func (s *Service) inProgress(ctx context.Context, tx store.Tx, instance int64, now time.Time) (store.ReviewInstance, Config, error) {
	in, err := tx.ReviewInstance(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return in, Config{}, fmt.Errorf("%w: instance %d", ErrNotFound, instance)
	}
	if err != nil {
		return in, Config{}, err
	}
	if in.Status != store.ReviewInProgress || !now.Before(in.End) {
		return in, Config{}, fmt.Errorf("%w: instance %d of %s ended on %s", ErrNotInProgress, instance, in.Definition, in.End.UTC().Format(time.RFC3339))
	}
	d, err := definitionOf(in)
	if err == nil && stage1Due(in, d, now) {
		_, end := stageWindow(in, d)
		return in, Config{}, fmt.Errorf("%w: stage 1 of instance %d of %s ended on %s; its second stage starts now", ErrNotInProgress,
			instance, in.Definition, end.UTC().Format(time.RFC3339))
	}
	return in, d, err
}

// describeItem names an item's user and resource.
func describeItem(it Item) string {
	who := it.UserName
	if who == "" {
		who = it.User
	}
	if it.ResourceType == store.ReviewGroup {
		return fmt.Sprintf("%s in group %s", who, nameOr(it.ResourceName, it.Resource))
	}
	return fmt.Sprintf("%s in target %s", who, it.Resource)
}

// itemTarget is the target of an item's audit entries ("" for a group).
func itemTarget(it Item) string {
	if it.ResourceType == store.ReviewTarget {
		return it.Resource
	}
	return ""
}

func nameOr(name, alt string) string {
	if name != "" {
		return name
	}
	return alt
}

// Reassign makes to (a userName, email address or user id) the reviewer
// of the reviewer's items of an instance in progress, in place of every
// reviewer they had; their decisions stay. ErrNotReviewer when one is not
// the reviewer's, ErrUnknownReviewer when to is nobody.
func (s *Service) Reassign(ctx context.Context, reviewer string, instance int64, items []int, to string) error {
	return s.reassign(ctx, "reviewer: "+reviewer, reviewer, instance, items, to)
}

// AdminReassign makes to the reviewer of items of an instance in
// progress, whoever reviewed them (an administrator's reassignment,
// audited with the actor of ctx); as Reassign otherwise.
func (s *Service) AdminReassign(ctx context.Context, instance int64, items []int, to string) error {
	return s.reassign(ctx, store.ActorOf(ctx), "", instance, items, to)
}

// reassign reassigns items for actor; reviewer, when not "", must be a
// reviewer of each.
func (s *Service) reassign(ctx context.Context, actor, reviewer string, instance int64, items []int, to string) error {
	key, err := resolveReviewer(ctx, s.opts.Store, to)
	if err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: %q is no user's userName, email or id, nor an email address", ErrUnknownReviewer, to)
	}
	now := s.opts.Now()
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		in, _, err := s.inProgress(ctx, tx, instance, now)
		if err != nil {
			return err
		}
		for _, idx := range items {
			its, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance, Index: idx})
			if err != nil {
				return err
			}
			if len(its) == 0 {
				return fmt.Errorf("%w: item %d of instance %d", ErrNotFound, idx, instance)
			}
			it := its[0]
			if err := mayDecide(in, it, reviewer, "reassign"); err != nil {
				return err
			}
			from := strings.Join(it.Reviewers, ", ")
			it.Reviewers = []string{key}
			if err := tx.UpdateReviewItem(ctx, it); err != nil {
				return err
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: actor, Action: "review reassign", Type: "User", ID: it.User,
				Target: itemTarget(it), Result: store.AuditOK, Detail: fmt.Sprintf("%s, instance %d, item %d (%s): reassigned from %s to %s",
					in.Definition, in.ID, idx, describeItem(it), from, key)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.Wake() // the new reviewer's notice
	}
	return err
}

// Stop ends an instance in progress now (an administrator's stop): the
// default decision applies, and the results with autoApply.
func (s *Service) Stop(ctx context.Context, instance int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.end(ctx, instance, store.ActorOf(ctx), s.opts.Now()); err != nil {
		return err
	}
	in, err := s.opts.Store.ReviewInstance(ctx, instance)
	if err != nil {
		return err
	}
	d, err := definitionOf(in)
	if err != nil || !d.Settings.AutoApply {
		return err
	}
	_, err = s.apply(ctx, instance, "scimgate (autoApply)")
	return err
}

// defaultReviewer is the ReviewedBy of the default decisions.
const defaultReviewer = "default decision"

// end ends an instance in progress at at, by by: the default decision
// applies to the items not reviewed.
func (s *Service) end(ctx context.Context, instance int64, by string, at time.Time) error {
	return s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		in, err := tx.ReviewInstance(ctx, instance)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: instance %d", ErrNotFound, instance)
		}
		if err != nil {
			return err
		}
		if in.Status != store.ReviewInProgress {
			return fmt.Errorf("%w: instance %d of %s ended on %s", ErrNotInProgress, instance, in.Definition, in.Ended.UTC().Format(time.RFC3339))
		}
		d, err := definitionOf(in)
		if err != nil {
			return err
		}
		items, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance, Pending: true})
		if err != nil {
			return err
		}
		n := 0
		for _, it := range items {
			decision := ""
			switch d.Settings.DefaultDecision {
			case DefaultApprove:
				decision = Approve
			case DefaultDeny:
				decision = Deny
			case DefaultRecommendation:
				decision = it.Recommendation
			}
			if decision == "" {
				continue // noChange
			}
			it.Decision, it.ReviewedBy, it.ReviewedAt = decision, defaultReviewer, at
			it.Justification = fmt.Sprintf("reviewers did not respond; default decision %s", d.Settings.DefaultDecision)
			if err := tx.UpdateReviewItem(ctx, it); err != nil {
				return err
			}
			n++
		}
		if at.Before(in.End) {
			in.End = at
		}
		in.Status, in.Ended, in.EndedBy = store.ReviewCompleted, at, by
		if err := tx.UpdateReviewInstance(ctx, in); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: auditActor(by), Action: "review end", Type: "Review", ID: in.Definition,
			Target: d.Resource.Target, Result: store.AuditOK, Detail: fmt.Sprintf("instance %d ended (%s); %d item(s) not reviewed, %d decided by the default decision (%s)",
				in.ID, endedHow(by), len(items), n, nameOr(d.Settings.DefaultDecision, DefaultNoChange))})
	})
}

// auditActor is who an audit entry names for by (a scheduled end, or an
// administrator).
func auditActor(by string) string {
	if by == "schedule" {
		return actor
	}
	return by
}

func endedHow(by string) string {
	if by == "schedule" {
		return "at its scheduled end"
	}
	return "stopped by " + by
}
