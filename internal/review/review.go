// Package review runs access reviews: recurring reviews of who keeps
// access to a target or to a group's membership, decided by reviewers,
// with the results applied through the engine (Entra's access reviews,
// whose names it follows: an accessReviewScheduleDefinition is a
// Config, an accessReviewInstance an Instance, an
// accessReviewInstanceDecisionItem an Item).
//
// # Instances
//
// The Service creates each instance of a definition at its start (RunDue,
// or the loop of Start): the instances table is the durable schedule, one
// instance per (definition, start), so a restart neither repeats nor
// loses one; an instance whose whole window passed while the gateway was
// down is skipped. The instance keeps the definition as it was (a
// changed or removed definition does not change a running instance) and
// a snapshot of its scope: one item per user and resource (the users
// provisioned to the target, or the group's direct members who are
// users), each with its reviewers and a recommendation with its reason:
//
//   - Deny when the user is no longer in the target's scope (the engine's
//     record: present there, out of scope);
//   - Deny when the user is known to be inactive for the threshold
//     (inactiveDays, else 30 days): no sign-in since, by the latest of
//     the guest lifecycle's record (Entra's or a target's last login) and
//     Entra's signInActivity when the entra section reads it; a user
//     whose sign-ins Entra reports and who never signed in is inactive
//     since created;
//   - Approve otherwise (also when no sign-in is known).
//
// With inactiveDays only the users known to be inactive are reviewed;
// with scope guestsOnly only guests (the guest lifecycle's rules, or
// userType Guest). Users whose access a review already removed (a
// review hold on it) are not reviewed again.
//
// Reviewers are the user's manager (enterprise extension), named
// reviewers, the user itself, or the owners in Entra of the group
// reviewed (groupOwners, read at the start); the fallback reviewers when
// none resolves (no manager, no owners). A reviewer is a SCIM user's id, or the email
// address of a named reviewer who is no SCIM user.
//
// # Decisions and the end
//
// A reviewer decides their own items (Approve, Deny, DontKnow, or back
// to NotReviewed), with a justification when the definition requires
// one, until the instance ends; they may reassign an item. At the end
// (its scheduled end, or Stop) the default decision applies to the items
// not reviewed; with autoApply (or an administrator's Apply) the results
// are applied:
//
//   - a denied account in a target: a sticky engine hold (source
//     "review") on the user in that target: HoldDelete where the
//     target's lifecycle deletes what leaves its scope (outOfScope:
//     delete), else HoldDisable. The planner then does what the
//     lifecycle says: a disable hold disables the account where the
//     target can disable, and otherwise takes the user out of the scope,
//     where outOfScope (delete or none) applies, exactly as for a user
//     that leaves the scope;
//   - a denied membership: a HoldRemove hold on the group in every target
//     that holds it;
//   - a denied guest, with deniedGuests blockThenDelete: the guest
//     lifecycle's Deny (blocked at once everywhere, deleted after its
//     grace period);
//   - an approved guest: the guest lifecycle's Approve (expiry counted
//     from the last approval).
//
// Each item records the result (Applied, NotFound, Failed with the
// error); an Apply again retries those not applied. An administrator may
// decide on the reviewers' behalf until the results are applied
// (AdminDecide), and undo one applied denial (Revert: Reverted). Every start,
// decision, reassignment, end and result is audited.
//
// # Stages
//
// A definition with a secondStage runs each instance in two stages
// (Entra's multi-stage reviews): the first for recurrence.durationDays,
// the second for secondStage.durationDays. When the first ends (RunDue,
// in one transaction, once: the instance records its stage), the items
// whose first decision is in decisionsToNextStage (default approve and
// notReviewed) move to the second stage: the first decision, its
// reviewer, time and justification are kept on the item (Stage1*), the
// reviewers become the second stage's (resolved then, as at the start,
// the fallback reviewers when none resolves) and the decision is back to
// NotReviewed. The other items keep their first decision, final: only an
// item's current reviewers decide it, in its stage. Decisions on the
// first stage's items are refused from its end. Notices and reminders
// are per stage; the default decision and the results come at the end.
// A stop during the first stage ends the instance.
//
// # Notices
//
// At the start every reviewer gets a notice (template review_started),
// and reminders (review_reminder) go halfway and on the last day to the
// reviewers with pending items; the definition's channels get them too.
// Each is recorded once sent (or refused for good), so it goes out once;
// a reviewer an item is reassigned to gets the start notice.
package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// HoldSource is the source of the reviews' engine holds.
const HoldSource = "review"

