package ldaptarget

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// createUsers creates n users through conn from 8 goroutines and returns
// their anchors.
func createUsers(t *testing.T, conn *Connector, n int) []string {
	t.Helper()
	anchors := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				a, err := conn.Create(t.Context(), user(fmt.Sprintf("member%05d", i)))
				if err != nil {
					t.Errorf("Create user %d: %v", i, err)
					return
				}
				anchors[i] = a
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return anchors
}

// batches is how many batches of size hold n.
func batches(n, size int) int { return (n + size - 1) / size }

// TestLargeGroup: a group of 2.5 batches of members is written
// memberBatch values per modify request and its members resolved
// searchBatch per search, never one request per member nor one for all of
// them; values already present (or absent) in a batch are success and the
// batch's other values are written; a member that does not exist changes
// nothing; the placeholder is there exactly when no member is. The
// server's operation counters count the requests.
func TestLargeGroup(t *testing.T) {
	s := ldaptest.Start(t)
	cfg := testConfig(t, s)
	cfg.PoolSize = 8
	cfg.PageSize = searchBatch // one page per search of a batch: the searches are counted
	conn := open(t, cfg)
	n := 2*memberBatch + memberBatch/2
	users := createUsers(t, conn, n)
	gone := mustCreate(t, conn, user("gone"))
	must(t, "Delete", conn.Delete(t.Context(), next(gone, nil)))
	g := mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": "large"}))
	dns := make(map[string]string, n) // anchor → DN
	for _, e := range s.Entries(t, ldaptest.PeopleDN, "(objectClass=inetOrgPerson)") {
		dns[e.GetAttributeValue("entryUUID")] = e.DN
	}
	placeholder := []string{cfg.Groups.PlaceholderMember}
	values := func(anchors []string) []string {
		if len(anchors) == 0 {
			return placeholder
		}
		out := make([]string, len(anchors))
		for i, a := range anchors {
			out[i] = dns[a]
		}
		slices.Sort(out)
		return out
	}
	cat := func(lists ...[]string) []string { return slices.Concat(lists...) }
	reversed := func(l []string) []string { l = slices.Clone(l); slices.Reverse(l); return l }
	// where returns the users whose index satisfies keep: sets spread over
	// every batch, whatever the order of the anchors (entryUUIDs follow
	// the time of creation).
	where := func(keep func(i int) bool) []string {
		var out []string
		for i, a := range users {
			if keep(i) {
				out = append(out, a)
			}
		}
		return out
	}
	even := func(i int) bool { return i%2 == 0 }
	odd := func(i int) bool { return i%2 == 1 }

	for _, step := range []struct {
		name    string
		add     bool
		members []string
		wantErr error
		want    []string // the members after the step
		// modify requests (one per batch, and one more for a batch
		// refused for a value present or absent), and at most this many
		// searches besides those that resolve the members (a pooled
		// connection idle for long is checked with one): the search of
		// the group, a read of its members after a refused request, or of
		// whether any is left after a removal
		modifies, searches int
	}{
		{"add the 1,250 even ones to the placeholder", true, where(even), nil, where(even), 2, 1},
		{"add all, half present, reversed, 100 twice", true, cat(reversed(users), users[:100]), nil, users, 4, 2},
		{"add all again", true, users, nil, users, 1, 2},
		{"remove 100, the group itself and a deleted user", false, cat(users[:100], []string{g.Anchor, gone.Anchor}), nil, users[100:], 2, 2},
		{"add all and a deleted user", true, cat(users, []string{gone.Anchor}), targets.ErrNotFound, users[100:], 0, 1},
		{"remove the odd ones, 50 absent", false, where(odd), nil, where(func(i int) bool { return even(i) && i >= 100 }), 3, 2},
		{"remove all, 1,300 absent: the placeholder is back", false, users, nil, nil, 4, 2},
		{"remove all, none present", false, users, nil, nil, 1, 2},
		{"add two thirds to the placeholder", true, where(func(i int) bool { return i%3 != 0 }), nil, where(func(i int) bool { return i%3 != 0 }), 2, 1},
		{"remove all, a third absent", false, reversed(users), nil, nil, 4, 2},
	} {
		op := next(g, nil, step.members...)
		call := conn.RemoveMembers
		if step.add {
			call = conn.AddMembers
		}
		before := s.Operations(t)
		err := call(t.Context(), op)
		ops := s.Operations(t)
		switch {
		case step.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", step.name, err)
		case step.wantErr != nil && !errors.Is(err, step.wantErr):
			t.Fatalf("%s: %v, want %v", step.name, err, step.wantErr)
		}
		// The second read of the counters is a search.
		modifies, searches := ops["Modify"]-before["Modify"], ops["Search"]-before["Search"]-1
		maxSearches := step.searches + batches(len(slices.Compact(slices.Sorted(slices.Values(step.members)))), searchBatch)
		if modifies != step.modifies || searches > maxSearches {
			t.Errorf("%s: %d modify requests and %d searches, want %d and at most %d", step.name, modifies, searches, step.modifies, maxSearches)
		}
		if got, want := memberValues(t, s, g.Anchor, "member"), values(step.want); !slices.Equal(got, want) {
			t.Fatalf("%s: %d member values, want %d", step.name, len(got), len(want))
		}
		before = s.Operations(t)
		o, err := conn.Get(t.Context(), targets.Group, g.Anchor)
		must(t, step.name+": Get", err)
		if searches := s.Operations(t)["Search"] - before["Search"] - 1; searches > 1+batches(len(step.want), searchBatch) {
			t.Errorf("%s: Get ran %d searches for %d members", step.name, searches, len(step.want))
		}
		if got, want := slices.Sorted(slices.Values(o.Members)), slices.Sorted(slices.Values(step.want)); !slices.Equal(got, want) {
			t.Fatalf("%s: Get has %d members, want %d", step.name, len(got), len(want))
		}
	}
}

// TestPlaceholderOptional: with object classes that let a group have no
// member, the placeholder still stands for an empty group: the directory
// does not refuse the removal of the last member, and the connector finds
// that none is left.
func TestPlaceholderOptional(t *testing.T) {
	s := ldaptest.Start(t)
	cfg := testConfig(t, s)
	cfg.Groups.ObjectClasses = []string{"device", "extensibleObject"}
	conn := open(t, cfg)
	u1, u2 := mustCreate(t, conn, user("u1")), mustCreate(t, conn, user("u2"))
	g := mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": "optional"}))
	placeholder := []string{cfg.Groups.PlaceholderMember}
	dn := func(u targets.Op) string { return entry(t, s, u.Anchor).DN }
	for _, step := range []struct {
		name    string
		add     bool
		members []string
		want    []string
	}{
		{"new group", true, nil, placeholder},
		{"add u1", true, []string{u1.Anchor}, []string{dn(u1)}},
		{"add u2", true, []string{u2.Anchor}, slices.Sorted(slices.Values([]string{dn(u1), dn(u2)}))},
		{"remove u1", false, []string{u1.Anchor}, []string{dn(u2)}},
		{"remove u2", false, []string{u2.Anchor}, placeholder},
		{"remove u2 again", false, []string{u2.Anchor}, placeholder},
		{"add u1 again", true, []string{u1.Anchor}, []string{dn(u1)}},
	} {
		call := conn.RemoveMembers
		if step.add {
			call = conn.AddMembers
		}
		must(t, step.name, call(t.Context(), next(g, nil, step.members...)))
		if got := memberValues(t, s, g.Anchor, "member"); !slices.Equal(got, step.want) {
			t.Errorf("%s: member %q, want %q", step.name, got, step.want)
		}
	}
}
