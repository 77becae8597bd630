package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The provisioning engine's tables: the change journal that Tx.Create,
// Update and Delete append to in the transaction of the change (so the
// engine cannot miss a change acknowledged to a SCIM client), and the
// engine's own state, whose JSON payloads the store does not interpret.

// Change is one journal entry: the resource Type/ID was created, updated
// or deleted.
type Change struct {
	Seq  int64
	Type string
	ID   string
}

// Provisioned is the engine's record of one object in one target.
type Provisioned struct {
	Target string
	Type   string
	ID     string
	Anchor string // the target's identifier; "" when not (yet) created there
	State  []byte // the engine's JSON
}

// Outbox is one operation queued for a target.
type Outbox struct {
	Seq       int64
	Target    string
	Type      string
	ID        string
	Payload   []byte    // the engine's JSON
	Attempts  int       // failed attempts so far
	NextAt    time.Time // not delivered before
	LastError string
	Dead      bool // a dead letter: never retried automatically
}

const (
	journalSQL      = "INSERT INTO changes (type, id) VALUES (?, ?)"
	changesSQL      = "SELECT seq, type, id FROM changes WHERE seq > ? ORDER BY seq LIMIT ?"
	delChangesSQL   = "DELETE FROM changes WHERE seq <= ?"
	cursorSQL       = "SELECT pos FROM cursors WHERE name = ?"
	setCursorSQL    = "INSERT INTO cursors (name, pos) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET pos = excluded.pos"
	provSQL         = "SELECT anchor, state FROM provisioned WHERE target = ? AND type = ? AND id = ?"
	putProvSQL      = "INSERT INTO provisioned (target, type, id, anchor, state) VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, type, id) DO UPDATE SET anchor = excluded.anchor, state = excluded.state"
	delProvSQL      = "DELETE FROM provisioned WHERE target = ? AND type = ? AND id = ?"
	enqueueSQL      = "INSERT INTO outbox (target, type, id, payload, attempts, next_at, last_error, dead) VALUES (?, ?, ?, ?, 0, ?, '', 0)"
	updOutboxSQL    = "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ?, dead = ? WHERE seq = ?"
	delOutboxSQL    = "DELETE FROM outbox WHERE seq = ?"
	outboxSQL       = "SELECT seq, target, type, id, payload, attempts, next_at, last_error, dead FROM outbox WHERE target = ? AND dead = ? ORDER BY seq LIMIT ?"
	changedCapacity = 1
)

// journal appends a change; every Create, Update and Delete calls it.
func (t *sqlTx) journal(ctx context.Context, typ, id string) error {
	if _, err := t.w.exec(ctx, journalSQL, typ, id); err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	t.changed = true
	return nil
}

// Changes implements Store.
func (s *SQL) Changes(ctx context.Context, after int64, limit int) (out []Change, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, changesSQL, after, limit)
		if err != nil {
			return fmt.Errorf("store: changes: %w", err)
		}
		defer rows.Close()
		out = []Change{}
		for rows.Next() {
			var ch Change
			if err := rows.Scan(&ch.Seq, &ch.Type, &ch.ID); err != nil {
				return fmt.Errorf("store: changes: %w", err)
			}
			out = append(out, ch)
		}
		return rows.Err()
	})
	return out, err
}

// Changed implements Store.
func (s *SQL) Changed() <-chan struct{} { return s.changed }

// Cursor implements Store.
func (s *SQL) Cursor(ctx context.Context, name string) (pos int64, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		err := c.queryRow(ctx, cursorSQL, name).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: cursor: %w", err)
		}
		return nil
	})
	return pos, err
}

// Provisioned implements Store.
func (s *SQL) Provisioned(ctx context.Context, target, typ, id string) (p Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		p, err = scanProvisioned(c.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
		return err
	})
	return p, err
}

func scanProvisioned(row scanner, target, typ, id string) (Provisioned, error) {
	p := Provisioned{Target: target, Type: typ, ID: id}
	err := row.Scan(&p.Anchor, &p.State)
	if errors.Is(err, sql.ErrNoRows) {
		return Provisioned{}, fmt.Errorf("%w: %s %q in target %q", ErrNotFound, typ, id, target)
	}
	if err != nil {
		return Provisioned{}, fmt.Errorf("store: provisioned: %w", err)
	}
	return p, nil
}

// Outbox implements Store.
func (s *SQL) Outbox(ctx context.Context, target string, dead bool, limit int) (out []Outbox, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, outboxSQL, target, boolInt(dead), limit)
		if err != nil {
			return fmt.Errorf("store: outbox: %w", err)
		}
		defer rows.Close()
		out = []Outbox{}
		for rows.Next() {
			var (
				o      Outbox
				nextAt string
				d      int
			)
			if err := rows.Scan(&o.Seq, &o.Target, &o.Type, &o.ID, &o.Payload, &o.Attempts, &nextAt, &o.LastError, &d); err != nil {
				return fmt.Errorf("store: outbox: %w", err)
			}
			if o.NextAt, err = time.Parse(TimeFormat, nextAt); err != nil {
				return fmt.Errorf("store: outbox %d: %w", o.Seq, err)
			}
			o.Dead = d != 0
			out = append(out, o)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteChanges implements Tx.
func (t *sqlTx) DeleteChanges(ctx context.Context, through int64) error {
	return t.execTx(ctx, "delete changes", delChangesSQL, through)
}

// SetCursor implements Tx.
func (t *sqlTx) SetCursor(ctx context.Context, name string, pos int64) error {
	return t.execTx(ctx, "set cursor", setCursorSQL, name, pos)
}

// Provisioned implements Tx.
func (t *sqlTx) Provisioned(ctx context.Context, target, typ, id string) (Provisioned, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return Provisioned{}, err
	}
	return scanProvisioned(t.w.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
}

// PutProvisioned implements Tx.
func (t *sqlTx) PutProvisioned(ctx context.Context, p Provisioned) error {
	return t.execTx(ctx, "put provisioned", putProvSQL, p.Target, p.Type, p.ID, p.Anchor, data(p.State))
}

// DeleteProvisioned implements Tx.
func (t *sqlTx) DeleteProvisioned(ctx context.Context, target, typ, id string) error {
	return t.execTx(ctx, "delete provisioned", delProvSQL, target, typ, id)
}

// Enqueue implements Tx.
func (t *sqlTx) Enqueue(ctx context.Context, o Outbox) (int64, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.w.exec(ctx, enqueueSQL, o.Target, o.Type, o.ID, data(o.Payload), o.NextAt.UTC().Format(TimeFormat))
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	return seq, nil
}

// UpdateOutbox implements Tx.
func (t *sqlTx) UpdateOutbox(ctx context.Context, o Outbox) error {
	return t.execOne(ctx, "update outbox", o.Seq, updOutboxSQL,
		o.Attempts, o.NextAt.UTC().Format(TimeFormat), o.LastError, boolInt(o.Dead), o.Seq)
}

// DeleteOutbox implements Tx.
func (t *sqlTx) DeleteOutbox(ctx context.Context, seq int64) error {
	return t.execOne(ctx, "delete outbox", seq, delOutboxSQL, seq)
}

// execTx runs one statement of the Tx.
func (t *sqlTx) execTx(ctx context.Context, what, q string, args ...any) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// execOne runs one statement that must change the outbox row seq.
func (t *sqlTx) execOne(ctx context.Context, what string, seq int64, q string, args ...any) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	res, err := t.w.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%w: outbox operation %d", ErrNotFound, seq)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
