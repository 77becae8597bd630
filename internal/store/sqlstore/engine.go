package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	journalSQL      = "INSERT INTO changes (type, id) VALUES (?, ?)"
	journalDeltaSQL = "INSERT INTO changes (type, id, added, removed, members_only) VALUES (?, ?, ?, ?, ?)"
	changesSQL      = "SELECT seq, type, id, added, removed, members_only, sync FROM changes WHERE seq > ? ORDER BY seq LIMIT " + limitArg
	delChangesSQL   = "DELETE FROM changes WHERE seq <= ?"
	cursorSQL       = "SELECT pos FROM cursors WHERE name = ?"
	setCursorSQL    = "INSERT INTO cursors (name, pos) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET pos = excluded.pos"
	provSQL         = "SELECT anchor, state, okey FROM provisioned WHERE target = ? AND type = ? AND id = ?"
	putProvSQL      = "INSERT INTO provisioned (target, type, id, anchor, state, okey) VALUES (?, ?, ?, ?, ?, ?)" +
		" ON CONFLICT (target, type, id) DO UPDATE SET anchor = excluded.anchor, state = excluded.state, okey = excluded.okey"
	delProvSQL   = "DELETE FROM provisioned WHERE target = ? AND type = ? AND id = ?"
	outboxCols   = "seq, target, type, id, payload, attempts, next_at, last_error, dead, held, created, claimed_by, claimed_until"
	enqueueSQL   = "INSERT INTO outbox (target, type, id, payload, attempts, next_at, last_error, dead, held, created) VALUES (?, ?, ?, ?, 0, ?, '', 0, ?, ?)"
	updOutboxSQL = "UPDATE outbox SET payload = ?, attempts = ?, next_at = ?, last_error = ?, dead = ?, held = ?, created = ?," +
		" claimed_by = '', claimed_until = '' WHERE seq = ?"
	claimSQL       = "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE seq = ?"
	objHeadSQL     = "SELECT MIN(seq) FROM outbox WHERE target = ? AND type = ? AND id = ? AND dead = 0"
	delOutboxSQL   = "DELETE FROM outbox WHERE seq = ?"
	outboxSQL      = "SELECT " + outboxCols + " FROM outbox WHERE target = ? AND dead = ? ORDER BY seq LIMIT " + limitArg
	heldSQL        = "SELECT " + outboxCols + " FROM outbox WHERE target = ? AND dead = 0 AND held = 1 ORDER BY seq LIMIT " + limitArg
	lastOutboxSQL  = "SELECT " + outboxCols + " FROM outbox WHERE target = ? AND type = ? AND id = ? AND dead = 0 ORDER BY seq DESC LIMIT 1"
	releaseSQL     = "UPDATE outbox SET held = 0 WHERE target = ? AND dead = 0 AND held = 1"
	deliverableSQL = "SELECT " + outboxCols + " FROM outbox o WHERE target = ? AND dead = 0 AND held = 0" +
		" AND NOT EXISTS (SELECT 1 FROM outbox h WHERE h.target = o.target AND h.type = o.type AND h.id = o.id" +
		" AND h.dead = 0 AND h.held = 1 AND h.seq < o.seq) ORDER BY seq LIMIT " + limitArg
	statsSQL = "SELECT COALESCE(SUM(CASE WHEN dead = 0 AND created <= ? THEN 1 ELSE 0 END), 0)," +
		" COALESCE(SUM(CASE WHEN dead = 0 THEN held ELSE 0 END), 0), COALESCE(SUM(dead), 0)," +
		" COALESCE(MIN(CASE WHEN dead = 1 OR created = '' OR created > ? THEN NULL ELSE created END), '')," +
		" COALESCE(SUM(CASE WHEN dead = 0 AND created > ? THEN 1 ELSE 0 END), 0)," +
		" COALESCE(MIN(CASE WHEN dead = 0 AND created > ? THEN created ELSE NULL END), '') FROM outbox WHERE target = ?"
	objectOutboxSQL = "SELECT " + outboxCols + " FROM outbox WHERE target = ? AND type = ? AND id = ? ORDER BY seq"
	getOutboxSQL    = "SELECT " + outboxCols + " FROM outbox WHERE seq = ?"
	delPendingSQL   = "DELETE FROM outbox WHERE target = ? AND type = ? AND id = ? AND dead = 0"
	provOfSQL       = "SELECT type, id, anchor, state, okey FROM provisioned WHERE target = ? ORDER BY type, id"
	provByKeySQL    = "SELECT id, anchor, state, okey FROM provisioned WHERE target = ? AND type = ? AND okey = ?"
	provByAnchorSQL = "SELECT id, anchor, state, okey FROM provisioned WHERE target = ? AND type = ? AND anchor = ? AND anchor <> ''"
	changedCapacity = 1
)

