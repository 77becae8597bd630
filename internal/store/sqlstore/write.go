package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// errTxDone: a Tx used after its Write function returned.
var errTxDone = errors.New("store: Tx used after its Write function returned")

// request is one queued Write.
type request struct {
	ctx     context.Context
	fn      func(context.Context, store.Tx) error
	state   atomic.Int32 // queued, running or cancelled
	done    chan error   // buffered: the writer never blocks on it
	changed bool         // fn succeeded and journalled a change; writer only
}

const (
	queued int32 = iota
	running
	cancelled
)

// Write implements Store. Concurrent Writes are committed in groups by one
// writer goroutine: each fn runs in its own savepoint of a shared
// transaction, and all are answered after the one commit.
func (s *SQL) Write(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.mu.RUnlock()
		return err
	}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(queued, cancelled) {
			return ctx.Err()
		}
		return <-req.done // fn has started: its outcome will be known
	}
}

// lingerMax bounds how long a batch waits for the writers of the last
// commit (see run).
const lingerMax = time.Millisecond

// run is the writer goroutine: it commits the queued writes in batches until
// the queue is closed and drained.
func (s *SQL) run(w *conn) {
	defer close(s.stopped)
	defer w.close()
	batch := make([]*request, 0, maxBatch)
	writers := 0           // the last commit's writes and those queued meanwhile
	var last time.Duration // how long the last commit took
	for req := range s.queue {
		// Let the callers answered by the last commit queue their next
		// writes before the batch is cut: without this, closed-loop
		// callers split into two cohorts that each commit half as much.
		runtime.Gosched()
		batch = append(batch[:0], req)
	fill:
		for len(batch) < maxBatch {
			select {
			case req, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, req)
			default:
				break fill
			}
		}
		// Callers that do something else between their writes (Entra's
		// cycle: a match query, then a create) come back only while the
		// next commit runs, so they still split into two cohorts, each
		// paying a commit's fixed cost (about 24 WAL pages and the fsync)
		// for half of the writes. A batch smaller than the last commit's
		// writers waits for them, at most about as long as a commit.
		if len(batch) < writers {
			batch = s.linger(batch, writers, min(last, lingerMax))
		}
		start := time.Now()
		waiting := s.commit(w, batch)
		last = time.Since(start)
		writers = len(batch) + waiting
	}
}

// linger adds queued writes to batch until it holds n (or maxBatch), the
// queue is closed, or d has passed.
func (s *SQL) linger(batch []*request, n int, d time.Duration) []*request {
	timeout := s.after(d)
	for len(batch) < min(n, maxBatch) {
		select {
		case req, ok := <-s.queue:
			if !ok {
				return batch
			}
			batch = append(batch, req)
		case <-timeout:
			return batch
		}
	}
	return batch
}

// commit runs the writes of batch in one transaction on w and answers
// them. A failure that is the storage's fault is answered as
// ErrUnavailable and recorded for Health; a later commit clears it. When a committed write journalled a change, Changed is signalled
// before any caller is answered, so a caller that sees its Write return
// also sees the signal. The
// writer's statements use a context without cancellation: SQLite
// answers an interrupted statement by rolling back the whole transaction,
// which would take the batch-mates' writes with it. It returns how many
// writes were queued when the batch was committed, counted before any
// caller is answered (an answered caller may queue its next write at once).
func (s *SQL) commit(w *conn, batch []*request) (waiting int) {
	return s.commitTry(w, batch, 1)
}

// maxTries bounds how often a batch runs when the database aborts it for
// a conflict with another replica's transaction (dialect.isConflict).
const maxTries = 20

