package scim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

// The property that makes the index trustworthy: for random resources and
// random filters, the store answers Cond() with exactly the resources that
// Match accepts.

var filterStoreSeed = flag.Uint64("filterstore.seed", 1, "seed of TestFilterStoreEquivalence")

// Kinds of generated fields.
const (
	gStr = iota
	gBool
	gInt
	gDec
	gTime
	gComplex // complex without value: only pr / eq null / ne null
	gID      // a resource id
	gSchema  // a schema URN
)

type genField struct {
	path string
	kind int
}

// grammar is what the filter generator knows of one resource type.
type grammar struct {
	fields []genField
	vpRoot string     // the multi-valued complex attribute for [ ]
	vpSubs []genField // its sub-attributes
}

var userGrammar = grammar{
	fields: []genField{
		{"userName", gStr}, {"displayName", gStr}, {"title", gStr}, {"externalId", gStr}, {"id", gID},
		{"active", gBool}, {"name.givenName", gStr}, {"name.familyName", gStr}, {"name", gComplex},
		{"emails", gStr}, {"emails.value", gStr}, {"emails.type", gStr}, {"emails.primary", gBool},
		{URNEnterpriseUser + ":department", gStr}, {"manager", gID}, {URNEnterpriseUser + ":manager.value", gID},
		{"level", gInt}, {urnTest + ":score", gDec}, {"hired", gTime}, {"tags", gStr}, {"code", gStr}, {"flag", gBool},
		{"schemas", gSchema},
	},
	vpRoot: "emails",
	vpSubs: []genField{{"value", gStr}, {"type", gStr}, {"primary", gBool}, {"display", gStr}},
}

var groupGrammar = grammar{
	fields: []genField{
		{"displayName", gStr}, {"externalId", gStr}, {"id", gID}, {"members", gID}, {"members.value", gID}, {"members.display", gStr},
	},
	vpRoot: "members",
	vpSubs: []genField{{"value", gID}, {"display", gStr}, {"type", gStr}},
}

// atoms are the pieces of generated strings: case pairs, characters that
// LIKE, quoting and escaping treat specially, multi-byte and case-changing
// Unicode, NUL, and filter syntax.
var atoms = []string{
	"a", "b", "ab", "é", "ß", "İ", "ı", "K", "Σ", "ς", "%", "_", "'", `\`, `"`, " ", "a%", "_b", "x'y",
	"\x00", "😀", "[", "]", "(", ")", " and ", "eq", "work", "@x.example",
}

var times = []string{
	"2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", "2019-12-31T23:59:59.999999999Z",
	"2020-01-01T00:00:00.5Z", "2021-06-15T12:30:00-07:00", "2020-01-01T00:00:00",
}

type gen struct {
	r    *rand.Rand
	strs []string // strings used in resources, reused as literals
	ids  []string
}

func (g *gen) randCase(s string) string {
	switch g.r.IntN(3) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if g.r.IntN(2) == 0 {
			b.WriteString(strings.ToUpper(string(c)))
		} else {
			b.WriteString(strings.ToLower(string(c)))
		}
	}
	return b.String()
}

func (g *gen) str() string {
	if g.r.IntN(20) == 0 {
		return ""
	}
	var b strings.Builder
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		b.WriteString(g.randCase(atoms[g.r.IntN(len(atoms))]))
	}
	s := b.String()
	g.strs = append(g.strs, s)
	return s
}

func (g *gen) chance(n int) bool { return g.r.IntN(n) == 0 }

func (g *gen) oneOf(s []string) string { return s[g.r.IntN(len(s))] }

func (g *gen) emails() []any {
	var out []any
	for n := g.r.IntN(4); n > 0; n-- {
		m := map[string]any{}
		if !g.chance(5) {
			m["value"] = g.str()
		}
		if !g.chance(3) {
			m["type"] = g.randCase(g.oneOf([]string{"work", "home", "other"}))
		}
		if g.chance(2) {
			m["primary"] = g.chance(2)
		}
		if g.chance(4) {
			m["display"] = g.str()
		}
		if len(m) > 0 {
			out = append(out, m)
		}
	}
	return out
}