// journal appends a change, and its audit entry with the actor of ctx
// naming the attributes changed; every Create, Update and Delete calls it.
func (t *sqlTx) journal(ctx context.Context, action, typ, id string, changed []string) error {
	if err := t.lockJournal(ctx); err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, journalSQL, typ, id); err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	t.changed = true
	var detail string
	if len(changed) > 0 {
		detail = "attributes: " + strings.Join(changed, ", ")
	}
	return t.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: action, Type: typ, ID: id, Result: store.AuditOK, Detail: detail})
}

// lockJournal takes the dialect's lockJournal, once per transaction,
// before a journal entry is inserted.
func (t *sqlTx) lockJournal(ctx context.Context) error {
	if t.w.d.lockJournal == "" || t.w.journalLocked {
		return nil
	}
	if _, err := t.w.exec(ctx, t.w.d.lockJournal); err != nil {
		return fmt.Errorf("store: lock the journal: %w", err)
	}
	t.w.journalLocked = true
	return nil
}

// Touch implements Tx.
func (t *sqlTx) Touch(ctx context.Context, typ, id string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if err := t.lockJournal(ctx); err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, journalSQL, typ, id); err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	t.changed = true
	return nil
}

// TouchMembers implements Tx.
func (t *sqlTx) TouchMembers(ctx context.Context, typ, id string, members []string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(members)
	if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	if err := t.lockJournal(ctx); err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, "INSERT INTO changes (type, id, members_only, sync) VALUES (?, ?, 1, ?)", typ, id, string(b)); err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	t.changed = true
	return nil
}

