package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testAlerts: an alert's episode is inserted and replaced per (rule,
// key); the active query lists only raised ones; notices are queued,
// updated, listed when due (not failed ones) and deleted; the alert
// state is kept by name.
func testAlerts(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.Alert(ctx, "down", "crm"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing alert: %v", err)
		}
		if err := tx.PutAlert(ctx, store.Alert{Rule: "down", Key: "crm"}); err == nil {
			t.Error("an alert without an episode was accepted")
		}
		if err := tx.PutAlert(ctx, store.Alert{Rule: "down", Key: "crm", Episode: 1, Active: true, Raised: at, Detail: []byte(`{"a":1}`)}); err != nil {
			return err
		}
		return tx.PutAlert(ctx, store.Alert{Rule: "dead", Key: "hr", Episode: 1, Active: true, Raised: at})
	})
	write(func(ctx context.Context, tx store.Tx) error {
		a, err := tx.Alert(ctx, "down", "crm")
		if err != nil {
			return err
		}
		if !a.Active || a.Episode != 1 || !a.Raised.Equal(at) || !a.Resolved.IsZero() || string(a.Detail) != `{"a":1}` {
			t.Errorf("alert %+v", a)
		}
		a.Active, a.Resolved = false, at.Add(time.Hour)
		return tx.PutAlert(ctx, a)
	})
	active, err := s.Alerts(ctx, store.AlertQuery{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].Rule != "dead" || active[0].Key != "hr" {
		t.Fatalf("active alerts %+v", active)
	}
	all, err := s.Alerts(ctx, store.AlertQuery{Rule: "down"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Active || !all[0].Resolved.Equal(at.Add(time.Hour)) {
		t.Fatalf("alerts of rule down %+v", all)
	}

	var seqs []int64
	write(func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.AddAlertNotice(ctx, store.AlertNotice{Rule: "down", Key: "crm", Event: "bogus"}); err == nil {
			t.Error("a notice with a bad event was accepted")
		}
		for i, next := range []time.Time{at, at.Add(time.Minute), at} {
			seq, err := tx.AddAlertNotice(ctx, store.AlertNotice{Rule: "down", Key: "crm", Episode: 1, Event: store.AlertRaised,
				Payload: []byte{byte('a' + i)}, NextAt: next, Created: at})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return tx.UpdateAlertNotice(ctx, store.AlertNotice{Seq: seqs[2], Attempts: 5, NextAt: at, LastError: "refused", Failed: true})
	})
	due, err := s.AlertNotices(ctx, store.AlertNoticeQuery{Due: at})
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Seq != seqs[0] || string(due[0].Payload) != "a" || due[0].Event != store.AlertRaised || !due[0].Created.Equal(at) {
		t.Fatalf("due notices %+v", due)
	}
	every, err := s.AlertNotices(ctx, store.AlertNoticeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(every) != 3 || !every[2].Failed || every[2].Attempts != 5 || every[2].LastError != "refused" {
		t.Fatalf("all notices %+v", every)
	}
	write(func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteAlertNotice(ctx, seqs[0]); err != nil {
			return err
		}
		if err := tx.DeleteAlertNotice(ctx, seqs[0]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if err := tx.UpdateAlertNotice(ctx, store.AlertNotice{Seq: 999}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing notice: %v", err)
		}
		if _, err := tx.AlertState(ctx, "entra:g1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing state: %v", err)
		}
		if err := tx.PutAlertState(ctx, "entra:g1", []byte(`["u1"]`)); err != nil {
			return err
		}
		if err := tx.PutAlertState(ctx, "entra:g1", []byte(`["u2"]`)); err != nil {
			return err
		}
		b, err := tx.AlertState(ctx, "entra:g1")
		if err != nil || string(b) != `["u2"]` {
			t.Errorf("state %q %v", b, err)
		}
		return nil
	})
	if due, _ := s.AlertNotices(ctx, store.AlertNoticeQuery{Due: at.Add(time.Hour)}); len(due) != 1 || due[0].Seq != seqs[1] {
		t.Fatalf("due notices after the delete %+v", due)
	}
}
