package review

// An administrator's decisions on the reviewers' behalf (Entra's
// batchRecordDecisions by an admin) and the revert of an applied denial.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// AdminDecide records decisions on items of an instance for an
// administrator (the actor of ctx), whoever the items' reviewers are,
// all or none. As in Entra, an administrator may decide (and change a
// decision) until the results are applied: while the instance is in
// progress and after its end until Apply (ErrApplied then). The
// decisions are checked as a reviewer's (ErrBadDecision: a justification
// the review requires); ReviewedBy is the administrator; each is audited.
func (s *Service) AdminDecide(ctx context.Context, instance int64, ds []Decision) error {
	if len(ds) == 0 {
		return fmt.Errorf("%w: no items", ErrBadDecision)
	}
	by := store.ActorOf(ctx)
	now := s.opts.Now()
	return s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		in, err := tx.ReviewInstance(ctx, instance)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: instance %d", ErrNotFound, instance)
		}
		if err != nil {
			return err
		}
		if in.Status == store.ReviewApplied {
			return fmt.Errorf("%w: instance %d of %s: its results were applied on %s (by %s); its decisions are final",
				ErrApplied, instance, in.Definition, in.Applied.UTC().Format(time.RFC3339), in.AppliedBy)
		}
		d, err := definitionOf(in)
		if err != nil {
			return err
		}
		items, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
		if err != nil {
			return err
		}
		for _, x := range ds {
			i := slices.IndexFunc(items, func(it Item) bool { return it.Index == x.Item })
			if i < 0 {
				return fmt.Errorf("%w: item %d of instance %d", ErrNotFound, x.Item, instance)
			}
			next, _, err := decided(d, items[i], x.Decision, strings.TrimSpace(x.Justification))
			if err != nil {
				return err
			}
			next.ReviewedBy, next.ReviewedAt = by, now
			if next.Decision == NotReviewed {
				next.ReviewedBy, next.ReviewedAt, next.Justification = "", time.Time{}, ""
			}
			if err := tx.UpdateReviewItem(ctx, next); err != nil {
				return err
			}
			items[i] = next
			detail := fmt.Sprintf("%s, instance %d, item %d (%s): %s by %s on the reviewers' behalf", in.Definition, in.ID, next.Index,
				describeItem(next), next.Decision, by)
			if next.Justification != "" {
				detail += ": " + next.Justification
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: by, Action: "review decide", Type: "User", ID: next.User,
				Target: itemTarget(next), Result: store.AuditOK, Detail: detail}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Revert undoes the effect of one item's applied denial (an
// administrator's, the actor of ctx): the review's holds of that item
// are released, so the engine provisions the access again (the account
// in the target, or the membership of the group); a guest denied with
// deniedGuests blockThenDelete is approved again through the guest
// lifecycle, which unblocks it (a guest already deleted after its grace
// period stays deleted). The item keeps its decision; its ApplyResult
// becomes Reverted, which a later Apply leaves alone. ErrNotApplied when
// the item is not an applied denial. Audited.
func (s *Service) Revert(ctx context.Context, instance int64, index int) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.opts.Store.ReviewInstance(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return Item{}, fmt.Errorf("%w: instance %d", ErrNotFound, instance)
	}
	if err != nil {
		return Item{}, err
	}
	d, err := definitionOf(in)
	if err != nil {
		return Item{}, err
	}
	its, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance, Index: index})
	if err != nil {
		return Item{}, err
	}
	if len(its) == 0 {
		return Item{}, fmt.Errorf("%w: item %d of instance %d", ErrNotFound, index, instance)
	}
	it := its[0]
	if it.Decision != Deny || it.ApplyResult != Applied {
		return Item{}, fmt.Errorf("%w: item %d of instance %d is %s with apply result %q: only an applied denial can be reverted",
			ErrNotApplied, index, instance, it.Decision, it.ApplyResult)
	}
	by := store.ActorOf(ctx)
	now := s.opts.Now()
	var what string
	if it.Guest && d.Settings.DeniedGuests == DeniedGuestsBlockThenDelete {
		if s.opts.Guests == nil {
			return Item{}, errors.New("review: reverting a blockThenDelete denial needs the guest lifecycle (the guests section)")
		}
		if err := s.opts.Guests.Approve(ctx, it.User, now); err != nil {
			return Item{}, err
		}
		what = "the guest lifecycle's denial withdrawn (the guest approved again as of " + now.UTC().Format(time.RFC3339) + ")"
	} else {
		if s.opts.Engine == nil {
			return Item{}, errors.New("review: no targets: no hold to release")
		}
		q := store.HoldQuery{User: it.User, Source: HoldSource, Target: it.Resource, Account: true}
		if it.ResourceType == store.ReviewGroup {
			q = store.HoldQuery{User: it.User, Source: HoldSource, Group: it.Resource}
		}
		n, err := s.opts.Engine.ReleaseHolds(ctx, q)
		if err != nil {
			return Item{}, err
		}
		what = fmt.Sprintf("%d review hold(s) released: the access is provisioned again", n)
	}
	it.ApplyResult, it.ApplyDetail, it.AppliedAt = Reverted, "reverted by "+by+": "+what, now
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.UpdateReviewItem(ctx, it); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: by, Action: "review revert", Type: "User", ID: it.User, Target: itemTarget(it),
			Result: store.AuditOK, Detail: fmt.Sprintf("%s, instance %d, item %d (%s): denial reverted: %s", in.Definition, in.ID, it.Index,
				describeItem(it), what)})
	})
	return it, err
}
