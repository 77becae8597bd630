// Package sqltarget is the SQL target connector: it provisions users,
// groups and memberships into an application's own tables in MySQL,
// MariaDB (go-sql-driver/mysql) or PostgreSQL (pgx), as Entra's
// on-premises generic SQL connector does, with groups, memberships and
// multi-valued attributes besides.
//
// The configuration (Config) maps each kind onto a table: the anchor
// column, a UUID the connector generates and never changes, so renames
// keep the anchor; the object id column, recording the gateway's object;
// a column per attribute, or a child table for a multi-valued one; how a
// disabled user is represented (a flag, a status value or a date); and
// for groups the membership table. Stored procedures or custom statements
// with named parameters may replace the generated writes of each
// operation; reads, and Lookup (targets.Finder) of existing accounts by an
// attribute, always use the table description.
//
// Every value is a statement parameter: table and column names come only
// from the configuration, validated as plain identifiers and quoted. Open
// checks that the tables, columns and procedures exist (and creates the
// tables with create_schema), reporting every problem with its config
// field. The writes of one operation are one transaction, membership rows
// written 500 per statement (memberBatch) whatever the group's size. List
// pages by anchor (keyset), never by OFFSET.
package sqltarget

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/targets"
)

// Connector is an open SQL target.
type Connector struct {
	db           *sql.DB
	dialect      string
	queryTimeout time.Duration
	users        *kindSpec
	groups       *kindSpec // nil without groups
	caps         targets.Capabilities
}

var (
	_ targets.Connector     = (*Connector)(nil)
	_ targets.Finder        = (*Connector)(nil)
	_ targets.HealthChecker = (*Connector)(nil)
)

// defaultPage and maxPage bound List pages.
const (
	defaultPage = 200
	maxPage     = 5000
)

