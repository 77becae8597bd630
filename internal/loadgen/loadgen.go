// Package loadgen is the SCIM load generator behind "scimgate bench scim":
// it creates users the way Entra ID provisions them, queries them with
// Entra's userName filter, PATCHes them with Entra's per-attribute replace
// operations, runs Entra's initial cycle (a match query, then a create, per
// user) against the server and against a bare net/http handler (BareHandler)
// in the same run, and reports per phase the request count, errors, throughput and
// p50/p99 latency, plus the server's resident memory read from its
// Prometheus metrics.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Config describes one load run.
type Config struct {
	// BaseURL is the SCIM base URL, e.g. "http://127.0.0.1:8080/scim/v2".
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>"; empty sends none.
	Token string
	// Concurrency is the number of concurrent clients in every phase (≥ 1).
	Concurrency int
	// Users is the number of users created in the first phase (≥ 1).
	Users int
	// Queries and Patches are the request counts of the query and PATCH
	// phases; 0 means the same as Users.
	Queries, Patches int
	// Cycles is the number of users of the Entra-style cycle phase, each a
	// userName eq match query answered with an empty list and then a POST
	// create; the same number of cycles is run against BareURL, for
	// comparison. 0 skips both.
	Cycles int
	// BareURL is the base URL of a bare net/http handler (BareHandler),
	// needed when Cycles > 0. "scimgate bench scim" serves it from a child
	// process, as the gateway is served from another process than the
	// client's.
	BareURL string
	// HTTPClient sends the requests; nil means a client whose transport keeps
	// Concurrency idle connections to the server.
	HTTPClient *http.Client
	// MetricsURL is where the server's Prometheus metrics are read after the
	// run; "" means scheme://host of BaseURL + "/metrics".
	MetricsURL string
}

// Phase is the outcome of one phase.
type Phase struct {
	Name     string
	Requests int           // requests sent (cycles in the cycle phases: two requests each)
	Errors   int           // transport errors and non-2xx responses
	Duration time.Duration // wall time of the phase
	P50, P99 time.Duration // latency percentiles (nearest rank) over all requests
	// FirstError describes the first failed request: method, path, status and
	// the start of the body (or the transport error); "" when none failed.
	FirstError string
	// ServerCPU is the server process's CPU time during the phase (from its
	// process_cpu_seconds_total, 10 ms resolution); 0 when unknown, and for
	// the bare-cycle phase.
	ServerCPU time.Duration
}

// ServerCPUPerRequest is ServerCPU divided by the requests (cycles), 0 when
// unknown.
func (p Phase) ServerCPUPerRequest() time.Duration {
	if p.Requests == 0 {
		return 0
	}
	return p.ServerCPU / time.Duration(p.Requests)
}

// RequestsPerSecond is the phase's throughput.
func (p Phase) RequestsPerSecond() float64 {
	if p.Duration <= 0 {
		return 0
	}
	return float64(p.Requests) / p.Duration.Seconds()
}

// Result is the outcome of a run.
type Result struct {
	Concurrency int
	// Phases are "create", "query", "patch", then "cycle" and "bare-cycle"
	// when Config.Cycles > 0, in run order.
	Phases []Phase
	// ServerRSSBytes is the server's process_resident_memory_bytes after the
	// run, or -1 when it could not be read; RSSError then says why.
	ServerRSSBytes int64
	RSSError       string
}

