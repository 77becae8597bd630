package sqlstore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
)

// errBadCond: a Cond the compiler cannot translate (nil term, unknown Op).
var errBadCond = errors.New("store: invalid condition")

// pseudoColumns maps the pseudo-paths that compare a resource's own columns.
var pseudoColumns = map[string]string{
	"id":                "id",
	"meta.created":      "created",
	"meta.lastmodified": "modified",
}

// frag is a piece of SQL with its arguments, in placeholder order.
type frag struct {
	sql  string
	args []any
}

// compiler turns a Cond into SQL over "resources r".
//
// The condition becomes a predicate of correlated EXISTS over idx, looked up
// by rid (cheap per candidate), plus, where the condition allows it, a
// "driver": a subquery of rids answered from the (type, path, str) index
// that contains every match, so that the planner visits only candidates.
type compiler struct {
	d     *dialect
	typ   string
	alias int
	err   error
}

// scope is where a condition is evaluated: on the resource (elem == "") or
// on one element whose entries lie under every prefix in roots.
type scope struct {
	elem  string   // SQL expression of the element number
	roots []string // "emails." …
}

func (s scope) under(path string) bool {
	for _, r := range s.roots {
		if !strings.HasPrefix(path, r) {
			return false
		}
	}
	return true
}

// where compiles "resources r of type typ matching c" (c may be nil).
func (d *dialect) where(typ string, c store.Cond) (frag, error) {
	f, _, err := d.plan(typ, c)
	return f, err
}

// plan is where, and reports whether the matches are found by index
// lookups: c is nil or constant, or its driver holds only equality lookups
// and either is exact or selects by id (one candidate per lookup). The cost
// of such a query grows with its answer, not with the filter times the
// resources of the type.
func (d *dialect) plan(typ string, c store.Cond) (frag, bool, error) {
	cp := &compiler{d: d, typ: typ}
	var drv driver
	ok := false
	if c != nil {
		drv, ok = cp.driver(c, scope{})
	}
	_, isConst := c.(store.Const)
	lookup := c == nil || isConst || (ok && drv.rank == 0 && (drv.exact || drv.ids))
	// The driver selects rids of typ only. Without "r.type = ?" beside it,
	// the planner cannot prefer walking the whole type through the
	// (type, id) index over looking the candidates up by rid.
	f := frag{"r.type = ?", []any{typ}}
	if ok {
		f = frag{"r.rid IN (" + drv.sql + ")", drv.args}
	}
	if c != nil && !drv.exact {
		p := cp.pred(c, scope{})
		f.sql += " AND " + p.sql
		f.args = append(f.args, p.args...)
	}
	if cp.err != nil {
		return frag{}, false, cp.err
	}
	return f, lookup, nil
}

func (cp *compiler) fail(format string, a ...any) frag {
	if cp.err == nil {
		cp.err = fmt.Errorf("%w: "+format, append([]any{errBadCond}, a...)...)
	}
	return frag{sql: "1=0"}
}

func (cp *compiler) next() string {
	cp.alias++
	return "i" + strconv.Itoa(cp.alias)
}

// pred compiles c into a boolean expression correlated with r.rid.
func (cp *compiler) pred(c store.Cond, sc scope) frag {
	switch c := c.(type) {
	case store.Const:
		if c {
			return frag{sql: "1=1"}
		}
		return frag{sql: "1=0"}
	case store.And:
		return cp.join(c, " AND ", "1=1", sc)
	case store.Or:
		return cp.join(c, " OR ", "1=0", sc)
	case store.Not:
		p := cp.pred(c.C, sc)
		return frag{"(NOT " + p.sql + ")", p.args}
	case store.Compare:
		return cp.compare(c, sc)
	case store.Elem:
		return cp.elem(c, sc)
	}
	return cp.fail("%T", c)
}

// join joins the predicates of terms with op as a balanced tree: SQLite
// refuses expressions nested more than 1000 deep, and a chain of n terms
// nests n deep.
func (cp *compiler) join(terms []store.Cond, op, empty string, sc scope) frag {
	switch len(terms) {
	case 0:
		return frag{sql: empty}
	case 1:
		p := cp.pred(terms[0], sc)
		return frag{"(" + p.sql + ")", p.args}
	}
	l := cp.join(terms[:len(terms)/2], op, empty, sc)
	r := cp.join(terms[len(terms)/2:], op, empty, sc)
	return frag{"(" + l.sql + op + r.sql + ")", slices.Concat(l.args, r.args)}
}