// open opens a validated configuration.
func open(ctx context.Context, cfg *Config) (*Connector, error) {
	db, err := cfg.openDB()
	if err != nil {
		return nil, err
	}
	c := &Connector{db: db, dialect: cfg.Dialect, queryTimeout: defaultQueryTimeout, caps: cfg.Provides()}
	if cfg.QueryTimeout > 0 {
		c.queryTimeout = cfg.QueryTimeout
	}
	fail := func(err error) (*Connector, error) {
		db.Close()
		return nil, err
	}
	if c.users, err = newSpec(cfg.Dialect, targets.User, "users", cfg.Users); err != nil {
		return fail(err)
	}
	if cfg.Groups != nil {
		if c.groups, err = newSpec(cfg.Dialect, targets.Group, "groups", cfg.Groups); err != nil {
			return fail(err)
		}
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(classify("connect", err))
	}
	if cfg.CreateSchema {
		if err := c.createSchema(ctx); err != nil {
			return fail(err)
		}
	}
	if err := c.checkSchema(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// Capabilities: those of its configuration (Config.Provides).
func (c *Connector) Capabilities() targets.Capabilities { return c.caps }

// Health pings the database.
func (c *Connector) Health(ctx context.Context) error {
	return classify("ping", c.db.PingContext(ctx))
}

// Close closes the connection pool.
func (c *Connector) Close(context.Context) error { return c.db.Close() }

// DB returns the connection pool (for tests and tools).
func (c *Connector) DB() *sql.DB { return c.db }

var errUnsupported = targets.Permanent(fmt.Errorf("sql: %w", errors.ErrUnsupported))

// spec returns the spec of kind.
func (c *Connector) spec(kind targets.Kind) (*kindSpec, error) {
	switch {
	case kind == targets.User:
		return c.users, nil
	case kind == targets.Group && c.groups != nil:
		return c.groups, nil
	case kind == targets.Group:
		return nil, fmt.Errorf("%w: no groups mapping", errUnsupported)
	}
	return nil, targets.Permanent(fmt.Errorf("sql: unknown kind %q", kind))
}

// tx runs fn in a transaction bounded by the query timeout.
func (c *Connector) tx(ctx context.Context, what string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sql: %s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(what+": begin", err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return classify(what+": commit", tx.Commit())
}

// exec runs a statement of a transaction and returns the rows it
// matched.
func (c *Connector) exec(ctx context.Context, tx *sql.Tx, what, query string, args []any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, classify(what, err)
	}
	n, err := res.RowsAffected()
	return n, classify(what, err)
}

// checkValues checks op's attributes against the mapping: each one
// mapped, of its type, and fitting its column.
func (c *Connector) checkValues(s *kindSpec, attrs map[string]any) error {
	if err := targets.CheckAttrs(attrs); err != nil {
		return err
	}
	for name, v := range attrs {
		as, ok := s.attrs[name]
		if !ok {
			return targets.Permanent(fmt.Errorf("sql: attribute %q is not mapped to a column (%s.attributes)", name, s.field))
		}
		if v == nil {
			continue
		}
		var ok2 bool
		switch as.typ {
		case typeString:
			_, ok2 = v.(string)
		case typeBool:
			_, ok2 = v.(bool)
		case typeInt:
			_, ok2 = v.(int64)
		case typeFloat:
			_, ok2 = v.(float64)
		case typeStrings:
			_, ok2 = v.([]string)
		}
		if !ok2 {
			return targets.Permanent(fmt.Errorf("sql: attribute %q: a %T value for a %s column %s", name, v, as.typ, as.column))
		}
		if n, ok := v.(int64); ok && as.maxInt > 0 && (n > as.maxInt || n < -as.maxInt-1) {
			return targets.Permanent(fmt.Errorf("sql: attribute %q: column %s holds numbers from %d to %d, the value is %d", name, as.column, -as.maxInt-1, as.maxInt, n))
		}
		strs, _ := v.([]string)
		if sv, ok := v.(string); ok {
			strs = []string{sv}
		}
		for _, sv := range strs {
			if as.maxLen > 0 && utf8.RuneCountInString(sv) > as.maxLen {
				return targets.Permanent(fmt.Errorf("sql: attribute %q: column %s holds at most %d characters, the value has %d", name, as.column, as.maxLen, utf8.RuneCountInString(sv)))
			}
			if c.dialect == Postgres && strings.IndexByte(sv, 0) >= 0 {
				return targets.Permanent(fmt.Errorf("sql: attribute %q: PostgreSQL text cannot hold the NUL character (column %s)", name, as.column))
			}
		}
	}
	return nil
}

// run runs the bound statements of a write with the parameters.
func (c *Connector) run(ctx context.Context, tx *sql.Tx, stmts []boundStmt, params map[string]any) error {
	for _, st := range stmts {
		vals := make([]any, len(st.params))
		for i, p := range st.params {
			vals[i] = params[p]
		}
		if _, err := c.exec(ctx, tx, st.field, st.query, vals); err != nil {
			return err
		}
	}
	return nil
}

// params returns the parameters of a procedure or statement.
func params(op targets.Op, anchor string, attrs map[string]any) map[string]any {
	p := maps.Clone(attrs)
	if p == nil {
		p = map[string]any{}
	}
	p[paramAnchor], p[paramObjectID] = anchor, op.ObjectID
	return p
}

// writeMulti replaces the values of the strings attributes present in
// attrs (all of them on create).
func (c *Connector) writeMulti(ctx context.Context, tx *sql.Tx, s *kindSpec, anchor string, attrs map[string]any, create bool) error {
	for _, as := range s.multis {
		v, ok := attrs[as.name]
		if !ok && !create {
			continue
		}
		if !create {
			a := args{dialect: c.dialect}
			q := "DELETE FROM " + as.table + " WHERE " + as.key + " = " + a.add(anchor)
			if _, err := c.exec(ctx, tx, "clear "+as.name, q, a.vals); err != nil {
				return err
			}
		}
		vals, _ := v.([]string)
		if len(vals) == 0 {
			continue
		}
		a := args{dialect: c.dialect}
		rows := make([]string, len(vals))
		for i, val := range vals {
			rows[i] = "(" + a.add(anchor) + ", " + a.add(val) + ")"
		}
		q := "INSERT INTO " + as.table + " (" + as.key + ", " + as.column + ") VALUES " + strings.Join(rows, ", ")
		if _, err := c.exec(ctx, tx, "write "+as.name, q, a.vals); err != nil {
			return err
		}
	}
	return nil
}

// holder finds the anchor and object id of the object of s, other than
// except, that holds the object id or a unique value of attrs.
func (c *Connector) holder(ctx context.Context, q querier, s *kindSpec, objectID string, attrs map[string]any, except string) (anchor, oid string, err error) {
	try := func(col string, v any) (bool, error) {
		a := args{dialect: c.dialect}
		query := "SELECT " + s.anchor + ", " + s.objectID + " FROM " + s.table + " WHERE " + col + " = " + a.add(v) + " AND " + s.anchor + " <> " + a.add(except)
		rows, err := q.QueryContext(ctx, query, a.vals...)
		if err != nil {
			return false, classify("find the holder", err)
		}
		defer rows.Close()
		if !rows.Next() {
			return false, classify("find the holder", rows.Err())
		}
		var got sql.NullString
		if err := rows.Scan(&anchor, &got); err != nil {
			return false, classify("find the holder", err)
		}
		oid = got.String
		return true, nil
	}
	if objectID != "" {
		if ok, err := try(s.objectID, objectID); ok || err != nil {
			return anchor, oid, err
		}
	}
	for _, as := range s.unique {
		if v := attrs[as.name]; v != nil {
			if ok, err := try(as.column, v); ok || err != nil {
				return anchor, oid, err
			}
		}
	}
	return "", "", nil
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// conflict completes the conflict of a write (a duplicate key) with the
// holder of the object id or unique value.
func (c *Connector) conflict(ctx context.Context, s *kindSpec, objectID string, attrs map[string]any, except string, err error) error {
	var ce *targets.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sql: find the holder: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	anchor, oid, herr := c.holder(ctx, c.db, s, objectID, attrs, except)
	if herr != nil {
		return herr
	}
	return &targets.ConflictError{Anchor: anchor, ObjectID: oid, Err: ce.Err}
}

// Create inserts the object with a new anchor: a conflict when its object
// id or a unique value is taken.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	s, err := c.spec(op.Kind)
	if err != nil {
		return "", err
	}
	if err := c.checkValues(s, op.Attrs); err != nil {
		return "", err
	}
	anchor := uuid.NewString()
	var existing *targets.ConflictError
	err = c.tx(ctx, "create "+string(op.Kind), func(ctx context.Context, tx *sql.Tx) error {
		w, custom := s.writes["create"]
		// Without a unique index on the object id, only a lookup keeps a
		// repeated create from inserting a second row; with one, the
		// insert's duplicate key finds the holder (c.conflict).
		if custom || !s.oidUnique {
			if a, oid, err := c.holder(ctx, tx, s, op.ObjectID, nil, ""); err != nil || a != "" {
				if a != "" {
					existing = &targets.ConflictError{Anchor: a, ObjectID: oid}
				}
				return err
			}
		}
		if custom {
			if err := c.run(ctx, tx, w, params(op, anchor, op.Attrs)); err != nil {
				return err
			}
		} else {
			a := args{dialect: c.dialect}
			cols := []string{s.anchor, s.objectID}
			vals := []string{a.add(anchor), a.add(op.ObjectID)}
			for _, as := range s.scalars {
				if v, ok := op.Attrs[as.name]; ok && v != nil {
					cols, vals = append(cols, as.column), append(vals, a.add(v))
				}
			}
			if d := s.disable; d != nil && d.Mode != modeDate {
				cols, vals = append(cols, d.column), append(vals, a.add(d.value(false)))
			}
			q := "INSERT INTO " + s.table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
			if _, err := c.exec(ctx, tx, "insert into "+s.cfg.Table, q, a.vals); err != nil {
				return err
			}
		}
		return c.writeMulti(ctx, tx, s, anchor, op.Attrs, true)
	})
	switch {
	case existing != nil:
		return "", existing
	case err != nil:
		return "", c.conflict(ctx, s, op.ObjectID, op.Attrs, "", err)
	}
	return anchor, nil
}

// value returns the value of the disable column for a state.
func (d *disableSpec) value(disabled bool) any {
	switch d.Mode {
	case modeFlag:
		return disabled != d.Invert
	case modeStatus:
		if disabled {
			return d.DisabledValue
		}
		return d.EnabledValue
	}
	if disabled {
		return time.Now().UTC()
	}
	return nil
}

// Update sets the attributes present in op.Attrs and records the object
// id.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	s, err := c.spec(op.Kind)
	if err != nil {
		return err
	}
	if err := c.checkValues(s, op.Attrs); err != nil {
		return err
	}
	err = c.tx(ctx, "update "+string(op.Kind), func(ctx context.Context, tx *sql.Tx) error {
		if w, ok := s.writes["update"]; ok {
			// The statements receive the complete new values.
			cur, err := c.read(ctx, tx, s, op.Anchor, true)
			if err != nil {
				return err
			}
			attrs := maps.Clone(cur.Attrs)
			maps.Copy(attrs, op.Attrs)
			if err := c.run(ctx, tx, w, params(op, op.Anchor, attrs)); err != nil {
				return err
			}
		} else {
			a := args{dialect: c.dialect}
			sets := []string{s.objectID + " = " + a.add(op.ObjectID)}
			for _, as := range s.scalars {
				if v, ok := op.Attrs[as.name]; ok {
					sets = append(sets, as.column+" = "+a.add(v))
				}
			}
			q := "UPDATE " + s.table + " SET " + strings.Join(sets, ", ") + " WHERE " + s.anchor + " = " + a.add(op.Anchor)
			n, err := c.exec(ctx, tx, "update "+s.cfg.Table, q, a.vals)
			if err != nil {
				return err
			}
			if n == 0 {
				return notFound(op.Kind, op.Anchor)
			}
		}
		return c.writeMulti(ctx, tx, s, op.Anchor, op.Attrs, false)
	})
	return c.conflict(ctx, s, "", op.Attrs, op.Anchor, err)
}

func notFound(kind targets.Kind, anchor string) error {
	return targets.NotFound(fmt.Errorf("sql: %s %q does not exist", kind, anchor))
}

// Delete deletes the object, its memberships and its child rows.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	s, err := c.spec(op.Kind)
	if err != nil {
		return err
	}
	return c.tx(ctx, "delete "+string(op.Kind), func(ctx context.Context, tx *sql.Tx) error {
		var steps []string
		if c.groups != nil {
			m := c.groups.members
			steps = append(steps, "DELETE FROM "+m.table+" WHERE "+m.member+" = ")
			if s.kind == targets.Group {
				steps = append(steps, "DELETE FROM "+m.table+" WHERE "+m.group+" = ")
			}
		}
		for _, as := range s.multis {
			steps = append(steps, "DELETE FROM "+as.table+" WHERE "+as.key+" = ")
		}
		w, custom := s.writes["delete"]
		if !custom {
			steps = append(steps, "DELETE FROM "+s.table+" WHERE "+s.anchor+" = ")
		} else if _, err := c.read(ctx, tx, s, op.Anchor, true); errors.Is(err, targets.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		for _, q := range steps {
			a := args{dialect: c.dialect}
			q += a.add(op.Anchor)
			if _, err := c.exec(ctx, tx, "delete", q, a.vals); err != nil {
				return err
			}
		}
		if custom {
			return c.run(ctx, tx, w, params(op, op.Anchor, nil))
		}
		return nil
	})
}

// Disable disables the user.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, true)
}

