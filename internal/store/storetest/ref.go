package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// refMatch is the reference semantics of Cond, evaluated directly over
// r.Index (see Compare, Elem and the store package documentation).
func refMatch(c store.Cond, r *store.Resource) bool {
	if c == nil {
		return true
	}
	return refEval(c, r, r.Index, true)
}

// refEval evaluates c over the entries es; top is false inside Elem, where
// only the element's entries count and pseudo-paths are ordinary paths.
func refEval(c store.Cond, r *store.Resource, es []store.IndexEntry, top bool) bool {
	switch c := c.(type) {
	case store.Const:
		return bool(c)
	case store.And:
		for _, t := range c {
			if !refEval(t, r, es, top) {
				return false
			}
		}
		return true
	case store.Or:
		for _, t := range c {
			if refEval(t, r, es, top) {
				return true
			}
		}
		return false
	case store.Not:
		return !refEval(c.C, r, es, top)
	case store.Elem:
		prefix := c.Root + "."
		for _, e := range es {
			if !strings.HasPrefix(e.Path, prefix) {
				continue
			}
			var elem []store.IndexEntry
			for _, f := range es {
				if strings.HasPrefix(f.Path, prefix) && f.Elem == e.Elem {
					elem = append(elem, f)
				}
			}
			if refEval(c.C, r, elem, false) {
				return true
			}
		}
		return false
	case store.Compare:
		if c.Op == store.Ne {
			c.Op = store.Eq
			return !refEval(c, r, es, top)
		}
		for _, p := range c.Paths {
			if v, ok := refColumn(r, p); ok && top {
				if refTest(c, v, nil) {
					return true
				}
				continue
			}
			for _, e := range es {
				if e.Path == p && refTest(c, e.Str, e.Num) {
					return true
				}
			}
		}
		return false
	}
	panic(fmt.Sprintf("refEval: %T", c))
}

// refColumn is the value of a pseudo-path.
func refColumn(r *store.Resource, path string) (string, bool) {
	switch path {
	case "id":
		return r.ID, true
	case "meta.created":
		return r.Created.Format(store.TimeFormat), true
	case "meta.lastmodified":
		return r.Modified.Format(store.TimeFormat), true
	}
	return "", false
}

// refTest compares one value with the literal of c.
func refTest(c store.Compare, s string, n *float64) bool {
	switch c.Op {
	case store.Pr:
		return true
	case store.Co:
		return strings.Contains(s, c.Str)
	case store.Sw:
		return strings.HasPrefix(s, c.Str)
	case store.Ew:
		return strings.HasSuffix(s, c.Str)
	}
	var d int
	if c.Num != nil {
		if n == nil {
			return false
		}
		d = cmp.Compare(*n, *c.Num)
	} else {
		d = strings.Compare(s, c.Str)
	}
	switch c.Op {
	case store.Eq:
		return d == 0
	case store.Gt:
		return d > 0
	case store.Ge:
		return d >= 0
	case store.Lt:
		return d < 0
	case store.Le:
		return d <= 0
	}
	panic(fmt.Sprintf("refTest: op %d", c.Op))
}

// refQuery answers q over rs (in creation order) by the reference semantics.
func refQuery(rs []store.Resource, q store.Query) store.Page {
	var match []store.Resource
	for i := range rs {
		if refMatch(q.Filter, &rs[i]) {
			match = append(match, rs[i])
		}
	}
	if q.SortBy != "" {
		key := func(r *store.Resource) (string, bool) {
			if v, ok := refColumn(r, q.SortBy); ok {
				return v, true
			}
			var min string
			found := false
			for _, e := range r.Index {
				if e.Path == q.SortBy && (!found || e.Str < min) {
					min, found = e.Str, true
				}
			}
			return min, found
		}
		slices.SortStableFunc(match, func(a, b store.Resource) int {
			ka, oka := key(&a)
			kb, okb := key(&b)
			switch {
			case oka != okb: // missing last ascending, first descending
				if oka != q.Descending {
					return -1
				}
				return 1
			case !oka:
				return 0
			case q.Descending:
				return strings.Compare(kb, ka)
			}
			return strings.Compare(ka, kb)
		})
	}
	p := store.Page{Total: len(match), Resources: []store.Resource{}}
	start := max(q.StartIndex, 1) - 1
	if q.Count > 0 && start < len(match) {
		p.Resources = match[start:min(len(match), start+q.Count)]
	}
	return p
}

// randomCase generates data and conditions from small alphabets, so that
// conditions match often and edge cases (shared prefixes, empty strings,
// several elements, absent values) are common.
type randomCase struct {
	strs  []string // the strings of index entries and literals
	r     *rand.Rand
	times []string // created timestamps of the resources
}

