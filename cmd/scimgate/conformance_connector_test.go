package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildJSONLConnector builds the example connector (examples/jsonl-connector)
// into a temporary directory and returns the binary's path.
func buildJSONLConnector(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jsonl-connector")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/scimgate/scimgate/examples/jsonl-connector").CombinedOutput()
	if err != nil {
		t.Fatalf("go build of the example connector: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a process's and a test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConformanceConnector runs `scimgate conformance connector` against the
// example connector, a separate process that registers over gRPC, and wants
// one line per check and "0 failed". This is how CI checks the example.
func TestConformanceConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): builds and runs the example connector")
	}
	bin := buildJSONLConnector(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("conformance-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	conn := exec.Command(bin, "--gateway", addr, "--name", "jsonl", "--token-file", tokenFile, "--dir", filepath.Join(dir, "data"))
	connLog := &syncBuffer{}
	conn.Stdout, conn.Stderr = connLog, connLog
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Process.Kill()
		_ = conn.Wait()
		if t.Failed() {
			t.Logf("connector log:\n%s", connLog.String())
		}
	})

	// stderr: the target's stream handlers may still log as run returns.
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	code := run([]string{"conformance", "connector", "--name", "jsonl", "--listen", addr, "--token-file", tokenFile, "--wait", "60s"}, &stdout, stderr)
	out := stdout.String()
	t.Logf("report:\n%s", out)
	if code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 20 {
		t.Fatalf("%d report lines, want one per check (20 or more) and the counts", len(lines))
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "PASS ") && !strings.HasPrefix(l, "SKIP ") {
			t.Errorf("check not passed: %s", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, " passed, 0 failed") {
		t.Errorf("closing line %q, want \"N passed, 0 failed\"", last)
	}
	if !strings.Contains(connLog.String(), "registered with the gateway") {
		t.Errorf("the connector's log does not show its registration")
	}
	// The example implements Lookup: the suite sees the capability, and
	// checks it through the protocol.
	if want := "protocol minor 1"; !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "lookup=true") {
		t.Errorf("the stand-in gateway does not report %q with lookup=true:\n%s", want, stderr.String())
	}
}

// TestConformanceConnectorRefusesWrongToken: a connector with another token
// is refused; both sides say why, and the run ends without a report.
func TestConformanceConnectorRefusesWrongToken(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): builds and runs the example connector")
	}
	bin := buildJSONLConnector(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("right-token"), 0o600)
	os.WriteFile(bad, []byte("wrong-token"), 0o600)
	addr := freeAddr(t)
	conn := exec.Command(bin, "--gateway", addr, "--name", "jsonl", "--token-file", bad, "--dir", filepath.Join(dir, "data"))
	connLog := &syncBuffer{}
	conn.Stdout, conn.Stderr = connLog, connLog
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- conn.Wait() }()
	t.Cleanup(func() { _ = conn.Process.Kill() })

	var stdout, stderr bytes.Buffer
	code := run([]string{"conformance", "connector", "--name", "jsonl", "--listen", addr, "--token-file", good, "--wait", "5s"}, &stdout, &stderr)
	if code == 0 {
		t.Errorf("exit code 0 without a registered connector")
	}
	if !strings.Contains(stderr.String(), "invalid token") || !strings.Contains(stderr.String(), "did not register within") {
		t.Errorf("the stand-in gateway's log does not say why:\n%s", stderr.String())
	}
	select {
	case err := <-exited:
		if err == nil {
			t.Errorf("the refused connector exited with status 0")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the refused connector did not exit")
	}
	for _, want := range []string{"registration refused", "invalid token"} {
		if !strings.Contains(connLog.String(), want) {
			t.Errorf("the connector's log lacks %q:\n%s", want, connLog.String())
		}
	}
	if strings.Contains(connLog.String()+stderr.String(), "wrong-token") || strings.Contains(connLog.String()+stderr.String(), "right-token") {
		t.Errorf("a token reached a log")
	}
}