// Enable enables the user.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, false)
}

func (c *Connector) setDisabled(ctx context.Context, op targets.Op, disabled bool) error {
	d := c.users.disable
	if op.Kind != targets.User || d == nil {
		return fmt.Errorf("%w: no users.disable mapping for %s", errUnsupported, op.Kind)
	}
	what, name := "enable", "enable user"
	if disabled {
		what, name = "disable", "disable user"
	}
	return c.tx(ctx, name, func(ctx context.Context, tx *sql.Tx) error {
		if w, ok := c.users.writes[what]; ok {
			if _, err := c.read(ctx, tx, c.users, op.Anchor, true); err != nil {
				return err
			}
			return c.run(ctx, tx, w, params(op, op.Anchor, nil))
		}
		a := args{dialect: c.dialect}
		var set string
		if d.Mode == modeDate && disabled { // a repeat keeps the first date
			set = d.column + " = COALESCE(" + d.column + ", " + a.add(d.value(true)) + ")"
		} else {
			set = d.column + " = " + a.add(d.value(disabled))
		}
		q := "UPDATE " + c.users.table + " SET " + set + " WHERE " + c.users.anchor + " = " + a.add(op.Anchor)
		n, err := c.exec(ctx, tx, name, q, a.vals)
		if err == nil && n == 0 {
			err = notFound(op.Kind, op.Anchor)
		}
		return err
	})
}

