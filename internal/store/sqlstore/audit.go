package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	auditCols     = "seq, at, actor, action, type, id, target, result, detail"
	addAuditSQL   = "INSERT INTO audit (at, actor, action, type, id, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	pruneAuditSQL = "DELETE FROM audit WHERE at < ?"
)

// Audit implements Tx.
func (t *sqlTx) Audit(ctx context.Context, e store.AuditEntry) error {
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	return t.execTx(ctx, "audit", addAuditSQL, at.UTC().Format(store.TimeFormat), e.Actor, e.Action, e.Type, e.ID, e.Target, e.Result, e.Detail)
}

// PruneAudit implements Tx.
func (t *sqlTx) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.w.exec(ctx, pruneAuditSQL, before.UTC().Format(store.TimeFormat))
	if err != nil {
		return 0, fmt.Errorf("store: prune audit: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune audit: %w", err)
	}
	return int(n), nil
}

const auditOrderSQL = " ORDER BY seq DESC LIMIT " + limitArg

// Audit implements Store.
func (s *SQL) Audit(ctx context.Context, q store.AuditQuery) (out []store.AuditEntry, err error) {
	var where []string
	var args []any
	if q.ID != "" {
		where, args = append(where, "id = ?"), append(args, q.ID)
	}
	if q.Target != "" {
		where, args = append(where, "target = ?"), append(args, q.Target)
	}
	if q.Before > 0 {
		where, args = append(where, "seq < ?"), append(args, q.Before)
	}
	stmt := "SELECT " + auditCols + " FROM audit"
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += auditOrderSQL
	args = append(args, q.Limit)
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		defer rows.Close()
		out = []store.AuditEntry{}
		for rows.Next() {
			var e store.AuditEntry
			var at string
			if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Type, &e.ID, &e.Target, &e.Result, &e.Detail); err != nil {
				return fmt.Errorf("store: audit: %w", err)
			}
			if e.Time, err = time.Parse(store.TimeFormat, at); err != nil {
				return fmt.Errorf("store: audit %d: %w", e.Seq, err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
