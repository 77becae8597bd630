package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i + 1)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", []time.Duration{7}, 50, 7},
		{"single p99", []time.Duration{7}, 99, 7},
		{"two p50 is the lower", []time.Duration{1, 2}, 50, 1},
		{"two p99 is the upper", []time.Duration{1, 2}, 99, 2},
		{"1..10 p50", seq(10), 50, 5},
		{"1..10 p99 rounds up to the max", seq(10), 99, 10},
		{"1..100 p50", seq(100), 50, 50},
		{"1..100 p99", seq(100), 99, 99},
		{"1..1000 p99", seq(1000), 99, 990},
		{"1..1001 p50", seq(1001), 50, 501},
		{"p100 is the max", seq(10), 100, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestParseGauge(t *testing.T) {
	const m = "process_resident_memory_bytes"
	for _, tc := range []struct {
		name    string
		text    string
		want    int64
		wantErr bool
	}{
		{"plain", m + " 45678\n", 45678, false},
		{"scientific notation", m + " 4.5678e+07\n", 45678000, false},
		{"after help and type", "# HELP " + m + " Resident memory size in bytes.\n# TYPE " + m + " gauge\n" + m + " 1.2e+06\n", 1200000, false},
		{"labels", m + `{instance="a",job="scimgate"} 2048` + "\n", 2048, false},
		{"timestamp", m + " 4096 1700000000000\n", 4096, false},
		{"longer name with same prefix skipped", m + "_max 9\n" + m + " 7\n", 7, false},
		{"no trailing newline", "go_goroutines 12\n" + m + " 33", 33, false},
		{"missing", "go_goroutines 12\nprocess_virtual_memory_bytes 1e9\n", 0, true},
		{"only comments", "# HELP " + m + " x\n# TYPE " + m + " gauge\n", 0, true},
		{"bad value", m + " lots\n", 0, true},
		{"negative", m + " -5\n", 0, true},
		{"NaN", m + " NaN\n", 0, true},
		{"unterminated labels", m + `{a="b" 5` + "\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGauge([]byte(tc.text), m)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseGauge = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if v, err := parseSample([]byte("process_cpu_seconds_total 12.34\n"), "process_cpu_seconds_total"); err != nil || v != 12.34 {
		t.Errorf("parseSample = %v, %v; want 12.34", v, err)
	}
	if _, err := parseGauge(nil, m); !errors.Is(err, errNoMetric) {
		t.Errorf("parseGauge(empty) error %v, want errNoMetric", err)
	}
}

// fakeSCIM counts what it receives and answers like a SCIM server; failEvery
// makes every n-th PATCH fail with 500, failCreate fails every POST.
type fakeSCIM struct {
	mu         sync.Mutex
	posts      int
	queries    int
	patches    int
	patchFails int
	users      map[string]bool
	failEvery  int
	failCreate bool
	// noID answers POST with 201 and a body that is not a resource.
	noID     bool
	metrics  string // "" → /metrics answers 404
	badQuery int    // queries whose filter was not userName eq "lg-..."
	// names are the created userNames: a query finds a user when it has
	// its name, or always with matchAll.
	names    map[string]bool
	matchAll bool
	// cpuPerRequest, when set, is added for each SCIM request to the
	// process_cpu_seconds_total that /metrics reports after metrics.
	cpuPerRequest float64
	cpu           float64
}

func (f *fakeSCIM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/metrics" {
		if f.metrics == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, f.metrics)
		if f.cpuPerRequest > 0 {
			fmt.Fprintf(w, "process_cpu_seconds_total %g\n", f.cpu)
		}
		return
	}
	f.cpu += f.cpuPerRequest
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/scim/Users":
		f.posts++
		if f.failCreate {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"status":"409","scimType":"uniqueness"}`)
			return
		}
		if f.noID {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `<html>created</html>`)
			return
		}
		var u struct {
			UserName string `json:"userName"`
		}
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil || u.UserName == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if f.names == nil {
			f.names = map[string]bool{}
		}
		f.names[u.UserName] = true
		id := fmt.Sprintf("id-%d", f.posts)
		f.users[id] = true
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q}`, id)
	case r.Method == http.MethodGet && r.URL.Path == "/scim/Users":
		f.queries++
		name, ok := strings.CutPrefix(r.URL.Query().Get("filter"), `userName eq "`)
		name, _ = strings.CutSuffix(name, `"`)
		if !ok || !strings.HasPrefix(name, "lg-") {
			f.badQuery++
		}
		if f.matchAll || f.names[name] {
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{}]}`)
			return
		}
		fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}`)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/scim/Users/"):
		f.patches++
		if !f.users[strings.TrimPrefix(r.URL.Path, "/scim/Users/")] || (f.failEvery > 0 && f.patches%f.failEvery == 0) {
			f.patchFails++
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"detail":"boom"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		srv        *fakeSCIM
		cfg        Config
		wantRSS    int64
		wantRSSErr string
		wantErr    string
	}{
		{
			name:    "all succeed, RSS read",
			srv:     &fakeSCIM{metrics: "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 5.24288e+07\n"},
			cfg:     Config{Concurrency: 4, Users: 40, Queries: 30, Patches: 25},
			wantRSS: 52428800,
		},
		{
			name:       "queries and patches default to users, no metrics",
			srv:        &fakeSCIM{},
			cfg:        Config{Concurrency: 3, Users: 10},
			wantRSS:    -1,
			wantRSSErr: "status 404",
		},
		{
			name:    "every third patch fails",
			srv:     &fakeSCIM{failEvery: 3, metrics: "process_resident_memory_bytes 1\n"},
			cfg:     Config{Concurrency: 2, Users: 5, Queries: 5, Patches: 30},
			wantRSS: 1,
		},
		{
			name:    "no user created",
			srv:     &fakeSCIM{failCreate: true},
			cfg:     Config{Concurrency: 2, Users: 4},
			wantErr: "no user was created; first error: POST /Users: 409",
		},
		{
			name:    "created without a resource id",
			srv:     &fakeSCIM{noID: true},
			cfg:     Config{Concurrency: 2, Users: 4},
			wantErr: "no user was created; first error: POST /Users: 201 without a resource id: <html>created</html>",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.srv.users = map[string]bool{}
			hs := httptest.NewServer(tc.srv)
			defer hs.Close()
			cfg := tc.cfg
			cfg.BaseURL, cfg.Token = hs.URL+"/scim/", "tok"
			res, err := Run(context.Background(), cfg)
			tc.srv.mu.Lock() // the handlers are done; this orders their writes before the reads below
			defer tc.srv.mu.Unlock()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run error %v, want one containing %q", err, tc.wantErr)
				}
				if len(res.Phases) != 1 || res.Phases[0].Errors != cfg.Users {
					t.Errorf("phases %+v, want one create phase with %d errors", res.Phases, cfg.Users)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			wantN := map[string]int{PhaseCreate: cfg.Users, PhaseQuery: cfg.Queries, PhasePatch: cfg.Patches}
			if cfg.Queries == 0 {
				wantN[PhaseQuery], wantN[PhasePatch] = cfg.Users, cfg.Users
			}
			gotServer := map[string]int{PhaseCreate: tc.srv.posts, PhaseQuery: tc.srv.queries, PhasePatch: tc.srv.patches}
			wantErrs := map[string]int{PhasePatch: tc.srv.patchFails}
			if len(res.Phases) != 3 {
				t.Fatalf("phases %+v, want 3", res.Phases)
			}
			for _, p := range res.Phases {
				if p.Requests != wantN[p.Name] || gotServer[p.Name] != wantN[p.Name] {
					t.Errorf("%s: %d requests sent, server saw %d, want %d", p.Name, p.Requests, gotServer[p.Name], wantN[p.Name])
				}
				if p.Errors != wantErrs[p.Name] {
					t.Errorf("%s: %d errors, want %d (first: %s)", p.Name, p.Errors, wantErrs[p.Name], p.FirstError)
				}
				if (p.Errors > 0) != strings.Contains(p.FirstError, ": 500 {\"detail\":\"boom\"}") {
					t.Errorf("%s: FirstError %q with %d errors", p.Name, p.FirstError, p.Errors)
				}
				if p.P99 < p.P50 {
					t.Errorf("%s: p50 %v, p99 %v", p.Name, p.P50, p.P99)
				}
			}
			if tc.srv.badQuery != 0 {
				t.Errorf("%d queries without a userName eq \"lg-...\" filter", tc.srv.badQuery)
			}
			if res.ServerRSSBytes != tc.wantRSS || !strings.Contains(res.RSSError, tc.wantRSSErr) {
				t.Errorf("RSS %d (%q), want %d (%q)", res.ServerRSSBytes, res.RSSError, tc.wantRSS, tc.wantRSSErr)
			}
		})
	}
}

