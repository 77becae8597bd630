package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// TestHeldOutbox: held operations, and the operations of their objects
// behind them, are not deliverable until released; LastOutbox, the stats
// and UpdateOutbox see them.
func testHeldOutbox(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ops := []store.Outbox{
		{Target: "t", Type: "User", ID: "a", Payload: []byte(`1`)},
		{Target: "t", Type: "User", ID: "b", Payload: []byte(`2`), Held: true, Created: created},
		{Target: "t", Type: "User", ID: "b", Payload: []byte(`3`)},
		{Target: "t", Type: "User", ID: "c", Payload: []byte(`4`), Held: true},
		{Target: "u", Type: "User", ID: "b", Payload: []byte(`5`)},
	}
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, o := range ops {
			if _, err := tx.Enqueue(ctx, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	payloads := func(os []store.Outbox, err error) string {
		if err != nil {
			return err.Error()
		}
		var ps []string
		for _, o := range os {
			ps = append(ps, string(o.Payload))
		}
		return fmt.Sprint(ps)
	}
	tests := []struct {
		name string
		got  func() string
		want string
	}{
		{"deliverable skips held and behind held", func() string { return payloads(s.Deliverable(ctx, "t", 10)) }, "[1]"},
		{"held", func() string { return payloads(s.HeldOutbox(ctx, "t", 10)) }, "[2 4]"},
		{"pending includes held", func() string { return payloads(s.Outbox(ctx, "t", false, 10)) }, "[1 2 3 4]"},
		{"other target unaffected", func() string { return payloads(s.Deliverable(ctx, "u", 10)) }, "[5]"},
		{"stats", func() string {
			st, err := s.OutboxStats(ctx, "t", time.Now())
			return fmt.Sprint(st.Pending, st.Held, st.Oldest.Equal(created), err)
		}, "4 2 true <nil>"},
		{"last of an object", func() string {
			var o store.Outbox
			err := s.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
				o, err = tx.LastOutbox(ctx, "t", "User", "b")
				return err
			})
			return fmt.Sprintf("%s %v %v", o.Payload, o.Held, err)
		}, "3 false <nil>"},
		{"last of no object", func() string {
			err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
				_, err := tx.LastOutbox(ctx, "t", "User", "zz")
				return err
			})
			return fmt.Sprint(errors.Is(err, store.ErrNotFound))
		}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}

	var n int
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
		n, err = tx.ReleaseHeld(ctx, "t")
		return err
	})
	if err != nil || n != 2 {
		t.Fatalf("ReleaseHeld: %d, %v; want 2", n, err)
	}
	got, err := s.Deliverable(ctx, "t", 10)
	if p := payloads(got, err); p != "[1 2 3 4]" {
		t.Errorf("deliverable after release: %s", p)
	}
	o := got[2]
	o.Payload, o.Held = []byte(`33`), true
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.UpdateOutbox(ctx, o) }); err != nil {
		t.Fatal(err)
	}
	if p := payloads(s.HeldOutbox(ctx, "t", 10)); p != "[33]" {
		t.Errorf("held after UpdateOutbox: %s", p)
	}
}