// Phase names.
const (
	PhaseCreate = "create"
	PhaseQuery  = "query"
	PhasePatch  = "patch"
	// PhaseCycle is Entra's initial cycle against the server: per user a
	// match query then a create. PhaseBareCycle is the same client pattern
	// against Config.BareURL.
	PhaseCycle     = "cycle"
	PhaseBareCycle = "bare-cycle"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Run creates cfg.Users users, then runs cfg.Queries filter queries and
// cfg.Patches PATCH requests on random created users, then cfg.Cycles
// Entra cycles (match query, create) against the server and as many against
// cfg.BareURL, each phase with cfg.Concurrency clients, and finally reads
// the server's RSS. The users are left in place; their userNames start with
// "lg-<random run id>-". When ctx is cancelled Run stops early and returns
// what it measured with ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if cfg.Queries == 0 {
		cfg.Queries = cfg.Users
	}
	if cfg.Patches == 0 {
		cfg.Patches = cfg.Users
	}
	client := cfg.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = cfg.Concurrency
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Result{}, fmt.Errorf("loadgen: run id: %w", err)
	}
	g := &gen{cfg: cfg, client: client, base: strings.TrimRight(cfg.BaseURL, "/"), run: hex.EncodeToString(b[:])}
	res := Result{Concurrency: cfg.Concurrency, ServerRSSBytes: -1}

	ids := make([]string, cfg.Users) // ids[i] is set by the one worker that creates user i
	res.Phases = append(res.Phases, g.phase(ctx, PhaseCreate, cfg.Users, func(ctx context.Context, i int, _ *mrand.Rand) call {
		return g.create(ctx, i, ids)
	}))
	var created []int
	for i, id := range ids {
		if id != "" {
			created = append(created, i)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: %w", err)
	}
	if len(created) == 0 {
		return res, fmt.Errorf("loadgen: no user was created; first error: %s", res.Phases[0].FirstError)
	}
	res.Phases = append(res.Phases, g.phase(ctx, PhaseQuery, cfg.Queries, func(ctx context.Context, _ int, rnd *mrand.Rand) call {
		i := created[rnd.IntN(len(created))]
		f := fmt.Sprintf("userName eq %q", g.userName(i))
		return g.do(ctx, http.MethodGet, "/Users?"+url.Values{"filter": {f}}.Encode(), nil)
	}))
	res.Phases = append(res.Phases, g.phase(ctx, PhasePatch, cfg.Patches, func(ctx context.Context, n int, rnd *mrand.Rand) call {
		i := created[rnd.IntN(len(created))]
		return g.do(ctx, http.MethodPatch, "/Users/"+url.PathEscape(ids[i]), patchBody(g.userName(i), n))
	}))
	if cfg.Cycles > 0 {
		res.Phases = append(res.Phases, g.cycles(ctx)...)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: %w", err)
	}
	rss, err := g.serverRSS(ctx)
	if err != nil {
		res.RSSError = err.Error()
	} else {
		res.ServerRSSBytes = rss
	}
	return res, nil
}

func (c Config) validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		return fmt.Errorf("loadgen: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("loadgen: base URL %q: want an http or https URL with a host", c.BaseURL)
	case c.Concurrency < 1:
		return fmt.Errorf("loadgen: concurrency %d: want at least 1", c.Concurrency)
	case c.Users < 1:
		return fmt.Errorf("loadgen: users %d: want at least 1", c.Users)
	case c.Queries < 0 || c.Patches < 0 || c.Cycles < 0:
		return fmt.Errorf("loadgen: queries %d, patches %d, cycles %d: want 0 or more", c.Queries, c.Patches, c.Cycles)
	case c.Cycles > 0 && c.BareURL == "":
		return errors.New("loadgen: cycles need the URL of a bare handler to compare with")
	}
	return nil
}

// gen holds what the phases share.
type gen struct {
	cfg    Config
	client *http.Client
	base   string
	run    string
}

// call is the outcome of one request.
type call struct {
	ok      bool
	latency time.Duration
	failure string // set when !ok
	id      string // id of a created resource
	body    []byte // the response body, when ok
}

func (g *gen) userName(i int) string { return fmt.Sprintf("lg-%s-%06d", g.run, i) }

// cycleUser is the i-th user of the cycle phase, distinct from userName's.
func (g *gen) cycleUser(i int) string { return fmt.Sprintf("lg-%s-c%06d", g.run, i) }

// cycleRounds is how many turns the cycle phases take: the server's and
// the bare handler's cycles alternate, so that both meet the same load from
// whatever else runs on the machine.
const cycleRounds = 5

