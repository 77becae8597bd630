package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
)

// requestLimit is the time limit of one request of the test's clients:
// a request that takes longer hangs.
const requestLimit = 5 * time.Second

// TestDatabaseRestart stops the database server of two replicas while
// clients send them Entra-style traffic (creates, PATCH replace, GET by
// userName filter, round-robin over the replicas), and starts it again:
//
//   - while it is down, SCIM reads and writes answer 503 with Retry-After
//     on both replicas, within the request's time limit, and /healthz
//     answers 503;
//   - the clients retry a 503 as Entra does: the same request again until
//     it is acknowledged; a retried POST whose first attempt was committed
//     after all gets a 409, and the client finds the user with a GET by
//     filter. A write answered 503 that is not retried (the test's probes)
//     changed nothing;
//   - once the server is back, without restarting anything, both
//     replicas serve SCIM again, every acknowledged write is there with
//     its last acknowledged value, exactly one replica runs the
//     background work again, and the target (a database of the same
//     server, down with it) converges to the SCIM state without dead
//     letters.
//
// It runs on PostgreSQL and on MariaDB (the store and the target in two
// databases of one server).
func TestDatabaseRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
	}{
		{config.StorePostgres, dbtest.StartPostgres},
		{config.StoreMySQL, dbtest.StartMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) { testDatabaseRestart(t, tc.start(t)) })
	}
}

