package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testHolds: a hold is unique per (user, source, target, group) and
// replaced in place; queries filter by each field and by account or
// membership; the basis is kept as nil, false or true; deletes need a
// condition and count what they removed.
func testHolds(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	yes, no := true, false
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		for _, h := range []store.Hold{
			{User: "u1", Source: "workflow", Target: "crm", Action: store.HoldDisable, Basis: &yes, Reason: "leaver", Created: at},
			{User: "u1", Source: "workflow", Target: "crm", Action: store.HoldEnable, Basis: &no, Reason: "joiner", Created: at}, // replaces
			{User: "u1", Source: "guest", Action: store.HoldDelete, Reason: "expired", Created: at},
			{User: "u1", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldAdd, Basis: &no, Created: at},
			{User: "u2", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldRemove, Basis: &yes, Created: at},
		} {
			if err := tx.PutHold(ctx, h); err != nil {
				return err
			}
		}
		if err := tx.PutHold(ctx, store.Hold{User: "u1", Action: store.HoldDisable}); err == nil {
			t.Error("a hold without a source was accepted")
		}
		return nil
	})
	all, err := s.Holds(ctx, store.HoldQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("holds: got %d, want 4: %+v", len(all), all)
	}
	if h := all[1]; h.Source != "workflow" || h.Group != "" || h.Action != store.HoldEnable || h.Basis == nil || *h.Basis || !h.Created.Equal(at) {
		t.Errorf("replaced hold: %+v", h)
	}
	if h := all[0]; h.Source != "guest" || h.Basis != nil || h.Target != "" {
		t.Errorf("sticky hold: %+v", h)
	}
	for name, c := range map[string]struct {
		q    store.HoldQuery
		want int
	}{
		"user":       {store.HoldQuery{User: "u1"}, 3},
		"account":    {store.HoldQuery{User: "u1", Account: true}, 2},
		"membership": {store.HoldQuery{Membership: true}, 2},
		"group":      {store.HoldQuery{Group: "g1", Target: "crm"}, 2},
		"source":     {store.HoldQuery{Source: "guest"}, 1},
		"none":       {store.HoldQuery{User: "u3"}, 0},
		"users":      {store.HoldQuery{Users: []string{"u2", "u3"}}, 1},
		"users both": {store.HoldQuery{Users: []string{"u1", "u2"}, Account: true}, 2},
	} {
		got, err := s.Holds(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Errorf("%s: got %d holds, want %d", name, len(got), c.want)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.DeleteHolds(ctx, store.HoldQuery{}); err == nil {
			t.Error("a delete without a condition was accepted")
		}
		n, err := tx.DeleteHolds(ctx, store.HoldQuery{User: "u1", Source: "workflow"})
		if n != 2 {
			t.Errorf("deleted %d, want 2", n)
		}
		return err
	})
	if got, _ := s.Holds(ctx, store.HoldQuery{}); len(got) != 2 {
		t.Errorf("after delete: %+v", got)
	}
}

// testGuests: a guest record is kept per user, replaced in place, listed
// when due (not those without a due time), and deleted.
func testGuests(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.Guest(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing guest: %v", err)
		}
		for _, g := range []store.GuestRecord{
			{User: "u1", Due: at.Add(time.Hour), Data: []byte(`{"a":1}`)},
			{User: "u1", Due: at.Add(2 * time.Hour), Data: []byte(`{"a":2}`)},
			{User: "u2", Due: at, Data: []byte(`{}`)},
			{User: "u3", Data: []byte(`{}`)},
		} {
			if err := tx.PutGuest(ctx, g); err != nil {
				return err
			}
		}
		g, err := tx.Guest(ctx, "u1")
		if err != nil || string(g.Data) != `{"a":2}` || !g.Due.Equal(at.Add(2*time.Hour)) {
			t.Errorf("guest u1: %+v %v", g, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	due, err := s.Guests(ctx, store.GuestQuery{Due: at.Add(90 * time.Minute)})
	if err != nil || len(due) != 1 || due[0].User != "u2" {
		t.Errorf("due: %+v %v", due, err)
	}
	all, err := s.Guests(ctx, store.GuestQuery{})
	if err != nil || len(all) != 3 {
		t.Errorf("all: %+v %v", all, err)
	}
	if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteGuest(ctx, "u1") }); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Guests(ctx, store.GuestQuery{}); len(all) != 2 {
		t.Errorf("after delete: %+v", all)
	}
}
