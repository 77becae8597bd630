package review

// Reviews defined through the admin API: kept in the store (table
// review_definitions) beside those of the configuration, which stay
// read-only. A change applies to the instances that start after it; an
// instance in progress keeps the definition it started with.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// definitions returns the reviews, configured then defined through the
// admin API.
func (s *Service) definitions() []Config {
	s.defsMu.RLock()
	defer s.defsMu.RUnlock()
	return slices.Clone(s.defs)
}

// LoadDefinitions adds the reviews defined through the admin API (kept in
// the store) to the configured ones. One whose name a configured review
// took since is skipped with a warning.
func (s *Service) LoadDefinitions(ctx context.Context) error {
	stored, err := s.opts.Store.ReviewDefinitions(ctx)
	if err != nil {
		return err
	}
	s.defsMu.Lock()
	defer s.defsMu.Unlock()
	for _, sd := range stored {
		var d Config
		if err := json.Unmarshal(sd.Data, &d); err != nil {
			return fmt.Errorf("review: definition %q: %w", sd.Name, err)
		}
		k := targets.NameKey(d.Name)
		if s.api[k] {
			continue
		}
		if slices.ContainsFunc(s.defs, func(c Config) bool { return targets.NameKey(c.Name) == k }) {
			s.log.Warn("access review: a review defined through the admin API has the name of a configured one; the configured one counts", "review", d.Name)
			continue
		}
		s.defs = append(s.defs, d)
		s.api[k] = true
	}
	return nil
}

// SaveDefinition defines a review through the admin API (create), or
// changes one defined so (create false). The definition is checked as
// the configuration's are (ErrInvalid, naming the fields); a configured
// review cannot be changed here (ErrReadOnly). The change is audited and
// applies to the instances that start after it.
func (s *Service) SaveDefinition(ctx context.Context, d Config, create bool) (Definition, error) {
	errs := []error{d.Validate()}
	if s.opts.Check != nil {
		errs = append(errs, s.opts.Check(d))
	}
	if err := errors.Join(errs...); err != nil {
		return Definition{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k := targets.NameKey(d.Name)
	now := s.opts.Now()
	s.defsMu.Lock()
	i := slices.IndexFunc(s.defs, func(c Config) bool { return targets.NameKey(c.Name) == k })
	switch {
	case create && i >= 0:
		s.defsMu.Unlock()
		return Definition{}, fmt.Errorf("%w: %q", ErrExists, d.Name)
	case !create && i < 0:
		s.defsMu.Unlock()
		return Definition{}, fmt.Errorf("%w: review %q", ErrNotFound, d.Name)
	case !create && !s.api[k]:
		s.defsMu.Unlock()
		return Definition{}, fmt.Errorf("%w: %q; change it there", ErrReadOnly, d.Name)
	}
	b, err := json.Marshal(d)
	if err == nil {
		created := now
		if !create {
			if stored, err := s.opts.Store.ReviewDefinitions(ctx); err == nil {
				for _, sd := range stored {
					if sd.Name == k {
						created = sd.Created
					}
				}
			}
		}
		action := map[bool]string{true: "review create", false: "review update"}[create]
		err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.PutReviewDefinition(ctx, store.ReviewDefinition{Name: k, Data: b, Created: created, Updated: now}); err != nil {
				return err
			}
			return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: action, Type: "Review", ID: d.Name,
				Result: store.AuditOK, Detail: string(b)})
		})
	}
	if err != nil {
		s.defsMu.Unlock()
		return Definition{}, err
	}
	if create {
		s.defs = append(s.defs, d)
		s.api[k] = true
	} else {
		s.defs[i] = d
	}
	s.defsMu.Unlock()
	s.Wake() // its first instance may be due now
	return s.Definition(d.Name)
}

// DeleteDefinition deletes a review defined through the admin API (a
// configured one: ErrReadOnly). An instance of it in progress is not
// stopped behind the administrator's back: the delete is refused
// (ErrNotEnded) until it ends or is stopped. Its past instances, their
// decisions and results stay for the auditors. Audited.
func (s *Service) DeleteDefinition(ctx context.Context, name string) error {
	k := targets.NameKey(name)
	s.mu.Lock() // no instance of it starts meanwhile (RunDue)
	defer s.mu.Unlock()
	s.defsMu.Lock()
	defer s.defsMu.Unlock()
	i := slices.IndexFunc(s.defs, func(c Config) bool { return targets.NameKey(c.Name) == k })
	switch {
	case i < 0:
		return fmt.Errorf("%w: review %q", ErrNotFound, name)
	case !s.api[k]:
		return fmt.Errorf("%w: %q; remove it from the configuration file instead", ErrReadOnly, s.defs[i].Name)
	}
	d := s.defs[i]
	running, err := s.opts.Store.ReviewInstances(ctx, store.ReviewInstanceQuery{Definition: d.Name, Status: []string{store.ReviewInProgress}})
	if err != nil {
		return err
	}
	if len(running) > 0 {
		in := running[0]
		return fmt.Errorf("%w: instance %d of %s is in progress until %s; stop it first (POST /admin/v1/review-instances/%d/stop)",
			ErrNotEnded, in.ID, d.Name, in.End.UTC().Format(time.RFC3339), in.ID)
	}
	err = s.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteReviewDefinition(ctx, k); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "review delete", Type: "Review", ID: d.Name,
			Result: store.AuditOK, Detail: "review deleted; its past instances and their results stay"})
	})
	if err != nil {
		return err
	}
	s.defs = slices.Delete(s.defs, i, i+1)
	delete(s.api, k)
	return nil
}
