// Package sqlstore implements the store (package store) on an SQL
// database: an embedded SQLite file (OpenSQLite), PostgreSQL (OpenPostgres)
// or MariaDB/MySQL (OpenMySQL), with one SQL text and a dialect per
// database (dialect.go). Several gateways (replicas) can share a PostgreSQL
// or MySQL database: migrations run once under a lock, writers are
// serializable and retry conflicts, and leases (TryLease) pick the replica
// that runs the background work.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	_ "modernc.org/sqlite"
)

// SQL is the Store on an SQL database. Writes go through one connection
// owned by a writer goroutine that commits queued writes in groups; reads
// use a pool of other connections.
//
// Get and Query return resources without Index. A read's statements are
// interrupted when its context ends (the driver interrupts the running
// statement), so a client that leaves stops its query; a write's are not
// (see commit), its context is checked between them.
//
// Reads do not starve: a Query that is not an index lookup (see Query)
// first takes a place in scans, which holds half the readers, so that Get,
// lookups such as userName eq "x" and the engine's reads find a reader
// however many expensive queries run.
type SQL struct {
	d       *dialect
	wdb     *sql.DB
	rdb     *sql.DB
	readers chan *conn    // idle reader connections
	scans   chan struct{} // a place for each Query running that is not a lookup
	queue   chan *request
	stopped chan struct{}
	changed chan struct{} // Changed

	mu     sync.RWMutex // closed; held for reading by Get, Query and enqueuing
	closed bool

	// health is the ErrUnavailable of the last commit when the storage
	// could not write it; nil once a commit succeeds.
	health atomic.Pointer[error]

	after func(time.Duration) <-chan time.Time // time.After; tests replace it

	// conflicts counts the batches run again after a conflict with
	// another replica's transaction; commits the writer's committed
	// transactions, writes the Writes they held.
	conflicts, commits, writes atomic.Int64
	// analyzing: analyzeSoon's statistics refresh runs.
	analyzing atomic.Bool
}

// WriterStats returns the counts of the store's writer.
func (s *SQL) WriterStats() WriterStats {
	return WriterStats{Commits: s.commits.Load(), Writes: s.writes.Load(), Conflicts: s.conflicts.Load()}
}

var _ store.Store = (*SQL)(nil)

// maxBatch bounds how many Writes share one commit.
const maxBatch = 256

// OpenSQLite opens (creating it and its directory if needed) the SQLite
// database at path and brings its schema up to date. The database runs in
// WAL mode with synchronous=FULL: a Write returns only after its commit is
// fsync'd.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	return openSQLite(ctx, path, migrations)
}

// openSQLite is OpenSQLite with the schema history migs; opts adjust the
// store before its writer starts (tests).
func openSQLite(ctx context.Context, path string, migs []migration, opts ...func(*SQL)) (_ *SQL, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dsn := func(pragmas ...string) string {
		q := url.Values{"_pragma": append([]string{"busy_timeout(10000)"}, pragmas...)}
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
	}
	return open(ctx, sqliteDialect, path,
		// temp_store: savepoints journal pages in memory, not in temporary files.
		func() (*sql.DB, error) {
			return sql.Open("sqlite", dsn("journal_mode(WAL)", "synchronous(FULL)", "temp_store(MEMORY)"))
		},
		func() (*sql.DB, error) { return sql.Open("sqlite", dsn("query_only(1)")) },
		migs, opts...)
}

// open opens the store on a database of dialect d (named where in errors):
// openWriter opens the pool of the writer's one connection, which
// migrates the schema to migs; openReaders the pool of the readers, which
// do not write.
func open(ctx context.Context, d *dialect, where string, openWriter, openReaders func() (*sql.DB, error),
	migs []migration, opts ...func(*SQL)) (_ *SQL, err error) {
	readers := max(4, runtime.GOMAXPROCS(0))
	s := &SQL{
		d:       d,
		readers: make(chan *conn, readers),
		scans:   make(chan struct{}, max(1, readers/2)),
		queue:   make(chan *request, maxBatch),
		stopped: make(chan struct{}),
		changed: make(chan struct{}, changedCapacity),
		after:   time.After,
	}
	for _, o := range opts {
		o(s)
	}
	var w *conn
	defer func() {
		if err != nil {
			if w != nil {
				_ = w.close()
			}
			if s.rdb != nil {
				_ = s.closeReaders()
			}
			if s.wdb != nil {
				_ = s.wdb.Close()
			}
			err = fmt.Errorf("store: open %s: %w", where, err)
		}
	}()
	if s.wdb, err = openWriter(); err != nil {
		return nil, err
	}
	s.wdb.SetMaxOpenConns(1)
	if w, err = newConn(ctx, s.wdb, s.d); err != nil {
		return nil, err
	}
	if err = migrate(ctx, w.c, s.d, migs); err != nil {
		return nil, err
	}
	if s.rdb, err = openReaders(); err != nil {
		return nil, err
	}
	s.rdb.SetMaxOpenConns(readers)
	for range readers {
		c, err := newConn(ctx, s.rdb, s.d)
		if err != nil {
			return nil, err
		}
		s.readers <- c
	}
	go s.run(w)
	return s, nil
}

