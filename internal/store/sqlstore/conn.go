package sqlstore

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
)

// conn is one database connection, used by one goroutine at a time, with
// the statements prepared on it. The store's SQL texts repeat (values are
// always arguments), so each is parsed once per connection.
type conn struct {
	d     *dialect
	db    *sql.DB
	c     *sql.Conn // nil after a failure that may have broken it
	stmts map[string]*sql.Stmt
	// journalLocked: the write transaction running on this connection
	// holds the dialect's lockJournal.
	journalLocked bool
}

// maxStmts bounds the prepared statements of a connection; filters of
// unusual shapes must not grow them without limit.
const maxStmts = 256

func newConn(ctx context.Context, db *sql.DB, d *dialect) (*conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{d: d, db: db, c: c, stmts: map[string]*sql.Stmt{}}, nil
}

// ready reconnects a connection dropped by drop.
func (c *conn) ready(ctx context.Context) error {
	if c.c != nil {
		return nil
	}
	nc, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	c.c = nc
	return nil
}

// drop closes the connection after err, when err may have left it
// unusable: a client-server database's driver closes a connection whose
// statement was interrupted, and a server that restarted closes them all.
// SQLite's connections survive both.
func (c *conn) drop(ctx context.Context, err error) {
	if err == nil || c.c == nil || c.d.embedded {
		return
	}
	if ctx.Err() == nil && !c.d.isFault(err) && !errors.Is(err, sqldriver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone) {
		return
	}
	c.closeStmts()
	_ = c.c.Close()
	c.c = nil
}

// stmt returns q prepared on the connection.
func (c *conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxStmts {
		c.closeStmts()
	}
	st, err := c.c.PrepareContext(ctx, c.d.rebind(q))
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

func (c *conn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (c *conn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// insert runs the INSERT q, which may do nothing (ON CONFLICT DO
// NOTHING), and returns the value its table's key column col was given;
// inserted is false when it did nothing.
func (c *conn) insert(ctx context.Context, q, col string, args ...any) (id int64, inserted bool, err error) {
	if c.d.returning {
		err := c.queryRow(ctx, q+" RETURNING "+col, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := c.exec(ctx, q, args...)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

// queryRow is QueryRow of a prepared q; errors surface in Scan.
func (c *conn) queryRow(ctx context.Context, q string, args ...any) scanner {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (c *conn) closeStmts() {
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

func (c *conn) close() error {
	c.closeStmts()
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	if errors.Is(err, sql.ErrConnDone) {
		return nil
	}
	return err
}