func (g *gen) user(i int) map[string]any {
	u := map[string]any{"id": fmt.Sprintf("u%03d-%s", i, g.randCase("ab")), "userName": g.str()}
	g.ids = append(g.ids, u["id"].(string))
	opt := func(key string, p int, v func() any) {
		if g.chance(p) {
			u[key] = v()
		}
	}
	opt("displayName", 2, func() any { return g.str() })
	opt("title", 3, func() any { return g.str() })
	opt("externalId", 2, func() any { return g.str() })
	if !g.chance(5) {
		u["active"] = g.chance(2)
	}
	if g.chance(2) {
		n := map[string]any{}
		if g.chance(2) {
			n["givenName"] = g.str()
		}
		if g.chance(2) {
			n["familyName"] = g.str()
		}
		if len(n) > 0 {
			u["name"] = n
		}
	}
	if es := g.emails(); len(es) > 0 {
		u["emails"] = es
	}
	if g.chance(2) {
		ent := map[string]any{"department": g.str()}
		if g.chance(2) && len(g.ids) > 0 {
			ent["manager"] = map[string]any{"value": g.randCase(g.oneOf(g.ids))}
		}
		u[URNEnterpriseUser] = ent
	}
	if g.chance(2) {
		ext := map[string]any{}
		if g.chance(2) {
			ext["level"] = int64(g.r.IntN(9) - 4)
		}
		if g.chance(2) {
			ext["score"] = []float64{-1.5, 0, 0.25, 2.5, 3, 100}[g.r.IntN(6)]
		}
		if g.chance(2) {
			ext["hired"] = g.oneOf(times)
		}
		if g.chance(2) {
			var tags []any
			for n := 1 + g.r.IntN(3); n > 0; n-- {
				tags = append(tags, g.str())
			}
			ext["tags"] = tags
		}
		if g.chance(2) {
			ext["code"] = g.str()
		}
		if g.chance(2) {
			ext["flag"] = g.chance(2)
		}
		if len(ext) > 0 {
			u[urnTest] = ext
		}
	}
	return u
}

func (g *gen) group(i int) map[string]any {
	grp := map[string]any{"id": fmt.Sprintf("g%03d-%s", i, g.randCase("ab")), "displayName": g.str()}
	g.ids = append(g.ids, grp["id"].(string))
	if g.chance(2) {
		grp["externalId"] = g.str()
	}
	var members []any
	for n := g.r.IntN(5); n > 0; n-- {
		m := map[string]any{"value": g.oneOf(g.ids)}
		if g.chance(2) {
			m["display"] = g.str()
		}
		if g.chance(3) {
			m["type"] = g.oneOf([]string{"User", "Group"})
		}
		members = append(members, m)
	}
	if len(members) > 0 {
		grp["members"] = members
	}
	return grp
}

var bareWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9@._-]*$`)

// literal renders a value of kind as a filter literal.
func (g *gen) literal(kind int) string {
	switch kind {
	case gBool:
		return g.oneOf([]string{"true", "false", `"True"`, `"FALSE"`, "False"})
	case gInt:
		n := strconv.Itoa(g.r.IntN(11) - 5)
		if g.chance(4) {
			return strconv.Quote(n)
		}
		return n
	case gDec:
		return g.oneOf([]string{"-1.5", "0", "0.25", "2.5", "2.50", "3", "1e2", "-0"})
	case gTime:
		return strconv.Quote(g.oneOf(times))
	}
	var s string
	switch {
	case kind == gID && len(g.ids) > 0:
		s = g.ids[g.r.IntN(len(g.ids))]
		if g.chance(3) {
			s = g.randCase(s)
		}
	case len(g.strs) > 0 && g.chance(2):
		s = g.randCase(g.strs[g.r.IntN(len(g.strs))])
		if len(s) > 1 && g.chance(2) { // a piece, for co / sw / ew
			i := g.r.IntN(len(s))
			s = s[i:]
		}
	default:
		s = g.str()
	}
	if bareWord.MatchString(s) && !slices.Contains([]string{"true", "false", "null"}, strings.ToLower(s)) && g.chance(2) {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(g.chance(2))
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// attrExp renders "path op literal" for a field.
func (g *gen) attrExp(f genField, path string) string {
	var ops []string
	switch f.kind {
	case gStr, gID:
		ops = []string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "null"}
	case gBool:
		ops = []string{"eq", "ne", "pr", "null"}
	case gComplex:
		ops = []string{"pr", "null"}
	case gSchema:
		op := g.randCase(g.oneOf([]string{"eq", "ne"}))
		return path + " " + op + " " + strconv.Quote(g.randCase(g.oneOf([]string{URNUser, URNEnterpriseUser, urnTest, "urn:x"})))
	default:
		ops = []string{"eq", "ne", "gt", "ge", "lt", "le", "pr", "null"}
	}
	op := g.oneOf(ops)
	switch op {
	case "pr":
		return path + " " + g.randCase("pr")
	case "null":
		return path + " " + g.randCase(g.oneOf([]string{"eq", "ne"})) + " null"
	}
	return path + " " + g.randCase(op) + " " + g.literal(f.kind)
}

// filter renders a random filter of the grammar.
func (g *gen) filter(gr grammar, depth int, inner bool) string {
	fields := gr.fields
	if inner {
		fields = gr.vpSubs
	}
	k := g.r.IntN(10)
	if depth >= 3 {
		k = 0
	}
	switch {
	case k <= 4:
		f := fields[g.r.IntN(len(fields))]
		return g.attrExp(f, g.randCase(f.path))
	case k == 5 || k == 6:
		op := g.randCase(g.oneOf([]string{"and", "or"}))
		return g.sub(gr, depth, inner) + " " + op + " " + g.sub(gr, depth, inner)
	case k == 7:
		return g.randCase("not") + g.oneOf([]string{" ", ""}) + "(" + g.filter(gr, depth+1, inner) + ")"
	case inner:
		return g.filter(gr, depth+1, inner)
	}
	vp := g.randCase(gr.vpRoot) + "[" + g.filter(gr, depth+1, true) + "]"
	if g.chance(2) {
		f := gr.vpSubs[g.r.IntN(len(gr.vpSubs))]
		return g.attrExp(f, vp+"."+g.randCase(f.path))
	}
	return vp
}

// sub is a sub-filter, parenthesised when it is not a single comparison.
func (g *gen) sub(gr grammar, depth int, inner bool) string {
	f := g.filter(gr, depth+1, inner)
	if g.chance(2) {
		return "(" + f + ")"
	}
	return f
}

func TestFilterStoreEquivalence(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	seed := *filterStoreSeed
	t.Logf("seed %d (-filterstore.seed)", seed)
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	types := []struct {
		rt      *ResourceType
		gr      grammar
		n       int
		make    func(int) map[string]any
		filters int
	}{
		{testUserType(), userGrammar, 200, g.user, 800},
		{GroupType(), groupGrammar, 60, g.group, 300},
	}
	for _, typ := range types {
		var resources []map[string]any
		err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			for i := range typ.n {
				res := typ.make(i)
				resources = append(resources, res)
				data, err := json.Marshal(res)
				if err != nil {
					return fmt.Errorf("marshal: %w", err)
				}
				r := store.Resource{Type: typ.rt.Name, ID: res["id"].(string), Data: data, Index: typ.rt.IndexEntries(res)}
				if err := tx.Create(ctx, &r); err != nil {
					return fmt.Errorf("create %s: %w", r.ID, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("storing %ss: %v", typ.rt.Name, err)
		}

		matched := 0
		for i := range typ.filters {
			fs := g.filter(typ.gr, 0, false)
			f, err := typ.rt.ParseFilter(fs)
			if err != nil {
				t.Fatalf("generated %s filter %q does not parse: %v", typ.rt.Name, fs, err)
			}
			want := []string{}
			for _, res := range resources {
				if f.Match(res) {
					want = append(want, res["id"].(string))
				}
			}
			page, err := st.Query(ctx, typ.rt.Name, store.Query{Filter: f.Cond(), Count: len(resources) + 1})
			if err != nil {
				t.Fatalf("Query(%q): %v", fs, err)
			}
			got := []string{}
			for _, r := range page.Resources {
				got = append(got, r.ID)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) || page.Total != len(want) {
				t.Errorf("%s filter %q\ncond %#v\nstore (total %d): %q\nMatch: %q", typ.rt.Name, fs, f.Cond(), page.Total, got, want)
			}
			if testing.Verbose() && i < 12 {
				t.Logf("%s filter %q selects %d", typ.rt.Name, fs, len(want))
			}
			if len(want) > 0 && len(want) < len(resources) {
				matched++
			}
		}
		// Guard against a generator whose filters all select everything or nothing.
		if matched < typ.filters/4 {
			t.Errorf("%s: only %d of %d filters select a proper, non-empty subset", typ.rt.Name, matched, typ.filters)
		}
	}
}
