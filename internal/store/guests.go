package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The guest lifecycle's table (package internal/guest): one record per
// user the lifecycle tracks, with when it is next due. The store does not
// interpret the JSON it keeps.

// GuestRecord is the guest lifecycle's state of one user.
type GuestRecord struct {
	User string
	// Due is when the lifecycle looks at the user next; zero: only when
	// the user changes.
	Due  time.Time
	Data []byte
}

// GuestQuery selects guest records, by user.
type GuestQuery struct {
	// Due selects the records due at or before it (not zero), earliest
	// first.
	Due   time.Time
	Limit int // 0: no limit
}

const guestCols = "user_id, due, data"

// Guest implements Tx.
func (t *sqlTx) Guest(ctx context.Context, user string) (GuestRecord, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return GuestRecord{}, err
	}
	return guest(ctx, t.w, user)
}

// Guest implements Store.
func (s *SQL) Guest(ctx context.Context, user string) (g GuestRecord, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		g, err = guest(ctx, c, user)
		return err
	})
	return g, err
}

func guest(ctx context.Context, c *conn, user string) (GuestRecord, error) {
	g, err := scanGuest(c.queryRow(ctx, "SELECT "+guestCols+" FROM guests WHERE user_id = ?", user))
	if errors.Is(err, sql.ErrNoRows) {
		return GuestRecord{}, fmt.Errorf("%w: guest %q", ErrNotFound, user)
	}
	if err != nil {
		return GuestRecord{}, fmt.Errorf("store: guest: %w", err)
	}
	return g, nil
}

func scanGuest(row scanner) (GuestRecord, error) {
	var g GuestRecord
	var due string
	if err := row.Scan(&g.User, &due, &g.Data); err != nil {
		return GuestRecord{}, err
	}
	var err error
	g.Due, err = parseTimeText(due)
	return g, err
}

// PutGuest implements Tx.
func (t *sqlTx) PutGuest(ctx context.Context, g GuestRecord) error {
	if err := t.execTx(ctx, "guest", "DELETE FROM guests WHERE user_id = ?", g.User); err != nil {
		return err
	}
	return t.execTx(ctx, "guest", "INSERT INTO guests ("+guestCols+") VALUES (?, ?, ?)", g.User, timeText(g.Due), data(g.Data))
}

// DeleteGuest implements Tx.
func (t *sqlTx) DeleteGuest(ctx context.Context, user string) error {
	return t.execTx(ctx, "guest", "DELETE FROM guests WHERE user_id = ?", user)
}

// Guests implements Store.
func (s *SQL) Guests(ctx context.Context, q GuestQuery) (out []GuestRecord, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		query, args := "SELECT "+guestCols+" FROM guests ORDER BY user_id", []any(nil)
		if !q.Due.IsZero() {
			query, args = "SELECT "+guestCols+" FROM guests WHERE due <> '' AND due <= ? ORDER BY due, user_id", []any{timeText(q.Due)}
		}
		if q.Limit > 0 {
			query += fmt.Sprintf(" LIMIT %d", q.Limit)
		}
		rows, err := c.query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: guests: %w", err)
		}
		defer rows.Close()
		out = []GuestRecord{}
		for rows.Next() {
			g, err := scanGuest(rows)
			if err != nil {
				return fmt.Errorf("store: guests: %w", err)
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	return out, err
}
