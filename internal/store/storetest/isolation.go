package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// batch runs the write functions concurrently, so that they are likely to
// share commits, and returns their errors in order.
func batch(s store.Store, fns ...func(context.Context, store.Tx) error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = s.Write(context.Background(), fn) })
	}
	wg.Wait()
	return errs
}

// testWriteFailureIsolated: Writes that fail (an error, a panic) among
// concurrent ones that succeed leave nothing, and take nothing of the
// others with them.
func testWriteFailureIsolated(t *testing.T, open Opener) {
	s := fresh(t, open)
	boom := errors.New("boom")
	var fns []func(context.Context, store.Tx) error
	for i := range 50 {
		fns = append(fns, func(ctx context.Context, tx store.Tx) error {
			r := user(fmt.Sprintf("ok%02d", i), fmt.Sprintf("ok%02d", i))
			return tx.Create(ctx, &r)
		}, func(ctx context.Context, tx store.Tx) error {
			r := user(fmt.Sprintf("bad%02d", i), fmt.Sprintf("bad%02d", i))
			if err := tx.Create(ctx, &r); err != nil {
				return err
			}
			if i%2 == 0 {
				panic("write function panics")
			}
			return boom
		})
	}
	errs := batch(s, fns...)
	for i, err := range errs {
		id := fmt.Sprintf("ok%02d", i/2)
		switch {
		case i%2 == 0 && err != nil:
			t.Errorf("%s: %v", id, err)
		case i%2 == 1 && i/2%2 == 1 && !errors.Is(err, boom):
			t.Errorf("failing fn %d: err = %v, want boom", i/2, err)
		case i%2 == 1 && i/2%2 == 0 && (err == nil || errors.Is(err, boom)):
			t.Errorf("panicking fn %d: err = %v", i/2, err)
		}
	}
	p, err := s.Query(context.Background(), "User", store.Query{Filter: store.Compare{Paths: []string{"username"}, Op: store.Sw, Str: "bad"}})
	if err != nil || p.Total != 0 {
		t.Errorf("failed writes left %d resources (err %v)", p.Total, err)
	}
	p, err = s.Query(context.Background(), "User", store.Query{Filter: store.Compare{Paths: []string{"username"}, Op: store.Sw, Str: "ok"}})
	if err != nil || p.Total != 50 {
		t.Errorf("successful writes: %d resources (err %v), want 50", p.Total, err)
	}
}

// testWriteConflict: of concurrent creates of one Unique, one wins and the
// others fail with ErrConflict; a conflict inside one write function fails
// all of it.
func testWriteConflict(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	const n = 8
	var fns []func(context.Context, store.Tx) error
	for i := range n {
		fns = append(fns, func(ctx context.Context, tx store.Tx) error {
			r := user(fmt.Sprintf("dup%d", i), "same")
			return tx.Create(ctx, &r)
		})
	}
	winner := ""
	for i, err := range batch(s, fns...) {
		switch {
		case err == nil && winner == "":
			winner = fmt.Sprintf("dup%d", i)
		case err == nil:
			t.Errorf("create dup%d succeeded after %s", i, winner)
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("create dup%d: %v, want ErrConflict", i, err)
		}
	}
	if p, err := s.Query(ctx, "User", store.Query{Filter: eq("username", "same"), Count: 10}); err != nil || winner == "" || !slices.Equal(pageIDs(p), []string{winner}) {
		t.Errorf("stored %v, %v; want the winner [%s]", pageIDs(p), err, winner)
	}

	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		r1, r2 := user("x1", "x"), user("x2", "x")
		if err := tx.Create(ctx, &r1); err != nil {
			return err
		}
		return tx.Create(ctx, &r2)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create in one fn: %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, "User", "x1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("create of the failed fn stored: %v", err)
	}
}

// testWriteCancelled: a Write whose context is done returns its error and
// stores nothing; of Writes cancelled while others run, each either
// succeeds and is stored, or fails with the context's error and stores
// nothing.
func testWriteCancelled(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	create := func(id string) func(context.Context, store.Tx) error {
		return func(ctx context.Context, tx store.Tx) error {
			r := user(id, id)
			return tx.Create(ctx, &r)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(done, create("early")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a done context: %v, want context.Canceled", err)
	}

	// A Write that holds the store's attention while the others queue
	// and are cancelled, each just after it started.
	started, release := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			close(started)
			<-release
			return create("blocker")(ctx, tx)
		})
	}()
	<-started
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { errs[i] = s.Write(ctx, create(fmt.Sprintf("c%02d", i))) })
		if i%2 == 0 {
			cancel()
		} else {
			defer cancel()
		}
	}
	close(release)
	wg.Wait()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "User", "early"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the Write with a done context stored its resource: %v", err)
	}
	for i, err := range errs {
		id := fmt.Sprintf("c%02d", i)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Write %s: %v, want success or context.Canceled", id, err)
		}
		_, gerr := s.Get(ctx, "User", id)
		switch {
		case err == nil && gerr != nil:
			t.Errorf("acknowledged %s: %v", id, gerr)
		case err != nil && !errors.Is(gerr, store.ErrNotFound):
			t.Errorf("cancelled %s (%v) is stored: %v", id, err, gerr)
		}
	}
}

