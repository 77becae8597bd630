package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
)

// healthz returns /healthz's status and body.
func healthz(t *testing.T, g *Gateway) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(g.BaseURL(), g.cfg.SCIM.BasePath)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestStoreFull: when the store cannot write (its database capped at its
// current size with SQLite's max_page_count, which fails writes with
// SQLITE_FULL as a full disk does), SCIM writes answer 503 with a SCIM error
// saying so and Retry-After, /healthz answers 503 naming the store, and both
// recover once space is freed and a write succeeds.
func TestStoreFull(t *testing.T) {
	g := runGateway(t, nil)
	c := client{t: t, base: g.BaseURL()}
	ctx := context.Background()
	c.must(201, "POST", "/Users", map[string]any{"userName": "before@contoso.com"})
	big := func(name string) map[string]any {
		return map[string]any{"userName": name, "displayName": strings.Repeat("x", 200<<10)}
	}

	if err := g.store.SetMaxPages(ctx, 1); err != nil { // the disk is full
		t.Fatal(err)
	}
	r := c.do("POST", "/Users", big("full@contoso.com"))
	if r.status != 503 {
		t.Fatalf("POST on a full store: status %d, want 503\n%s", r.status, r.raw)
	}
	if s, _ := r.body["status"].(string); s != "503" {
		t.Fatalf("SCIM error status %q, want \"503\": %s", s, r.raw)
	}
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "store cannot write") {
		t.Fatalf("detail does not say the store cannot write: %s", r.raw)
	}
	if !strings.Contains(r.raw, "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("503 without a SCIM error body: %s", r.raw)
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if code, body := healthz(t, g); code != 503 || !strings.Contains(body, "store cannot write") {
		t.Fatalf("healthz with a full store: %d %s, want 503 naming the store", code, body)
	}
	if n, _ := c.total("/Users", `userName eq "full@contoso.com"`); n != 0 {
		t.Fatal("the refused create was stored")
	}

	if err := g.store.SetMaxPages(ctx, 1<<30); err != nil { // space freed
		t.Fatal(err)
	}
	c.must(201, "POST", "/Users", big("full@contoso.com"))
	if code, body := healthz(t, g); code != 200 {
		t.Fatalf("healthz after a successful write: %d %s, want 200", code, body)
	}
}

// readOnlyChild names the data directory TestReadOnlyDataDir checks when it
// runs as an unprivileged child of itself.
const readOnlyChild = "SCIMGATE_TEST_READONLY_DATA_DIR"

// TestReadOnlyDataDir: the gateway refuses to start on a data directory it
// cannot write, here one holding the database of an earlier run that was
// then made read-only, with an error naming data_dir. Permission bits do
// not stop root, so as root the check runs in a child process of this test
// binary under the uid of nobody.
func TestReadOnlyDataDir(t *testing.T) {
	if dir := os.Getenv(readOnlyChild); dir != "" {
		checkRefused(t, dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "data")
	g := runGatewayDir(t, dir)
	g.Close()
	_ = g.ln.Close()
	t.Cleanup(func() {
		_ = filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o700) })
	})
	if err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444)
	}); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		checkRefused(t, dir)
		return
	}
	// Root: run this test again as nobody, from a copy of the test binary
	// that nobody can read.
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(filepath.Base(d), "TestReadOnlyDataDir") || d == filepath.Dir(dir) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin := filepath.Join(filepath.Dir(dir), "gateway.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyDataDir$", "-test.v")
	cmd.Env = append(os.Environ(), readOnlyChild+"="+dir, "TMPDIR="+os.TempDir(), "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadOnlyDataDir") {
		t.Fatalf("the check as nobody failed: %v\n%s", err, out)
	}
}

// checkRefused checks that the gateway does not start on dir.
func checkRefused(t *testing.T, dir string) {
	t.Helper()
	cfg := testConfig(dir)
	g, err := New(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
	if err == nil {
		g.Close()
		_ = g.ln.Close()
		t.Fatalf("the gateway started on the read-only data directory %s", dir)
	}
	if !strings.Contains(err.Error(), "data_dir") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error does not name data_dir %s: %v", dir, err)
	}
}

// testConfig is runGateway's configuration with the given data directory.
func testConfig(dir string) config.Config {
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Auth.Tokens = []config.Secret{testToken}
	return cfg
}

// runGatewayDir starts a gateway on dir (not served) and returns it.
func runGatewayDir(t *testing.T, dir string) *Gateway {
	t.Helper()
	g, err := New(context.Background(), testConfig(dir), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("gateway.New on a writable %s: %v", dir, err)
	}
	return g
}
