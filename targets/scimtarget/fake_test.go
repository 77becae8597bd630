package scimtarget

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fakeSCIM is a SCIM service for unit tests, served under /scim. It keeps
// resources in memory (PATCH operations are recorded, not applied),
// answers filters of the form attr eq "value" on top-level strings,
// records every request, and answers a request that a scripted response
// matches with that response instead. The zero value declares PATCH and
// ETag support and answers PATCH with 204.
type fakeSCIM struct {
	NoPatch     bool // /ServiceProviderConfig declares no PATCH support
	NoETag      bool // nor ETags
	PatchStatus int  // the status of a successful PATCH (default 204)

	mu     sync.Mutex
	res    map[string]map[string]any // by id
	nextID int
	script []scripted
	reqs   []recorded
}

// scripted is a response to the next request whose "METHOD /path" starts
// with match; it is used once.
type scripted struct {
	match  string
	status int
	header map[string]string
	body   string
}

// recorded is a request the fake received.
type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// put stores a resource (under its id).
func (f *fakeSCIM) put(res map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.res == nil {
		f.res = map[string]map[string]any{}
	}
	f.res[res["id"].(string)] = res
}

// respond scripts a response.
func (f *fakeSCIM) respond(match string, status int, body string, header ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := scripted{match: match, status: status, body: body, header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		s.header[header[i]] = header[i+1]
	}
	f.script = append(f.script, s)
}

// requests returns the recorded requests and forgets them.
func (f *fakeSCIM) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

func (f *fakeSCIM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	line := r.Method + " " + r.URL.Path
	for i, s := range f.script {
		if strings.HasPrefix(line, s.match) {
			f.script = slices.Delete(f.script, i, i+1)
			for k, v := range s.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(s.status)
			_, _ = io.WriteString(w, s.body)
			return
		}
	}
	w.Header().Set("Content-Type", "application/scim+json")
	reply := func(status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	endpoint, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/scim/"), "/")
	if endpoint == "ServiceProviderConfig" {
		reply(200, map[string]any{"patch": map[string]any{"supported": !f.NoPatch}, "etag": map[string]any{"supported": !f.NoETag}})
		return
	}
	if f.res == nil {
		f.res = map[string]map[string]any{}
	}
	notFound := func() {
		reply(404, map[string]any{"schemas": []string{errorSchema}, "status": "404", "detail": "not found"})
	}
	version := func(res map[string]any) {
		if meta, ok := res["meta"].(map[string]any); ok {
			v, _ := meta["version"].(string)
			w.Header().Set("ETag", v)
		}
	}
	switch {
	case r.Method == http.MethodGet && id == "":
		var out []any
		f2 := r.URL.Query().Get("filter")
		for _, id := range slices.Sorted(maps.Keys(f.res)) {
			res := f.res[id]
			if !strings.HasPrefix(id, strings.ToLower(endpoint[:1])+"-") {
				continue
			}
			match := f2 == ""
			for term := range strings.SplitSeq(f2, " or ") { // attr eq "value" [or ...]
				attr, value, _ := strings.Cut(term, " eq ")
				if s, _ := json.Marshal(res[attr]); string(s) == value {
					match = true
				}
			}
			if match {
				out = append(out, res)
			}
		}
		reply(200, map[string]any{"schemas": []string{listSchema}, "totalResults": len(out), "startIndex": 1, "Resources": out})
	case r.Method == http.MethodGet:
		res, ok := f.res[id]
		if !ok {
			notFound()
			return
		}
		version(res)
		reply(200, res)
	case r.Method == http.MethodPost:
		var res map[string]any
		_ = json.Unmarshal(body, &res)
		f.nextID++
		res["id"] = fmt.Sprintf("%s-%d", strings.ToLower(endpoint[:1]), f.nextID)
		res["meta"] = map[string]any{"version": `W/"1"`}
		f.res[res["id"].(string)] = res
		reply(201, res)
	case r.Method == http.MethodPut:
		old, ok := f.res[id]
		if !ok {
			notFound()
			return
		}
		var res map[string]any
		_ = json.Unmarshal(body, &res)
		meta, _ := old["meta"].(map[string]any)
		v, _ := meta["version"].(string)
		n, _ := strconv.Atoi(strings.Trim(strings.TrimPrefix(v, "W/"), `"`))
		res["meta"] = map[string]any{"version": fmt.Sprintf(`W/"%d"`, n+1)}
		f.res[id] = res
		version(res)
		reply(200, res)
	case r.Method == http.MethodPatch:
		if _, ok := f.res[id]; !ok {
			notFound()
			return
		}
		w.WriteHeader(cmp.Or(f.PatchStatus, http.StatusNoContent))
	case r.Method == http.MethodDelete:
		if _, ok := f.res[id]; !ok {
			notFound()
			return
		}
		delete(f.res, id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// fakeClock is the connector's clock in tests: each wait is recorded and
// passes at once, moving the time on; with block set, waits never pass.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
	block bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if !c.block {
		c.t = c.t.Add(d)
		ch <- c.t
	}
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) takeWaits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waits
	c.waits = nil
	return w
}

const fakeToken = "fake-token-0123456789"

// openFake serves f and opens a connector to it with a bearer token and a
// fake clock; mutate adjusts the configuration. The requests of Open are
// forgotten.
func openFake(t *testing.T, f *fakeSCIM, mutate func(*Config)) (*Connector, *fakeClock) {
	t.Helper()
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Setenv("SCIMTARGET_FAKE_TOKEN", fakeToken)
	clk := newFakeClock()
	cfg := Config{BaseURL: ts.URL + "/scim", BearerTokenEnv: "SCIMTARGET_FAKE_TOKEN", Groups: &KindConfig{},
		now: clk.now, after: clk.after}
	if mutate != nil {
		mutate(&cfg)
	}
	conn, err := cfg.Open(t.Context(), targets.Env{Name: "saas"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { conn.Close(t.Context()) })
	f.requests()
	return conn.(*Connector), clk
}

// render writes requests as a golden file shows them: the request line
// with its query unescaped, If-Match when set, and the body indented.
func render(reqs []recorded) []byte {
	var b bytes.Buffer
	for _, r := range reqs {
		q, _ := url.QueryUnescape(r.query)
		if q != "" {
			q = "?" + q
		}
		fmt.Fprintf(&b, "%s %s%s\n", r.method, r.path, q)
		if im := r.header.Get("If-Match"); im != "" {
			fmt.Fprintf(&b, "If-Match: %s\n", im)
		}
		if len(r.body) > 0 {
			var v any
			if err := json.Unmarshal(r.body, &v); err != nil {
				fmt.Fprintf(&b, "%s\n", r.body)
			} else {
				out, _ := json.MarshalIndent(v, "", "  ")
				b.Write(out)
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("requests differ from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// mustClass fails unless err is of class.
func mustClass(t *testing.T, what string, err, class error) {
	t.Helper()
	if got := targets.Class(err); got != class {
		t.Fatalf("%s: %v (class %v), want class %v", what, err, got, class)
	}
}