// Changes implements Store.
func (s *SQL) Changes(ctx context.Context, after int64, limit int) (out []store.Change, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, changesSQL, after, limit)
		if err != nil {
			return fmt.Errorf("store: changes: %w", err)
		}
		defer rows.Close()
		out = []store.Change{}
		for rows.Next() {
			var ch store.Change
			var added, removed, sync sql.NullString
			var only int
			if err := rows.Scan(&ch.Seq, &ch.Type, &ch.ID, &added, &removed, &only, &sync); err != nil {
				return fmt.Errorf("store: changes: %w", err)
			}
			ch.MembersOnly = only != 0
			for _, d := range []struct {
				col sql.NullString
				to  *[]string
			}{{added, &ch.Added}, {removed, &ch.Removed}, {sync, &ch.Sync}} {
				if d.col.Valid && d.col.String != "" {
					if err := json.Unmarshal([]byte(d.col.String), d.to); err != nil {
						return fmt.Errorf("store: changes: entry %d: %w", ch.Seq, err)
					}
				}
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
func (s *SQL) Provisioned(ctx context.Context, target, typ, id string) (p store.Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		p, err = scanProvisioned(c.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
		return err
	})
	return p, err
}

func scanProvisioned(row scanner, target, typ, id string) (store.Provisioned, error) {
	p := store.Provisioned{Target: target, Type: typ, ID: id}
	err := row.Scan(&p.Anchor, &p.State, &p.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Provisioned{}, fmt.Errorf("%w: %s %q in target %q", store.ErrNotFound, typ, id, target)
	}
	if err != nil {
		return store.Provisioned{}, fmt.Errorf("store: provisioned: %w", err)
	}
	return p, nil
}

// Outbox implements Store.
func (s *SQL) Outbox(ctx context.Context, target string, dead bool, limit int) (out []store.Outbox, err error) {
	return s.outbox(ctx, outboxSQL, target, boolInt(dead), limit)
}

// Deliverable implements Store.
func (s *SQL) Deliverable(ctx context.Context, target string, limit int) ([]store.Outbox, error) {
	return s.outbox(ctx, deliverableSQL, target, limit)
}

// ObjectOutbox implements Store.
func (s *SQL) ObjectOutbox(ctx context.Context, target, typ, id string) ([]store.Outbox, error) {
	return s.outbox(ctx, objectOutboxSQL, target, typ, id)
}

// ProvisionedOf implements Store.
func (s *SQL) ProvisionedOf(ctx context.Context, target string) (out []store.Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, provOfSQL, target)
		if err != nil {
			return fmt.Errorf("store: provisioned: %w", err)
		}
		defer rows.Close()
		out = []store.Provisioned{}
		for rows.Next() {
			p := store.Provisioned{Target: target}
			if err := rows.Scan(&p.Type, &p.ID, &p.Anchor, &p.State, &p.Key); err != nil {
				return fmt.Errorf("store: provisioned: %w", err)
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// ProvisionedByKey implements Store.
func (s *SQL) ProvisionedByKey(ctx context.Context, target, typ, key string) ([]store.Provisioned, error) {
	return s.provisionedBy(ctx, provByKeySQL, target, typ, key)
}

// ProvisionedByAnchor implements Store.
func (s *SQL) ProvisionedByAnchor(ctx context.Context, target, typ, anchor string) ([]store.Provisioned, error) {
	return s.provisionedBy(ctx, provByAnchorSQL, target, typ, anchor)
}

// provisionedBy reads the records of q, a query by target, type and one
// more value.
func (s *SQL) provisionedBy(ctx context.Context, q, target, typ, v string) (out []store.Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, q, target, typ, v)
		if err != nil {
			return fmt.Errorf("store: provisioned: %w", err)
		}
		defer rows.Close()
		out = []store.Provisioned{}
		for rows.Next() {
			p := store.Provisioned{Target: target, Type: typ}
			if err := rows.Scan(&p.ID, &p.Anchor, &p.State, &p.Key); err != nil {
				return fmt.Errorf("store: provisioned: %w", err)
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// GetOutbox implements Tx.
func (t *sqlTx) GetOutbox(ctx context.Context, seq int64) (store.Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.Outbox{}, err
	}
	return scanOutboxRow(t.w.queryRow(ctx, getOutboxSQL, seq))
}

// DeletePending implements Tx.
func (t *sqlTx) DeletePending(ctx context.Context, target, typ, id string) error {
	return t.execTx(ctx, "delete pending", delPendingSQL, target, typ, id)
}

// HeldOutbox implements Store.
func (s *SQL) HeldOutbox(ctx context.Context, target string, limit int) ([]store.Outbox, error) {
	return s.outbox(ctx, heldSQL, target, limit)
}

// OutboxStats implements Store.
func (s *SQL) OutboxStats(ctx context.Context, target string, now time.Time) (st store.OutboxStats, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		var oldest, next string
		at := now.UTC().Format(store.TimeFormat)
		if err := c.queryRow(ctx, statsSQL, at, at, at, at, target).Scan(&st.Pending, &st.Held, &st.Dead, &oldest,
			&st.Scheduled, &next); err != nil {
			return fmt.Errorf("store: outbox stats: %w", err)
		}
		for _, v := range []struct {
			s string
			t *time.Time
		}{{oldest, &st.Oldest}, {next, &st.NextScheduled}} {
			if v.s == "" {
				continue
			}
			if *v.t, err = time.Parse(store.TimeFormat, v.s); err != nil {
				return fmt.Errorf("store: outbox stats: %w", err)
			}
		}
		return nil
	})
	return st, err
}

// outbox runs an outbox query q.
func (s *SQL) outbox(ctx context.Context, q string, args ...any) (out []store.Outbox, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: outbox: %w", err)
		}
		out, err = scanOutbox(rows)
		return err
	})
	return out, err
}

// scanOutbox reads and closes rows of outboxCols.
func scanOutbox(rows *sql.Rows) ([]store.Outbox, error) {
	defer rows.Close()
	out := []store.Outbox{}
	for rows.Next() {
		o, err := scanOutboxRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return out, nil
}

// scanOutboxRow reads one row of outboxCols.
func scanOutboxRow(row scanner) (store.Outbox, error) {
	var (
		o               store.Outbox
		nextAt, created string
		claimedUntil    string
		d, h            int
	)
	if err := row.Scan(&o.Seq, &o.Target, &o.Type, &o.ID, &o.Payload, &o.Attempts, &nextAt, &o.LastError, &d, &h, &created,
		&o.ClaimedBy, &claimedUntil); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.Outbox{}, fmt.Errorf("%w: outbox operation", store.ErrNotFound)
		}
		return store.Outbox{}, fmt.Errorf("store: outbox: %w", err)
	}
	var err error
	if o.NextAt, err = time.Parse(store.TimeFormat, nextAt); err != nil {
		return store.Outbox{}, fmt.Errorf("store: outbox %d: %w", o.Seq, err)
	}
	if created != "" {
		if o.Created, err = time.Parse(store.TimeFormat, created); err != nil {
			return store.Outbox{}, fmt.Errorf("store: outbox %d: %w", o.Seq, err)
		}
	}
	if claimedUntil != "" {
		if o.ClaimedUntil, err = time.Parse(store.TimeFormat, claimedUntil); err != nil {
			return store.Outbox{}, fmt.Errorf("store: outbox %d: %w", o.Seq, err)
		}
	}
	o.Dead, o.Held = d != 0, h != 0
	return o, nil
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
func (t *sqlTx) Provisioned(ctx context.Context, target, typ, id string) (store.Provisioned, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.Provisioned{}, err
	}
	return scanProvisioned(t.w.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
}

