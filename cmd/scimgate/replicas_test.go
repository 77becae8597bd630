package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/dbtest"
)

// replicasConfig: replicas on one store of type %[1]s (a short lease, so
// that a replica takes over within seconds), provisioning a SQL target
// "app" in another database of the same server; users deleted in SCIM
// are deleted there at once.
const replicasConfig = `store:
  type: %[1]s
  dsn_env: REPLICAS_TEST_STORE_DSN
  lease_ttl: 1s
targets:
  - name: app
    type: sql
    config:
      dialect: %[1]s
      dsn_env: REPLICAS_TEST_APP_DSN
      create_schema: true
      users:
        table: app_users
        anchor: id
        object_id: scim_id
        attributes:
          userName: {column: login, unique: true}
          title: {column: title}
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
        - {target: title, source: title}
    lifecycle:
      deleteGracePeriod: 0s
`

const replicasAdminToken = "replicas-admin-token-0123456789abcdef0123"

// replicaProxy spreads requests round-robin over the live replicas, as a
// load balancer does; with none live it answers 503.
type replicaProxy struct {
	mu    sync.Mutex
	bases []string // by slot: the replica's origin, "" while it is down
	next  int
}

func (p *replicaProxy) set(slot int, base string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bases[slot] = base
}

func (p *replicaProxy) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.bases {
		p.next = (p.next + 1) % len(p.bases)
		if b := p.bases[p.next]; b != "" {
			return b
		}
	}
	return ""
}

