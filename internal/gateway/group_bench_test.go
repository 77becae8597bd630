package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sizes of BenchmarkLargeGroup.
const (
	largeGroupMembers = 50000 // members of the large group (5,000 with -short)
	smallGroup        = 100   // members of the small one
	groupBatch        = 100   // members per PATCH while building
	groupSingles      = 100   // single adds, and single removes of each shape, per group
	groupBatches      = 10    // batches of 100 added and removed per group, once built
	groupReads        = 200   // GETs of a member user per group
	groupLists        = 20    // GET /Users?count=100 per group
)

// BenchmarkLargeGroup measures group membership through a real gateway
// (real HTTP handler over loopback, every write durable), on each of
// benchStores (store=NAME), on a 50,000-member group and, in the same run,
// a 100-member one, and reports each figure for both side by side (…-50k
// and …-100, 50k standing for the large group whatever its size):
//   - the group built with PATCHes of 100 members in Entra's shape; the
//     mean time of the first and of the last 10 batches (batch-ms-first,
//     batch-ms-last);
//   - single member adds ({"op":"Add","path":"members","value":[{"value":id}]}),
//     removes in Entra's default shape ({"op":"Remove","path":"members",
//     "value":[{"value":id}]}) and in its aadOptscim062020 shape
//     ({"op":"remove","path":"members[value eq \"id\"]"}), each answered 204;
//   - once built, batches of 100 members added and removed (Entra's shapes);
//   - a rename (Replace displayName), which rewrites the group's own Data;
//   - GET /Users/{id} of a member (its groups attribute is derived);
//   - GET /Users?count=100 over 100 members.
//
// Run it once: go test -run '^$' -bench LargeGroup -benchtime 1x -timeout 60m ./internal/gateway
func BenchmarkLargeGroup(b *testing.B) {
	large := largeGroupMembers
	if testing.Short() {
		large = 5000
	}
	onStores(b, func(b *testing.B, bs benchStore) {
		for range b.N {
			largeGroupRun(b, bs, large)
		}
	})
}

