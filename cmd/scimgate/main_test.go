package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as the scimgate binary (see TestMain).
const childEnv = "SCIMGATE_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Unsetenv(childEnv)
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// gatewayProc is the gateway running as a separate process.
type gatewayProc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

var baseURLLine = regexp.MustCompile(`SCIM base URL: (\S+)`)

// startProc starts "scimgate serve" as a child process on a free loopback
// port, with extra flags, and waits until it prints its base URL.
func startProc(t *testing.T, dataDir string, flags ...string) *gatewayProc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, flags...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "SCIMGATE_SCIM_TOKEN=kill9-token-0123456789abcdef0123456789", "SCIMGATE_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := baseURLLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.base = <-found:
	case <-p.done:
		t.Fatalf("gateway exited before serving: %s", stderr.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("gateway did not start: %s", stderr.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func scimDo(method, rawURL string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer kill9-token-0123456789abcdef0123456789")
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestKill9LosesNoAcknowledgedUser streams creates from several clients
// into a gateway process, kills it with SIGKILL mid-stream, restarts it on
// the same data directory and checks that every user whose create was
// answered 201 is there, complete.
func TestKill9LosesNoAcknowledgedUser(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kill -9 durability test starts gateway processes")
	}
	dataDir := t.TempDir()
	p := startProc(t, dataDir)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	const clients, target = 8, 400
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("k9-%d-%d@example.com", c, i)
				status, _, err := scimDo("POST", p.base+"/Users", map[string]any{
					"userName": name, "active": true, "externalId": name,
					"name": map[string]any{"givenName": "G", "familyName": "F"},
				})
				if err != nil {
					return // the process is gone
				}
				if status == http.StatusCreated {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		}(c)
	}
	deadline := time.After(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= target {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("only %d creates acknowledged in 60s", n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d creates acknowledged before SIGKILL", len(acked))

	p2 := startProc(t, dataDir)
	for _, name := range acked {
		q := url.Values{"filter": {fmt.Sprintf("userName eq %q", name)}}
		status, body, err := scimDo("GET", p2.base+"/Users?"+q.Encode(), nil)
		if err != nil || status != 200 {
			t.Fatalf("query %s: %d %v %s", name, status, err, body)
		}
		var lr struct {
			TotalResults int              `json:"totalResults"`
			Resources    []map[string]any `json:"Resources"`
		}
		if err := json.Unmarshal(body, &lr); err != nil {
			t.Fatal(err)
		}
		if lr.TotalResults != 1 || len(lr.Resources) != 1 {
			t.Fatalf("acknowledged user %s lost after kill -9 (totalResults %d)", name, lr.TotalResults)
		}
		if r := lr.Resources[0]; r["externalId"] != name || r["active"] != true {
			t.Fatalf("user %s incomplete after kill -9: %v", name, r)
		}
	}
}

// TestCLI covers the command line's answers to bad input.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("scim:\n  bulk:\n    max_operations: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badPolicy := filepath.Join(dir, "badpolicy.yaml")
	if err := os.WriteFile(badPolicy, []byte("targets:\n  - name: crm\n    type: memory\n    users:\n      scope: {all: true}\n      mapping:\n        - {target: x, expression: 'ToLower('}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownType := filepath.Join(dir, "unknowntype.yaml")
	if err := os.WriteFile(unknownType, []byte("targets:\n  - name: crm\n    type: oracle\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"serve with a bad config names the field", []string{"serve", "--config", badConfig, "--listen", "127.0.0.1:0"}, 1, "scim.bulk.max_operations"},
		{"serve with a missing config file", []string{"serve", "--config", "/nonexistent/scimgate.yaml"}, 1, "/nonexistent/scimgate.yaml"},
		{"serve with a bad listen flag", []string{"serve", "--listen", "nonsense"}, 1, "listen"},
		{"serve with a cpuprofile it cannot create", []string{"serve", "--data-dir", filepath.Join(dir, "d"), "--listen", "127.0.0.1:0",
			"--cpuprofile", filepath.Join(dir, "missing", "cpu.pprof")}, 1, "cpuprofile: open " + filepath.Join(dir, "missing", "cpu.pprof")},
		{"conformance without url", []string{"conformance", "scim"}, 2, "--url is required"},
		{"plan without gateway data", []string{"plan", "--data-dir", filepath.Join(dir, "none")}, 1, "no gateway data"},
		{"plan with a bad mapping names the field", []string{"plan", "--config", badPolicy, "--data-dir", dir}, 1, "targets[0].users.mapping[0]"},
		{"unknown target type names the target", []string{"plan", "--config", unknownType, "--data-dir", dir}, 1, `target "crm"`},
		{"conformance without suite", []string{"conformance"}, 2, "needs a suite"},
		{"bench without url", []string{"bench", "scim"}, 2, "--url is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

// TestCPUProfile: serve --cpuprofile writes a CPU profile of the run when
// it stops.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	p := startProc(t, t.TempDir(), "--cpuprofile", path)
	if status, body, err := scimDo("POST", p.base+"/Users", map[string]any{"userName": "prof@example.com"}); err != nil || status != 201 {
		t.Fatalf("create: %d %v %s", status, err, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit within 30s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f) // a profile is a gzipped profile.proto
	if err != nil {
		t.Fatalf("profile is not gzipped: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"samples", "cpu", "nanoseconds"} { // its sample and period types
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("profile has no %q string: not a CPU profile", want)
		}
	}
}

// TestSIGTERMShutsDownCleanly: SIGTERM stops taking requests, finishes the
// ones in flight, closes the store and exits 0.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	p := startProc(t, t.TempDir())
	if status, body, err := scimDo("POST", p.base+"/Users", map[string]any{"userName": "term@example.com"}); err != nil || status != 201 {
		t.Fatalf("create: %d %v %s", status, err, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit within 30s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestBenchBare: the bare handler that the cycle benchmark compares with
// runs as a child process, answers both requests of a cycle with an empty
// list, and stops with the benchmark.
func TestBenchBare(t *testing.T) {
	t.Setenv(childEnv, "1") // the child is this test binary acting as scimgate
	base, stop, err := startBare(context.Background(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, base+"/Users", strings.NewReader(`{"userName":"x"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ TotalResults *int }
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 || list.TotalResults == nil || *list.TotalResults != 0 {
			t.Errorf("%s: %d, %+v, %v; want 2xx and an empty list", method, resp.StatusCode, list, err)
		}
	}
	stop()
	if _, err := http.Get(base + "/Users"); err == nil {
		t.Error("the bare handler still answers after stop")
	}
}
