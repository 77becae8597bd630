package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

func user(id, unique string) store.Resource {
	return store.Resource{Type: "User", ID: id, Unique: unique, Data: []byte(`{"id":"` + id + `"}`),
		Index: entries("username", unique)}
}

// TestWriteConflictInOneBatch: creates of one Unique that share a batch
// (storetest checks concurrent creates and a conflict inside one write
// function, whatever the batching).
func TestWriteConflictInOneBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// Creates of one Unique queued behind a blocked writer share a batch:
	// the first wins, the others see its row.
	release, blocked := blockWriter(s)
	const n = 5
	errs := make([]chan error, n)
	for i := range n {
		errs[i] = make(chan error, 1)
		go func() {
			r := user(fmt.Sprintf("dup%d", i), "same")
			errs[i] <- s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
		}()
		waitQueued(s, i+1)
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		err := <-errs[i]
		if (i == 0 && err != nil) || (i > 0 && !errors.Is(err, store.ErrConflict)) {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if p, err := s.Query(ctx, "User", store.Query{Filter: eq("username", "same"), Count: 10}); err != nil || !slices.Equal(pageIDs(p), []string{"dup0"}) {
		t.Errorf("stored %v, %v; want [dup0]", pageIDs(p), err)
	}
}

// waitQueued waits until n writes are queued behind a blocked writer.
func waitQueued(s *SQL, n int) {
	for len(s.queue) < n {
		runtime.Gosched()
	}
}

// blockWriter makes the writer goroutine run a function that waits for
// release; it returns once that function runs, and the Write's result.
func blockWriter(s *SQL) (release func(), result <-chan error) {
	started, unblock := make(chan struct{}), make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() { close(unblock) }, res
}

// TestWriteCancelled: a Write cancelled while it is queued never runs
// its function (storetest checks that a cancelled Write stores nothing).
func TestWriteCancelled(t *testing.T) {
	s := openTest(t)
	var ran atomic.Bool
	create := func(id string) func(context.Context, store.Tx) error {
		return func(ctx context.Context, tx store.Tx) error {
			ran.Store(true)
			r := user(id, id)
			return tx.Create(ctx, &r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, create("early")); !errors.Is(err, context.Canceled) || ran.Load() {
		t.Errorf("Write with done ctx: err %v, ran %v", err, ran.Load())
	}

	// Cancelled while queued behind a write that blocks the writer.
	release, blocked := blockWriter(s)
	ctx, cancel = context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { queued <- s.Write(ctx, create("late")) }()
	waitQueued(s, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("queued Write: %v, want context.Canceled", err)
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	// A later write goes through the same queue: the cancelled one is
	// behind us once this returns.
	mustCreate(t, s, user("after", "after"))
	if ran.Load() {
		t.Error("fn of a cancelled Write ran")
	}
}

func TestTxAfterWrite(t *testing.T) {
	s := openTest(t)
	var kept store.Tx
	if err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	r := user("a", "a")
	if err := kept.Create(context.Background(), &r); !errors.Is(err, errTxDone) {
		t.Errorf("retained Tx: %v", err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "close.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// Writes queued when Close is called are committed before it returns.
	release, blocked := blockWriter(s)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			r := user(fmt.Sprintf("q%02d", i), fmt.Sprintf("q%02d", i))
			errs <- s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
		}()
	}
	waitQueued(s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued Write: %v", err)
		}
	}

	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.Get(ctx, "User", "q00"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := s.Query(ctx, "User", store.Query{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}

	s = reopen(t, path)
	if p, err := s.Query(ctx, "User", store.Query{}); err != nil || p.Total != n {
		t.Errorf("after reopen: %d resources, %v; want %d", p.Total, err, n)
	}
}

// reopen opens the database at path, closed at cleanup.
func reopen(t *testing.T, path string) *SQL {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestWriteBrokenTransaction: when the shared transaction breaks, every
// write of the batch that ran fails and none is stored; the writes queued
// after it are committed in a new transaction.
func TestWriteBrokenTransaction(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	create := func(id string) func(context.Context, store.Tx) error {
		return func(ctx context.Context, tx store.Tx) error {
			r := user(id, id)
			return tx.Create(ctx, &r)
		}
	}
	fns := []func(context.Context, store.Tx) error{
		create("before"),
		func(ctx context.Context, tx store.Tx) error {
			// Stands for SQLite rolling back on its own (I/O error, ...).
			_, err := tx.(*sqlTx).w.exec(ctx, "ROLLBACK")
			return err
		},
		create("after"),
	}
	release, blocked := blockWriter(s)
	errs := make([]chan error, len(fns))
	for i, fn := range fns {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.Write(ctx, fn) }()
		waitQueued(s, i+1) // one batch, in this order
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		if err := <-errs[i]; (err == nil) != want {
			t.Errorf("write %d: err = %v, want success %v", i, err, want)
		}
	}
	for id, want := range map[string]error{"before": store.ErrNotFound, "after": nil} {
		if _, err := s.Get(ctx, "User", id); !errors.Is(err, want) {
			t.Errorf("Get(%s) = %v, want %v", id, err, want)
		}
	}
}

// TestUpdateIndexDiff walks a resource through index states that exercise
// both update strategies (row diff and full rewrite) and checks that the
// stored rows equal the last state exactly.
func TestUpdateIndexDiff(t *testing.T) {
	members := func(ids ...string) []store.IndexEntry {
		var es []store.IndexEntry
		for i, id := range ids {
			es = append(es, store.IndexEntry{Path: "emails.value", Elem: i, Str: id})
		}
		return es
	}
	steps := []struct {
		name  string
		index []store.IndexEntry
	}{
		{"one value changes", append(entries("displayname", "g"), members("a", "b", "c", "d")...)},
		{"number changes, text kept", []store.IndexEntry{{Path: "n", Str: "1", Num: num(1)}, {Path: "displayname", Str: "g"}}},
		{"number changes value", []store.IndexEntry{{Path: "n", Str: "2", Num: num(2)}, {Path: "displayname", Str: "g"}}},
		{"emails added", append(entries("displayname", "g"), members("a", "b", "c", "d", "e", "f")...)},
		{"first email removed: elements shift", append(entries("displayname", "g"), members("b", "c", "d", "e", "f")...)},
		{"everything replaced", entries("displayname", "h", "externalid", "x")},
		{"emptied", nil},
		{"refilled", append(entries("displayname", "g"), members("z")...)},
	}
	s := openTest(t)
	ctx := context.Background()
	r := mustCreate(t, s, store.Resource{Type: "Group", ID: "g1", Unique: "g", Data: []byte(`{}`), Index: entries("displayname", "g")})[0]
	for _, st := range steps {
		r.Index = st.index
		if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Update(ctx, &r) }); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		rc := <-s.readers // a reader connection of the store's own pool
		rows, err := rc.c.QueryContext(ctx, "SELECT path, elem, str, num FROM idx ORDER BY path, elem, str")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var (
				path, str string
				elem      int
				n         sql.NullFloat64
			)
			if err := rows.Scan(&path, &elem, &str, &n); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s/%d/%s/%v", path, elem, str, n))
		}
		rows.Close()
		s.readers <- rc
		var want []string
		for _, e := range st.index {
			n := sql.NullFloat64{}
			if e.Num != nil {
				n = sql.NullFloat64{Float64: *e.Num, Valid: true}
			}
			want = append(want, fmt.Sprintf("%s/%d/%s/%v", e.Path, e.Elem, e.Str, n))
		}
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: stored rows\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestWriteLinger: a batch smaller than the last commit's writers (its
// writes and those queued while it ran) waits for them, until they are
// all there, the timeout passes or the store closes; a lone writer never
// waits.
func TestWriteLinger(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  string // what ends the wait: "writer", "timeout" or "close"
	}{
		{"joined by the missing writer", "writer"},
		{"until the timeout", "timeout"},
		{"until the store closes", "close"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lingering := make(chan time.Duration, 1)
			timeout := make(chan time.Time)
			s := openWithAfter(t, func(d time.Duration) <-chan time.Time {
				lingering <- d
				return timeout
			})
			ctx := context.Background()
			errs := make([]chan error, 3)
			write := func(i int) {
				errs[i] = make(chan error, 1)
				go func() {
					r := user(fmt.Sprintf("w%d", i), fmt.Sprintf("w%d", i))
					errs[i] <- s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
				}()
			}
			// The last commit: the blocked write, with two queued meanwhile.
			release, blocked := blockWriter(s)
			write(0)
			waitQueued(s, 1)
			write(1)
			waitQueued(s, 2)
			release()
			if err := <-blocked; err != nil {
				t.Fatal(err)
			}
			// The next batch has the two: it waits for a third writer.
			if d := <-lingering; d <= 0 || d > lingerMax {
				t.Errorf("waits up to %v, want at most %v", d, lingerMax)
			}
			select {
			case err := <-errs[0]:
				t.Fatalf("write answered while its batch waits: %v", err)
			default:
			}
			if _, err := s.Get(ctx, "User", "w0"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("write committed while its batch waits: %v", err)
			}
			want := 2
			switch tc.end {
			case "writer":
				write(2)
				want = 3
			case "timeout":
				timeout <- time.Now()
			case "close":
				go func() { _ = s.Close() }()
			}
			for i := range want {
				if err := <-errs[i]; err != nil {
					t.Errorf("write %d: %v", i, err)
				}
			}
			if tc.end == "close" {
				return
			}
			for i := range want {
				if _, err := s.Get(ctx, "User", fmt.Sprintf("w%d", i)); err != nil {
					t.Errorf("write %d not stored: %v", i, err)
				}
			}
		})
	}
	t.Run("a lone writer never waits", func(t *testing.T) {
		s := openWithAfter(t, func(time.Duration) <-chan time.Time {
			t.Error("a lone writer's batch waited")
			return nil
		})
		for i := range 5 {
			mustCreate(t, s, user(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i)))
		}
	})
}

// openWithAfter opens a fresh store whose writer waits with after.
func openWithAfter(t *testing.T, after func(time.Duration) <-chan time.Time) *SQL {
	t.Helper()
	s, err := openSQLite(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"), migrations,
		func(s *SQL) { s.after = after })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestWriterStats: the writer counts its commits and the Writes they hold.
func TestWriterStats(t *testing.T) {
	s := openSQLiteTest(t)
	before := s.WriterStats()
	release, blocked := blockWriter(s)
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			errs <- s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
				r := user(fmt.Sprintf("s%d", i), "")
				return tx.Create(ctx, &r)
			})
		}()
	}
	waitQueued(s, 5)
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := s.WriterStats()
	got.Commits -= before.Commits
	got.Writes -= before.Writes
	if want := (WriterStats{Commits: 2, Writes: 6}); got != want {
		t.Errorf("WriterStats: %+v, want %+v (the blocking write, then the 5 queued behind it in one commit)", got, want)
	}
}