// Close finishes the queued writes and closes the database. Later calls
// return ErrClosed.
func (s *SQL) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.stopped
	return errors.Join(s.closeReaders(), s.wdb.Close())
}

// Health returns nil while the store can write, and an error wrapping
// ErrUnavailable (naming the storage's failure) when the last write failed
// because of the storage: disk full, I/O error, read-only database. The
// next successful commit clears it.
func (s *SQL) Health() error {
	if p := s.health.Load(); p != nil {
		return *p
	}
	return nil
}

// errPragma rolls back the savepoint of SetMaxPages, so that its Write
// is no committed write for Health.
var errPragma = errors.New("store: pragma only")

// SetMaxPages caps the database file at n pages (SQLite's max_page_count;
// a cap below the current size is the current size). Writes that need more
// pages then fail as on a full disk, with ErrUnavailable: tests use it to
// exercise a full store without a full disk.
func (s *SQL) SetMaxPages(ctx context.Context, n int64) error {
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		t, ok := tx.(*sqlTx)
		if !ok {
			return fmt.Errorf("store: SetMaxPages: unexpected Tx %T", tx)
		}
		if _, err := t.w.c.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(n, 10)); err != nil {
			return err
		}
		return errPragma
	})
	if errors.Is(err, errPragma) {
		return nil
	}
	return err
}

// closeReaders closes the idle reader connections (all of them once no
// read is in flight) and their database.
func (s *SQL) closeReaders() error {
	var errs []error
	for len(s.readers) > 0 {
		errs = append(errs, (<-s.readers).close())
	}
	return errors.Join(append(errs, s.rdb.Close())...)
}

// read runs fn on an idle reader connection. The store's mutex is held for
// reading, so that Close waits for fn. fn's statements end with ctx's error
// when ctx ends; fn must leave the connection as it found it even then.
func (s *SQL) read(ctx context.Context, fn func(ctx context.Context, c *conn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	var c *conn
	select {
	case c = <-s.readers:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { s.readers <- c }()
	for try := 0; ; try++ {
		if err := c.ready(ctx); err != nil {
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		err := fn(ctx, c)
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			// Cut short by ctx: MySQL's driver can report a connection
			// it closed for it as broken instead.
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		c.drop(ctx, err)
		// An idle connection that the server closed (it restarted)
		// fails its first statement: a read is tried again, once, on a
		// new one.
		if err == nil || c.c != nil || ctx.Err() != nil || try > 0 {
			return err
		}
	}
}

const (
	resourceColumns = "r.rid, r.id, r.version, r.created, r.modified, r.uniq, r.data"
	getSQL          = "SELECT " + resourceColumns + " FROM resources r WHERE r.type = ? AND r.id = ?"
)

// Get implements Store.
func (s *SQL) Get(ctx context.Context, typ, id string) (r store.Resource, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		r, err = scanResource(c.queryRow(ctx, getSQL, typ, id), typ)
		return err
	})
	if errors.Is(s.d.textErr(err), store.ErrInvalidText) {
		return store.Resource{}, store.ErrNotFound // no id holds what the database cannot
	}
	return r, err
}

// Query implements Store. A query that is not an index lookup (the filter
// is answered by equality lookups in the index alone, or selects by id, and
// there is no SortBy; a nil or constant filter counts as a lookup) waits for
// a place in s.scans, or for ctx to end.
func (s *SQL) Query(ctx context.Context, typ string, q store.Query) (page store.Page, err error) {
	w, lookup, err := s.d.plan(typ, q.Filter)
	if err != nil {
		return store.Page{}, err
	}
	defer func() { err = s.d.textErr(err) }()
	if !lookup || q.SortBy != "" {
		select {
		case s.scans <- struct{}{}:
			defer func() { <-s.scans }()
		case <-ctx.Done():
			return store.Page{}, ctx.Err()
		}
	}
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		// One read transaction: Total and the page from one snapshot.
		// BEGIN and ROLLBACK run whatever ctx does: the driver reports
		// ctx's error for a BEGIN that ctx ended just after it began, and
		// the connection must go back to the pool without a transaction.
		nc := context.WithoutCancel(ctx)
		if _, err := c.exec(nc, c.d.beginRead); err != nil {
			return fmt.Errorf("store: query: %w", err)
		}
		page, err = query(ctx, c, typ, w, lookup, q)
		if _, e := c.exec(nc, "ROLLBACK"); e != nil && err == nil {
			err = fmt.Errorf("store: query: %w", e)
		}
		return err
	})
	return page, err
}