// cycles runs the cycle phase against the server and against cfg.BareURL,
// with the same client, in alternating rounds.
func (g *gen) cycles(ctx context.Context) []Phase {
	bare := strings.TrimRight(g.cfg.BareURL, "/")
	var server, local tally
	n := g.cfg.Cycles
	for r := range cycleRounds {
		from, to := r*n/cycleRounds, (r+1)*n/cycleRounds
		g.measureCPU(ctx, &server, func() {
			g.runN(ctx, &server, from, to, func(ctx context.Context, i int, _ *mrand.Rand) call { return g.cycle(ctx, g.base, i) })
		})
		g.runN(ctx, &local, from, to, func(ctx context.Context, i int, _ *mrand.Rand) call { return g.cycle(ctx, bare, i) })
	}
	return []Phase{server.phase(PhaseCycle), local.phase(PhaseBareCycle)}
}

// cycle is Entra's initial provisioning of one user: a match query on its
// userName, which must find nothing, then the create. The latency is the
// pair's.
func (g *gen) cycle(ctx context.Context, base string, i int) call {
	un := g.cycleUser(i)
	q := g.doAt(ctx, base, http.MethodGet, "/Users?"+url.Values{"filter": {fmt.Sprintf("userName eq %q", un)}}.Encode(), nil)
	if !q.ok {
		return q
	}
	var list struct {
		TotalResults *int `json:"totalResults"`
	}
	if err := json.Unmarshal(q.body, &list); err != nil || list.TotalResults == nil || *list.TotalResults != 0 {
		q.ok, q.failure = false, fmt.Sprintf("GET /Users?filter=userName eq %q: want an empty list, got %s", un, truncate(q.body, 300))
		return q
	}
	c := g.doAt(ctx, base, http.MethodPost, "/Users", userBody(un, i))
	c.latency += q.latency
	return c
}

// BareHandler answers every request with the same small JSON body, an
// empty ListResponse that also carries an id, so that it serves both
// requests of a cycle: the floor of what an HTTP server costs per request
// on the machine, the cycle phase's comparison.
func BareHandler() http.Handler {
	body := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[],"id":"bare"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/scim+json")
		status := http.StatusOK
		if r.Method == http.MethodPost {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

// phase runs n requests made by fn with cfg.Concurrency workers and
// summarises them. fn gets the request number and the worker's random source.
func (g *gen) phase(ctx context.Context, name string, n int, fn func(ctx context.Context, i int, rnd *mrand.Rand) call) Phase {
	var t tally
	g.measureCPU(ctx, &t, func() { g.runN(ctx, &t, 0, n, fn) })
	return t.phase(name)
}

// tally accumulates the requests of a phase, which may run in rounds.
type tally struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     int
	firstErr string // the first failure in time
	dur      time.Duration
	cpu      time.Duration // server CPU time over the rounds
	cpuErr   error         // when the server CPU time could not be read
}

// runN runs requests from to to-1 made by fn with cfg.Concurrency workers
// into t.
func (g *gen) runN(ctx context.Context, t *tally, from, to int, fn func(ctx context.Context, i int, rnd *mrand.Rand) call) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	next.Store(int64(from))
	start := time.Now()
	for w := range g.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := mrand.New(mrand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			var mine []time.Duration
			var myErrs int
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= to {
					break
				}
				c := fn(ctx, i, rnd)
				mine = append(mine, c.latency)
				if !c.ok {
					myErrs++
					t.mu.Lock()
					if t.firstErr == "" {
						t.firstErr = c.failure
					}
					t.mu.Unlock()
				}
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			t.lat = append(t.lat, mine...)
			t.errs += myErrs
		}()
	}
	wg.Wait()
	t.dur += time.Since(start)
}

// measureCPU runs fn and adds the server's CPU time meanwhile to t, read
// from its process_cpu_seconds_total.
func (g *gen) measureCPU(ctx context.Context, t *tally, fn func()) {
	before, err := g.serverMetric(ctx, "process_cpu_seconds_total")
	fn()
	if err == nil {
		var after float64
		if after, err = g.serverMetric(ctx, "process_cpu_seconds_total"); err == nil {
			t.cpu += time.Duration((after - before) * float64(time.Second))
		}
	}
	if err != nil && t.cpuErr == nil {
		t.cpuErr = err
	}
}

