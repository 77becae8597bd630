package review

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// The kinds of notices.
const (
	NoticeStarted = "started"
	NoticeHalfway = "halfway"
	NoticeLastDay = "lastDay"
)

// reminderDue returns the reminder due at now for an instance ("" none)
// in the stage it is in: the last day's (a day before the stage's end)
// once it came, else halfway's; a reminder at or before the stage's
// start, or halfway's at or after the last day's, is none.
func reminderDue(in store.ReviewInstance, d Config, now time.Time) string {
	if !d.Settings.reminders() {
		return ""
	}
	start, end := stageWindow(in, d)
	lastDay := end.Add(-24 * time.Hour)
	halfway := start.Add(end.Sub(start) / 2)
	switch {
	case lastDay.After(start) && !now.Before(lastDay):
		return NoticeLastDay
	case halfway.After(start) && halfway.Before(lastDay) && !now.Before(halfway):
		return NoticeHalfway
	}
	return ""
}

// stageKind is the kind a notice of the stage in progress is recorded
// as: kind in the first stage, "stage2:"+kind in the second, so that each
// stage's notices go out once.
func stageKind(in store.ReviewInstance, kind string) string {
	if stageOf(in) == 1 {
		return kind
	}
	return fmt.Sprintf("stage%d:%s", stageOf(in), kind)
}

// notices sends the notices of an instance in progress that are due at
// now and not sent yet, for the stage in progress (its items, its start
// and its reminders): the start notice to every reviewer (also one an
// item was reassigned to), the due reminder to the reviewers with pending
// items, both to the definition's channels. A notice refused for good is
// recorded with its error and not tried again; a transient failure is
// tried at the next run.
func (s *Service) notices(ctx context.Context, in store.ReviewInstance, now time.Time) error {
	d, err := definitionOf(in)
	if err != nil {
		return err
	}
	items, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: in.ID})
	if err != nil {
		return err
	}
	recorded, err := s.opts.Store.ReviewNotices(ctx, in.ID)
	if err != nil {
		return err
	}
	sent := map[[2]string]bool{}
	for _, n := range recorded {
		sent[[2]string{n.Recipient, n.Kind}] = true
	}
	type counts struct{ items, pending int }
	by := map[string]*counts{}
	all := counts{}
	for _, it := range items {
		if itemStage(it) != stageOf(in) {
			continue // decided in the first stage
		}
		all.items++
		if it.Decision == NotReviewed {
			all.pending++
		}
		for _, r := range it.Reviewers {
			c := by[r]
			if c == nil {
				c = &counts{}
				by[r] = c
			}
			c.items++
			if it.Decision == NotReviewed {
				c.pending++
			}
		}
	}
	started, reminder := stageKind(in, NoticeStarted), reminderDue(in, d, now)
	if reminder != "" {
		reminder = stageKind(in, reminder)
	}
	var errs []error
	for _, r := range slices.Sorted(maps.Keys(by)) {
		c := by[r]
		kinds := []string{}
		if !sent[[2]string{r, started}] {
			kinds = append(kinds, started)
		}
		if reminder != "" && c.pending > 0 && !sent[[2]string{r, reminder}] {
			kinds = append(kinds, reminder)
		}
		for i, kind := range kinds {
			if i > 0 { // the start notice went out just now: no reminder besides
				errs = append(errs, s.record(ctx, store.ReviewNotice{Instance: in.ID, Recipient: r, Kind: kind, At: now,
					Error: "not sent: the start notice went out at the same time"}))
				continue
			}
			errs = append(errs, s.notify(ctx, in, d, r, kind, c.items, c.pending, now))
		}
	}
	for _, ch := range d.Settings.Channels {
		r := "channel:" + ch
		for _, kind := range []string{started, reminder} {
			if kind == "" || sent[[2]string{r, kind}] || kind != started && all.pending == 0 {
				continue
			}
			errs = append(errs, s.notify(ctx, in, d, r, kind, all.items, all.pending, now))
		}
	}
	return errors.Join(errs...)
}

// record records a notice.
func (s *Service) record(ctx context.Context, n store.ReviewNotice) error {
	return s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AddReviewNotice(ctx, n) })
}

// notify sends one notice of kind to recipient (a reviewer, or a
// channel) and records it, unless the failure may pass.
func (s *Service) notify(ctx context.Context, in store.ReviewInstance, d Config, recipient, kind string, items, pending int, now time.Time) error {
	err := s.send(ctx, in, d, recipient, kind, items, pending, now)
	n := store.ReviewNotice{Instance: in.ID, Recipient: recipient, Kind: kind, At: now}
	switch {
	case err == nil:
	case errors.Is(err, notify.ErrPermanent):
		n.Error = err.Error()
		s.log.Warn("access review: a notice cannot be sent", "review", in.Definition, "instance", in.ID, "recipient", recipient, "kind", kind, "err", err)
	default:
		s.log.Warn("access review: a notice failed; trying again later", "review", in.Definition, "instance", in.ID, "recipient", recipient, "kind", kind, "err", err)
		return nil
	}
	return s.record(ctx, n)
}