// compare: some entry at one of c.Paths satisfies c.Op; Ne is NOT Eq.
func (cp *compiler) compare(c store.Compare, sc scope) frag {
	prefix := ""
	if c.Op == store.Ne {
		prefix, c.Op = "NOT ", store.Eq
	}
	var terms []string
	var args []any
	var paths []string
	for _, p := range c.Paths {
		col, pseudo := pseudoColumns[p]
		switch {
		case pseudo && sc.elem == "":
			t, ok := cp.test(c, "r."+col, "")
			if !ok {
				t.sql = "1=1"
			}
			terms = append(terms, t.sql)
			args = append(args, t.args...)
		case sc.under(p):
			paths = append(paths, p)
		}
	}
	if len(paths) > 0 {
		a := cp.next()
		var b strings.Builder
		b.WriteString("EXISTS (SELECT 1 FROM idx " + a + " WHERE " + a + ".rid = r.rid")
		if sc.elem != "" {
			b.WriteString(" AND " + a + ".elem = " + sc.elem)
		}
		b.WriteString(" AND " + a + ".path" + inList(len(paths)))
		args = append(args, anys(paths)...)
		if t, ok := cp.test(c, a+".str", a+".num"); ok {
			b.WriteString(" AND " + t.sql)
			args = append(args, t.args...)
		}
		b.WriteString(")")
		terms = append(terms, b.String())
	}
	if len(terms) == 0 {
		terms = []string{"1=0"}
	}
	return frag{prefix + "(" + strings.Join(terms, " OR ") + ")", args}
}

// elem: some element of e.Root (within the current element, if any)
// satisfies e.C when only that element's entries are considered.
func (cp *compiler) elem(e store.Elem, sc scope) frag {
	inner := scope{roots: append(slices.Clip(sc.roots), e.Root+".")}
	a := cp.next()
	inner.elem = a + ".elem"
	var b strings.Builder
	var args []any
	b.WriteString("EXISTS (SELECT 1 FROM idx " + a + " WHERE " + a + ".rid = r.rid")
	if sc.elem != "" {
		b.WriteString(" AND " + a + ".elem = " + sc.elem)
	}
	for _, root := range inner.roots {
		hi, _ := successor(root) // root ends with '.'
		b.WriteString(" AND " + a + ".path >= ? AND " + a + ".path < ?")
		args = append(args, root, hi)
	}
	p := cp.pred(e.C, inner)
	b.WriteString(" AND " + p.sql + ")")
	return frag{b.String(), append(args, p.args...)}
}

var cmpOps = map[store.Op]string{store.Eq: " = ?", store.Gt: " > ?", store.Ge: " >= ?", store.Lt: " < ?", store.Le: " <= ?"}

// test compiles the comparison of one value (str, num columns; num "" when
// there is no numeric value) with the literal of c. ok is false when any
// value satisfies it (Pr, empty Co/Sw/Ew literal).
func (cp *compiler) test(c store.Compare, str, num string) (frag, bool) {
	switch c.Op {
	case store.Eq, store.Gt, store.Ge, store.Lt, store.Le:
		if c.Num == nil {
			return frag{str + cmpOps[c.Op], []any{c.Str}}, true
		}
		if num == "" {
			return frag{sql: "1=0"}, true
		}
		return frag{num + cmpOps[c.Op], []any{*c.Num}}, true
	case store.Pr:
		return frag{}, false
	case store.Co, store.Sw, store.Ew:
		if c.Str == "" {
			return frag{}, false
		}
	default:
		return cp.fail("op %d", c.Op), true
	}
	switch c.Op {
	case store.Co:
		q, args := cp.d.contains(str, c.Str)
		return frag{q, args}, true
	case store.Ew:
		q, args := cp.d.endsWith(str, c.Str)
		return frag{q, args}, true
	}
	// Sw: the byte range [lit, successor(lit)), which the index answers.
	hi, ok := successor(c.Str)
	if !ok {
		return frag{str + " >= ?", []any{c.Str}}, true
	}
	return frag{"(" + str + " >= ? AND " + str + " < ?)", []any{c.Str, hi}}, true
}