func (t *tally) phase(name string) Phase {
	p := Phase{Name: name, Requests: len(t.lat), Errors: t.errs, Duration: t.dur, FirstError: t.firstErr}
	if t.cpuErr == nil {
		p.ServerCPU = t.cpu
	}
	slices.Sort(t.lat)
	p.P50, p.P99 = percentile(t.lat, 50), percentile(t.lat, 99)
	return p
}

// percentile is the nearest-rank p-th percentile of sorted (0 when empty):
// the smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p / 100 * float64(len(sorted)))
	if float64(rank) < p/100*float64(len(sorted)) {
		rank++ // ceil
	}
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// create POSTs user i and records its id.
func (g *gen) create(ctx context.Context, i int, ids []string) call {
	c := g.do(ctx, http.MethodPost, "/Users", userBody(g.userName(i), i))
	if c.ok {
		if c.id == "" {
			c.ok, c.failure = false, "POST /Users: 2xx without an id"
		}
		ids[i] = c.id
	}
	return c
}

// userBody is the JSON body of the user Entra creates for userName un, the
// i-th one. It is formatted, not marshalled from a map, to keep the
// client's share of the machine small: %q quotes as JSON does for the
// ASCII letters, digits and dashes of the names.
func userBody(un string, i int) []byte {
	return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",%q],"externalId":%q,"userName":%q,`+
		`"active":true,"emails":[{"primary":true,"type":"work","value":%q}],"meta":{"resourceType":"User"},`+
		`"name":{"formatted":"Load Gen","familyName":"Gen","givenName":"Load"},"roles":[],`+
		`%q:{"department":"Dept %d","employeeNumber":"%06d"}}`,
		enterpriseURN, un, un, un+"@example.com", enterpriseURN, i%20, i)
}

// patchBody is Entra's default PATCH: one Replace per attribute.
func patchBody(userName string, n int) map[string]any {
	return map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{
			map[string]any{"op": "Replace", "path": "name.familyName", "value": fmt.Sprintf("Gen%d", n)},
			map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": fmt.Sprintf("%s+%d@example.com", userName, n)},
			map[string]any{"op": "Replace", "path": enterpriseURN + ":department", "value": fmt.Sprintf("Dept %d", n%20)},
		},
	}
}

// do sends one request to the server and times it, body read included. For
// a POST it decodes the id of the created resource.
func (g *gen) do(ctx context.Context, method, path string, body any) call {
	return g.doAt(ctx, g.base, method, path, body)
}

// doAt is do against another base URL. A []byte body is sent as it is,
// another is marshalled.
func (g *gen) doAt(ctx context.Context, base, method, path string, body any) call {
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return call{failure: fmt.Sprintf("%s %s: %v", method, path, err)}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return call{failure: fmt.Sprintf("%s %s: %v", method, path, err)}
	}
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return call{latency: time.Since(start), failure: fmt.Sprintf("%s %s: %v", method, path, err)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	c := call{latency: time.Since(start), ok: err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300, body: b}
	if !c.ok {
		c.failure = fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, truncate(b, 300))
		if err != nil {
			c.failure += fmt.Sprintf(" (reading body: %v)", err)
		}
		return c
	}
	if method == http.MethodPost {
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil || o.ID == "" {
			c.ok, c.failure = false, fmt.Sprintf("%s %s: %d without a resource id: %s", method, path, resp.StatusCode, truncate(b, 300))
			return c
		}
		c.id = o.ID
	}
	return c
}

func truncate(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	if s == "" {
		s = "<empty body>"
	}
	return s
}

// metricsURL is cfg.MetricsURL or scheme://host of BaseURL + "/metrics".
func (g *gen) metricsURL() (string, error) {
	if g.cfg.MetricsURL != "" {
		return g.cfg.MetricsURL, nil
	}
	u, err := url.Parse(g.cfg.BaseURL)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String(), nil
}

