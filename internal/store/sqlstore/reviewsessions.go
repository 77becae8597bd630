package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const rsCols = "hash, reviewer, admin, created, last_seen, expires, revoked"

// CreateReviewSession implements Tx.
func (t *sqlTx) CreateReviewSession(ctx context.Context, s store.ReviewSession) error {
	if s.Hash == "" || (s.Reviewer == "") == (s.Admin == "") || s.Created.IsZero() || !s.Expires.After(s.Created) {
		return errors.New("store: review session: a hash, a reviewer or an admin, and an expiry after its creation are required")
	}
	if err := t.execTx(ctx, "review session", "DELETE FROM review_sessions WHERE expires <= ?", timeText(s.Created)); err != nil {
		return err
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = s.Created
	}
	return t.execTx(ctx, "review session", "INSERT INTO review_sessions ("+rsCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		s.Hash, s.Reviewer, s.Admin, timeText(s.Created), timeText(s.LastSeen), timeText(s.Expires), timeText(s.Revoked))
}

// TouchReviewSession implements Tx.
func (t *sqlTx) TouchReviewSession(ctx context.Context, hash string, now time.Time) error {
	return t.execTx(ctx, "review session", "UPDATE review_sessions SET last_seen = ? WHERE hash = ?", timeText(now), hash)
}

// RevokeReviewSession implements Tx.
func (t *sqlTx) RevokeReviewSession(ctx context.Context, hash string, now time.Time) error {
	return t.execTx(ctx, "review session", "UPDATE review_sessions SET revoked = ? WHERE hash = ? AND revoked = ''", timeText(now), hash)
}

// RevokeReviewerSessions implements Tx.
func (t *sqlTx) RevokeReviewerSessions(ctx context.Context, reviewer string, now time.Time) (int, error) {
	if reviewer == "" {
		return 0, errors.New("store: review sessions: a reviewer is required")
	}
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.w.exec(ctx, "UPDATE review_sessions SET revoked = ? WHERE reviewer = ? AND revoked = '' AND expires > ?",
		timeText(now), reviewer, timeText(now))
	if err != nil {
		return 0, fmt.Errorf("store: review sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: review sessions: %w", err)
	}
	return int(n), nil
}

// ReviewSession implements Store.
func (s *SQL) ReviewSession(ctx context.Context, hash string) (rs store.ReviewSession, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		var created, seen, expires, revoked string
		err := c.queryRow(ctx, "SELECT "+rsCols+" FROM review_sessions WHERE hash = ?", hash).
			Scan(&rs.Hash, &rs.Reviewer, &rs.Admin, &created, &seen, &expires, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: review session", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: review session: %w", err)
		}
		for _, f := range []struct {
			s string
			t *time.Time
		}{{created, &rs.Created}, {seen, &rs.LastSeen}, {expires, &rs.Expires}, {revoked, &rs.Revoked}} {
			if *f.t, err = parseTimeText(f.s); err != nil {
				return fmt.Errorf("store: review session: %w", err)
			}
		}
		return nil
	})
	return rs, err
}