func (p *replicaProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := p.pick()
	if base == "" {
		http.Error(w, "no replica", http.StatusServiceUnavailable)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil { // a replica killed under the request
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	maps.Copy(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// TestReplicasKill9: three gateway processes share one store
// behind a round-robin proxy; clients send Entra-style traffic (create,
// then change titles, delete some users), retrying what is not
// acknowledged as Entra does (a create answered 409 was committed by an
// earlier try: the client finds it by userName); replicas, the one that
// runs the background work among them, are killed with SIGKILL and
// restarted during the traffic. At the end every acknowledged write is in
// SCIM, the SQL target holds exactly the SCIM state (nothing lost, nothing
// delivered out of order per user: a title applied late would differ),
// and no operation is pending or dead.
func TestReplicasKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): the replicas test starts database servers and gateway processes")
	}
	t.Run("postgres", func(t *testing.T) { testReplicasKill9(t, "postgres", dbtest.StartPostgres) })
	t.Run("mysql", func(t *testing.T) { testReplicasKill9(t, "mysql", dbtest.StartMariaDB) })
}

// testReplicasKill9 runs TestReplicasKill9 on a store of type typ on a
// server that start starts.
func testReplicasKill9(t *testing.T, typ string, start func(testing.TB) *dbtest.Server) {
	srv := start(t)
	storeDB, _ := srv.NewDatabase(t)
	appDB, app := srv.NewDatabase(t)
	t.Setenv("REPLICAS_TEST_STORE_DSN", srv.DSN(storeDB))
	t.Setenv("REPLICAS_TEST_APP_DSN", srv.DSN(appDB))
	t.Setenv("SCIMGATE_ADMIN_TOKEN", replicasAdminToken)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, replicasConfig, typ), 0o600); err != nil {
		t.Fatal(err)
	}

	const replicas = 3
	proxy := &replicaProxy{bases: make([]string, replicas)}
	procs := make([]*gatewayProc, replicas)
	startReplica := func(i int) {
		procs[i] = startProc(t, filepath.Join(dir, fmt.Sprintf("r%d", i)), "--config", cfgFile)
		proxy.set(i, strings.TrimSuffix(procs[i].base, "/scim/v2"))
	}
	for i := range replicas {
		startReplica(i) // one at a time: the first creates the target's tables
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	base := front.URL + "/scim/v2"

	// The clients: each owns its users. want is the acknowledged state:
	// userName -> title, "" once deleted.
	const clients, perClient = 6, 60
	// The kills so far (by the killer below), of the lease holder too.
	const minKills, minLeaderKills = 4, 2
	var killCount, leaderKillCount atomic.Int64
	killedEnough := func() bool {
		return killCount.Load() >= minKills && leaderKillCount.Load() >= minLeaderKills
	}
	var (
		mu   sync.Mutex
		want = map[string]string{}
		ids  = map[string]string{}
		// titles: userName -> the titles acknowledged, in order.
		titles = map[string][]string{}
		acked  atomic.Int64
		tick   = make(chan struct{}, 1)
	)
	ack := func() {
		if acked.Add(1)%30 == 0 {
			select {
			case tick <- struct{}{}:
			default:
			}
		}
	}
	// do sends a request until it gets one of the answers in ok (a
	// connection cut or a 5xx is retried, as Entra retries).
	do := func(method, u string, body any, ok ...int) (int, []byte) {
		for tries := 0; ; tries++ {
			status, b, err := scimDo(method, u, body)
			if err == nil {
				for _, s := range ok {
					if status == s {
						return status, b
					}
				}
				if status < 500 {
					t.Errorf("%s %s: %d %s", method, u, status, b)
					return status, b
				}
			}
			if tries > 2000 {
				t.Errorf("%s %s: still failing: %d %v %s", method, u, status, err, b)
				return 0, nil
			}
		}
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			var mine []string
			// Each client creates perClient users, and goes on until
			// the killer has killed enough replicas during the traffic
			// (at most four times as many).
			for i := 0; i < perClient || !killedEnough() && i < 4*perClient; i++ {
				name := fmt.Sprintf("replica-%d-%d@contoso.example", c, i)
				status, b := do("POST", base+"/Users", map[string]any{"userName": name, "title": "t0", "active": true}, 201, 409)
				var id string
				switch status {
				case 201:
					var u struct{ ID string }
					_ = json.Unmarshal(b, &u)
					id = u.ID
				case 409: // an earlier try was committed: find it, as Entra does
					_, b := do("GET", base+"/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil, 200)
					var lr struct{ Resources []struct{ ID string } }
					_ = json.Unmarshal(b, &lr)
					if len(lr.Resources) != 1 {
						t.Errorf("%s answered 409 but is not found: %s", name, b)
						continue
					}
					id = lr.Resources[0].ID
				default:
					continue
				}
				mu.Lock()
				want[name], ids[name] = "t0", id
				titles[name] = append(titles[name], "t0")
				mu.Unlock()
				ack()
				mine = append(mine, name)
				// Change the titles of some of this client's users,
				// delete one now and then.
				for range 2 {
					who := mine[r.IntN(len(mine))]
					mu.Lock()
					cur, uid := want[who], ids[who]
					mu.Unlock()
					if cur == "" {
						continue
					}
					if r.IntN(8) == 0 {
						if s, _ := do("DELETE", base+"/Users/"+uid, nil, 204, 404); s != 0 {
							mu.Lock()
							want[who] = ""
							mu.Unlock()
							ack()
						}
						continue
					}
					title := fmt.Sprintf("t%d", r.IntN(1000)+1)
					if s, _ := do("PATCH", base+"/Users/"+uid, map[string]any{
						"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
						"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": title}},
					}, 200, 204); s != 0 {
						mu.Lock()
						want[who] = title
						titles[who] = append(titles[who], title)
						mu.Unlock()
						ack()
					}
				}
			}
		})
	}
	// The killer: at every 30 acknowledged writes, SIGKILL a replica
	// (every other time the one running the background work) and start
	// it again on the same data directory.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	delivered := make([]float64, replicas) // operations delivered by each slot's replicas
	var byOthers float64                   // by replicas that did not hold the lease when counted
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick:
			victim := rand.IntN(replicas)
			if killCount.Load()%2 == 0 {
				// Wait for a replica to take the lease (within the
				// lease's time after the last kill), and kill it while
				// it delivers.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if leader, ok := replicaRunningBackground(proxy); ok {
						victim = leader
						leaderKillCount.Add(1)
						break
					}
				}
			}
			n, planner := replicaDeliveries(t, proxy, victim) // its count until now
			delivered[victim] += n
			if !planner {
				byOthers += n
			}
			proxy.set(victim, "")
			_ = procs[victim].cmd.Process.Signal(syscall.SIGKILL)
			<-procs[victim].done
			startReplica(victim)
			killCount.Add(1)
		}
	}
	kills, leaderKills := killCount.Load(), leaderKillCount.Load()
	if kills < minKills || leaderKills < minLeaderKills {
		t.Errorf("%d kills during the traffic, %d of the replica running the background work; want at least %d and %d", kills, leaderKills, minKills, minLeaderKills)
	}
	t.Logf("%d acknowledged writes, %d kills, %d of the replica running the background work", acked.Load(), kills, leaderKills)

	// Every acknowledged write is in SCIM.
	for name, title := range want {
		status, b, err := scimDo("GET", base+"/Users/"+ids[name], nil)
		switch {
		case err != nil:
			t.Errorf("GET %s: %v", name, err)
		case title == "" && status != 404:
			t.Errorf("%s was deleted, GET answers %d %s", name, status, b)
		case title != "" && (status != 200 || !strings.Contains(string(b), `"title":"`+title+`"`)):
			t.Errorf("%s: GET answers %d %s, want title %s", name, status, b, title)
		}
	}
	// The target converges to it, and nothing is pending or dead.
	expect := map[string]string{}
	for name, title := range want {
		if title != "" {
			expect[name] = title
		}
	}
	var got map[string]string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = appUsers(t, app)
		if maps.Equal(got, expect) || time.Now().After(deadline) {
			break
		}
	}
	if !maps.Equal(got, expect) {
		for name, title := range expect {
			if got[name] != title {
				t.Errorf("app: %s has title %q, want %q", name, got[name], title)
			}
		}
		for name := range got {
			if _, ok := expect[name]; !ok {
				t.Errorf("app: %s is there, want it deleted", name)
			}
		}
	}
	var targets struct {
		Targets []struct {
			Name                 string
			Pending, DeadLetters int
		}
	}
	// Operations that change nothing more (an update the target already
	// has, one a killed replica delivered and the next delivers again)
	// may still drain after the rows match.
	var b []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, b = adminGet(t, front.URL+"/admin/v1/targets")
		if err := json.Unmarshal(b, &targets); err != nil || len(targets.Targets) != 1 {
			t.Fatalf("admin targets: %v %s", err, b)
		}
		if tg := targets.Targets[0]; tg.Pending == 0 && tg.DeadLetters == 0 || time.Now().After(deadline) {
			break
		}
	}
	if tg := targets.Targets[0]; tg.Pending != 0 || tg.DeadLetters != 0 {
		t.Errorf("target app: %d pending, %d dead letters, want none: %s", tg.Pending, tg.DeadLetters, b)
	}
	if got := appUsers(t, app); !maps.Equal(got, expect) {
		t.Errorf("the target changed after the queue drained: %v, want %v", got, expect)
	}
	// No operation was delivered out of order per user: the titles the
	// replicas delivered (the audit log's deliveries to the target, in the
	// order they were recorded) follow the order in which they were
	// acknowledged (merged updates skip some; an operation delivered by a
	// killed replica and again by another may repeat).
	for name, acked := range titles {
		_, b := adminGet(t, front.URL+"/admin/v1/audit?target=app&limit=1000&id="+url.QueryEscape(ids[name]))
		var page struct {
			Entries []struct{ Actor, Action, Result, Detail string }
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("audit of %s: %v %s", name, err, b)
		}
		var delivered []string
		for _, e := range slices.Backward(page.Entries) {
			if m := titleRE.FindStringSubmatch(e.Detail); e.Actor == "engine" && e.Result == "ok" && m != nil {
				delivered = append(delivered, m[1])
			}
		}
		if !inOrder(delivered, acked) {
			t.Errorf("%s: titles delivered %v, not in the order acknowledged %v", name, delivered, acked)
		}
	}
	// Every replica delivers, not only the one that plans: replicas that
	// did not hold the lease delivered some of the operations, and the
	// replicas' metrics add up to every user delivered at least once.
	var total float64
	for i := range replicas {
		n, planner := replicaDeliveries(t, proxy, i)
		delivered[i] += n
		if !planner {
			byOthers += n
		}
		total += delivered[i]
	}
	if byOthers == 0 {
		t.Errorf("only the replicas holding the lease delivered (by slot: %v); want every replica to deliver", delivered)
	}
	if total < float64(len(expect)) {
		t.Errorf("the replicas' metrics count %v deliveries, fewer than the %d users the target has", total, len(expect))
	}
	t.Logf("deliveries by slot: %v, %v by replicas not holding the lease", delivered, byOthers)
}