// largeGroupRun runs BenchmarkLargeGroup once on a fresh store with a
// large group of large members.
func largeGroupRun(b *testing.B, bs benchStore, large int) {
	st, _ := bs.open(b)
	base := startGatewayOn(b, st)
	c := &benchClient{tb: b, base: base, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	type group struct {
		label, prefix string   // userName prefix of the members
		users, spares []string // members, and users to add and remove
		batched       []string // users to add and remove in batches
		id            string
		first, last   time.Duration
	}
	groups := []*group{{label: "50k"}, {label: "100"}}
	for i, g := range groups {
		n := large
		if i == 1 {
			n = smallGroup
		}
		g.prefix = fmt.Sprintf("g%d-m", i)
		g.users = c.createUsers(g.prefix, n)
		g.spares = c.createUsers(fmt.Sprintf("g%d-s", i), groupSingles)
		g.batched = c.createUsers(fmt.Sprintf("g%d-b", i), groupBatches*groupBatch)
		g.id = c.must(http.StatusCreated, "POST", "/Groups", `{"displayName":"Group `+g.label+`"}`)["id"].(string)
		var batches []time.Duration
		for j := 0; j < n; j += groupBatch {
			start := time.Now()
			c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"Add","path":"members","value":`+benchMembers(g.users[j:j+groupBatch]...)+`}`))
			batches = append(batches, time.Since(start))
		}
		k := min(10, len(batches))
		g.first, g.last = mean(batches[:k]), mean(batches[len(batches)-k:])
	}
	b.ResetTimer()
	type result struct {
		op   string
		time [2]time.Duration
	}
	var results []result
	// measure runs fn n times on each group, alternating between the
	// groups so that both see the same load of the machine, and
	// records the mean time of one run.
	measure := func(op string, n int, fn func(g *group, i int)) {
		r := result{op: op}
		for i := range n {
			for gi, g := range groups {
				start := time.Now()
				fn(g, i)
				r.time[gi] += time.Since(start)
			}
		}
		for gi := range r.time {
			r.time[gi] /= time.Duration(n)
		}
		results = append(results, r)
	}
	measure("add", groupSingles, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"Add","path":"members","value":`+benchMembers(g.spares[i])+`}`))
	})
	measure("remove-value", groupSingles/2, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"Remove","path":"members","value":`+benchMembers(g.spares[i])+`}`))
	})
	measure("remove-filter", groupSingles/2, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"remove","path":"members[value eq \"`+g.spares[groupSingles/2+i]+`\"]"}`))
	})
	measure("add-batch", groupBatches, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"Add","path":"members","value":`+benchMembers(g.batched[i*groupBatch:(i+1)*groupBatch]...)+`}`))
	})
	measure("remove-batch", groupBatches, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(`{"op":"Remove","path":"members","value":`+benchMembers(g.batched[i*groupBatch:(i+1)*groupBatch]...)+`}`))
	})
	measure("rename", groupSingles/10, func(g *group, i int) {
		c.must(http.StatusNoContent, "PATCH", "/Groups/"+g.id, benchPatch(fmt.Sprintf(`{"op":"Replace","path":"displayName","value":"Group %s %d"}`, g.label, i)))
	})
	measure("get-user", groupReads, func(g *group, i int) {
		u := c.must(http.StatusOK, "GET", "/Users/"+g.users[i*len(g.users)/groupReads], "")
		if gs, _ := u["groups"].([]any); len(gs) != 1 {
			b.Fatalf("member user: groups %v, want the one group", u["groups"])
		}
	})
	measure("list-users", groupLists, func(g *group, i int) {
		// userName g<N>-m00000 … g<N>-m00099: 100 members
		q := url.Values{"filter": {fmt.Sprintf(`userName sw "%s000"`, g.prefix)}, "count": {"100"}}
		l := c.must(http.StatusOK, "GET", "/Users?"+q.Encode(), "")
		rs, _ := l["Resources"].([]any)
		if len(rs) != 100 {
			b.Fatalf("list %s: %d users, want 100", q.Encode(), len(rs))
		}
		if gs, _ := rs[0].(map[string]any)["groups"].([]any); len(gs) != 1 {
			b.Fatalf("listed member: groups %v, want the one group", gs)
		}
	})
	b.StopTimer()
	for _, g := range groups {
		b.ReportMetric(float64(g.first.Microseconds())/1000, "batch-ms-first-"+g.label)
		b.ReportMetric(float64(g.last.Microseconds())/1000, "batch-ms-last-"+g.label)
	}
	// The side-by-side table, on stdout: a benchmark's log is cut
	// after 10 lines.
	var t strings.Builder
	row := func(op string, big, small time.Duration) {
		fmt.Fprintf(&t, "%-14s %12s %12s %7.2f\n", op, big.Round(time.Microsecond), small.Round(time.Microsecond), float64(big)/float64(small))
	}
	fmt.Fprintf(&t, "%s\n%-14s %12s %12s %7s\n", b.Name(), "operation", fmt.Sprintf("%d members", large), "100 members", "ratio")
	row("batch (first)", groups[0].first, groups[1].first)
	row("batch (last)", groups[0].last, groups[1].last)
	for _, r := range results {
		b.ReportMetric(float64(r.time[0].Nanoseconds()), r.op+"-ns/op-50k")
		b.ReportMetric(float64(r.time[1].Nanoseconds()), r.op+"-ns/op-100")
		row(r.op, r.time[0], r.time[1])
	}
	fmt.Print(t.String())
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func benchPatch(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func benchMembers(ids ...string) string {
	els := make([]string, len(ids))
	for i, id := range ids {
		els[i] = `{"value":"` + id + `"}`
	}
	return "[" + strings.Join(els, ",") + "]"
}

// benchClient sends SCIM requests to a gateway under benchmark.
type benchClient struct {
	tb   testing.TB
	base string
	http *http.Client
}

// do sends one request and returns its status and decoded body.
func (c *benchClient) do(method, path, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %q: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, out, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

func (c *benchClient) must(want int, method, path, body string) map[string]any {
	c.tb.Helper()
	code, out, err := c.do(method, path, body)
	if err != nil || code != want {
		c.tb.Fatalf("%s %s: %d, want %d: %v", method, path, code, want, err)
	}
	return out
}

// createUsers creates n users named prefix + a 5-digit number from 16
// concurrent clients and returns their ids in that order.
func (c *benchClient) createUsers(prefix string, n int) []string {
	c.tb.Helper()
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				_, out, err := c.do("POST", "/Users", fmt.Sprintf(`{"userName":"%s%05d","active":true}`, prefix, i))
				if err != nil {
					failed.Store(err)
					return
				}
				ids[i], _ = out["id"].(string)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		c.tb.Fatal(err)
	}
	return ids
}