func testDatabaseRestart(t *testing.T, srv *dbtest.Server) {
	storeDB, _ := srv.NewDatabase(t)
	appName, appDB := srv.NewDatabase(t)
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(srv.DSN(appName)), 0o600); err != nil {
		t.Fatal(err)
	}
	targetsYAML := fmt.Appendf(nil, sqlAppTarget, srv.Dialect, dsn, 4)
	shared := func(cfg *config.Config) {
		cfg.Store = config.Store{Type: srv.Dialect, DSN: config.Secret(srv.DSN(storeDB)), LeaseTTL: 2 * time.Second}
	}
	replicas := []*Gateway{
		startTargetsGatewayWith(t, targetsYAML, fewAttempts, shared),
		startTargetsGatewayWith(t, targetsYAML, fewAttempts, shared),
	}
	var bases []string
	for _, g := range replicas {
		bases = append(bases, g.BaseURL())
	}
	waitFor(t, "one replica to run the background work", func() (bool, string) {
		n := leaders(replicas)
		return n == 1, fmt.Sprintf("%d replicas run it", n)
	})

	// seed is written before the outage; the probes' PATCH, answered
	// 503, must not change it.
	seed := &entraClient{bases: bases}
	seedUser := &userState{userName: "seed@contoso.com", dept: "d0", given: "g0"}
	if err := seed.create(t.Context(), seedUser); err != nil {
		t.Fatal(err)
	}

	// The traffic: each client writes its own users, so that the last
	// value it acknowledged is the user's value.
	const clients = 4
	var (
		acked    atomic.Int64 // acknowledged writes
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		users    []*userState
		unavail  atomic.Int64 // 503s the clients saw
	)
	// The clients finish the write they are retrying when the traffic
	// stops; tctx ends them when the test fails.
	tctx, cancelTraffic := context.WithCancel(t.Context())
	for k := range clients {
		ec := &entraClient{bases: bases, next: k, unavailable: &unavail}
		wg.Go(func() {
			var own []*userState
			fail := func(err error) {
				if tctx.Err() != nil {
					return
				}
				mu.Lock()
				failures = append(failures, fmt.Sprintf("client %d: %v", k, err))
				mu.Unlock()
			}
			defer func() {
				mu.Lock()
				users = append(users, own...)
				mu.Unlock()
			}()
			for i := 0; !stop.Load(); i++ {
				if i%3 == 0 {
					u := &userState{userName: fmt.Sprintf("u%d-%d@contoso.com", k, i), dept: "d0", given: "g0"}
					if err := ec.create(tctx, u); err != nil {
						fail(err)
						return
					}
					own = append(own, u)
				} else {
					u := own[i%len(own)]
					if err := ec.patch(tctx, u, fmt.Sprintf("d%d", i), fmt.Sprintf("g%d", i)); err != nil {
						fail(err)
						return
					}
				}
				acked.Add(1)
				// Read-your-writes, on either replica.
				u := own[i%len(own)]
				if err := ec.check(tctx, u); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	var stopped sync.Once
	stopTraffic := func() {
		stopped.Do(func() {
			stop.Store(true)
			wg.Wait()
			for _, f := range failures {
				t.Error(f)
			}
		})
		if len(failures) > 0 {
			t.FailNow()
		}
	}
	defer func() {
		cancelTraffic()
		stopTraffic()
	}()
	waitAcked := func(what string, n int64) {
		t.Helper()
		from := acked.Load()
		waitFor(t, what, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			if len(failures) > 0 {
				t.Fatalf("traffic: %s", strings.Join(failures, "\n"))
			}
			got := acked.Load() - from
			return got >= n, fmt.Sprintf("%d writes acknowledged", got)
		})
	}
	waitAcked("writes before the outage", 40)

	srv.Stop()
	t.Log("database stopped")
	probe := &entraClient{bases: bases}
	for i, base := range bases {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", filterPath("/Users", `userName eq "seed@contoso.com"`), nil},
			{"POST", "/Users", entraUser("probe@contoso.com", "ext-probe")},
			{"PATCH", "/Users/" + seedUser.id, patchOps(op("Replace", "name.givenName", "down"))},
			{"GET", "/Users/" + seedUser.id, nil},
		} {
			r, err := probe.send(t.Context(), base, req.method, req.path, req.body)
			if err != nil {
				t.Fatalf("while the database is down: %v", err)
			}
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("while the database is down: %s %s: %d (Retry-After %q), want 503 with Retry-After\n%s",
					req.method, req.path, r.status, r.header.Get("Retry-After"), r.raw)
			}
		}
		if status, body := healthz(t, replicas[i]); status != http.StatusServiceUnavailable {
			t.Errorf("/healthz of %s while the database is down: %d %s, want 503", base, status, body)
		}
	}
	waitFor(t, "the clients to meet the outage", func() (bool, string) {
		n := unavail.Load()
		return n >= clients, fmt.Sprintf("%d 503s", n)
	})
	waitFor(t, "the holder of the lease to stop its background work", func() (bool, string) {
		n := leaders(replicas)
		return n == 0, fmt.Sprintf("%d replicas run it", n)
	})

	srv.Start(t)
	t.Log("database started")
	waitAcked("writes after the outage", 40)
	stopTraffic()
	t.Logf("%d writes acknowledged, %d users, %d 503s answered", acked.Load(), len(users), unavail.Load())

	waitFor(t, "one replica to run the background work again", func() (bool, string) {
		n := leaders(replicas)
		return n == 1, fmt.Sprintf("%d replicas run it", n)
	})
	waitFor(t, "/healthz: ok on both, the background work on exactly one", func() (bool, string) {
		var bodies []string
		ok, bg := true, 0
		for _, g := range replicas {
			status, body := healthz(t, g)
			bodies = append(bodies, fmt.Sprintf("%d %s", status, body))
			ok = ok && status == http.StatusOK
			if strings.Contains(body, `"background":true`) {
				bg++
			}
		}
		return ok && bg == 1, strings.Join(bodies, "; ")
	})

	// Every acknowledged write, on both replicas; the probes changed
	// nothing.
	all := append(slices.Clone(users), seedUser)
	for _, base := range bases {
		c := &entraClient{bases: []string{base}}
		for _, u := range all {
			if err := c.check(t.Context(), u); err != nil {
				t.Error(err)
			}
		}
		r, err := c.send(t.Context(), base, "GET", filterPath("/Users", `userName eq "probe@contoso.com"`), nil)
		if err != nil || r.status != http.StatusOK || r.body["totalResults"] != 0.0 {
			t.Errorf("the probe's POST answered 503 created a user: %v %d %s", err, r.status, r.raw)
		}
		r, err = c.send(t.Context(), base, "GET", "/Users?count=0", nil)
		if err != nil || r.status != http.StatusOK || r.body["totalResults"] != float64(len(all)) {
			t.Errorf("users: %v %d %s, want %d", err, r.status, r.raw, len(all))
		}
	}

	// The target converges to the SCIM state, without dead letters.
	var want []string
	for _, u := range all {
		want = append(want, fmt.Sprintf("%s\t%s\t%s Family\t%s\tactive", u.id, u.userName, u.given, u.dept))
	}
	slices.Sort(want)
	waitFor(t, "the target to converge", func() (bool, string) {
		for _, g := range replicas {
			if ok, detail := idleNow(t.Context(), g); !ok {
				return false, detail
			}
		}
		got := dbtest.Dump(t, appDB, "SELECT scim_id, login, display_name, department, status FROM app_users")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("%d rows, want %d; first differences: %s", len(got), len(want), firstDiff(got, want))
		}
		return true, ""
	})
	for _, g := range replicas {
		st, err := g.store.OutboxStats(t.Context(), "app", time.Now())
		if err != nil || st.Dead != 0 {
			t.Errorf("outbox of app: %+v, %v; want no dead letters", st, err)
		}
		checkTargetUp(t, g, "app")
	}
}