// send sends one notice.
func (s *Service) send(ctx context.Context, in store.ReviewInstance, d Config, recipient, kind string, items, pending int, now time.Time) error {
	if s.opts.Sender == nil {
		return fmt.Errorf("no notifications section: %w", notify.ErrPermanent)
	}
	tmpl := notify.TemplateReviewReminder
	kind = kind[strings.IndexByte(kind, ':')+1:] // the stage's kind (stageKind)
	if kind == NoticeStarted {
		tmpl = notify.TemplateReviewStarted
	}
	_, end := stageWindow(in, d) // the stage's reviewers decide by its end
	data := map[string]any{
		"reviewName": d.Name, "description": d.DescriptionForReviewers, "reviewerDisplayName": "",
		"items": items, "pending": pending, "endDate": end.UTC().Format("2006-01-02 15:04 UTC"),
		"daysLeft": int(end.Sub(now).Hours()+23) / 24, "lastDay": kind == NoticeLastDay, "url": "",
		"secondStage": stageOf(in) == 2,
	}
	if ch, ok := strings.CutPrefix(recipient, "channel:"); ok {
		m, err := s.opts.Templates.RenderMessage(tmpl, data)
		if err != nil {
			return fmt.Errorf("%v: %w", err, notify.ErrPermanent)
		}
		m.Facts = [][2]string{{"Review", d.Name}, {"Ends", data["endDate"].(string)}, {"Items", strconv.Itoa(items)},
			{"Pending", strconv.Itoa(pending)}}
		return s.opts.Sender.Notify(ctx, ch, m)
	}
	name, addr, err := s.reviewer(ctx, recipient)
	if err != nil {
		return err
	}
	if addr == "" {
		return fmt.Errorf("reviewer %s has no email address: %w", nameOr(name, recipient), notify.ErrPermanent)
	}
	data["reviewerDisplayName"] = name
	if s.opts.URL != nil {
		data["url"] = s.opts.URL(recipient)
	}
	e, err := s.opts.Templates.Render(tmpl, data)
	if err != nil {
		return fmt.Errorf("%v: %w", err, notify.ErrPermanent)
	}
	e.To = []string{addr}
	return s.opts.Sender.SendEmail(ctx, e)
}

// reviewer returns a reviewer's display name and email address: a SCIM
// user's, or the address a reviewer who is no user is.
func (s *Service) reviewer(ctx context.Context, key string) (name, addr string, err error) {
	r, err := s.opts.Store.Get(ctx, "User", key)
	if errors.Is(err, store.ErrNotFound) {
		if strings.Contains(key, "@") {
			return "", key, nil
		}
		return key, "", nil
	}
	if err != nil {
		return "", "", err
	}
	u, err := scim.DecodeResource(r)
	if err != nil {
		return "", "", err
	}
	name, _ = u["displayName"].(string)
	if name == "" {
		name, _ = u["userName"].(string)
	}
	return name, guest.Email(u), nil
}

// ReviewerName returns how a reviewer (Item.Reviewers) reads: a user's
// displayName or userName, or the email address of a reviewer who is no
// user.
func (s *Service) ReviewerName(ctx context.Context, key string) (string, error) {
	name, addr, err := s.reviewer(ctx, key)
	if name == "" {
		name = addr
	}
	return name, err
}

// NoticeManual is the kind prefix of the reminders an administrator sends
// (Remind), followed by the time they were sent.
const NoticeManual = "manual:"

// Remind sends a reminder now to every reviewer of an instance in
// progress who has pending items, as an administrator asks (the admin
// page, the admin API); it returns how many went out. A reminder that
// cannot go out is recorded with its error, as the scheduled ones are.
func (s *Service) Remind(ctx context.Context, instance int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	in, err := s.opts.Store.ReviewInstance(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: instance %d", ErrNotFound, instance)
	}
	if err != nil {
		return 0, err
	}
	if in.Status != store.ReviewInProgress {
		return 0, fmt.Errorf("%w: instance %d of %s has ended", ErrNotInProgress, instance, in.Definition)
	}
	d, err := definitionOf(in)
	if err != nil {
		return 0, err
	}
	items, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
	if err != nil {
		return 0, err
	}
	type counts struct{ items, pending int }
	by := map[string]*counts{}
	for _, it := range items {
		if itemStage(it) != stageOf(in) {
			continue // decided in the first stage
		}
		for _, r := range it.Reviewers {
			c := by[r]
			if c == nil {
				c = &counts{}
				by[r] = c
			}
			c.items++
			if it.Decision == NotReviewed {
				c.pending++
			}
		}
	}
	kind := NoticeManual + now.UTC().Format(time.RFC3339Nano)
	sent := 0
	var errs []error
	for _, r := range slices.Sorted(maps.Keys(by)) {
		c := by[r]
		if c.pending == 0 {
			continue
		}
		err := s.send(ctx, in, d, r, kind, c.items, c.pending, now)
		n := store.ReviewNotice{Instance: in.ID, Recipient: r, Kind: kind, At: now}
		if err != nil {
			n.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
		} else {
			sent++
		}
		errs = append(errs, s.record(ctx, n))
	}
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "review remind", Type: "Review", ID: in.Definition,
			Result: store.AuditOK, Detail: fmt.Sprintf("instance %d: %d reminder(s) sent now", instance, sent)})
	})
	return sent, errors.Join(append(errs, err)...)
}