// driver is a subquery of rids that contains every resource matching the
// condition; exact when it contains nothing else.
type driver struct {
	frag
	rank  int // lower is more selective
	exact bool
	ids   bool // every part looks a resource up by id
	parts int  // SELECTs joined by UNION ALL
}

// maxUnion bounds the parts of a driver: SQLite refuses a compound SELECT
// of more than 500 (SQLITE_MAX_COMPOUND_SELECT). A condition that would
// need more is evaluated without a driver.
const maxUnion = 500

// driver finds an index-answered superset of the matches of c, if any.
func (cp *compiler) driver(c store.Cond, sc scope) (driver, bool) {
	switch c := c.(type) {
	case store.Compare:
		return cp.compareDriver(c, sc)
	case store.And:
		var best driver
		found := false
		for _, t := range c {
			// Lookups by id win ties: each has one candidate at most.
			if d, ok := cp.driver(t, sc); ok && (!found || d.rank < best.rank || (d.rank == best.rank && d.ids && !best.ids)) {
				best, found = d, true
			}
		}
		best.exact = best.exact && len(c) == 1
		return best, found
	case store.Or:
		if len(c) == 0 {
			return driver{}, false
		}
		var ds []driver
		for _, t := range c {
			d, ok := cp.driver(t, sc)
			if !ok {
				return driver{}, false
			}
			ds = append(ds, d)
		}
		if u := union(ds); u.parts <= maxUnion {
			return u, true
		}
		return driver{}, false
	case store.Elem:
		// Any non-empty elem marks the element scope; the driver ignores
		// which element, so it is a superset and never exact.
		d, ok := cp.driver(c.C, scope{roots: append(slices.Clip(sc.roots), c.Root+"."), elem: "-"})
		d.exact = false
		return d, ok
	}
	return driver{}, false
}

func (cp *compiler) compareDriver(c store.Compare, sc scope) (driver, bool) {
	if c.Op == store.Ne {
		return driver{}, false
	}
	var ds []driver
	var paths []string
	for _, p := range c.Paths {
		if _, pseudo := pseudoColumns[p]; pseudo && sc.elem == "" {
			switch {
			case c.Op == store.Eq && c.Num == nil && p == "id":
				ds = append(ds, driver{frag: frag{"SELECT rid FROM resources WHERE type = ? AND id = ?", []any{cp.typ, c.Str}}, exact: true, ids: true, parts: 1})
			case c.Num != nil && c.Op != store.Pr && c.Op != store.Co && c.Op != store.Sw && c.Op != store.Ew:
				// a numeric comparison never holds on a column
			default:
				return driver{}, false // true for every row, or no index
			}
			continue
		}
		if sc.under(p) {
			paths = append(paths, p)
		}
	}
	if len(paths) > 0 {
		q := "SELECT rid FROM idx WHERE type = ? AND path" + inList(len(paths))
		args := append([]any{cp.typ}, anys(paths)...)
		if t, ok := cp.test(c, "str", "num"); ok {
			q += " AND " + t.sql
			args = append(args, t.args...)
		}
		rank := 2
		switch {
		case c.Op == store.Eq && c.Num == nil:
			rank = 0
		case c.Op == store.Sw:
			rank = 1
		case c.Op == store.Pr:
			rank = 3
		}
		ds = append(ds, driver{frag: frag{q, args}, rank: rank, exact: sc.elem == "", parts: 1})
	}
	if len(ds) == 0 {
		return driver{}, false
	}
	return union(ds), true
}

func union(ds []driver) driver {
	u := ds[0]
	for _, d := range ds[1:] {
		u.sql += " UNION ALL " + d.sql
		u.args = append(slices.Clip(u.args), d.args...)
		u.rank = max(u.rank, d.rank)
		u.exact = u.exact && d.exact
		u.ids = u.ids && d.ids
		u.parts += d.parts
	}
	return u
}

// sortKey is the expression that orders resources by path.
func sortKey(path string) frag {
	if col, ok := pseudoColumns[path]; ok {
		return frag{sql: "r." + col}
	}
	return frag{"(SELECT MIN(s.str) FROM idx s WHERE s.rid = r.rid AND s.path = ?)", []any{path}}
}

// successor returns the smallest string greater than every string with
// prefix s (byte-wise), or false when there is none.
func successor(s string) (string, bool) {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

func inList(n int) string {
	if n == 1 {
		return " = ?"
	}
	return " IN (?" + strings.Repeat(", ?", n-1) + ")"
}

func anys(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}