// leaders counts the replicas that run the background work.
func leaders(replicas []*Gateway) int {
	n := 0
	for _, g := range replicas {
		if g.leading.Load() {
			n++
		}
	}
	return n
}

// firstDiff shows the first rows of got and want that differ.
func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("got %q, want %q", g, w)
		}
	}
	return "none"
}

// userState is a user a client wrote, with the values it last
// acknowledged.
type userState struct {
	id, userName, dept, given string
}

// entraClient sends SCIM requests round-robin to replicas and retries a
// 503 as Entra's provisioning service does: the same request again until
// it is answered otherwise. Any 5xx other than a 503 with Retry-After, and
// any request that takes longer than requestLimit, is an error.
type entraClient struct {
	bases       []string
	next        int
	unavailable *atomic.Int64 // counts the 503s (nil: not counted)
}

type scimReply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// send sends one request to base, without retrying.
func (c *entraClient) send(ctx context.Context, base, method, path string, body any) (scimReply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return scimReply{}, err
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(ctx, requestLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return scimReply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return scimReply{}, fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return scimReply{}, fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	r := scimReply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s%s: %d: body is not JSON: %v", method, base, path, r.status, err)
		}
	}
	return r, nil
}

// do sends the request to the next replica, again (to the next one)
// while it is answered 503, and returns the first other answer.
func (c *entraClient) do(ctx context.Context, method, path string, body any) (scimReply, error) {
	for {
		base := c.bases[c.next%len(c.bases)]
		c.next++
		r, err := c.send(ctx, base, method, path, body)
		if err != nil {
			return r, err
		}
		if r.status != http.StatusServiceUnavailable {
			if r.status >= 500 {
				return r, fmt.Errorf("%s %s%s: %d, want a 503 when unavailable: %s", method, base, path, r.status, r.raw)
			}
			return r, nil
		}
		if r.header.Get("Retry-After") == "" {
			return r, fmt.Errorf("%s %s%s: 503 without Retry-After", method, base, path)
		}
		if c.unavailable != nil {
			c.unavailable.Add(1)
		}
		// Entra waits before it retries; the client waits a little, so
		// as not to spin while the database is down.
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// create POSTs u; a 409 means an earlier attempt answered 503 was
// committed after all: the client finds the user by filter, as Entra
// does.
func (c *entraClient) create(ctx context.Context, u *userState) error {
	body := entraUser(u.userName, "ext-"+u.userName)
	body["name"] = map[string]any{"givenName": u.given, "familyName": "Family"}
	body[enterprise] = map[string]any{"department": u.dept}
	r, err := c.do(ctx, "POST", "/Users", body)
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated:
		u.id, _ = r.body["id"].(string)
		return nil
	case http.StatusConflict:
		r, err := c.do(ctx, "GET", filterPath("/Users", fmt.Sprintf("userName eq %q", u.userName)), nil)
		if err != nil {
			return err
		}
		res, _ := r.body["Resources"].([]any)
		if r.status != http.StatusOK || len(res) != 1 {
			return fmt.Errorf("POST %s: 409, then GET by filter: %d %s", u.userName, r.status, r.raw)
		}
		u.id, _ = res[0].(map[string]any)["id"].(string)
		return nil
	}
	return fmt.Errorf("POST %s: %d %s", u.userName, r.status, r.raw)
}

// patch replaces u's department and given name, as Entra does.
func (c *entraClient) patch(ctx context.Context, u *userState, dept, given string) error {
	r, err := c.do(ctx, "PATCH", "/Users/"+u.id, patchOps(
		op("Replace", enterprise+":department", dept), op("Replace", "name.givenName", given)))
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && r.status != http.StatusNoContent {
		return fmt.Errorf("PATCH %s: %d %s", u.userName, r.status, r.raw)
	}
	u.dept, u.given = dept, given
	return nil
}

// check GETs u by filter, as Entra does, and compares it with the values
// last acknowledged.
func (c *entraClient) check(ctx context.Context, u *userState) error {
	q := url.Values{"filter": {fmt.Sprintf("userName eq %q", u.userName)}}
	r, err := c.do(ctx, "GET", "/Users?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	res, _ := r.body["Resources"].([]any)
	if r.status != http.StatusOK || len(res) != 1 {
		return fmt.Errorf("GET %s by filter: %d, want 200 with one user: %s", u.userName, r.status, r.raw)
	}
	got := res[0].(map[string]any)
	if got["id"] != u.id || get(got, "name", "givenName") != u.given || get(got, enterprise, "department") != u.dept {
		return fmt.Errorf("GET %s by filter: id %v, givenName %v, department %v; want %s, %s, %s (last acknowledged)",
			u.userName, got["id"], get(got, "name", "givenName"), get(got, enterprise, "department"), u.id, u.given, u.dept)
	}
	return nil
}
