package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The provisioning engine's tables: the change journal that Tx.Create,
// Update and Delete append to in the transaction of the change (so the
// engine cannot miss a change acknowledged to a SCIM client), and the
// engine's own state, whose JSON payloads the store does not interpret.

// Change is one journal entry: the resource Type/ID was created, updated
// or deleted, or its members changed.
type Change struct {
	Seq  int64
	Type string
	ID   string
	// Added and Removed are the member values the change added to or
	// removed from a group (Tx.AddMembers, Tx.RemoveMembers); the delete
	// of a group lists its last members in Removed.
	Added, Removed []string
	// MembersOnly: nothing but the members changed, as Added and Removed
	// say.
	MembersOnly bool
	// Sync names members of a group whose membership is to be planned
	// again though SCIM did not change it (Tx.TouchMembers: a hold was
	// released); nothing else changed.
	Sync []string
}

// Provisioned is the engine's record of one object in one target.
type Provisioned struct {
	Target string
	Type   string
	ID     string
	Anchor string // the target's identifier; "" when not (yet) created there
	State  []byte // the engine's JSON
	// Key is a value the engine finds the object by besides its id (a
	// user's externalId), "" when none.
	Key string
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
	// Held: held by the deletion guard until released; the object's later
	// operations wait behind it.
	Held bool
	// Created is when the operation was queued (zero for operations queued
	// before the store recorded it).
	Created time.Time
}

// OutboxStats summarises the queued operations of one target.
type OutboxStats struct {
	Pending int       // pending operations (due), held ones included
	Held    int       // operations held by the deletion guard
	Dead    int       // dead letters
	Oldest  time.Time // Created of the oldest pending operation; zero when none
	// Scheduled operations are queued for later (a leaver's delete after
	// the grace period): their Created is in the future, when they fall
	// due. NextScheduled is the earliest; zero when none.
	Scheduled     int
	NextScheduled time.Time
}

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
	delProvSQL     = "DELETE FROM provisioned WHERE target = ? AND type = ? AND id = ?"
	outboxCols     = "seq, target, type, id, payload, attempts, next_at, last_error, dead, held, created"
	enqueueSQL     = "INSERT INTO outbox (target, type, id, payload, attempts, next_at, last_error, dead, held, created) VALUES (?, ?, ?, ?, 0, ?, '', 0, ?, ?)"
	updOutboxSQL   = "UPDATE outbox SET payload = ?, attempts = ?, next_at = ?, last_error = ?, dead = ?, held = ?, created = ? WHERE seq = ?"
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
	provByAnchorSQL = "SELECT id, anchor, state, okey FROM provisioned WHERE target = ? AND type = ? AND anchor = ?"
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
	return t.Audit(ctx, AuditEntry{Actor: ActorOf(ctx), Action: action, Type: typ, ID: id, Result: AuditOK, Detail: detail})
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
func (s *SQL) Provisioned(ctx context.Context, target, typ, id string) (p Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		p, err = scanProvisioned(c.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
		return err
	})
	return p, err
}

func scanProvisioned(row scanner, target, typ, id string) (Provisioned, error) {
	p := Provisioned{Target: target, Type: typ, ID: id}
	err := row.Scan(&p.Anchor, &p.State, &p.Key)
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
	return s.outbox(ctx, outboxSQL, target, boolInt(dead), limit)
}

// Deliverable implements Store.
func (s *SQL) Deliverable(ctx context.Context, target string, limit int) ([]Outbox, error) {
	return s.outbox(ctx, deliverableSQL, target, limit)
}

// ObjectOutbox implements Store.
func (s *SQL) ObjectOutbox(ctx context.Context, target, typ, id string) ([]Outbox, error) {
	return s.outbox(ctx, objectOutboxSQL, target, typ, id)
}

