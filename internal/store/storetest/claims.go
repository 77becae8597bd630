package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testClaimOutbox: an operation is claimed only when it is pending, the
// first pending one of its object, and claimed by no other replica whose
// claim still stands; a replica renews its own claim; a claim ends with
// UpdateOutbox, DeleteOutbox or a claim until now; the claim is stored
// (Deliverable, GetOutbox see it).
func testClaimOutbox(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var seq = map[string]int64{}
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, o := range []struct {
			name string
			op   store.Outbox
		}{
			{"a1", store.Outbox{Target: "t", Type: "User", ID: "a", Payload: []byte(`1`)}},
			{"a2", store.Outbox{Target: "t", Type: "User", ID: "a", Payload: []byte(`2`)}},
			{"b1", store.Outbox{Target: "t", Type: "User", ID: "b", Payload: []byte(`3`), Held: true}},
			{"c1", store.Outbox{Target: "t", Type: "User", ID: "c", Payload: []byte(`4`)}},
			{"d1", store.Outbox{Target: "t", Type: "User", ID: "d", Payload: []byte(`5`)}},
			{"d2", store.Outbox{Target: "t", Type: "User", ID: "d", Payload: []byte(`6`)}},
		} {
			n, err := tx.Enqueue(ctx, o.op)
			if err != nil {
				return err
			}
			seq[o.name] = n
		}
		// d1 is a dead letter: d2 is the first pending operation of d.
		d1, err := tx.GetOutbox(ctx, seq["d1"])
		if err != nil {
			return err
		}
		d1.Dead = true
		return tx.UpdateOutbox(ctx, d1)
	})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(by string, at time.Duration, names ...string) []string {
		t.Helper()
		seqs := make([]int64, len(names))
		for i, n := range names {
			seqs[i] = seq[n]
		}
		var got []store.Outbox
		err := s.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
			got, err = tx.ClaimOutbox(ctx, seqs, by, t0.Add(at), t0.Add(at+time.Minute))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range got {
			for n, q := range seq {
				if q == o.Seq {
					out = append(out, n)
				}
			}
			if o.ClaimedBy != by || !o.ClaimedUntil.Equal(t0.Add(at+time.Minute)) {
				t.Errorf("claim by %s at %v returned %+v, want it claimed by %s until a minute later", by, at, o, by)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		by    string
		at    time.Duration
		names []string
		want  []string
	}{
		{"the first pending operation of each object, not a later, held, dead or missing one", "r1", 0,
			[]string{"a2", "a1", "b1", "c1", "d1", "d2", "missing"}, []string{"a1", "c1", "d2"}},
		{"another replica's claim stands", "r2", 30 * time.Second, []string{"a1", "c1"}, nil},
		{"a replica renews its own", "r1", 50 * time.Second, []string{"a1"}, []string{"a1"}},
		{"the renewed claim stands to its end", "r2", 109 * time.Second, []string{"a1", "c1"}, []string{"c1"}},
		{"and is free after it", "r2", 110 * time.Second, []string{"a1"}, []string{"a1"}},
		{"the first replica lost it", "r1", 111 * time.Second, []string{"a1"}, nil},
	} {
		if got := claim(tc.by, tc.at, tc.names...); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: claimed %v, want %v", tc.name, got, tc.want)
		}
	}
	rows, err := s.Deliverable(ctx, "t", 10)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, o := range rows {
		seen = append(seen, fmt.Sprintf("%d:%s", o.Seq, o.ClaimedBy))
	}
	want := []string{fmt.Sprintf("%d:r2", seq["a1"]), fmt.Sprintf("%d:", seq["a2"]), fmt.Sprintf("%d:r2", seq["c1"]), fmt.Sprintf("%d:r1", seq["d2"])}
	if !slices.Equal(seen, want) {
		t.Fatalf("deliverable with claims: %v, want %v", seen, want)
	}
	// UpdateOutbox ends a claim (the delivery's outcome recorded); so
	// does DeleteOutbox (a1 delivered: a2 is a's first now); a claim
	// until now gives it up.
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		c1, err := tx.GetOutbox(ctx, seq["c1"])
		if err != nil {
			return err
		}
		c1.Attempts = 1
		if err := tx.UpdateOutbox(ctx, c1); err != nil {
			return err
		}
		if err := tx.DeleteOutbox(ctx, seq["a1"]); err != nil {
			return err
		}
		now := t0.Add(2 * time.Minute)
		_, err = tx.ClaimOutbox(ctx, []int64{seq["d2"]}, "r1", now, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := claim("r3", 2*time.Minute, "a2", "c1", "d2"); !slices.Equal(got, []string{"a2", "c1", "d2"}) {
		t.Fatalf("after the claims ended: claimed %v, want a2, c1, d2", got)
	}
	c1, err := s.Deliverable(ctx, "t", 10)
	if err != nil || len(c1) != 3 || c1[1].Attempts != 1 {
		t.Fatalf("deliverable: %+v, %v; want a2, c1 (its attempt saved) and d2", c1, err)
	}
}