// titleRE finds the title an audited delivery sent.
var titleRE = regexp.MustCompile(`title="([^"]*)"`)

// inOrder reports whether got follows the order of acked: each element is
// the one before it again, or one that comes after it in acked.
func inOrder(got, acked []string) bool {
	i := 0
	for _, g := range got {
		j := i
		for j < len(acked) && acked[j] != g {
			j++
		}
		if j == len(acked) {
			return false
		}
		i = j
	}
	return true
}

// replicaDeliveries returns the successful deliveries that the replica in
// slot counts in its metrics (scimgate_engine_deliveries_total, ok), and
// whether it holds the lease (runs the background work, the planner).
func replicaDeliveries(t *testing.T, p *replicaProxy, slot int) (n float64, planner bool) {
	t.Helper()
	p.mu.Lock()
	base := p.bases[slot]
	p.mu.Unlock()
	if resp, err := http.Get(base + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		planner = strings.Contains(string(b), `"background":true`)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Errorf("metrics of replica %d: %v", slot, err)
		return 0, planner
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("metrics of replica %d: %v", slot, err)
		return 0, planner
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "scimgate_engine_deliveries_total{") && strings.Contains(line, `outcome="ok"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(strings.TrimSpace(line), ' ')+1:], &v); err != nil {
				t.Errorf("metrics of replica %d: %q: %v", slot, line, err)
			}
			n += v
		}
	}
	return n, planner
}

// replicaRunningBackground returns the slot of the replica whose /healthz
// says it runs the background work, if one says so now.
func replicaRunningBackground(p *replicaProxy) (int, bool) {
	p.mu.Lock()
	bases := append([]string(nil), p.bases...)
	p.mu.Unlock()
	for i, b := range bases {
		if b == "" {
			continue
		}
		resp, err := http.Get(b + "/healthz")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"background":true`) {
			return i, true
		}
	}
	return 0, false
}

// appUsers returns the target's users: login -> title.
func appUsers(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows, err := db.QueryContext(t.Context(), "SELECT login, COALESCE(title, '') FROM app_users")
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "doesn't exist") {
			return out
		}
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var login, title string
		if err := rows.Scan(&login, &title); err != nil {
			t.Fatal(err)
		}
		out[login] = title
	}
	return out
}

// adminGet GETs an admin API URL with the replicas' admin token.
func adminGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+replicasAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