// PutProvisioned implements Tx.
func (t *sqlTx) PutProvisioned(ctx context.Context, p store.Provisioned) error {
	return t.execTx(ctx, "put provisioned", putProvSQL, p.Target, p.Type, p.ID, p.Anchor, data(p.State), p.Key)
}

// DeleteProvisioned implements Tx.
// The record of a group goes with the record of its members.
func (t *sqlTx) DeleteProvisioned(ctx context.Context, target, typ, id string) error {
	if err := t.execTx(ctx, "delete provisioned", delProvSQL, target, typ, id); err != nil || typ != "Group" {
		return err
	}
	return t.execTx(ctx, "delete provisioned", delProvMembers, target, id)
}

// Enqueue implements Tx.
func (t *sqlTx) Enqueue(ctx context.Context, o store.Outbox) (int64, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	seq, _, err := t.w.insert(ctx, enqueueSQL, "seq", o.Target, o.Type, o.ID, data(o.Payload), o.NextAt.UTC().Format(store.TimeFormat),
		boolInt(o.Held), created.UTC().Format(store.TimeFormat))
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	return seq, nil
}

// UpdateOutbox implements Tx.
func (t *sqlTx) UpdateOutbox(ctx context.Context, o store.Outbox) error {
	return t.execOne(ctx, "update outbox", o.Seq, updOutboxSQL,
		data(o.Payload), o.Attempts, o.NextAt.UTC().Format(store.TimeFormat), o.LastError, boolInt(o.Dead), boolInt(o.Held), timeText(o.Created), o.Seq)
}

// ClaimOutbox implements Tx. It reads each operation and its object's
// first pending one, and claims it by an update of its row: under the
// writers' serializable isolation, two replicas claiming one operation, or
// a claim and the planner's coalescing into it, do not both commit.
func (t *sqlTx) ClaimOutbox(ctx context.Context, seqs []int64, by string, now, until time.Time) ([]store.Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	out := []store.Outbox{}
	for _, seq := range seqs {
		o, err := scanOutboxRow(t.w.queryRow(ctx, getOutboxSQL, seq))
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		case o.Dead || o.Held || o.ClaimedBy != "" && o.ClaimedBy != by && o.ClaimedUntil.After(now):
			continue
		}
		var head int64
		if err := t.w.queryRow(ctx, objHeadSQL, o.Target, o.Type, o.ID).Scan(&head); err != nil {
			return nil, fmt.Errorf("store: claim outbox: %w", err)
		}
		if head != seq {
			continue
		}
		if _, err := t.w.exec(ctx, claimSQL, by, until.UTC().Format(store.TimeFormat), seq); err != nil {
			return nil, fmt.Errorf("store: claim outbox: %w", err)
		}
		o.ClaimedBy, o.ClaimedUntil = by, until
		out = append(out, o)
	}
	return out, nil
}

// LastOutbox implements Tx.
func (t *sqlTx) LastOutbox(ctx context.Context, target, typ, id string) (store.Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.Outbox{}, err
	}
	return scanOutboxRow(t.w.queryRow(ctx, lastOutboxSQL, target, typ, id))
}

// ObjectOutbox implements Tx.
func (t *sqlTx) ObjectOutbox(ctx context.Context, target, typ, id string) ([]store.Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := t.w.query(ctx, objectOutboxSQL, target, typ, id)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return scanOutbox(rows)
}

// HeldOutbox implements Tx.
func (t *sqlTx) HeldOutbox(ctx context.Context, target string, limit int) ([]store.Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := t.w.query(ctx, heldSQL, target, limit)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return scanOutbox(rows)
}

// ReleaseHeld implements Tx.
func (t *sqlTx) ReleaseHeld(ctx context.Context, target string) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.w.exec(ctx, releaseSQL, target)
	if err != nil {
		return 0, fmt.Errorf("store: release held: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: release held: %w", err)
	}
	return int(n), nil
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
		return fmt.Errorf("%w: outbox operation %d", store.ErrNotFound, seq)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// timeText formats t for a CHAR(30) time column; the zero time is "".
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(store.TimeFormat)
}
