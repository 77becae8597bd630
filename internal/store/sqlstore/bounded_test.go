package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// slowFixture stores n users and returns two conditions that cost each
// user terms index probes (no index answers a negation): over n = 2000 and
// 450 terms, tens of seconds of CPU. slow matches every user, first only
// the first one (user0, id u0).
func slowFixture(t *testing.T, s *SQL, n, terms int) (slow, first store.Cond) {
	t.Helper()
	rs := make([]store.Resource, n)
	for i := range rs {
		rs[i] = store.Resource{Type: "User", ID: fmt.Sprintf("u%d", i), Unique: fmt.Sprintf("user%d", i),
			Index: entries("username", fmt.Sprintf("user%d", i), "displayname", fmt.Sprintf("user number %d", i))}
	}
	mustCreate(t, s, rs...)
	var or store.Or
	for i := range terms {
		or = append(or, store.Compare{Paths: []string{"displayname"}, Op: store.Co, Str: fmt.Sprintf("zz%d", i)})
	}
	// The cheap term last: SQLite evaluates OR terms in order.
	notFirst := append(slices.Clip(or), store.Compare{Paths: []string{"username"}, Op: store.Ne, Str: "user0"})
	return store.Not{C: or}, store.Not{C: notFirst}
}

// waitRunning waits until n queries that are not lookups hold a reader
// each (the readers are otherwise idle).
func waitRunning(s *SQL, n int) {
	for len(s.scans) < n || len(s.readers) > cap(s.readers)-n {
		runtime.Gosched()
	}
}

// checkReaders runs one query more than there are readers, one after the
// other, so that each reader answers one: none was left in a transaction
// or interrupted by a query that ended with its context.
func checkReaders(t *testing.T, s *SQL) {
	t.Helper()
	for i := range cap(s.readers) + 1 {
		p, err := s.Query(context.Background(), "User", store.Query{Filter: eq("username", "user1"), Count: 1})
		if err != nil || !slices.Equal(pageIDs(p), []string{"u1"}) || p.Total != 1 {
			t.Fatalf("query %d after the cancelled ones: %v (total %d), %v", i, pageIDs(p), p.Total, err)
		}
	}
}

// TestQueryEndsWithContext: a query stops when its context ends (the
// client left, or the request's time is up) long before it would finish,
// and leaves its reader usable.
func TestQueryEndsWithContext(t *testing.T) {
	s := openTest(t)
	slow, first := slowFixture(t, s, 2000, 450)
	tests := []struct {
		name  string
		cond  store.Cond
		count int // 0: only the total (COUNT)
	}{
		{"while counting", slow, 0},
		{"while paging", slow, 10},
		{"while paging a filter with one match", first, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.Query(ctx, "User", store.Query{Filter: tt.cond, Count: tt.count})
				done <- err
			}()
			waitRunning(s, 1)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Query: %v, want context.Canceled", err)
			}
			checkReaders(t, s)
		})
	}
}

// TestQueryReadersNotStarved: while as many expensive queries run as there
// are readers, Get, userName lookups and id lookups are still answered:
// expensive queries hold at most half the readers, the others wait.
func TestQueryReadersNotStarved(t *testing.T) {
	s := openTest(t)
	slow, _ := slowFixture(t, s, 2000, 450)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heavy := make(chan error, cap(s.readers))
	for range cap(s.readers) {
		go func() {
			_, err := s.Query(ctx, "User", store.Query{Filter: slow})
			heavy <- err
		}()
	}
	waitRunning(s, cap(s.scans))

	if r, err := s.Get(context.Background(), "User", "u7"); err != nil || r.Unique != "user7" {
		t.Fatalf("Get during expensive queries: %+v, %v", r, err)
	}
	lookups := []struct {
		name string
		cond store.Cond
		want []string
	}{
		{"userName eq", eq("username", "user7"), []string{"u7"}},
		{"id eq", eq("id", "u8"), []string{"u8"}},
		{"id eq and another condition", store.And{eq("displayname", "user number 9"), eq("id", "u9")}, []string{"u9"}},
		{"no filter", nil, nil},
	}
	for _, l := range lookups {
		p, err := s.Query(context.Background(), "User", store.Query{Filter: l.cond, Count: 1})
		if err != nil || (l.want != nil && !slices.Equal(pageIDs(p), l.want)) {
			t.Fatalf("%s during expensive queries: %v, %v", l.name, pageIDs(p), err)
		}
	}
	select {
	case err := <-heavy:
		t.Fatalf("an expensive query ended (%v) before the lookups were answered: they waited for it", err)
	default:
	}

	cancel()
	for range cap(s.readers) {
		if err := <-heavy; !errors.Is(err, context.Canceled) {
			t.Errorf("expensive query: %v, want context.Canceled", err)
		}
	}
	checkReaders(t, s)
}

// TestPlanLookup: which conditions count as index lookups, which may run
// only in a place of SQL.scans.
func TestPlanLookup(t *testing.T) {
	co := store.Compare{Paths: []string{"username"}, Op: store.Co, Str: "a"}
	tests := []struct {
		name string
		cond store.Cond
		want bool
	}{
		{"no filter", nil, true},
		{"constant", store.Const(false), true},
		{"eq", eq("username", "a"), true},
		{"eq on several paths", store.Compare{Paths: []string{"id", "username"}, Op: store.Eq, Str: "a"}, true},
		{"or of eq", store.Or{eq("username", "a"), eq("externalid", "b")}, true},
		{"id and members", store.And{eq("id", "g"), eq("members.value", "u")}, true},
		{"members and id", store.And{eq("members.value", "u"), eq("id", "g")}, true},
		{"id and an expensive condition", store.And{eq("id", "g"), store.Not{C: co}}, true},
		{"eq and another condition", store.And{eq("username", "a"), eq("title", "b")}, false},
		{"co", co, false},
		{"sw", store.Compare{Paths: []string{"username"}, Op: store.Sw, Str: "a"}, false},
		{"ne", store.Compare{Paths: []string{"username"}, Op: store.Ne, Str: "a"}, false},
		{"not", store.Not{C: eq("username", "a")}, false},
		{"numeric eq", store.Compare{Paths: []string{"age"}, Op: store.Eq, Str: "3", Num: num(3)}, false},
		{"elem", store.Elem{Root: "emails", C: eq("emails.value", "a")}, false},
		{"or with co", store.Or{eq("username", "a"), co}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got, err := sqliteDialect.plan("User", tt.cond); err != nil || got != tt.want {
				t.Errorf("plan: lookup %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
