package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

func TestJournal(t *testing.T) {
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
			s := openTest(t)
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

func TestJournalSeqAndPrune(t *testing.T) {
	s := openTest(t)
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

func TestEngineState(t *testing.T) {
	s := openTest(t)
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

// TestJournalMigration: resources stored before migration 2 are journalled
// by it, so the engine plans them.
func TestJournalMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	old, err := openSQLite(ctx, path, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		// Version 1 has no journal: write the resource row alone.
		_, err := tx.(*sqlTx).w.exec(ctx, insertSQL, "User", "old", "t", "t", nil, []byte("{}"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Changes(ctx, 0, 10); err != nil || len(got) != 1 || got[0].ID != "old" || got[0].Type != "User" {
		t.Errorf("Changes after migration = %v, %v", got, err)
	}
}
