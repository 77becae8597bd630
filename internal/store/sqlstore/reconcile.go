package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	reconCols      = "seq, id, target, dry_run, started, summary"
	addReconSQL    = "INSERT INTO reconciliations (id, target, dry_run, started, summary, items) VALUES (?, ?, ?, ?, ?, ?)"
	reconKeepSQL   = "SELECT seq FROM reconciliations WHERE target = ? ORDER BY seq DESC LIMIT 1 OFFSET ?"
	pruneReconSQL  = "DELETE FROM reconciliations WHERE target = ? AND seq <= ?"
	reconItemsSQL  = "SELECT items FROM reconciliations WHERE seq = ?"
	reconOrderSQL  = " ORDER BY seq DESC LIMIT " + limitArg
	reconSelectSQL = "SELECT " + reconCols + " FROM reconciliations"
)

// AddReconciliation implements Tx.
func (t *sqlTx) AddReconciliation(ctx context.Context, r store.Reconciliation, keep int) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if r.ID == "" || r.Target == "" {
		return fmt.Errorf("store: reconciliation: id and target are required")
	}
	items := r.Items
	if items == nil {
		items = []byte{}
	}
	if _, err := t.w.exec(ctx, addReconSQL, r.ID, r.Target, boolInt(r.DryRun), r.Started.UTC().Format(store.TimeFormat), r.Summary, items); err != nil {
		return fmt.Errorf("store: reconciliation: %w", err)
	}
	if keep <= 0 {
		return nil
	}
	var oldest int64
	err = t.w.queryRow(ctx, reconKeepSQL, r.Target, keep).Scan(&oldest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("store: reconciliation: %w", err)
	}
	if _, err := t.w.exec(ctx, pruneReconSQL, r.Target, oldest); err != nil {
		return fmt.Errorf("store: reconciliation: %w", err)
	}
	return nil
}

// Reconciliations implements Store.
func (s *SQL) Reconciliations(ctx context.Context, q store.ReconciliationQuery) (out []store.Reconciliation, err error) {
	var where []string
	var args []any
	if q.Target != "" {
		where, args = append(where, "target = ?"), append(args, q.Target)
	}
	if q.ID != "" {
		where, args = append(where, "id = ?"), append(args, q.ID)
	}
	if q.NoDryRuns {
		where = append(where, "dry_run = 0")
	}
	stmt := reconSelectSQL
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += reconOrderSQL
	args = append(args, q.Limit)
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: reconciliations: %w", err)
		}
		defer rows.Close()
		out = []store.Reconciliation{}
		for rows.Next() {
			var r store.Reconciliation
			var dry int
			var started string
			if err := rows.Scan(&r.Seq, &r.ID, &r.Target, &dry, &started, &r.Summary); err != nil {
				return fmt.Errorf("store: reconciliations: %w", err)
			}
			if r.Started, err = time.Parse(store.TimeFormat, started); err != nil {
				return fmt.Errorf("store: reconciliation %s: %w", r.ID, err)
			}
			r.DryRun = dry != 0
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: reconciliations: %w", err)
		}
		rows.Close()
		if q.ID == "" {
			return nil
		}
		for i := range out {
			if err := c.queryRow(ctx, reconItemsSQL, out[i].Seq).Scan(&out[i].Items); err != nil {
				return fmt.Errorf("store: reconciliation %s: %w", out[i].ID, err)
			}
		}
		return nil
	})
	return out, err
}
