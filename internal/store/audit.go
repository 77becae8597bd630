package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one line of the audit log: who or what (Actor) did what
// (Action) to which object, in which target, with what result.
type AuditEntry struct {
	Seq    int64
	Time   time.Time // set by the store when zero
	Actor  string    // "scim: <credential>", "engine", "admin: <credential>"
	Action string    // create, update, delete; an operation; an admin call
	Type   string
	ID     string
	Target string // "" for SCIM changes
	Result string // AuditOK, AuditDead, AuditHeld, AuditFailed
	Detail string
}

// The results of audit entries.
const (
	AuditOK     = "ok"
	AuditDead   = "dead"
	AuditHeld   = "held"
	AuditFailed = "failed"
)

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	ID     string // only this object ("" any)
	Target string // only this target ("" any)
	Before int64  // only entries with a smaller Seq (0: from the newest)
	Limit  int
}

type actorKey struct{}

// WithActor returns ctx carrying the actor that the audit entries of the
// changes written with it name.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf returns the actor of ctx ("unknown" when none was set).
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "unknown"
}

const (
	auditCols     = "seq, at, actor, action, type, id, target, result, detail"
	addAuditSQL   = "INSERT INTO audit (at, actor, action, type, id, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	pruneAuditSQL = "DELETE FROM audit WHERE at < ?"
)

// Audit implements Tx.
func (t *sqlTx) Audit(ctx context.Context, e AuditEntry) error {
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	return t.execTx(ctx, "audit", addAuditSQL, at.UTC().Format(TimeFormat), e.Actor, e.Action, e.Type, e.ID, e.Target, e.Result, e.Detail)
}

// PruneAudit implements Tx.
func (t *sqlTx) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.w.exec(ctx, pruneAuditSQL, before.UTC().Format(TimeFormat))
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
func (s *SQL) Audit(ctx context.Context, q AuditQuery) (out []AuditEntry, err error) {
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
		out = []AuditEntry{}
		for rows.Next() {
			var e AuditEntry
			var at string
			if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Type, &e.ID, &e.Target, &e.Result, &e.Detail); err != nil {
				return fmt.Errorf("store: audit: %w", err)
			}
			if e.Time, err = time.Parse(TimeFormat, at); err != nil {
				return fmt.Errorf("store: audit %d: %w", e.Seq, err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
