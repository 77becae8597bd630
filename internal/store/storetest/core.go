package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

func testJournal(t *testing.T, open Opener) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		fns  []func(context.Context, store.Tx) error
		want []store.Change // after the seed user "u0"
	}{
		{"create update delete", []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error { r := user("u1", "one"); return tx.Create(ctx, &r) },
			func(ctx context.Context, tx store.Tx) error {
				r, err := tx.Get(ctx, "User", "u0")
				if err != nil {
					return err
				}
				r.Data = []byte(`{"x":1}`)
				return tx.Update(ctx, &r)
			},
			func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "u1") },
		}, []store.Change{{Seq: 2, Type: "User", ID: "u1"}, {Seq: 3, Type: "User", ID: "u0"}, {Seq: 4, Type: "User", ID: "u1"}}},
		{"failed function leaves no entry", []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error {
				r := user("u2", "two")
				if err := tx.Create(ctx, &r); err != nil {
					return err
				}
				return boom
			},
			func(ctx context.Context, tx store.Tx) error { r := user("u3", "three"); return tx.Create(ctx, &r) },
		}, []store.Change{{Seq: 2, Type: "User", ID: "u3"}}},
		{"failed create leaves no entry", []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error { r := user("u0", "zero"); return tx.Create(ctx, &r) },
		}, []store.Change{}},
		{"engine writes journal nothing", []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error { return tx.SetCursor(ctx, "c", 7) },
		}, []store.Change{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fresh(t, open)
			ctx := context.Background()
			mustCreate(t, s, user("u0", "zero"))
			select {
			case <-s.Changed():
			case <-time.After(10 * time.Second):
				t.Fatal("Changed not signalled after a create")
			}
			for _, fn := range tt.fns {
				if err := s.Write(ctx, fn); err != nil && !errors.Is(err, boom) && !errors.Is(err, store.ErrConflict) {
					t.Fatalf("Write: %v", err)
				}
			}
			got, err := s.Changes(ctx, 1, 100)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got { // sequence numbers of rolled-back inserts may be reused
				got[i].Seq = 0
			}
			want := slices.Clone(tt.want)
			for i := range want {
				want[i].Seq = 0
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Changes = %v, want %v", got, want)
			}
			select {
			case <-s.Changed():
				if len(tt.want) == 0 {
					t.Error("Changed signalled without a committed change")
				}
			default:
				if len(tt.want) > 0 {
					t.Error("Changed not signalled after committed changes")
				}
			}
		})
	}
}

func testJournalSeqAndPrune(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	mustCreate(t, s, user("a", "a"), user("b", "b"), user("c", "c"))
	all, err := s.Changes(ctx, 0, 10)
	if err != nil || len(all) != 3 || !(all[0].Seq < all[1].Seq && all[1].Seq < all[2].Seq) {
		t.Fatalf("Changes = %v, %v", all, err)
	}
	if got, _ := s.Changes(ctx, all[0].Seq, 1); len(got) != 1 || !reflect.DeepEqual(got[0], all[1]) {
		t.Errorf("Changes(after first, limit 1) = %v, want [%v]", got, all[1])
	}
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteChanges(ctx, all[1].Seq) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Changes(ctx, 0, 10); !reflect.DeepEqual(got, all[2:]) {
		t.Errorf("after DeleteChanges: %v, want %v", got, all[2:])
	}
	// Numbers are never reused, even once the journal is empty.
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteChanges(ctx, all[2].Seq) }); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, user("d", "d"))
	if got, _ := s.Changes(ctx, all[2].Seq, 10); len(got) != 1 || got[0].ID != "d" {
		t.Errorf("after emptying the journal, a new change is %v, want one after seq %d", got, all[2].Seq)
	}
}

