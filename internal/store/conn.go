package store

import (
	"context"
	"database/sql"
	"errors"
)

// conn is one database connection, used by one goroutine at a time, with
// the statements prepared on it. The store's SQL texts repeat (values are
// always arguments), so each is parsed once per connection.
type conn struct {
	d     *dialect
	c     *sql.Conn
	stmts map[string]*sql.Stmt
}

// maxStmts bounds the prepared statements of a connection; filters of
// unusual shapes must not grow them without limit.
const maxStmts = 256

func newConn(ctx context.Context, db *sql.DB, d *dialect) (*conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{d: d, c: c, stmts: map[string]*sql.Stmt{}}, nil
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
	err := c.c.Close()
	if errors.Is(err, sql.ErrConnDone) {
		return nil
	}
	return err
}