// ProvisionedOf implements Store.
func (s *SQL) ProvisionedOf(ctx context.Context, target string) (out []Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, provOfSQL, target)
		if err != nil {
			return fmt.Errorf("store: provisioned: %w", err)
		}
		defer rows.Close()
		out = []Provisioned{}
		for rows.Next() {
			p := Provisioned{Target: target}
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
func (s *SQL) ProvisionedByKey(ctx context.Context, target, typ, key string) ([]Provisioned, error) {
	return s.provisionedBy(ctx, provByKeySQL, target, typ, key)
}

// ProvisionedByAnchor implements Store.
func (s *SQL) ProvisionedByAnchor(ctx context.Context, target, typ, anchor string) ([]Provisioned, error) {
	return s.provisionedBy(ctx, provByAnchorSQL, target, typ, anchor)
}

// provisionedBy reads the records of q, a query by target, type and one
// more value.
func (s *SQL) provisionedBy(ctx context.Context, q, target, typ, v string) (out []Provisioned, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, q, target, typ, v)
		if err != nil {
			return fmt.Errorf("store: provisioned: %w", err)
		}
		defer rows.Close()
		out = []Provisioned{}
		for rows.Next() {
			p := Provisioned{Target: target, Type: typ}
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
func (t *sqlTx) GetOutbox(ctx context.Context, seq int64) (Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return Outbox{}, err
	}
	return scanOutboxRow(t.w.queryRow(ctx, getOutboxSQL, seq))
}

// DeletePending implements Tx.
func (t *sqlTx) DeletePending(ctx context.Context, target, typ, id string) error {
	return t.execTx(ctx, "delete pending", delPendingSQL, target, typ, id)
}

// HeldOutbox implements Store.
func (s *SQL) HeldOutbox(ctx context.Context, target string, limit int) ([]Outbox, error) {
	return s.outbox(ctx, heldSQL, target, limit)
}

// OutboxStats implements Store.
func (s *SQL) OutboxStats(ctx context.Context, target string, now time.Time) (st OutboxStats, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		var oldest, next string
		at := now.UTC().Format(TimeFormat)
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
			if *v.t, err = time.Parse(TimeFormat, v.s); err != nil {
				return fmt.Errorf("store: outbox stats: %w", err)
			}
		}
		return nil
	})
	return st, err
}

// outbox runs an outbox query q.
func (s *SQL) outbox(ctx context.Context, q string, args ...any) (out []Outbox, err error) {
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
func scanOutbox(rows *sql.Rows) ([]Outbox, error) {
	defer rows.Close()
	out := []Outbox{}
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
func scanOutboxRow(row scanner) (Outbox, error) {
	var (
		o               Outbox
		nextAt, created string
		d, h            int
	)
	if err := row.Scan(&o.Seq, &o.Target, &o.Type, &o.ID, &o.Payload, &o.Attempts, &nextAt, &o.LastError, &d, &h, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Outbox{}, fmt.Errorf("%w: outbox operation", ErrNotFound)
		}
		return Outbox{}, fmt.Errorf("store: outbox: %w", err)
	}
	var err error
	if o.NextAt, err = time.Parse(TimeFormat, nextAt); err != nil {
		return Outbox{}, fmt.Errorf("store: outbox %d: %w", o.Seq, err)
	}
	if created != "" {
		if o.Created, err = time.Parse(TimeFormat, created); err != nil {
			return Outbox{}, fmt.Errorf("store: outbox %d: %w", o.Seq, err)
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
func (t *sqlTx) Provisioned(ctx context.Context, target, typ, id string) (Provisioned, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return Provisioned{}, err
	}
	return scanProvisioned(t.w.queryRow(ctx, provSQL, target, typ, id), target, typ, id)
}

// PutProvisioned implements Tx.
func (t *sqlTx) PutProvisioned(ctx context.Context, p Provisioned) error {
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
func (t *sqlTx) Enqueue(ctx context.Context, o Outbox) (int64, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	seq, _, err := t.w.insert(ctx, enqueueSQL, "seq", o.Target, o.Type, o.ID, data(o.Payload), o.NextAt.UTC().Format(TimeFormat),
		boolInt(o.Held), created.UTC().Format(TimeFormat))
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	return seq, nil
}

// UpdateOutbox implements Tx.
func (t *sqlTx) UpdateOutbox(ctx context.Context, o Outbox) error {
	return t.execOne(ctx, "update outbox", o.Seq, updOutboxSQL,
		data(o.Payload), o.Attempts, o.NextAt.UTC().Format(TimeFormat), o.LastError, boolInt(o.Dead), boolInt(o.Held), timeText(o.Created), o.Seq)
}

// LastOutbox implements Tx.
func (t *sqlTx) LastOutbox(ctx context.Context, target, typ, id string) (Outbox, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return Outbox{}, err
	}
	return scanOutboxRow(t.w.queryRow(ctx, lastOutboxSQL, target, typ, id))
}

// ObjectOutbox implements Tx.
func (t *sqlTx) ObjectOutbox(ctx context.Context, target, typ, id string) ([]Outbox, error) {
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
func (t *sqlTx) HeldOutbox(ctx context.Context, target string, limit int) ([]Outbox, error) {
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

// timeText formats t for a CHAR(30) time column; the zero time is "".
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}
