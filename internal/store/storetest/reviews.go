package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testReviews: an instance is created once per (definition, start) with
// its items and their reviewers; items are selected by instance,
// reviewer, the instance's status, pending and index; an item's decision,
// apply result and reviewers are saved (reviewers replaced); an
// instance's status and times are saved; missing rows are ErrNotFound;
// the counts are by decision and by reviewer; a notice is recorded once.
func testReviews(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 14)
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	items := func() []store.ReviewItem {
		return []store.ReviewItem{
			{Index: 1, User: "u1", UserName: "ada", DisplayName: "Ada", ResourceType: store.ReviewTarget, Resource: "crm", ResourceName: "crm",
				Recommendation: "Approve", Reason: "signed in recently", LastSignIn: start.Add(-time.Hour), Reviewers: []string{"m2", "m1"},
				Decision: store.ReviewNotReviewed},
			{Index: 2, User: "u2", UserName: "bob", ResourceType: store.ReviewTarget, Resource: "crm", Guest: true, Recommendation: "Deny",
				Reason: "inactive", Reviewers: []string{"m1"}, Decision: store.ReviewNotReviewed},
			{Index: 3, User: "u3", UserName: "cy", ResourceType: store.ReviewTarget, Resource: "crm", Recommendation: "Approve",
				Reviewers: nil, Decision: store.ReviewNotReviewed},
		}
	}
	in := store.ReviewInstance{Definition: "crm-quarterly", Occurrence: 1, Status: store.ReviewInProgress, Start: start, End: end, Data: []byte(`{"x":1}`)}
	write(func(ctx context.Context, tx store.Tx) error {
		created, err := tx.CreateReviewInstance(ctx, &in, items())
		if err != nil || !created || in.ID == 0 {
			t.Errorf("CreateReviewInstance = %v, %v (id %d)", created, err, in.ID)
		}
		again := store.ReviewInstance{Definition: "crm-quarterly", Occurrence: 1, Status: store.ReviewInProgress, Start: start, End: end}
		created, err = tx.CreateReviewInstance(ctx, &again, items())
		if err != nil || created || again.ID != in.ID {
			t.Errorf("second CreateReviewInstance = %v, %v (id %d, want %d)", created, err, again.ID, in.ID)
		}
		if _, err := tx.CreateReviewInstance(ctx, &store.ReviewInstance{Definition: "x", Status: store.ReviewInProgress}, nil); err == nil {
			t.Error("an instance without start and end was accepted")
		}
		other := store.ReviewInstance{Definition: "groups", Occurrence: 2, Status: store.ReviewCompleted, Start: start.AddDate(0, -1, 0), End: start}
		_, err = tx.CreateReviewInstance(ctx, &other, []store.ReviewItem{{Index: 1, User: "u1", ResourceType: store.ReviewGroup, Resource: "g1",
			Decision: "Approve", Reviewers: []string{"m1"}}})
		return err
	})
	got, err := s.ReviewInstance(ctx, in.ID)
	if err != nil || got.Definition != "crm-quarterly" || !got.Start.Equal(start) || !got.End.Equal(end) || !got.Ended.IsZero() ||
		got.Status != store.ReviewInProgress || string(got.Data) != `{"x":1}` || got.Occurrence != 1 || got.Stage != 1 {
		t.Errorf("ReviewInstance = %+v, %v", got, err)
	}
	if _, err := s.ReviewInstance(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing instance: %v", err)
	}
	for name, c := range map[string]struct {
		q    store.ReviewInstanceQuery
		want []string
	}{
		"all":         {store.ReviewInstanceQuery{}, []string{"crm-quarterly", "groups"}},
		"definition":  {store.ReviewInstanceQuery{Definition: "groups"}, []string{"groups"}},
		"status":      {store.ReviewInstanceQuery{Status: []string{store.ReviewInProgress, store.ReviewApplied}}, []string{"crm-quarterly"}},
		"start":       {store.ReviewInstanceQuery{Start: start}, []string{"crm-quarterly"}},
		"limit":       {store.ReviewInstanceQuery{Limit: 1}, []string{"crm-quarterly"}},
		"no such one": {store.ReviewInstanceQuery{Definition: "nope"}, []string{}},
	} {
		ins, err := s.ReviewInstances(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, in := range ins {
			names = append(names, in.Definition)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("%s: %q, want %q", name, names, c.want)
		}
	}
	ids := func(q store.ReviewItemQuery) string {
		t.Helper()
		its, err := s.ReviewItems(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range its {
			which := "b"
			if it.Instance == in.ID {
				which = "a"
			}
			out = append(out, fmt.Sprintf("%s/%d:%s%v", which, it.Index, it.User, it.Reviewers))
		}
		return fmt.Sprint(out)
	}
	for name, c := range map[string]struct {
		q    store.ReviewItemQuery
		want string
	}{
		"instance":             {store.ReviewItemQuery{Instance: in.ID}, "[a/1:u1[m1 m2] a/2:u2[m1] a/3:u3[]]"},
		"reviewer":             {store.ReviewItemQuery{Reviewer: "m1"}, "[a/1:u1[m1 m2] a/2:u2[m1] b/1:u1[m1]]"},
		"reviewer in progress": {store.ReviewItemQuery{Reviewer: "m1", Status: store.ReviewInProgress}, "[a/1:u1[m1 m2] a/2:u2[m1]]"},
		"pending":              {store.ReviewItemQuery{Pending: true}, "[a/1:u1[m1 m2] a/2:u2[m1] a/3:u3[]]"},
		"index":                {store.ReviewItemQuery{Instance: in.ID, Index: 2}, "[a/2:u2[m1]]"},
		"nobody's":             {store.ReviewItemQuery{Reviewer: "zz"}, "[]"},
	} {
		if got := ids(c.q); got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
	its, err := s.ReviewItems(ctx, store.ReviewItemQuery{Instance: in.ID, Index: 2})
	if err != nil {
		t.Fatal(err)
	}
	if it := its[0]; !it.Guest || it.UserName != "bob" || it.Recommendation != "Deny" || it.Reason != "inactive" || !it.LastSignIn.IsZero() ||
		it.Stage != 1 || it.Stage1Decision != "" || !it.Stage1ReviewedAt.IsZero() {
		t.Errorf("item 2: %+v", it)
	}
	at := start.Add(48 * time.Hour)
	write(func(ctx context.Context, tx store.Tx) error {
		it := its[0]
		it.Decision, it.Justification, it.ReviewedBy, it.ReviewedAt = "Deny", "left the project", "m1", at
		it.ApplyResult, it.ApplyDetail, it.AppliedAt = "Failed", "target down", at
		it.Reviewers = []string{"m3"}
		it.Stage, it.Stage1Decision, it.Stage1Justification, it.Stage1ReviewedBy, it.Stage1ReviewedAt = 2, "Approve", "still needed", "m1", start
		if err := tx.UpdateReviewItem(ctx, it); err != nil {
			return err
		}
		if err := tx.UpdateReviewItem(ctx, store.ReviewItem{Instance: in.ID, Index: 9}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing item: %v", err)
		}
		got, err := tx.ReviewInstance(ctx, in.ID)
		if err != nil {
			return err
		}
		got.Status, got.Ended, got.EndedBy, got.Applied, got.AppliedBy, got.Stage = store.ReviewApplied, at, "admin: ops", at, "scimgate", 2
		if err := tx.UpdateReviewInstance(ctx, got); err != nil {
			return err
		}
		if err := tx.UpdateReviewInstance(ctx, store.ReviewInstance{ID: 999}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing instance: %v", err)
		}
		pending, err := tx.ReviewItems(ctx, store.ReviewItemQuery{Instance: in.ID, Pending: true})
		if err != nil || len(pending) != 2 {
			t.Errorf("pending in the transaction: %+v, %v", pending, err)
		}
		return nil
	})
	its, err = s.ReviewItems(ctx, store.ReviewItemQuery{Instance: in.ID, Index: 2})
	if err != nil {
		t.Fatal(err)
	}
	if it := its[0]; it.Decision != "Deny" || it.Justification != "left the project" || it.ReviewedBy != "m1" || !it.ReviewedAt.Equal(at) ||
		it.ApplyResult != "Failed" || it.ApplyDetail != "target down" || !it.AppliedAt.Equal(at) || !slices.Equal(it.Reviewers, []string{"m3"}) ||
		it.Stage != 2 || it.Stage1Decision != "Approve" || it.Stage1Justification != "still needed" || it.Stage1ReviewedBy != "m1" ||
		!it.Stage1ReviewedAt.Equal(start) {
		t.Errorf("updated item: %+v", it)
	}
	if got, _ := s.ReviewInstance(ctx, in.ID); got.Status != store.ReviewApplied || !got.Ended.Equal(at) || got.EndedBy != "admin: ops" ||
		!got.Applied.Equal(at) || got.AppliedBy != "scimgate" || got.Stage != 2 {
		t.Errorf("updated instance: %+v", got)
	}
	counts, err := s.ReviewCounts(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(counts.Decisions, map[string]int{"Deny": 1, store.ReviewNotReviewed: 2}) ||
		!maps.Equal(counts.ByReviewer["m1"], map[string]int{store.ReviewNotReviewed: 1}) ||
		!maps.Equal(counts.ByReviewer["m3"], map[string]int{"Deny": 1}) || len(counts.ByReviewer) != 3 {
		t.Errorf("counts %+v", counts)
	}
	write(func(ctx context.Context, tx store.Tx) error {
		for _, n := range []store.ReviewNotice{
			{Instance: in.ID, Recipient: "m1", Kind: "started", At: start},
			{Instance: in.ID, Recipient: "m1", Kind: "started", At: at, Error: "later"}, // kept: the first
			{Instance: in.ID, Recipient: "channel:ops", Kind: "halfway", At: at, Error: "refused"},
		} {
			if err := tx.AddReviewNotice(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	ns, err := s.ReviewNotices(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Recipient != "m1" || !ns[0].At.Equal(start) || ns[0].Error != "" || ns[1].Error != "refused" {
		t.Errorf("notices %+v", ns)
	}
}

// testReviewDefinitionDelete: a definition put is listed, deleted once
// (a second delete is ErrNotFound), and no longer listed.
func testReviewDefinitionDelete(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a", "b"} {
		if err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.PutReviewDefinition(ctx, store.ReviewDefinition{Name: name, Data: []byte(`{}`), Created: at, Updated: at})
		}); err != nil {
			t.Fatal(err)
		}
	}
	del := func() error {
		return s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteReviewDefinition(ctx, "a") })
	}
	if err := del(); err != nil {
		t.Fatal(err)
	}
	if err := del(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	ds, err := s.ReviewDefinitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Name != "b" {
		t.Errorf("definitions after the delete: %+v", ds)
	}
}
