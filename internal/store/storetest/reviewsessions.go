package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testReviewSessions: a session is read back by its hash; revoking one,
// or all of a reviewer's, marks them revoked once; creating a session
// purges those expired; bad sessions are refused.
func testReviewSessions(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	write := func(fn func(ctx context.Context, tx store.Tx) error) error {
		return s.Write(ctx, fn)
	}
	create := func(hash, reviewer, admin string, at time.Time) {
		t.Helper()
		if err := write(func(ctx context.Context, tx store.Tx) error {
			return tx.CreateReviewSession(ctx, store.ReviewSession{Hash: hash, Reviewer: reviewer, Admin: admin, Created: at, Expires: at.Add(8 * time.Hour)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	revoked := func(hash string) time.Time {
		t.Helper()
		rs, err := s.ReviewSession(ctx, hash)
		if err != nil {
			t.Fatalf("ReviewSession(%s): %v", hash, err)
		}
		return rs.Revoked
	}
	create("a1", "mia", "", t0)
	create("a2", "mia", "", t0.Add(time.Hour))
	create("b1", "max", "", t0.Add(time.Hour))
	create("adm", "", "token #1", t0.Add(time.Hour))
	got, err := s.ReviewSession(ctx, "a1")
	if want := (store.ReviewSession{Hash: "a1", Reviewer: "mia", Created: t0, LastSeen: t0, Expires: t0.Add(8 * time.Hour)}); err != nil || got != want {
		t.Errorf("ReviewSession = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.ReviewSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing session: %v", err)
	}
	for name, bad := range map[string]store.ReviewSession{
		"no hash":              {Reviewer: "mia", Created: t0, Expires: t0.Add(time.Hour)},
		"neither":              {Hash: "x", Created: t0, Expires: t0.Add(time.Hour)},
		"both":                 {Hash: "x", Reviewer: "mia", Admin: "a", Created: t0, Expires: t0.Add(time.Hour)},
		"expires before start": {Hash: "x", Reviewer: "mia", Created: t0, Expires: t0},
	} {
		if err := write(func(ctx context.Context, tx store.Tx) error { return tx.CreateReviewSession(ctx, bad) }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// Touch and revoke one.
	at := t0.Add(2 * time.Hour)
	if err := write(func(ctx context.Context, tx store.Tx) error {
		if err := tx.TouchReviewSession(ctx, "a1", at); err != nil {
			return err
		}
		if err := tx.RevokeReviewSession(ctx, "a1", at); err != nil {
			return err
		}
		return tx.RevokeReviewSession(ctx, "a1", at.Add(time.Minute)) // revoked already: kept
	}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.ReviewSession(ctx, "a1"); !rs.LastSeen.Equal(at) || !rs.Revoked.Equal(at) {
		t.Errorf("after touch and revoke: %+v", rs)
	}

	// All of Mia's: only a2 was still live.
	var n int
	if err := write(func(ctx context.Context, tx store.Tx) (err error) {
		n, err = tx.RevokeReviewerSessions(ctx, "mia", at.Add(time.Hour))
		return err
	}); err != nil || n != 1 {
		t.Errorf("RevokeReviewerSessions = %d, %v; want 1", n, err)
	}
	if !revoked("a2").Equal(at.Add(time.Hour)) || !revoked("b1").IsZero() || !revoked("adm").IsZero() || !revoked("a1").Equal(at) {
		t.Error("revoking Mia's sessions revoked another's, or missed one")
	}

	// A session created after a1's expiry purges it (revoked or not).
	create("c1", "max", "", t0.Add(8*time.Hour))
	if _, err := s.ReviewSession(ctx, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired session was not purged: %v", err)
	}
	if _, err := s.ReviewSession(ctx, "b1"); err != nil {
		t.Errorf("a live session was purged: %v", err)
	}
}