// commitTry is commit's try-th run of batch.
func (s *SQL) commitTry(w *conn, batch []*request, try int) (waiting int) {
	ctx := context.Background()
	var ran []*request
	var results []error
	var err error
	begun, locked := false, false
	rest := 0
	for i, req := range batch {
		if !req.state.CompareAndSwap(queued, running) {
			continue // the caller gave up before fn started
		}
		if e := req.ctx.Err(); e != nil {
			req.done <- e
			continue
		}
		ran = append(ran, req)
		results = append(results, nil)
		if !begun {
			if err = w.ready(ctx); err == nil && w.d.writeLock != "" {
				if _, err = w.exec(ctx, w.d.writeLock); err == nil {
					locked = true
				}
			}
			if err == nil && w.d.isolate != "" {
				_, err = w.exec(ctx, w.d.isolate)
			}
			if err == nil {
				_, err = w.exec(ctx, w.d.beginWrite)
			}
			w.journalLocked = false
			if err != nil {
				rest = i + 1
				break
			}
			begun = true
		}
		if results[len(results)-1], err = apply(ctx, w, req); err != nil {
			rest = i + 1
			break
		}
	}
	if begun {
		if err == nil {
			if _, err = w.exec(ctx, "COMMIT"); err != nil {
				err = fmt.Errorf("store: commit: %w", err)
			}
		}
		if err != nil {
			_, _ = w.c.ExecContext(ctx, "ROLLBACK") // may fail when SQLite already rolled back
		}
	}
	if locked { // a connection lost releases it too
		if _, e := w.exec(ctx, w.d.writeUnlock); e != nil && err == nil {
			err = fmt.Errorf("store: unlock: %w", e)
		}
	}
	w.drop(ctx, err) // a server that restarted: reconnect for the next batch
	if err != nil && try < maxTries && s.d.isConflict != nil && s.d.isConflict(err) {
		// Another replica's transaction won (a serialization failure,
		// a deadlock): nothing of the batch was committed, and nobody
		// answered. Run it again after a random pause that grows with
		// the tries, each write in a transaction of its own, so that
		// one conflicting write does not take its batch-mates along.
		for _, req := range ran {
			req.state.Store(queued)
		}
		s.conflicts.Add(1)
		<-s.after(time.Duration(rand.Int64N(int64(try)*int64(5*time.Millisecond))) + time.Millisecond)
		if len(batch) == 1 {
			return s.commitTry(w, batch, try+1)
		}
		for i := range batch {
			s.commitTry(w, batch[i:i+1], try+1)
		}
		return len(s.queue)
	}
	if err == nil && begun {
		s.commits.Add(1)
		if n := s.writes.Add(int64(len(ran))); analyzeAt(n-int64(len(ran)), n) {
			s.analyzeSoon()
		}
	}
	switch {
	case err != nil && s.d.isFault(err):
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		s.health.Store(&err)
	case err == nil && slices.Contains(results, nil):
		s.health.Store(nil) // a write was committed
	}
	if err == nil && slices.ContainsFunc(ran, func(r *request) bool { return r.changed }) {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	waiting = len(s.queue)
	for i, req := range ran {
		if err != nil {
			req.done <- err
		} else {
			req.done <- results[i]
		}
	}
	if err != nil && rest > 0 && rest < len(batch) {
		return s.commitTry(w, batch[rest:], 1)
	}
	return waiting
}

// apply runs one write function in a savepoint. res is the caller's
// answer; err means the transaction is broken and the batch fails.
func apply(ctx context.Context, w *conn, req *request) (res, err error) {
	if _, err := w.exec(ctx, "SAVEPOINT w"); err != nil {
		return nil, fmt.Errorf("store: savepoint: %w", err)
	}
	tx := &sqlTx{w: w}
	locked := w.journalLocked
	res = w.d.textErr(call(req.ctx, tx, req.fn))
	tx.done = true
	if res != nil && (w.d.isFault(res) || w.d.isConflict != nil && w.d.isConflict(res)) {
		// SQLite may have rolled back the whole transaction, a
		// conflict with another replica's aborts it: the batch fails
		// and commit rolls back what is left of it (and runs it again
		// after a conflict).
		return nil, res
	}
	req.changed = res == nil && tx.changed
	if res != nil {
		if _, err := w.exec(ctx, "ROLLBACK TO SAVEPOINT w"); err != nil {
			return nil, fmt.Errorf("store: rollback to savepoint: %w", err)
		}
		// PostgreSQL releases the locks taken since the savepoint.
		w.journalLocked = locked
	}
	if _, err := w.exec(ctx, "RELEASE SAVEPOINT w"); err != nil {
		return nil, fmt.Errorf("store: release savepoint: %w", err)
	}
	return res, nil
}

// call runs fn, turning a panic into an error.
func call(ctx context.Context, tx store.Tx, fn func(context.Context, store.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write function panicked: %v", p)
		}
	}()
	return fn(ctx, tx)
}

// sqlTx is the Tx of one write function. It is not safe for concurrent use.
type sqlTx struct {
	w       *conn
	done    bool
	changed bool // a change was journalled
}

var _ store.Tx = (*sqlTx)(nil)

