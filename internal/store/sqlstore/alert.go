package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	alertCols        = "rule, akey, episode, active, raised, resolved, detail"
	alertGetSQL      = "SELECT " + alertCols + " FROM alerts WHERE rule = ? AND akey = ?"
	alertPutSQL      = "INSERT INTO alerts (" + alertCols + ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule, akey) DO UPDATE SET episode = excluded.episode, active = excluded.active, raised = excluded.raised, resolved = excluded.resolved, detail = excluded.detail"
	noticeCols       = "seq, rule, akey, episode, event, payload, attempts, next_at, last_error, failed, created"
	noticeAddSQL     = "INSERT INTO alert_notices (rule, akey, episode, event, payload, attempts, next_at, last_error, failed, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	noticeUpdSQL     = "UPDATE alert_notices SET attempts = ?, next_at = ?, last_error = ?, failed = ? WHERE seq = ?"
	noticeDelSQL     = "DELETE FROM alert_notices WHERE seq = ?"
	alertStateGetSQL = "SELECT data FROM alert_state WHERE name = ?"
	alertStatePutSQL = "INSERT INTO alert_state (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET data = excluded.data"
)

// Alert implements Tx.
func (t *sqlTx) Alert(ctx context.Context, rule, key string) (store.Alert, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.Alert{}, err
	}
	a, err := scanAlert(t.w.queryRow(ctx, alertGetSQL, rule, key))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Alert{}, fmt.Errorf("%w: alert %q of rule %q", store.ErrNotFound, key, rule)
	}
	if err != nil {
		return store.Alert{}, fmt.Errorf("store: alert: %w", err)
	}
	return a, nil
}

func scanAlert(row scanner) (store.Alert, error) {
	var a store.Alert
	var active int
	var raised, resolved string
	if err := row.Scan(&a.Rule, &a.Key, &a.Episode, &active, &raised, &resolved, &a.Detail); err != nil {
		return store.Alert{}, err
	}
	a.Active = active != 0
	var err error
	if a.Raised, err = parseTimeText(raised); err == nil {
		a.Resolved, err = parseTimeText(resolved)
	}
	return a, err
}

// PutAlert implements Tx.
func (t *sqlTx) PutAlert(ctx context.Context, a store.Alert) error {
	if a.Rule == "" || a.Key == "" || a.Episode < 1 {
		return errors.New("store: alert: rule, key and a positive episode are required")
	}
	return t.execTx(ctx, "alert", alertPutSQL, a.Rule, a.Key, a.Episode, boolInt(a.Active), timeText(a.Raised),
		timeText(a.Resolved), data(a.Detail))
}

// AddAlertNotice implements Tx.
func (t *sqlTx) AddAlertNotice(ctx context.Context, n store.AlertNotice) (int64, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	if n.Rule == "" || n.Key == "" || (n.Event != store.AlertRaised && n.Event != store.AlertResolved) {
		return 0, errors.New("store: alert notice: rule, key and event (raised or resolved) are required")
	}
	seq, _, err := t.w.insert(ctx, noticeAddSQL, "seq", n.Rule, n.Key, n.Episode, n.Event, data(n.Payload), n.Attempts,
		timeText(n.NextAt), n.LastError, boolInt(n.Failed), timeText(n.Created))
	if err != nil {
		return 0, fmt.Errorf("store: alert notice: %w", err)
	}
	return seq, nil
}

// UpdateAlertNotice implements Tx.
func (t *sqlTx) UpdateAlertNotice(ctx context.Context, n store.AlertNotice) error {
	return t.execRow(ctx, "alert notice", fmt.Sprintf("alert notice %d", n.Seq), noticeUpdSQL,
		n.Attempts, timeText(n.NextAt), n.LastError, boolInt(n.Failed), n.Seq)
}

// DeleteAlertNotice implements Tx.
func (t *sqlTx) DeleteAlertNotice(ctx context.Context, seq int64) error {
	return t.execRow(ctx, "alert notice", fmt.Sprintf("alert notice %d", seq), noticeDelSQL, seq)
}

// AlertState implements Tx.
func (t *sqlTx) AlertState(ctx context.Context, name string) ([]byte, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	var b []byte
	err = t.w.queryRow(ctx, alertStateGetSQL, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: alert state %q", store.ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: alert state: %w", err)
	}
	return b, nil
}

// PutAlertState implements Tx.
func (t *sqlTx) PutAlertState(ctx context.Context, name string, b []byte) error {
	if name == "" {
		return errors.New("store: alert state: a name is required")
	}
	return t.execTx(ctx, "alert state", alertStatePutSQL, name, data(b))
}

// Alerts implements Store.
func (s *SQL) Alerts(ctx context.Context, q store.AlertQuery) (out []store.Alert, err error) {
	stmt := "SELECT " + alertCols + " FROM alerts WHERE 1 = 1"
	var args []any
	if q.Rule != "" {
		stmt += " AND rule = ?"
		args = append(args, q.Rule)
	}
	if q.Active {
		stmt += " AND active = 1"
	}
	stmt += " ORDER BY rule, akey"
	if q.Limit > 0 {
		stmt += " LIMIT " + limitArg
		args = append(args, q.Limit)
	}
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: alerts: %w", err)
		}
		defer rows.Close()
		out = []store.Alert{}
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return fmt.Errorf("store: alerts: %w", err)
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// AlertNotices implements Store.
func (s *SQL) AlertNotices(ctx context.Context, q store.AlertNoticeQuery) (out []store.AlertNotice, err error) {
	stmt := "SELECT " + noticeCols + " FROM alert_notices"
	var args []any
	if !q.Due.IsZero() {
		stmt += " WHERE failed = 0 AND next_at <= ?"
		args = append(args, q.Due.UTC().Format(store.TimeFormat))
	}
	stmt += " ORDER BY seq"
	if q.Limit > 0 {
		stmt += " LIMIT " + limitArg
		args = append(args, q.Limit)
	}
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: alert notices: %w", err)
		}
		defer rows.Close()
		out = []store.AlertNotice{}
		for rows.Next() {
			var n store.AlertNotice
			var failed int
			var next, created string
			if err := rows.Scan(&n.Seq, &n.Rule, &n.Key, &n.Episode, &n.Event, &n.Payload, &n.Attempts, &next,
				&n.LastError, &failed, &created); err != nil {
				return fmt.Errorf("store: alert notices: %w", err)
			}
			n.Failed = failed != 0
			if n.NextAt, err = parseTimeText(next); err == nil {
				n.Created, err = parseTimeText(created)
			}
			if err != nil {
				return fmt.Errorf("store: alert notices: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}