// AddMembers adds the members absent from the group.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, true)
}

// RemoveMembers removes the members present in the group.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, false)
}

// memberBatch bounds the members of one membership statement. A statement
// binds at most twice as many parameters (the existence check binds the
// anchors twice, an insert a group and a member per row), far under the
// 65,535 that MySQL's and PostgreSQL's protocols allow, so that a group of
// any size is written in statements of bounded size.
const memberBatch = 500

// members adds (or removes) the members, memberBatch at a time, in one
// transaction: an AddMembers with a member that does not exist changes
// nothing.
func (c *Connector) members(ctx context.Context, op targets.Op, add bool) error {
	if op.Kind != targets.Group || c.groups == nil {
		return fmt.Errorf("%w: no groups mapping for members of a %s", errUnsupported, op.Kind)
	}
	g := c.groups
	what := "remove_member"
	if add {
		what = "add_member"
	}
	members := slices.Compact(slices.Sorted(slices.Values(op.Members)))
	return c.tx(ctx, strings.ReplaceAll(what, "_", " ")+"s", func(ctx context.Context, tx *sql.Tx) error {
		// The group row, locked against a concurrent delete.
		a := args{dialect: c.dialect}
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+g.table+" WHERE "+g.anchor+" = "+a.add(op.Anchor)+" FOR UPDATE", a.vals...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(targets.Group, op.Anchor)
		} else if err != nil {
			return classify("read group", err)
		}
		for batch := range slices.Chunk(members, memberBatch) {
			if err := c.writeBatch(ctx, tx, op, batch, what); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeBatch adds (what "add_member") or removes the distinct members
// of one batch, those that are not already so.
func (c *Connector) writeBatch(ctx context.Context, tx *sql.Tx, op targets.Op, members []string, what string) error {
	g, m := c.groups, c.groups.members
	add := what == "add_member"
	if add {
		found, err := c.existing(ctx, tx, members)
		if err != nil {
			return err
		}
		if len(found) < len(members) {
			missing := slices.DeleteFunc(slices.Clone(members), func(id string) bool { return found[id] })
			shown := missing[:min(len(missing), 10)]
			more := ""
			if len(missing) > len(shown) {
				more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
			}
			return targets.NotFound(fmt.Errorf("sql: members %q%s do not exist", shown, more))
		}
	}
	a := args{dialect: c.dialect}
	q := "SELECT " + m.member + " FROM " + m.table + " WHERE " + m.group + " = " + a.add(op.Anchor) + " AND " + m.member + " IN (" + a.list(members) + ")"
	present, err := c.column(ctx, tx, q, a.vals)
	if err != nil {
		return err
	}
	var change []string // the members to add or remove: not already so
	for _, id := range members {
		if present[id] != add {
			change = append(change, id)
		}
	}
	if len(change) == 0 {
		return nil
	}
	if w, ok := g.writes[what]; ok {
		for _, id := range change {
			p := params(op, op.Anchor, nil)
			p[paramMember] = id
			if err := c.run(ctx, tx, w, p); err != nil {
				return err
			}
		}
		return nil
	}
	a = args{dialect: c.dialect}
	if add {
		rows := make([]string, len(change))
		for i, id := range change {
			rows[i] = "(" + a.add(op.Anchor) + ", " + a.add(id) + ")"
		}
		q = "INSERT INTO " + m.table + " (" + m.group + ", " + m.member + ") VALUES " + strings.Join(rows, ", ")
	} else {
		q = "DELETE FROM " + m.table + " WHERE " + m.group + " = " + a.add(op.Anchor) + " AND " + m.member + " IN (" + a.list(change) + ")"
	}
	_, err = c.exec(ctx, tx, strings.ReplaceAll(what, "_", " ")+"s", q, a.vals)
	return err
}

// existing returns which of the anchors are users or groups.
func (c *Connector) existing(ctx context.Context, q querier, anchors []string) (map[string]bool, error) {
	a := args{dialect: c.dialect}
	query := "SELECT " + c.users.anchor + " FROM " + c.users.table + " WHERE " + c.users.anchor + " IN (" + a.list(anchors) + ")"
	if g := c.groups; g != nil {
		query += " UNION SELECT " + g.anchor + " FROM " + g.table + " WHERE " + g.anchor + " IN (" + a.list(anchors) + ")"
	}
	return c.column(ctx, q, query, a.vals)
}

// column returns the values of a query's single column.
func (c *Connector) column(ctx context.Context, q querier, query string, vals []any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, query, vals...)
	if err != nil {
		return nil, classify("read members", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, classify("read members", err)
		}
		out[v] = true
	}
	return out, classify("read members", rows.Err())
}

// Get reads one object.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	s, err := c.spec(kind)
	if err != nil {
		return targets.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return targets.Object{}, fmt.Errorf("sql: get: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	return c.read(ctx, c.db, s, anchor, false)
}

// read reads one object, locking its row when lock is set.
func (c *Connector) read(ctx context.Context, q querier, s *kindSpec, anchor string, lock bool) (targets.Object, error) {
	a := args{dialect: c.dialect}
	query := c.selectFrom(s) + " WHERE " + s.anchor + " = " + a.add(anchor)
	if lock {
		query += " FOR UPDATE"
	}
	objs, err := c.query(ctx, q, s, query, a.vals)
	if err != nil {
		return targets.Object{}, err
	}
	if len(objs) == 0 {
		return targets.Object{}, notFound(s.kind, anchor)
	}
	return objs[0], nil
}

// List returns a page of objects in anchor order after the cursor.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	s, err := c.spec(kind)
	if err != nil {
		return targets.Page{}, err
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) < 2 || b[0] != 'k' {
			return targets.Page{}, targets.Permanent(fmt.Errorf("sql: invalid cursor %q", cursor))
		}
		after = string(b[1:])
	}
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	if err := ctx.Err(); err != nil {
		return targets.Page{}, fmt.Errorf("sql: list: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	a := args{dialect: c.dialect}
	query := c.selectFrom(s)
	if cursor != "" {
		query += " WHERE " + s.anchor + " > " + a.add(after)
	}
	query += fmt.Sprintf(" ORDER BY %s LIMIT %d", s.anchor, limit+1)
	objs, err := c.query(ctx, c.db, s, query, a.vals)
	if err != nil {
		return targets.Page{}, err
	}
	page := targets.Page{Objects: objs}
	if len(objs) > limit {
		page.Objects = objs[:limit]
		page.Next = base64.RawURLEncoding.EncodeToString([]byte("k" + objs[limit-1].Anchor))
	}
	return page, nil
}

// Lookup returns the objects whose attribute attr holds value, in anchor
// order, at most limit (default 200, at most 5000) of them: a scalar
// attribute by a query on its column, a strings attribute through its
// child table (any of its values). The database compares, as the column's
// collation does, which is also how the column's unique index compares: in
// MySQL and MariaDB a _ci collation (their default) ignores case and a
// PAD SPACE collation trailing spaces, while PostgreSQL's text compares
// exactly unless the column is citext or has a nondeterministic collation.
// Like every read it uses the table description, with procedures or
// statements as well.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	s, err := c.spec(kind)
	if err != nil {
		return nil, err
	}
	as, ok := s.attrs[attr]
	if !ok {
		return nil, targets.Permanent(fmt.Errorf("sql: lookup: attribute %q is not mapped to a column (%s.attributes)", attr, s.field))
	}
	possible, err := c.lookupValue(as, value)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql: lookup: %w", err)
	}
	if !possible {
		return []targets.Object{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	a := args{dialect: c.dialect}
	query := c.selectFrom(s) + " WHERE "
	if as.typ == typeStrings {
		query += s.anchor + " IN (SELECT " + as.key + " FROM " + as.table + " WHERE " + as.column + " = " + a.add(value) + ")"
	} else {
		query += as.column + " = " + a.add(value)
	}
	query += fmt.Sprintf(" ORDER BY %s LIMIT %d", s.anchor, limit)
	objs, err := c.query(ctx, c.db, s, query, a.vals)
	if err != nil {
		return nil, err
	}
	if objs == nil {
		objs = []targets.Object{}
	}
	return objs, nil
}

// lookupValue checks that value is one value of the attribute's type, and
// reports whether its column can hold it (else nothing matches).
func (c *Connector) lookupValue(as *attrSpec, value any) (bool, error) {
	var ok bool
	switch as.typ {
	case typeString, typeStrings:
		_, ok = value.(string)
	case typeBool:
		_, ok = value.(bool)
	case typeInt:
		_, ok = value.(int64)
	case typeFloat:
		_, ok = value.(float64)
	}
	if !ok {
		want := map[string]string{typeString: "a string", typeStrings: "a string (one of its values)", typeBool: "a bool", typeInt: "an int64", typeFloat: "a float64"}[as.typ]
		return false, targets.Permanent(fmt.Errorf("sql: lookup: attribute %q: a value of type %T, want %s", as.name, value, want))
	}
	switch v := value.(type) {
	case string:
		return c.dialect != Postgres || strings.IndexByte(v, 0) < 0, nil
	case int64:
		return as.maxInt == 0 || v <= as.maxInt && v >= -as.maxInt-1, nil
	}
	return true, nil
}

// selectFrom returns the SELECT of a kind's rows: anchor, object id, the
// scalar attributes, the disable column.
func (c *Connector) selectFrom(s *kindSpec) string {
	cols := []string{s.anchor, s.objectID}
	for _, as := range s.scalars {
		cols = append(cols, as.column)
	}
	if s.disable != nil {
		cols = append(cols, s.disable.column)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + s.table
}

// query runs a selectFrom query and loads the objects' child rows and
// members.
func (c *Connector) query(ctx context.Context, q querier, s *kindSpec, query string, vals []any) ([]targets.Object, error) {
	rows, err := q.QueryContext(ctx, query, vals...)
	if err != nil {
		return nil, classify("read "+s.cfg.Table, err)
	}
	defer rows.Close()
	var objs []targets.Object
	index := map[string]int{}
	for rows.Next() {
		var anchor string
		var oid sql.NullString
		dest := []any{&anchor, &oid}
		vals := make([]any, len(s.scalars))
		for i, as := range s.scalars {
			switch as.typ {
			case typeString:
				vals[i] = new(sql.NullString)
			case typeBool:
				vals[i] = new(sql.NullBool)
			case typeInt:
				vals[i] = new(sql.NullInt64)
			case typeFloat:
				vals[i] = new(sql.NullFloat64)
			}
			dest = append(dest, vals[i])
		}
		var state any
		if s.disable != nil {
			dest = append(dest, &state)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, classify("read "+s.cfg.Table, err)
		}
		o := targets.Object{Kind: s.kind, Anchor: anchor, ObjectID: oid.String, Attrs: map[string]any{}}
		for i, as := range s.scalars {
			var v any
			switch x := vals[i].(type) {
			case *sql.NullString:
				if x.Valid {
					v = x.String
				}
			case *sql.NullBool:
				if x.Valid {
					v = x.Bool
				}
			case *sql.NullInt64:
				if x.Valid {
					v = x.Int64
				}
			case *sql.NullFloat64:
				if x.Valid {
					v = x.Float64
				}
			}
			if v != nil {
				o.Attrs[as.name] = v
			}
		}
		if s.disable != nil {
			if o.Disabled, err = s.disable.disabled(state); err != nil {
				return nil, targets.Permanent(fmt.Errorf("sql: %s %q: column %s: %w", s.kind, anchor, s.disable.column, err))
			}
		}
		index[anchor] = len(objs)
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, classify("read "+s.cfg.Table, err)
	}
	rows.Close()
	if len(objs) == 0 {
		return nil, nil
	}
	anchors := slices.Collect(maps.Keys(index))
	for _, as := range s.multis {
		err := c.pairs(ctx, q, "SELECT "+as.key+", "+as.column+" FROM "+as.table+" WHERE "+as.key+" IN (", anchors, func(k, v string) {
			o := &objs[index[k]]
			cur, _ := o.Attrs[as.name].([]string)
			o.Attrs[as.name] = append(cur, v)
		})
		if err != nil {
			return nil, err
		}
	}
	if s.members != nil {
		m := s.members
		err := c.pairs(ctx, q, "SELECT "+m.group+", "+m.member+" FROM "+m.table+" WHERE "+m.group+" IN (", anchors, func(k, v string) {
			objs[index[k]].Members = append(objs[index[k]].Members, v)
		})
		if err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// pairs runs prefix + the anchors' placeholders + ")" and calls fn for
// each (key, value) row.
func (c *Connector) pairs(ctx context.Context, q querier, prefix string, anchors []string, fn func(k, v string)) error {
	a := args{dialect: c.dialect}
	rows, err := q.QueryContext(ctx, prefix+a.list(anchors)+")", a.vals...)
	if err != nil {
		return classify("read child rows", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return classify("read child rows", err)
		}
		fn(k, v)
	}
	return classify("read child rows", rows.Err())
}

// disabled reads the disable column's value.
func (d *disableSpec) disabled(v any) (bool, error) {
	if v == nil {
		return false, nil
	}
	switch d.Mode {
	case modeDate:
		return true, nil
	case modeFlag:
		var b sql.NullBool
		if err := b.Scan(v); err != nil {
			return false, err
		}
		return b.Bool != d.Invert, nil
	}
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return false, err
	}
	return s.String == d.DisabledValue, nil
}
