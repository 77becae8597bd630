package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// SQL is the Store on an SQL database. Writes go through one connection
// owned by a writer goroutine that commits queued writes in groups; reads
// use a pool of other connections.
//
// Get and Query return resources without Index.
type SQL struct {
	d       *dialect
	wdb     *sql.DB
	rdb     *sql.DB
	get     *sql.Stmt // on rdb
	queue   chan *request
	stopped chan struct{}

	mu     sync.RWMutex // closed; held for reading by Get, Query and enqueuing
	closed bool
}

var _ Store = (*SQL)(nil)

// maxBatch bounds how many Writes share one commit.
const maxBatch = 256

// OpenSQLite opens (creating it and its directory if needed) the SQLite
// database at path and brings its schema up to date. The database runs in
// WAL mode with synchronous=FULL: a Write returns only after its commit is
// fsync'd.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	return openSQLite(ctx, path, migrations)
}

func openSQLite(ctx context.Context, path string, migs []migration) (*SQL, error) {
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
	s := &SQL{d: sqliteDialect, queue: make(chan *request, maxBatch), stopped: make(chan struct{})}

	s.wdb, err = sql.Open(s.d.driver, dsn("journal_mode(WAL)", "synchronous(FULL)", "temp_store(MEMORY)"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	conn, err := s.wdb.Conn(ctx)
	if err == nil {
		err = migrate(ctx, conn, s.d, migs)
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		_ = s.wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	readers := max(4, runtime.GOMAXPROCS(0))
	s.rdb, err = sql.Open(s.d.driver, dsn("query_only(1)"))
	if err == nil {
		s.rdb.SetMaxOpenConns(readers)
		s.rdb.SetMaxIdleConns(readers)
		s.get, err = s.rdb.PrepareContext(ctx, s.d.rebind(getSQL))
	}
	if err != nil {
		_ = conn.Close()
		_ = s.wdb.Close()
		if s.rdb != nil {
			_ = s.rdb.Close()
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	go s.run(&writer{d: s.d, conn: conn, stmts: map[string]*sql.Stmt{}})
	return s, nil
}

// Close finishes the queued writes and closes the database. Later calls
// return ErrClosed.
func (s *SQL) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.stopped
	return errors.Join(s.get.Close(), s.rdb.Close(), s.wdb.Close())
}

const (
	resourceColumns = "r.rid, r.id, r.version, r.created, r.modified, r.uniq, r.data"
	getSQL          = "SELECT " + resourceColumns + " FROM resources r WHERE r.type = ? AND r.id = ?"
)

// Get implements Store.
func (s *SQL) Get(ctx context.Context, typ, id string) (Resource, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Resource{}, ErrClosed
	}
	r, _, err := scanResource(s.get.QueryRowContext(ctx, typ, id), typ)
	return r, err
}

// Query implements Store.
func (s *SQL) Query(ctx context.Context, typ string, q Query) (Page, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Page{}, ErrClosed
	}
	w, err := s.d.where(typ, q.Filter)
	if err != nil {
		return Page{}, err
	}
	page := Page{Resources: []Resource{}}
	// Total and page from one snapshot.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM resources r WHERE "+w.sql), w.args...).Scan(&page.Total); err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	if q.Count <= 0 || page.Total == 0 {
		return page, nil
	}
	stmt, args := pageSQL(w, q)
	rows, err := tx.QueryContext(ctx, s.d.rebind(stmt), args...)
	if err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, _, err := scanResource(rows, typ)
		if err != nil {
			return Page{}, err
		}
		page.Resources = append(page.Resources, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	return page, nil
}

// pageSQL selects the requested page of the resources matching w.
func pageSQL(w frag, q Query) (string, []any) {
	offset := max(q.StartIndex, 1) - 1
	if q.SortBy == "" {
		return "SELECT " + resourceColumns + " FROM resources r WHERE " + w.sql +
				" ORDER BY r.rid LIMIT ? OFFSET ?",
			append(append([]any{}, w.args...), q.Count, offset)
	}
	key := sortKey(q.SortBy)
	order := "(t.sk IS NULL), t.sk, t.rid"
	if q.Descending {
		order = "(t.sk IS NULL) DESC, t.sk DESC, t.rid"
	}
	cols := strings.ReplaceAll(resourceColumns, "r.", "t.")
	stmt := "SELECT " + cols + " FROM (SELECT " + resourceColumns + ", " + key.sql + " AS sk" +
		" FROM resources r WHERE " + w.sql + ") t ORDER BY " + order + " LIMIT ? OFFSET ?"
	args := append(append(append([]any{}, key.args...), w.args...), q.Count, offset)
	return stmt, args
}

type scanner interface{ Scan(...any) error }

// scanResource reads the columns of resourceColumns.
func scanResource(row scanner, typ string) (Resource, int64, error) {
	r := Resource{Type: typ}
	var rid int64
	var created, modified string
	var uniq sql.NullString
	err := row.Scan(&rid, &r.ID, &r.Version, &created, &modified, &uniq, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Resource{}, 0, ErrNotFound
	}
	if err != nil {
		return Resource{}, 0, fmt.Errorf("store: read: %w", err)
	}
	r.Unique = uniq.String
	if r.Created, err = time.Parse(TimeFormat, created); err == nil {
		r.Modified, err = time.Parse(TimeFormat, modified)
	}
	if err != nil {
		return Resource{}, 0, fmt.Errorf("store: read %s/%s: %w", typ, r.ID, err)
	}
	return r, rid, nil
}