// serverRSS reads process_resident_memory_bytes from the metrics URL.
func (g *gen) serverRSS(ctx context.Context) (int64, error) {
	v, err := g.serverMetric(ctx, "process_resident_memory_bytes")
	return int64(v), err
}

// serverMetric reads the first sample of metric from the metrics URL. The
// token is sent only when the metrics are on the SCIM server's host.
func (g *gen) serverMetric(ctx context.Context, metric string) (float64, error) {
	mu, err := g.metricsURL()
	if err != nil {
		return 0, fmt.Errorf("metrics URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mu, nil)
	if err != nil {
		return 0, fmt.Errorf("metrics URL: %w", err)
	}
	if bu, err := url.Parse(g.cfg.BaseURL); err == nil && bu.Host == req.URL.Host && g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", mu, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", mu, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", mu, resp.StatusCode)
	}
	return parseSample(b, metric)
}

// errNoMetric: the exposition has no sample of the metric.
var errNoMetric = errors.New("metric not found")

// parseGauge is parseSample as a whole number.
func parseGauge(text []byte, metric string) (int64, error) {
	v, err := parseSample(text, metric)
	return int64(v), err
}

// parseSample returns the first sample of metric in a Prometheus text
// exposition: lines "name value [timestamp]" or "name{labels} value ...";
// it must be a finite number, at least 0.
func parseSample(text []byte, metric string) (float64, error) {
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t' && rest[0] != '{') {
			continue // comment, other metric, or a longer name with this prefix
		}
		if rest[0] == '{' {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				return 0, fmt.Errorf("%s: unterminated labels in %q", metric, line)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: no value in %q", metric, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("%s: bad value %q", metric, fields[0])
		}
		return v, nil
	}
	return 0, fmt.Errorf("%s: %w", metric, errNoMetric)
}

// phase returns the phase named name.
func (r Result) phase(name string) (Phase, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// CycleShare is the server's cycle rate as a percentage of the bare
// handler's in the same run; ok is false without both phases.
func (r Result) CycleShare() (percent float64, ok bool) {
	c, ok1 := r.phase(PhaseCycle)
	b, ok2 := r.phase(PhaseBareCycle)
	if !ok1 || !ok2 || b.RequestsPerSecond() == 0 {
		return 0, false
	}
	return 100 * c.RequestsPerSecond() / b.RequestsPerSecond(), true
}

// WriteText writes r as a table, then the server RSS and the first error of
// each phase that had errors.
func (r Result) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "phase\trequests\terrors\tduration\treq/s\tp50\tp99\tserver CPU/req\n")
	for _, p := range r.Phases {
		cpu := "-"
		if c := p.ServerCPUPerRequest(); c > 0 {
			cpu = c.Round(time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.1f\t%s\t%s\t%s\n", p.Name, p.Requests, p.Errors,
			p.Duration.Round(time.Millisecond), p.RequestsPerSecond(), p.P50.Round(time.Microsecond), p.P99.Round(time.Microsecond), cpu)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "concurrency: %d\n", r.Concurrency)
	if pct, ok := r.CycleShare(); ok {
		c, _ := r.phase(PhaseCycle)
		b, _ := r.phase(PhaseBareCycle)
		fmt.Fprintf(w, "cycle (a userName eq match query, then a create; req/s counts cycles): %.1f users/s, %.1f%% of a bare net/http handler's %.1f in the same run\n",
			c.RequestsPerSecond(), pct, b.RequestsPerSecond())
	}
	if r.ServerRSSBytes < 0 {
		fmt.Fprintf(w, "server RSS: unknown (%s)\n", r.RSSError)
	} else {
		fmt.Fprintf(w, "server RSS: %.1f MiB (%d bytes)\n", float64(r.ServerRSSBytes)/(1<<20), r.ServerRSSBytes)
	}
	for _, p := range r.Phases {
		if p.FirstError != "" {
			fmt.Fprintf(w, "first %s error: %s\n", p.Name, p.FirstError)
		}
	}
}
