package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testHeldOutbox: held operations, and the operations of their objects
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

// testOutboxSchedule: operations queued for later (Created in the future,
// a leaver's delete after the grace period) count as scheduled until
// they fall due, then as pending; dead letters as neither.
func testOutboxSchedule(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for i, created := range []time.Time{at.Add(-time.Hour), at.Add(2 * time.Hour), at.Add(time.Hour), at.Add(-2 * time.Hour)} {
			seq, err := tx.Enqueue(ctx, store.Outbox{Target: "t", Type: "User", ID: fmt.Sprintf("u%d", i), Payload: []byte(`{}`), Created: created})
			if err != nil {
				return err
			}
			if i == 3 {
				o, err := tx.GetOutbox(ctx, seq)
				if err != nil {
					return err
				}
				o.Dead = true
				if err := tx.UpdateOutbox(ctx, o); err != nil {
					return err
				}
			}
		}
		_, err := tx.Enqueue(ctx, store.Outbox{Target: "other", Type: "User", ID: "x", Payload: []byte(`{}`), Created: at.Add(time.Minute)})
		return err
	})
	for _, tc := range []struct {
		name string
		now  time.Time
		want store.OutboxStats
	}{
		{"one due, two scheduled", at, store.OutboxStats{Pending: 1, Dead: 1, Oldest: at.Add(-time.Hour), Scheduled: 2, NextScheduled: at.Add(time.Hour)}},
		{"the first scheduled falls due", at.Add(time.Hour), store.OutboxStats{Pending: 2, Dead: 1, Oldest: at.Add(-time.Hour), Scheduled: 1, NextScheduled: at.Add(2 * time.Hour)}},
		{"all due", at.Add(3 * time.Hour), store.OutboxStats{Pending: 3, Dead: 1, Oldest: at.Add(-time.Hour)}},
		{"before all", at.Add(-3 * time.Hour), store.OutboxStats{Dead: 1, Scheduled: 3, NextScheduled: at.Add(-time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.OutboxStats(ctx, "t", tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pending != tc.want.Pending || got.Held != tc.want.Held || got.Dead != tc.want.Dead || got.Scheduled != tc.want.Scheduled ||
				!got.Oldest.Equal(tc.want.Oldest) || !got.NextScheduled.Equal(tc.want.NextScheduled) {
				t.Errorf("OutboxStats at %s = %+v, want %+v", tc.now.Format(time.TimeOnly), got, tc.want)
			}
		})
	}
}