func TestRunCycles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		srv        *fakeSCIM
		cycles     int
		wantErrs   int    // cycle phase errors
		wantFirst  string // in the cycle phase's FirstError
		wantPosts  int    // creates the server saw in the cycle phase
		wantShared bool   // CycleShare is known
	}{
		{name: "match query finds nothing, then create", srv: &fakeSCIM{metrics: "# metrics\n", cpuPerRequest: 0.001}, cycles: 30, wantPosts: 30, wantShared: true},
		{name: "no cycles: phases skipped", srv: &fakeSCIM{}, cycles: 0},
		{name: "match query finds a user: no create", srv: &fakeSCIM{matchAll: true}, cycles: 7, wantErrs: 7,
			wantFirst: "want an empty list", wantShared: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.srv.users = map[string]bool{}
			hs := httptest.NewServer(tc.srv)
			defer hs.Close()
			bare := httptest.NewServer(BareHandler())
			defer bare.Close()
			const users = 5
			res, err := Run(context.Background(), Config{BaseURL: hs.URL + "/scim", Token: "tok", Concurrency: 3,
				Users: users, Queries: 4, Patches: 4, Cycles: tc.cycles, BareURL: bare.URL + "/scim/v2"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			tc.srv.mu.Lock()
			defer tc.srv.mu.Unlock()
			if got := tc.srv.posts - users; got != tc.wantPosts {
				t.Errorf("server saw %d cycle creates, want %d", got, tc.wantPosts)
			}
			if got := tc.srv.queries - 4; got != tc.cycles {
				t.Errorf("server saw %d cycle queries, want %d", got, tc.cycles)
			}
			if tc.srv.badQuery != 0 {
				t.Errorf("%d queries without a userName eq \"lg-...\" filter", tc.srv.badQuery)
			}
			c, okC := res.phase(PhaseCycle)
			b, okB := res.phase(PhaseBareCycle)
			if tc.cycles == 0 {
				if okC || okB || len(res.Phases) != 3 {
					t.Errorf("phases %+v, want create, query, patch only", res.Phases)
				}
				return
			}
			if !okC || !okB || len(res.Phases) != 5 {
				t.Fatalf("phases %+v, want cycle and bare-cycle after the others", res.Phases)
			}
			if c.Requests != tc.cycles || c.Errors != tc.wantErrs || !strings.Contains(c.FirstError, tc.wantFirst) {
				t.Errorf("cycle phase %+v, want %d cycles, %d errors, first error with %q", c, tc.cycles, tc.wantErrs, tc.wantFirst)
			}
			if b.Requests != tc.cycles || b.Errors != 0 || b.ServerCPU != 0 {
				t.Errorf("bare-cycle phase %+v, want %d cycles without errors, no server CPU", b, tc.cycles)
			}
			// The server's CPU is counted in the cycle phase's rounds only:
			// 1 ms for each of its two requests per cycle.
			if want := time.Duration(tc.srv.cpuPerRequest * float64(2*tc.cycles) * float64(time.Second)); (c.ServerCPU - want).Abs() > time.Microsecond {
				t.Errorf("cycle phase server CPU %v, want %v", c.ServerCPU, want)
			}
			pct, ok := res.CycleShare()
			if ok != tc.wantShared || pct <= 0 {
				t.Errorf("CycleShare = %v, %v", pct, ok)
			}
			var out strings.Builder
			res.WriteText(&out)
			if !strings.Contains(out.String(), "of a bare net/http handler's") {
				t.Errorf("report lacks the comparison:\n%s", out.String())
			}
		})
	}
}