func testEngineState(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	write := func(fn func(context.Context, store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	// Cursors.
	if pos, err := s.Cursor(ctx, "planner"); err != nil || pos != 0 {
		t.Errorf("Cursor of nothing = %d, %v", pos, err)
	}
	write(func(ctx context.Context, tx store.Tx) error { return tx.SetCursor(ctx, "planner", 5) })
	write(func(ctx context.Context, tx store.Tx) error { return tx.SetCursor(ctx, "planner", 9) })
	if pos, err := s.Cursor(ctx, "planner"); err != nil || pos != 9 {
		t.Errorf("Cursor = %d, %v, want 9", pos, err)
	}

	// Provisioned state.
	if _, err := s.Provisioned(ctx, "crm", "User", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Provisioned of nothing: %v, want ErrNotFound", err)
	}
	p := store.Provisioned{Target: "crm", Type: "User", ID: "u1", State: []byte(`{"a":1}`)}
	write(func(ctx context.Context, tx store.Tx) error { return tx.PutProvisioned(ctx, p) })
	p.Anchor = "user-1"
	write(func(ctx context.Context, tx store.Tx) error {
		got, err := tx.Provisioned(ctx, "crm", "User", "u1")
		if err != nil || got.Anchor != "" || string(got.State) != `{"a":1}` {
			t.Errorf("Tx.Provisioned = %+v, %v", got, err)
		}
		return tx.PutProvisioned(ctx, p)
	})
	if got, err := s.Provisioned(ctx, "crm", "User", "u1"); err != nil || got.Anchor != "user-1" || string(got.State) != `{"a":1}` {
		t.Errorf("Provisioned = %+v, %v", got, err)
	}
	if _, err := s.Provisioned(ctx, "other", "User", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Provisioned in another target: %v, want ErrNotFound", err)
	}
	write(func(ctx context.Context, tx store.Tx) error { return tx.DeleteProvisioned(ctx, "crm", "User", "u1") })
	write(func(ctx context.Context, tx store.Tx) error { return tx.DeleteProvisioned(ctx, "crm", "User", "u1") })
	if _, err := s.Provisioned(ctx, "crm", "User", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Provisioned after delete: %v, want ErrNotFound", err)
	}

	// Outbox.
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	var seqs []int64
	write(func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"u1", "u2", "u1"} {
			seq, err := tx.Enqueue(ctx, store.Outbox{Target: "crm", Type: "User", ID: id, Payload: []byte(id), NextAt: at, Attempts: 9, Dead: true})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		_, err := tx.Enqueue(ctx, store.Outbox{Target: "ldap", Type: "User", ID: "u1", NextAt: at})
		return err
	})
	pending, err := s.Outbox(ctx, "crm", false, 10)
	if err != nil || len(pending) != 3 {
		t.Fatalf("Outbox = %v, %v", pending, err)
	}
	for i, o := range pending {
		if o.Seq != seqs[i] || o.Target != "crm" || o.Attempts != 0 || o.Dead || !o.NextAt.Equal(at) || o.LastError != "" {
			t.Errorf("Outbox[%d] = %+v", i, o)
		}
	}
	o := pending[0]
	o.Attempts, o.LastError, o.Dead, o.NextAt = 3, "down", true, at.Add(time.Hour)
	write(func(ctx context.Context, tx store.Tx) error { return tx.UpdateOutbox(ctx, o) })
	write(func(ctx context.Context, tx store.Tx) error { return tx.DeleteOutbox(ctx, seqs[1]) })
	if got, _ := s.Outbox(ctx, "crm", false, 10); len(got) != 1 || got[0].Seq != seqs[2] {
		t.Errorf("pending after update and delete = %+v", got)
	}
	dead, err := s.Outbox(ctx, "crm", true, 10)
	if err != nil || len(dead) != 1 || dead[0].Seq != seqs[0] || dead[0].Attempts != 3 || dead[0].LastError != "down" ||
		!dead[0].NextAt.Equal(at.Add(time.Hour)) || string(dead[0].Payload) != "u1" {
		t.Errorf("dead letters = %+v, %v", dead, err)
	}
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteOutbox(ctx, seqs[1]) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteOutbox of a missing row: %v, want ErrNotFound", err)
	}
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.UpdateOutbox(ctx, store.Outbox{Seq: 999}) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateOutbox of a missing row: %v, want ErrNotFound", err)
	}
}

