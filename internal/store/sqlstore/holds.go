package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
)

const holdCols = "user_id, source, target, grp, action, basis, reason, created"

// Holds implements Store.
func (s *SQL) Holds(ctx context.Context, q store.HoldQuery) (out []store.Hold, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = holds(ctx, c, q)
		return err
	})
	return out, err
}

// Holds implements Tx.
func (t *sqlTx) Holds(ctx context.Context, q store.HoldQuery) ([]store.Hold, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return holds(ctx, t.w, q)
}

func holds(ctx context.Context, c *conn, q store.HoldQuery) ([]store.Hold, error) {
	where, args := holdWhere(q)
	rows, err := c.query(ctx, "SELECT "+holdCols+" FROM holds"+where+" ORDER BY user_id, source, target, grp", args...)
	if err != nil {
		return nil, fmt.Errorf("store: holds: %w", err)
	}
	defer rows.Close()
	out := []store.Hold{}
	for rows.Next() {
		var h store.Hold
		var basis sql.NullInt64
		var created string
		if err := rows.Scan(&h.User, &h.Source, &h.Target, &h.Group, &h.Action, &basis, &h.Reason, &created); err != nil {
			return nil, fmt.Errorf("store: holds: %w", err)
		}
		if basis.Valid {
			b := basis.Int64 != 0
			h.Basis = &b
		}
		if h.Created, err = parseTimeText(created); err != nil {
			return nil, fmt.Errorf("store: holds: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// PutHold implements Tx.
func (t *sqlTx) PutHold(ctx context.Context, h store.Hold) error {
	if h.User == "" || h.Source == "" || h.Action == "" {
		return fmt.Errorf("store: hold: user, source and action are required")
	}
	var basis any
	if h.Basis != nil {
		basis = boolInt(*h.Basis)
	}
	if err := t.execTx(ctx, "hold", "DELETE FROM holds WHERE user_id = ? AND source = ? AND target = ? AND grp = ?",
		h.User, h.Source, h.Target, h.Group); err != nil {
		return err
	}
	return t.execTx(ctx, "hold", "INSERT INTO holds ("+holdCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		h.User, h.Source, h.Target, h.Group, h.Action, basis, h.Reason, timeText(h.Created))
}

// DeleteHolds implements Tx.
func (t *sqlTx) DeleteHolds(ctx context.Context, q store.HoldQuery) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	where, args := holdWhere(q)
	if where == "" {
		return 0, fmt.Errorf("store: delete holds: no condition")
	}
	res, err := t.w.exec(ctx, "DELETE FROM holds"+where, args...)
	if err != nil {
		return 0, fmt.Errorf("store: delete holds: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// holdWhere returns the WHERE clause of q, and its arguments.
func holdWhere(q store.HoldQuery) (string, []any) {
	var conds []string
	var args []any
	for _, f := range []struct {
		col, v string
	}{{"user_id", q.User}, {"source", q.Source}, {"target", q.Target}, {"grp", q.Group}} {
		if f.v != "" || q.Exact {
			conds = append(conds, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	if len(q.Users) > 0 {
		conds = append(conds, "user_id"+inList(len(q.Users)))
		args = append(args, anys(q.Users)...)
	}
	if q.Account {
		conds = append(conds, "grp = ''")
	}
	if q.Membership {
		conds = append(conds, "grp <> ''")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