// Errors of the Service's calls, checked with errors.Is.
var (
	// ErrNotFound: no such definition, instance or item.
	ErrNotFound = errors.New("review: not found")
	// ErrNotReviewer: the item is not the reviewer's to decide.
	ErrNotReviewer = errors.New("review: not a reviewer of the item")
	// ErrNotInProgress: the instance has ended: its decisions are final.
	ErrNotInProgress = errors.New("review: the instance is not in progress")
	// ErrNotEnded: the results of an instance in progress cannot be
	// applied.
	ErrNotEnded = errors.New("review: the instance has not ended")
	// ErrBadDecision: not a decision, or a justification is missing.
	ErrBadDecision = errors.New("review: invalid decision")
	// ErrUnknownReviewer: the reviewer named is no user nor email
	// address.
	ErrUnknownReviewer = errors.New("review: unknown reviewer")
	// ErrExists: a review of that name exists already.
	ErrExists = errors.New("review: a review of that name exists")
	// ErrReadOnly: the review is defined in the configuration; change it
	// there.
	ErrReadOnly = errors.New("review: defined in the configuration")
	// ErrApplied: the instance's results are applied: its decisions are
	// final.
	ErrApplied = errors.New("review: the results are applied")
	// ErrNotApplied: the item is no applied denial: nothing to revert.
	ErrNotApplied = errors.New("review: not an applied denial")
	// ErrInvalid: a definition submitted through the admin API is not
	// valid (its errors name the fields).
	ErrInvalid = errors.New("review: invalid definition")
)

// Engine sets the holds of denials (an *engine.Engine).
type Engine interface {
	Hold(ctx context.Context, h store.Hold, sticky bool) (bool, error)
	// ReleaseHolds drops holds (a reverted denial's).
	ReleaseHolds(ctx context.Context, q store.HoldQuery) (int, error)
}

// Guests is the guest lifecycle (a *guest.Lifecycle): approvals renew a
// guest's access, denials block then delete.
type Guests interface {
	Approve(ctx context.Context, id string, at time.Time) error
	Deny(ctx context.Context, id string, at time.Time) error
}

// Owners reads an Entra group's owners (an *entra.Client): the
// reviewers of type groupOwners.
type Owners interface {
	GroupOwners(ctx context.Context, groupID string) ([]entra.Object, error)
}

// Entra reads users' signInActivity (an *entra.Client with the
// sign_in_activity feature).
type Entra interface {
	LookupUser(ctx context.Context, key string) (*entra.User, error)
}

// Store is the part of the store the review service uses.
type Store interface {
	store.Resources
	store.Writer
	store.ProvisionedState
	store.Holds
	store.Guests
	store.Reviews
}

// Options configure a Service.
type Options struct {
	Store Store
	// Definitions are the reviews, validated (Config.Validate and the
	// configuration's checks).
	Definitions []Config
	// Check checks a definition submitted through the admin API against
	// the rest of the configuration (the targets, the sections it needs),
	// as Definitions were; nil: Config.Validate only.
	Check func(Config) error
	// Policy is the targets' policy: their lifecycles say what a denial
	// does. Engine sets the holds; both are needed to apply denials.
	Policy *policy.Policy
	Engine Engine
	// Guests, when set, is the guest lifecycle of blockThenDelete and of
	// the approvals of guests.
	Guests Guests
	// IsGuest says whether a user (with the groups it is a direct member
	// of) is a guest; nil: its userType is Guest.
	IsGuest func(user map[string]any, groups []policy.GroupRef) bool
	// Entra, when set, gives the users' signInActivity.
	Entra Entra
	// Owners, when set (the entra section), reads the groups' owners of
	// the reviews of type groupOwners.
	Owners Owners
	// Sender and Templates send the notices (templates review_started,
	// review_reminder); without a Sender the notices are recorded as not
	// sent.
	Sender    notify.Sender
	Templates *notify.Templates
	// URL, when set, is the link to a reviewer's page in the notices.
	URL    func(reviewer string) string
	Logger *slog.Logger
	// Now is the clock (default time.Now); Poll how often the loop of
	// Start runs RunDue (default a minute).
	Now  func() time.Time
	Poll time.Duration
}

// Service runs the access reviews. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
	// defsMu guards defs, the configured reviews then those defined
	// through the admin API (api: by targets.NameKey).
	defsMu sync.RWMutex
	defs   []Config
	api    map[string]bool
	// mu serialises RunDue, Stop and Apply (what ends and applies
	// instances); decisions are serialised by the store's transactions.
	mu     sync.Mutex
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns the Service of opts, not running yet.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("review: a store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Templates == nil {
		opts.Templates = notify.DefaultTemplates()
	}
	if opts.IsGuest == nil {
		opts.IsGuest = func(u map[string]any, _ []policy.GroupRef) bool {
			t, _ := u["userType"].(string)
			return strings.EqualFold(t, "Guest")
		}
	}
	s := &Service{opts: opts, log: opts.Logger, defs: slices.Clone(opts.Definitions), api: map[string]bool{}, wake: make(chan struct{}, 1)}
	var errs []error
	seen := map[string]bool{}
	for i, d := range opts.Definitions {
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("reviews[%d]: %w", i, err))
		}
		k := targets.NameKey(d.Name)
		if seen[k] {
			errs = append(errs, fmt.Errorf("reviews[%d]: name %q is taken", i, d.Name))
		}
		seen[k] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Wake makes the loop of Start run now; it never blocks.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs RunDue every Poll and on Wake until ctx ends or Close.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() {
		tick := time.NewTicker(s.opts.Poll)
		defer tick.Stop()
		for {
			if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("access reviews: running due work", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-s.wake:
			}
		}
	})
}

