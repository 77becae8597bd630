package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/internal/store"
)

const guestCols = "user_id, due, data"

// Guest implements Tx.
func (t *sqlTx) Guest(ctx context.Context, user string) (store.GuestRecord, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.GuestRecord{}, err
	}
	return guest(ctx, t.w, user)
}

// Guest implements Store.
func (s *SQL) Guest(ctx context.Context, user string) (g store.GuestRecord, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		g, err = guest(ctx, c, user)
		return err
	})
	return g, err
}

func guest(ctx context.Context, c *conn, user string) (store.GuestRecord, error) {
	g, err := scanGuest(c.queryRow(ctx, "SELECT "+guestCols+" FROM guests WHERE user_id = ?", user))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GuestRecord{}, fmt.Errorf("%w: guest %q", store.ErrNotFound, user)
	}
	if err != nil {
		return store.GuestRecord{}, fmt.Errorf("store: guest: %w", err)
	}
	return g, nil
}

func scanGuest(row scanner) (store.GuestRecord, error) {
	var g store.GuestRecord
	var due string
	if err := row.Scan(&g.User, &due, &g.Data); err != nil {
		return store.GuestRecord{}, err
	}
	var err error
	g.Due, err = parseTimeText(due)
	return g, err
}

// PutGuest implements Tx.
func (t *sqlTx) PutGuest(ctx context.Context, g store.GuestRecord) error {
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
func (s *SQL) Guests(ctx context.Context, q store.GuestQuery) (out []store.GuestRecord, err error) {
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
		out = []store.GuestRecord{}
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