// begin checks that the Tx and ctx are live and returns the context for
// the SQL calls (see commit for why it cannot be cancelled).
func (t *sqlTx) begin(ctx context.Context) (context.Context, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

const (
	ridSQL    = "SELECT rid, version FROM resources WHERE type = ? AND id = ?"
	uniqSQL   = "SELECT COUNT(*) FROM resources WHERE type = ? AND uniq = ? AND rid <> ?"
	insertSQL = "INSERT INTO resources (type, id, version, created, modified, uniq, data) VALUES (?, ?, 1, ?, ?, ?, ?)"
	updateSQL = "UPDATE resources SET version = version + 1, modified = ?, uniq = ?, data = ? WHERE rid = ? AND version = ?"
	delIdxSQL = "DELETE FROM idx WHERE rid = ?"
	// delOwnIdxSQL deletes the index rows of a resource's Data, not
	// those of its member rows (members.go: their elem is memberElemBase
	// or more), reading only the former.
	delOwnIdxSQL = "DELETE FROM idx WHERE rid = ? AND elem < ?"
	// idxOfSQL and delIdxRowSQL serve index diffs on update.
	idxOfSQL     = "SELECT path, elem, str, num FROM idx WHERE rid = ? AND elem < ?"
	delIdxRowSQL = "DELETE FROM idx WHERE rid = ? AND path = ? AND elem = ? AND str = ?"
	delResSQL    = "DELETE FROM resources WHERE rid = ?"
	idxRowsMax   = 64 // rows per multi-row index INSERT
)

// Get implements Tx.
func (t *sqlTx) Get(ctx context.Context, typ, id string) (store.Resource, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.Resource{}, err
	}
	return scanResource(t.w.queryRow(ctx, getSQL, typ, id), typ)
}

// Find implements Tx.
func (t *sqlTx) Find(ctx context.Context, typ string, c store.Cond) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return find(ctx, t.w, typ, c)
}

// Find implements Store.
func (s *SQL) Find(ctx context.Context, typ string, c store.Cond) (ids []string, err error) {
	err = s.read(ctx, func(ctx context.Context, c2 *conn) error {
		ids, err = find(ctx, c2, typ, c)
		return err
	})
	return ids, s.d.textErr(err)
}

// find returns the ids of the resources of typ matching c on conn c2, in
// creation order.
func find(ctx context.Context, c2 *conn, typ string, c store.Cond) ([]string, error) {
	w, err := c2.d.where(typ, c)
	if err != nil {
		return nil, err
	}
	rows, err := c2.query(ctx, "SELECT r.id FROM resources r WHERE "+w.sql+" ORDER BY r.rid", w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: find: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: find: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: find: %w", err)
	}
	return ids, nil
}

// Create implements Tx.
func (t *sqlTx) Create(ctx context.Context, r *store.Resource) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	// The unique constraints on (type, id) and (type, uniq) refuse a taken
	// id or key (writeErr: ErrConflict), with no query before the insert.
	now := time.Now().UTC().Round(0)
	ts := now.Format(store.TimeFormat)
	rid, _, err := t.w.insert(ctx, insertSQL, "rid", r.Type, r.ID, ts, ts, uniq(r.Unique), data(r.Data))
	if err != nil {
		return t.writeErr("create", r, err)
	}
	if err := t.insertIndex(ctx, rid, r); err != nil {
		return err
	}
	if err := t.journal(ctx, "create", r.Type, r.ID, r.Changed); err != nil {
		return err
	}
	r.Version, r.Created, r.Modified = 1, now, now
	return nil
}

// Update implements Tx.
func (t *sqlTx) Update(ctx context.Context, r *store.Resource) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	rid, version, err := t.rid(ctx, r.Type, r.ID)
	if err != nil {
		return err
	}
	if version != r.Version {
		return fmt.Errorf("%w: %s %q is at version %d, not %d", store.ErrModified, r.Type, r.ID, version, r.Version)
	}
	if r.Unique != "" {
		var n int
		if err := t.w.queryRow(ctx, uniqSQL, r.Type, r.Unique, rid).Scan(&n); err != nil {
			return fmt.Errorf("store: update: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: %s unique key %q", store.ErrConflict, r.Type, r.Unique)
		}
	}
	now := time.Now().UTC().Round(0)
	res, err := t.w.exec(ctx, updateSQL, now.Format(store.TimeFormat), uniq(r.Unique), data(r.Data), rid, r.Version)
	if err != nil {
		return t.writeErr("update", r, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err != nil {
			return fmt.Errorf("store: update: %w", err)
		}
		return fmt.Errorf("%w: %s %q", store.ErrModified, r.Type, r.ID)
	}
	if err := t.updateIndex(ctx, rid, r); err != nil {
		return err
	}
	if err := t.journal(ctx, "update", r.Type, r.ID, r.Changed); err != nil {
		return err
	}
	r.Version, r.Modified = r.Version+1, now
	return nil
}