// query runs q, whose filter compiles to w (found by index lookups when
// lookup), on c.
func query(ctx context.Context, c *conn, typ string, w frag, lookup bool, q store.Query) (store.Page, error) {
	page := store.Page{Resources: []store.Resource{}}
	offset := max(q.StartIndex, 1) - 1
	if q.Count > 0 {
		var err error
		stmt, args := pageSQL(w, lookup, q.SortBy, q.Descending, q.Count, offset)
		if page.Resources, err = readResources(ctx, c, typ, stmt, args); err != nil {
			return store.Page{}, err
		}
		// A page that is neither full nor past the end tells the total.
		if n := len(page.Resources); n < q.Count && (n > 0 || offset == 0) {
			page.Total = offset + n
			return page, nil
		}
	}
	if err := c.queryRow(ctx, "SELECT COUNT(*) FROM resources r WHERE "+w.sql, w.args...).Scan(&page.Total); err != nil {
		return store.Page{}, fmt.Errorf("store: query: %w", err)
	}
	return page, nil
}

// readResources runs a query selecting resourceColumns.
func readResources(ctx context.Context, c *conn, typ, stmt string, args []any) ([]store.Resource, error) {
	rows, err := c.query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	rs := []store.Resource{}
	for rows.Next() {
		r, err := scanResource(rows, typ)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return rs, nil
}

// pageSQL selects a page of the resources matching w (found by index
// lookups when lookup). The driver interrupts a statement only while it
// computes its first row (later rows are read without watching the
// context), so an expensive filter must be evaluated then: sorted, the sort
// consumes every match before the first row; in creation order the page's
// rids come from a subquery that SQLite materialises before the first row.
// A lookup's later rows are cheap, and it skips the subquery, which would
// cost it some 10%.
func pageSQL(w frag, lookup bool, sortBy string, desc bool, count, offset int) (string, []any) {
	if sortBy == "" {
		args := append(append([]any{}, w.args...), count, offset)
		if lookup {
			return "SELECT " + resourceColumns + " FROM resources r WHERE " + w.sql + " ORDER BY r.rid LIMIT " + limitArg + " OFFSET ?", args
		}
		return "SELECT " + resourceColumns + " FROM resources r WHERE r.rid IN (SELECT r.rid FROM resources r WHERE " + w.sql +
			" ORDER BY r.rid LIMIT " + limitArg + " OFFSET ?) ORDER BY r.rid", args
	}
	key := sortKey(sortBy)
	order := "(t.sk IS NULL), t.sk, t.rid"
	if desc {
		order = "(t.sk IS NULL) DESC, t.sk DESC, t.rid"
	}
	cols := strings.ReplaceAll(resourceColumns, "r.", "t.")
	stmt := "SELECT " + cols + " FROM (SELECT " + resourceColumns + ", " + key.sql + " AS sk" +
		" FROM resources r WHERE " + w.sql + ") t ORDER BY " + order + " LIMIT " + limitArg + " OFFSET ?"
	args := append(append(append([]any{}, key.args...), w.args...), count, offset)
	return stmt, args
}

type scanner interface{ Scan(...any) error }

// scanResource reads the columns of resourceColumns.
func scanResource(row scanner, typ string) (store.Resource, error) {
	r := store.Resource{Type: typ}
	var rid int64
	var created, modified string
	var uniq sql.NullString
	err := row.Scan(&rid, &r.ID, &r.Version, &created, &modified, &uniq, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Resource{}, store.ErrNotFound
	}
	if err != nil {
		return store.Resource{}, fmt.Errorf("store: read: %w", err)
	}
	r.Unique = uniq.String
	if r.Created, err = time.Parse(store.TimeFormat, created); err == nil {
		r.Modified, err = time.Parse(store.TimeFormat, modified)
	}
	if err != nil {
		return store.Resource{}, fmt.Errorf("store: read %s %q: %w", typ, r.ID, err)
	}
	return r, nil
}

// WriterStats are the counts of the store's writer since it opened: how
// well its group commit works (Writes per commit) and how often another
// replica's transactions made it run a batch again.
type WriterStats struct {
	Commits, Writes, Conflicts int64
}