var (
	randPaths = []string{"a", "b", "n", "emails.type", "emails.value", "x.y.z", "x.w"}
	randStrs  = []string{"", "a", "ab", "abc", "b", "ba", "%", "_a", "a\x00", "é", "Z"}
	randRoots = []string{"emails", "x", "x.y"}
)

func (rc *randomCase) pick(ss []string) string { return ss[rc.r.IntN(len(ss))] }

func (rc *randomCase) resource(i int) store.Resource {
	r := store.Resource{Type: "User", ID: fmt.Sprintf("r%03d", rc.r.IntN(1000)*1000+i)}
	for range rc.r.IntN(9) {
		e := store.IndexEntry{Path: rc.pick(randPaths), Elem: rc.r.IntN(3), Str: rc.pick(rc.strs)}
		if e.Path == "n" {
			f := float64(rc.r.IntN(7) - 3)
			e.Num, e.Str = &f, fmt.Sprint(f)
		}
		r.Index = append(r.Index, e)
	}
	return r
}

func (rc *randomCase) cond(depth int) store.Cond {
	switch n := rc.r.IntN(10); {
	case depth > 0 && n < 2:
		return store.And(rc.conds(depth))
	case depth > 0 && n < 4:
		return store.Or(rc.conds(depth))
	case depth > 0 && n < 5:
		return store.Not{C: rc.cond(depth - 1)}
	case depth > 0 && n < 7:
		return store.Elem{Root: rc.pick(randRoots), C: rc.cond(depth - 1)}
	case n == 7 && rc.r.IntN(4) == 0:
		return store.Const(rc.r.IntN(2) == 0)
	}
	c := store.Compare{Op: store.Op(rc.r.IntN(int(store.Pr) + 1)), Str: rc.pick(rc.strs)}
	for range 1 + rc.r.IntN(2) {
		switch rc.r.IntN(8) {
		case 0:
			c.Paths = append(c.Paths, "id")
			c.Str = fmt.Sprintf("r%d", rc.r.IntN(10))
		case 1:
			c.Paths = append(c.Paths, "meta.created")
			c.Str = rc.pick(rc.times)
		default:
			c.Paths = append(c.Paths, rc.pick(randPaths))
		}
	}
	if slices.Contains(c.Paths, "n") && rc.r.IntN(3) > 0 {
		c.Num = num(float64(rc.r.IntN(7) - 3))
	}
	return c
}

func (rc *randomCase) conds(depth int) []store.Cond {
	cs := make([]store.Cond, rc.r.IntN(4))
	for i := range cs {
		cs[i] = rc.cond(depth - 1)
	}
	return cs
}

// testQueryRandom compares Query with the reference model (refQuery) on
// random data, filters, sort orders and pages; a backend that cannot hold
// U+0000 (see testQueryHostileLiterals) is tested without it.
func testQueryRandom(t *testing.T, open Opener) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rc := &randomCase{r: rand.New(rand.NewPCG(seed, 1)), strs: randStrs}
	s := fresh(t, open)
	err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "Probe", ID: "p", Index: entries("v", "a\x00")})
	})
	if errors.Is(err, store.ErrInvalidText) {
		rc.strs = slices.DeleteFunc(slices.Clone(randStrs), func(v string) bool { return strings.ContainsRune(v, 0) })
	} else if err != nil {
		t.Fatal(err)
	}
	var rs []store.Resource
	for i := range 80 {
		rs = append(rs, rc.resource(i))
	}
	rs = mustCreate(t, s, rs...)
	for _, r := range rs {
		rc.times = append(rc.times, r.Created.Format(store.TimeFormat))
	}
	ctx := context.Background()
	for i := range 600 {
		q := store.Query{Filter: rc.cond(3), StartIndex: rc.r.IntN(5), Count: rc.r.IntN(30)}
		if rc.r.IntN(2) == 0 {
			q.SortBy = rc.pick(append([]string{"id", "meta.created"}, randPaths...))
			q.Descending = rc.r.IntN(2) == 0
		}
		want := refQuery(rs, q)
		got, err := s.Query(ctx, "User", q)
		if err != nil {
			t.Fatalf("case %d: Query(%#v): %v", i, q, err)
		}
		if got.Total != want.Total || !slices.Equal(pageIDs(got), pageIDs(want)) {
			t.Fatalf("case %d: Query(%#v)\n got %v (total %d)\nwant %v (total %d)",
				i, q, pageIDs(got), got.Total, pageIDs(want), want.Total)
		}
	}
}