func testQuerySortAndPaging(t *testing.T, open Opener) {
	s := fresh(t, open)
	key := func(id string, vals ...string) store.Resource {
		r := store.Resource{Type: "User", ID: id, Index: entries("other", "x")}
		for i, v := range vals {
			r.Index = append(r.Index, store.IndexEntry{Path: "k", Elem: i, Str: v})
		}
		return r
	}
	mustCreate(t, s,
		key("s1", "b"),
		key("s2"),
		key("s3", "a"),
		key("s4", "b"),
		key("s5", "z", "a0"), // sorts by its smallest value
		key("s6"),
	)
	tests := []struct {
		name  string
		q     store.Query
		want  []string
		total int
	}{
		{"creation order", store.Query{Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"descending without sortBy is creation order", store.Query{Count: 10, Descending: true}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"ascending, missing last", store.Query{SortBy: "k", Count: 10}, []string{"s3", "s5", "s1", "s4", "s2", "s6"}, 6},
		{"descending, missing first", store.Query{SortBy: "k", Descending: true, Count: 10}, []string{"s2", "s6", "s1", "s4", "s5", "s3"}, 6},
		{"sort by absent path", store.Query{SortBy: "nope", Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"sort by id descending", store.Query{SortBy: "id", Descending: true, Count: 10}, []string{"s6", "s5", "s4", "s3", "s2", "s1"}, 6},
		{"sort by created", store.Query{SortBy: "meta.created", Count: 10}, []string{"s1", "s2", "s3", "s4", "s5", "s6"}, 6},
		{"page", store.Query{SortBy: "k", StartIndex: 2, Count: 2}, []string{"s5", "s1"}, 6},
		{"start index below 1", store.Query{SortBy: "k", StartIndex: -5, Count: 1}, []string{"s3"}, 6},
		{"last partial page", store.Query{StartIndex: 5, Count: 10}, []string{"s5", "s6"}, 6},
		{"past the end", store.Query{StartIndex: 7, Count: 5}, []string{}, 6},
		{"count zero gives only total", store.Query{Count: 0}, []string{}, 6},
		{"filtered and sorted", store.Query{Filter: store.Compare{Paths: []string{"k"}, Op: store.Pr}, SortBy: "k", Descending: true, Count: 10}, []string{"s1", "s4", "s5", "s3"}, 4},
		{"no match", store.Query{Filter: store.Const(false), Count: 10}, []string{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(context.Background(), "User", tc.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if p.Resources == nil {
				t.Error("Resources is nil")
			}
			if got := pageIDs(p); !slices.Equal(got, tc.want) || p.Total != tc.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tc.want, tc.total)
			}
		})
	}

	// Walking the pages of any size yields the full order exactly once.
	for _, desc := range []bool{false, true} {
		full, err := s.Query(context.Background(), "User", store.Query{SortBy: "k", Descending: desc, Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		for size := 1; size <= 7; size++ {
			var walked []string
			for start := 1; start <= full.Total; start += size {
				p, err := s.Query(context.Background(), "User", store.Query{SortBy: "k", Descending: desc, StartIndex: start, Count: size})
				if err != nil {
					t.Fatal(err)
				}
				walked = append(walked, pageIDs(p)...)
			}
			if !slices.Equal(walked, pageIDs(full)) {
				t.Errorf("descending=%v page size %d: walked %v, want %v", desc, size, walked, pageIDs(full))
			}
		}
	}
}

func testWriteErrors(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	base := mustCreate(t, s, user("a", "alice"), user("b", "bob"))
	a := base[0]

	tests := []struct {
		name string
		fn   func(context.Context, store.Tx) error
		want error
	}{
		{"create taken id", func(ctx context.Context, tx store.Tx) error {
			r := user("a", "someone")
			return tx.Create(ctx, &r)
		}, store.ErrConflict},
		{"create taken unique", func(ctx context.Context, tx store.Tx) error {
			r := user("c", "alice")
			return tx.Create(ctx, &r)
		}, store.ErrConflict},
		{"same id in another type", func(ctx context.Context, tx store.Tx) error {
			r := user("a", "alice")
			r.Type = "Group"
			return tx.Create(ctx, &r)
		}, nil},
		{"no unique key twice", func(ctx context.Context, tx store.Tx) error {
			r1, r2 := user("n1", ""), user("n2", "")
			return errors.Join(tx.Create(ctx, &r1), tx.Create(ctx, &r2))
		}, nil},
		{"update stale version", func(ctx context.Context, tx store.Tx) error {
			r := a
			r.Version = 7
			return tx.Update(ctx, &r)
		}, store.ErrModified},
		{"update to taken unique", func(ctx context.Context, tx store.Tx) error {
			r := a
			r.Unique = "bob"
			return tx.Update(ctx, &r)
		}, store.ErrConflict},
		{"update missing", func(ctx context.Context, tx store.Tx) error {
			r := user("zz", "zz")
			r.Version = 1
			return tx.Update(ctx, &r)
		}, store.ErrNotFound},
		{"delete missing", func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "zz") }, store.ErrNotFound},
		{"get missing", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.Get(ctx, "User", "zz")
			return err
		}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Write(ctx, tc.fn)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := s.Get(ctx, "User", "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing: %v", err)
	}
}

func testWriteConcurrent(t *testing.T, open Opener) {
	s := fresh(t, open)
	const writers, each = 32, 200
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%02d-%03d", g, i)
				r := user(id, id)
				errs <- s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	for g := range writers {
		for i := range each {
			id := fmt.Sprintf("w%02d-%03d", g, i)
			r, err := s.Get(ctx, "User", id)
			if err != nil {
				t.Fatalf("Get(%s): %v", id, err)
			}
			if r.Unique != id || r.Version != 1 || !bytes.Equal(r.Data, []byte(`{"id":"`+id+`"}`)) {
				t.Fatalf("Get(%s) = %+v", id, r)
			}
		}
	}
	p, err := s.Query(ctx, "User", store.Query{Filter: eq("username", "w07-123"), Count: 10})
	if err != nil || !slices.Equal(pageIDs(p), []string{"w07-123"}) {
		t.Errorf("Query = %v, %v", pageIDs(p), err)
	}
}

func testWriteSeesEarlierWrites(t *testing.T, open Opener) {
	s := fresh(t, open)
	err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
		r := user("a", "alice")
		if err := tx.Create(ctx, &r); err != nil {
			return err
		}
		got, err := tx.Get(ctx, "User", "a")
		if err != nil || got.Unique != "alice" {
			return fmt.Errorf("tx.Get = %+v, %v", got, err)
		}
		ids, err := tx.Find(ctx, "User", eq("username", "alice"))
		if err != nil || !slices.Equal(ids, []string{"a"}) {
			return fmt.Errorf("tx.Find = %v, %v", ids, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testUpdateAndDelete(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	r := mustCreate(t, s, user("a", "alice"))[0]
	if r.Version != 1 || r.Created.IsZero() || !r.Modified.Equal(r.Created) {
		t.Fatalf("created %+v", r)
	}

	r.Unique = "alicia"
	r.Data = []byte(`{"v":2}`)
	r.Index = entries("username", "alicia", "title", "boss")
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Update(ctx, &r) }); err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || r.Modified.Before(r.Created) {
		t.Errorf("updated %+v", r)
	}
	got, err := s.Get(ctx, "User", "a")
	if err != nil || got.Version != 2 || got.Unique != "alicia" || string(got.Data) != `{"v":2}` ||
		!got.Created.Equal(r.Created) || !got.Modified.Equal(r.Modified) {
		t.Errorf("Get = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		cond store.Cond
		want int
	}{
		{eq("username", "alice"), 0}, // old index rows are gone
		{eq("username", "alicia"), 1},
		{eq("title", "boss"), 1},
	} {
		if p, err := s.Query(ctx, "User", store.Query{Filter: tc.cond}); err != nil || p.Total != tc.want {
			t.Errorf("%v: total %d, %v; want %d", tc.cond, p.Total, err, tc.want)
		}
	}
	// The freed unique key can be taken again.
	mustCreate(t, s, user("b", "alice"))

	stale := r
	stale.Version = 1
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Update(ctx, &stale) }); !errors.Is(err, store.ErrModified) {
		t.Errorf("stale update: %v", err)
	}

	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "a") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "User", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get deleted: %v", err)
	}
	if p, err := s.Query(ctx, "User", store.Query{Filter: eq("title", "boss")}); err != nil || p.Total != 0 {
		t.Errorf("index of deleted resource: total %d, %v", p.Total, err)
	}
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "a") }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}