func TestBareHandler(t *testing.T) {
	hs := httptest.NewServer(BareHandler())
	defer hs.Close()
	for _, tc := range []struct {
		method string
		status int
	}{{http.MethodGet, http.StatusOK}, {http.MethodPost, http.StatusCreated}} {
		req, _ := http.NewRequest(tc.method, hs.URL+"/scim/v2/Users", strings.NewReader(`{"userName":"x"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			TotalResults *int   `json:"totalResults"`
			ID           string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || body.TotalResults == nil || *body.TotalResults != 0 || body.ID == "" {
			t.Errorf("%s: status %d, body %+v, %v; want %d, an empty list with an id", tc.method, resp.StatusCode, body, err, tc.status)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no base URL", Config{Concurrency: 1, Users: 1}},
		{"not http", Config{BaseURL: "ftp://h/scim", Concurrency: 1, Users: 1}},
		{"zero concurrency", Config{BaseURL: "http://h/scim", Users: 1}},
		{"zero users", Config{BaseURL: "http://h/scim", Concurrency: 1}},
		{"negative patches", Config{BaseURL: "http://h/scim", Concurrency: 1, Users: 1, Patches: -1}},
		{"negative cycles", Config{BaseURL: "http://h/scim", Concurrency: 1, Users: 1, Cycles: -1}},
		{"cycles without a bare handler", Config{BaseURL: "http://h/scim", Concurrency: 1, Users: 1, Cycles: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); err == nil {
				t.Errorf("Run(%+v) = nil error", tc.cfg)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	srv := &fakeSCIM{users: map[string]bool{}}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Config{BaseURL: hs.URL + "/scim", Token: "tok", Concurrency: 2, Users: 100})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !errors.Is(err, context.Canceled) || srv.posts != 0 || len(res.Phases) != 1 || res.Phases[0].Requests != 0 {
		t.Errorf("cancelled Run: err %v, server saw %d posts, phases %+v", err, srv.posts, res.Phases)
	}
}

func TestWriteText(t *testing.T) {
	phases := []Phase{{Name: PhaseCreate, Requests: 10, Errors: 1, Duration: 2 * time.Second, P50: 1500 * time.Microsecond, P99: 9 * time.Millisecond, FirstError: "POST /Users: 409 {}"}}
	for _, tc := range []struct {
		name string
		res  Result
		want []string
	}{
		{"known RSS", Result{Concurrency: 4, Phases: phases, ServerRSSBytes: 3 << 20},
			[]string{"phase", "req/s", "create", "5.0", "1.5ms", "9ms", "server RSS: 3.0 MiB (3145728 bytes)", "first create error: POST /Users: 409 {}", "concurrency: 4"}},
		{"unknown RSS", Result{Phases: phases, ServerRSSBytes: -1, RSSError: "GET /metrics: status 404"},
			[]string{"server RSS: unknown (GET /metrics: status 404)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.res.WriteText(&b)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestUserBody: the formatted body is the JSON of Entra's user.
func TestUserBody(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal(userBody("lg-0a1b-c000042", 42), &got); err != nil {
		t.Fatalf("userBody is not JSON: %v", err)
	}
	want := map[string]any{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN},
		"externalId":  "lg-0a1b-c000042",
		"userName":    "lg-0a1b-c000042",
		"active":      true,
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": "lg-0a1b-c000042@example.com"}},
		"meta":        map[string]any{"resourceType": "User"},
		"name":        map[string]any{"formatted": "Load Gen", "familyName": "Gen", "givenName": "Load"},
		"roles":       []any{},
		enterpriseURN: map[string]any{"department": "Dept 2", "employeeNumber": "000042"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("userBody =\n%v\nwant\n%v", got, want)
	}
}