// testWriteAtomicForReaders: readers that query while Writes commit never
// see part of a Write, nor anything of a failed one.
func testWriteAtomicForReaders(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	const writers, rounds = 4, 25
	boom := errors.New("boom")
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var mu sync.Mutex
	var seen []string // what the readers saw that they must not
	for range 2 {
		readers.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					if reads > 0 {
						return
					}
				default:
				}
				ids, err := s.Find(ctx, "User", nil)
				if err != nil {
					mu.Lock()
					seen = append(seen, err.Error())
					mu.Unlock()
					return
				}
				for _, id := range ids {
					pair, ok := strings.CutPrefix(id, "a")
					if strings.HasPrefix(id, "x") || ok && !slices.Contains(ids, "b"+pair) {
						mu.Lock()
						seen = append(seen, fmt.Sprintf("%s in %v", id, ids))
						mu.Unlock()
					}
				}
			}
		})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("%d-%02d", w, r)
				err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
					// a, then b: a reader that sees a must see b.
					for _, p := range []string{"a", "b"} {
						u := user(p+id, p+id)
						if err := tx.Create(ctx, &u); err != nil {
							return err
						}
					}
					if r%3 != 0 {
						return nil
					}
					x := user("x"+id, "x"+id)
					if err := tx.Create(ctx, &x); err != nil {
						return err
					}
					return boom
				})
				if (r%3 == 0) != errors.Is(err, boom) || err != nil && !errors.Is(err, boom) {
					t.Errorf("write %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for _, msg := range seen {
		t.Errorf("a reader saw part of a write, or a failed one: %s", msg)
	}
	ids, err := s.Find(ctx, "User", nil)
	if want := 2 * writers * (rounds - (rounds+2)/3); err != nil || len(ids) != want {
		t.Errorf("%d users stored (%v), want %d", len(ids), err, want)
	}
}

// testDurability: Close answers the Writes queued when it is called and
// refuses later ones with ErrClosed; a store opened again on the database
// has every acknowledged write, and nothing of the Writes that failed,
// were cancelled or were refused.
func testDurability(t *testing.T, open Opener) {
	db := open(t)
	s := db(t)
	ctx := context.Background()
	mustCreate(t, s, user("first", "first"))
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.Enqueue(ctx, store.Outbox{Target: "crm", Type: "User", ID: "first", Payload: []byte(`{}`)}); err != nil {
			return err
		}
		return tx.SetCursor(ctx, "planner", 1)
	})

	// Writes of every outcome, and Close among them.
	boom := errors.New("boom")
	const writers, rounds = 8, 10
	type result struct {
		id  string
		err error
	}
	results := make(chan result, writers*rounds)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("w%d-%02d", w, r)
				ctx, cancel := context.WithCancel(ctx)
				if r%4 == 3 {
					cancel()
				}
				err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
					u := user(id, id)
					if err := tx.Create(ctx, &u); err != nil {
						return err
					}
					if r%4 == 1 {
						return boom
					}
					return nil
				})
				cancel()
				results <- result{id, err}
			}
		})
	}
	// Close once half the writes are answered, while the others run.
	var answered []result
	for range writers * rounds / 2 {
		answered = append(answered, <-results)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(results)
	for res := range results {
		answered = append(answered, res)
	}
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}

	s = db(t)
	acked := 1
	for _, res := range answered {
		_, err := s.Get(ctx, "User", res.id)
		switch {
		case res.err == nil && err != nil:
			t.Errorf("acknowledged %s: %v after the store was opened again", res.id, err)
		case res.err == nil:
			acked++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s failed (%v) but is stored: %v", res.id, res.err, err)
		case !errors.Is(res.err, boom) && !errors.Is(res.err, context.Canceled) && !errors.Is(res.err, store.ErrClosed):
			t.Errorf("%s: %v, want boom, context.Canceled or ErrClosed", res.id, res.err)
		}
	}
	if ch, err := s.Changes(ctx, 0, 1000); err != nil || len(ch) != acked {
		t.Errorf("%d journal entries (%v), want one for each of the %d acknowledged creates", len(ch), err, acked)
	}
	if pos, err := s.Cursor(ctx, "planner"); err != nil || pos != 1 {
		t.Errorf("Cursor = %d, %v; want 1", pos, err)
	}
	if ob, err := s.Outbox(ctx, "crm", false, 10); err != nil || len(ob) != 1 || ob[0].ID != "first" {
		t.Errorf("Outbox = %+v, %v; want the operation of first", ob, err)
	}
	mustCreate(t, s, user("after", "after"))
}