// Close stops the loop of Start and waits for it.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// RunDue does what is due now: it starts the instances whose start came
// (taking their snapshots), sends the due notices, ends the instances
// whose end came and applies the results of those that apply them
// automatically. It returns how many instances it started or ended;
// the errors of one definition or instance do not stop the others.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	n := 0
	var errs []error
	for _, d := range s.definitions() {
		started, err := s.startDue(ctx, d, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("review %s: %w", d.Name, err))
		}
		if started {
			n++
		}
	}
	active, err := s.opts.Store.ReviewInstances(ctx, store.ReviewInstanceQuery{Status: []string{store.ReviewInProgress}})
	if err != nil {
		return n, errors.Join(append(errs, err)...)
	}
	for _, in := range active {
		// The end of a first stage: its items move to the second (also
		// when the whole instance ended while the gateway was down: the
		// second stage's default decision then applies to them).
		if d, err := definitionOf(in); err != nil {
			errs = append(errs, err)
			continue
		} else if stage1Due(in, d, now) {
			if _, err := s.nextStage(ctx, in.ID, now); err != nil {
				errs = append(errs, fmt.Errorf("review %s instance %d: second stage: %w", in.Definition, in.ID, err))
				continue
			}
			in.Stage = 2
		}
		if !now.Before(in.End) {
			if err := s.end(ctx, in.ID, "schedule", in.End); err != nil {
				errs = append(errs, fmt.Errorf("review %s instance %d: %w", in.Definition, in.ID, err))
			} else {
				n++
			}
			continue
		}
		if err := s.notices(ctx, in, now); err != nil {
			errs = append(errs, fmt.Errorf("review %s instance %d: notices: %w", in.Definition, in.ID, err))
		}
	}
	// The results of the instances that apply them at their end: also
	// those a crash interrupted before or while applying.
	done, err := s.opts.Store.ReviewInstances(ctx, store.ReviewInstanceQuery{Status: []string{store.ReviewCompleted}})
	if err != nil {
		return n, errors.Join(append(errs, err)...)
	}
	for _, in := range done {
		def, err := definitionOf(in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if def.Settings.AutoApply {
			if _, err := s.apply(ctx, in.ID, "scimgate (autoApply)"); err != nil {
				errs = append(errs, fmt.Errorf("review %s instance %d: applying: %w", in.Definition, in.ID, err))
			}
		}
	}
	return n, errors.Join(errs...)
}

// startDue creates the instance of d whose start came, unless it exists or
// its window passed.
func (s *Service) startDue(ctx context.Context, d Config, now time.Time) (bool, error) {
	k, start, ok := d.Current(now)
	if !ok || !now.Before(start.Add(d.Duration())) {
		return false, nil
	}
	have, err := s.opts.Store.ReviewInstances(ctx, store.ReviewInstanceQuery{Definition: d.Name, Start: start, Limit: 1})
	if err != nil || len(have) > 0 {
		return false, err
	}
	items, note, err := s.snapshot(ctx, d, now)
	if err != nil {
		return false, err
	}
	if note != "" {
		note = "; " + note
	}
	b, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	in := store.ReviewInstance{Definition: d.Name, Occurrence: k + 1, Status: store.ReviewInProgress, Start: start,
		End: start.Add(d.Duration()), Data: b}
	created := false
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if created, err = tx.CreateReviewInstance(ctx, &in, items); err != nil || !created {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: actor, Action: "review start", Type: "Review", ID: d.Name, Target: d.Resource.Target,
			Result: store.AuditOK, Detail: fmt.Sprintf("instance %d (occurrence %d) of %s, until %s: %d item(s) of %s",
				in.ID, in.Occurrence, d.Name, in.End.UTC().Format(time.RFC3339), len(items), describeResource(d)) + note})
	})
	if created {
		s.log.Info("access review started", "review", d.Name, "instance", in.ID, "items", len(items), "end", in.End)
	}
	return created, err
}

// actor is who the audit entries of the scheduled work name.
const actor = "access reviews"

// describeResource is a definition's resource in words.
func describeResource(d Config) string {
	if d.Resource.Target != "" {
		return "the users of target " + d.Resource.Target
	}
	return "the members of group " + d.Resource.Group
}

// definitionOf returns the definition an instance keeps.
func definitionOf(in store.ReviewInstance) (Config, error) {
	var d Config
	if err := json.Unmarshal(in.Data, &d); err != nil {
		return Config{}, fmt.Errorf("review: instance %d: %w", in.ID, err)
	}
	return d, nil
}
