package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Holds: lifecycle decisions that outrank a target's policy for one user
// (package internal/engine applies them when it plans). A lifecycle
// workflow disables an account or adds a user to a group in a target; the
// guest lifecycle blocks and then deletes a guest's accounts; an access
// review removes a denied assignment. Each source keeps at most one hold
// per (user, target, group).

// The actions of holds.
const (
	// HoldDisable keeps the account disabled, HoldEnable enabled, whatever
	// the user's active attribute says.
	HoldDisable = "disable"
	HoldEnable  = "enable"
	// HoldDelete keeps the account deleted (deprovisioned) from the
	// target, whatever its scope says.
	HoldDelete = "delete"
	// HoldAdd keeps the user a member of the hold's group in the target,
	// HoldRemove keeps it out of it, whatever the group's members in SCIM
	// are.
	HoldAdd    = "add"
	HoldRemove = "remove"
)

// Hold is one hold. (User, Source, Target, Group) is unique.
type Hold struct {
	User   string // the user's id
	Source string // who holds: "workflow", "guest", "review"
	Target string // the target; "" every target
	Group  string // "" the account; else the membership of this group (its id) in Target
	Action string // HoldDisable, HoldEnable, HoldDelete (account); HoldAdd, HoldRemove (membership)
	// Basis is the fact in SCIM that the hold overrode when it was set:
	// the user's active attribute (account holds), or its membership of
	// Group. The hold lapses when the fact changes: a newer decision in
	// SCIM wins. Nil: the hold stays until it is released.
	Basis   *bool
	Reason  string
	Created time.Time
}

// HoldQuery selects holds, ordered by user, source, target and group. Its
// fields filter when set.
type HoldQuery struct {
	User, Source, Target, Group string
	// Users, when set, selects the holds of these users (at most 500).
	Users []string
	// Account selects the account holds (Group ""), Membership those of
	// groups.
	Account, Membership bool
	// Exact: User, Source, Target and Group all filter, "" included (one
	// hold).
	Exact bool
}

const holdCols = "user_id, source, target, grp, action, basis, reason, created"

// where returns the WHERE clause of q, and its arguments.
func (q HoldQuery) where() (string, []any) {
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

// Holds implements Store.
func (s *SQL) Holds(ctx context.Context, q HoldQuery) (out []Hold, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = holds(ctx, c, q)
		return err
	})
	return out, err
}

// Holds implements Tx.
func (t *sqlTx) Holds(ctx context.Context, q HoldQuery) ([]Hold, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return holds(ctx, t.w, q)
}

func holds(ctx context.Context, c *conn, q HoldQuery) ([]Hold, error) {
	where, args := q.where()
	rows, err := c.query(ctx, "SELECT "+holdCols+" FROM holds"+where+" ORDER BY user_id, source, target, grp", args...)
	if err != nil {
		return nil, fmt.Errorf("store: holds: %w", err)
	}
	defer rows.Close()
	out := []Hold{}
	for rows.Next() {
		var h Hold
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
func (t *sqlTx) PutHold(ctx context.Context, h Hold) error {
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
func (t *sqlTx) DeleteHolds(ctx context.Context, q HoldQuery) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	where, args := q.where()
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