// updateIndex brings the index rows of rid from what is stored to r.Index,
// touching only the rows that differ: an update usually changes a few
// values, and every row written dirties index pages that the commit must
// write and fsync. When most rows differ (element numbers shift after a
// removal from a large multi-valued attribute) it rewrites them all.
func (t *sqlTx) updateIndex(ctx context.Context, rid int64, r *store.Resource) error {
	rows, err := t.w.query(ctx, idxOfSQL, rid, memberElemBase)
	if err != nil {
		return fmt.Errorf("store: update: %w", err)
	}
	type key struct {
		path string
		elem int
		str  string
		num  float64
		has  bool
	}
	keyOf := func(e store.IndexEntry) key {
		k := key{path: e.Path, elem: e.Elem, str: e.Str}
		if e.Num != nil {
			k.num, k.has = *e.Num, true
		}
		return k
	}
	stored := map[key]bool{}
	for rows.Next() {
		var (
			e   store.IndexEntry
			num sql.NullFloat64
		)
		if err := rows.Scan(&e.Path, &e.Elem, &e.Str, &num); err != nil {
			rows.Close()
			return fmt.Errorf("store: update: %w", err)
		}
		if num.Valid {
			e.Num = &num.Float64
		}
		stored[keyOf(e)] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("store: update: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: update: %w", err)
	}
	var added []store.IndexEntry
	for _, e := range r.Index {
		k := keyOf(e)
		if stored[k] {
			delete(stored, k) // unchanged
			continue
		}
		added = append(added, e)
	}
	if len(stored) > len(r.Index)/2 {
		if _, err := t.w.exec(ctx, delOwnIdxSQL, rid, memberElemBase); err != nil {
			return fmt.Errorf("store: update: %w", err)
		}
		return t.insertIndex(ctx, rid, r)
	}
	for k := range stored {
		if _, err := t.w.exec(ctx, delIdxRowSQL, rid, k.path, k.elem, k.str); err != nil {
			return fmt.Errorf("store: update: %w", err)
		}
	}
	changed := *r
	changed.Index = added
	return t.insertIndex(ctx, rid, &changed)
}

// Delete implements Tx.
func (t *sqlTx) Delete(ctx context.Context, typ, id string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	rid, _, err := t.rid(ctx, typ, id)
	if err != nil {
		return err
	}
	gone, err := t.dropMembers(ctx, rid)
	if err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, delIdxSQL, rid); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if _, err := t.w.exec(ctx, delResSQL, rid); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if len(gone) > 0 {
		if err := t.journalMembers(ctx, typ, id, nil, gone, false); err != nil {
			return err
		}
		return t.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "delete", Type: typ, ID: id, Result: store.AuditOK})
	}
	return t.journal(ctx, "delete", typ, id, nil)
}

// rid looks up the surrogate key and version of a resource.
func (t *sqlTx) rid(ctx context.Context, typ, id string) (rid, version int64, err error) {
	err = t.w.queryRow(ctx, ridSQL, typ, id).Scan(&rid, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: %s %q", store.ErrNotFound, typ, id)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: read: %w", err)
	}
	return rid, version, nil
}

// insertIndex writes the index rows of r, idxRowsMax per statement.
func (t *sqlTx) insertIndex(ctx context.Context, rid int64, r *store.Resource) error {
	for rest := r.Index; len(rest) > 0; {
		chunk := rest[:min(len(rest), idxRowsMax)]
		rest = rest[len(chunk):]
		args := make([]any, 0, 6*len(chunk))
		for _, e := range chunk {
			var num any
			if e.Num != nil {
				num = *e.Num
			}
			args = append(args, rid, r.Type, e.Path, e.Elem, e.Str, num)
		}
		q := "INSERT INTO idx (rid, type, path, elem, str, num) VALUES (?, ?, ?, ?, ?, ?)" +
			strings.Repeat(", (?, ?, ?, ?, ?, ?)", len(chunk)-1)
		if _, err := t.w.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("store: write index of %s %q: %w", r.Type, r.ID, err)
		}
	}
	return nil
}

// writeErr maps a unique-constraint violation (Create's only check; the
// backstop behind Update's) to ErrConflict.
func (t *sqlTx) writeErr(op string, r *store.Resource, err error) error {
	if t.w.d.isUnique(err) {
		return fmt.Errorf("%w: %s %q: %v", store.ErrConflict, r.Type, r.ID, err)
	}
	return fmt.Errorf("store: %s %s %q: %w", op, r.Type, r.ID, err)
}

// uniq is the uniq column value: NULL for no key.
func uniq(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// data keeps nil Data from becoming NULL.
func data(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// analyzeAt reports whether the writes committed by this store passed a
// point where the tables' statistics are refreshed, going from before to
// after: at 256 writes, and each time they grow fourfold. Beyond a
// million, the database's own analyses keep up (they run after a tenth of
// a table changed).
func analyzeAt(before, after int64) bool {
	for at := int64(256); at <= 1<<20; at *= 4 {
		if before < at && after >= at {
			return true
		}
	}
	return false
}

// analyzeSoon runs the dialect's analyze on a reader's connection, in the
// background, unless one is running; a failure is only logged by the
// database.
func (s *SQL) analyzeSoon() {
	if s.d.analyze == "" || !s.analyzing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.analyzing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.read(ctx, func(ctx context.Context, c *conn) error {
			_, err := c.c.ExecContext(ctx, s.d.analyze)
			return err
		})
	}()
}
