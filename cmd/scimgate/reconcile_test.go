package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/gateway"
)

const (
	reconcileID   = "5d1c2a9e-0b7e-4f3a-9c55-2f1e0d6b7a10"
	reconcileRun  = `{"id": "` + reconcileID + `", "target": "hrapp", "dryRun": true, "actor": "admin: static token #1", "status": "running", "started": "2026-11-22T10:00:00Z", "durationSeconds": 0, "read": %d, "matched": %d, "expected": 1500, "identities": 1497, "changes": 0, "counts": {}}`
	reconcileDone = `{"id": "` + reconcileID + `", "target": "hrapp", "dryRun": true, "actor": "admin: static token #1", "status": "done",
  "started": "2026-11-22T10:00:00Z", "finished": "2026-11-22T10:00:03.25Z", "durationSeconds": 3.25,
  "read": 1502, "matched": 1499, "expected": 1500, "identities": 1497, "changes": 6,
  "counts": {"missing": 1, "drift": 2, "unlinked": 1, "outOfScope": 1, "orphan": 2, "conflict": 1, "ok": 1493, "skipped": 1},
  "items": [
    {"outcome": "drift", "type": "User", "anchor": "0b9e…-a1", "id": "u-bob", "name": "bob@contoso.com", "action": "update",
     "diffs": [{"attr": "department", "old": "Hacked", "new": "Sales"}, {"attr": "disabled", "old": true, "new": false}]},
    {"outcome": "drift", "type": "Group", "anchor": "g-7", "id": "g-sales", "name": "Sales", "action": "update",
     "diffs": [{"attr": "members", "old": null, "new": null, "add": ["alice@contoso.com"], "remove": ["mallory@contoso.com"]}]},
    {"outcome": "missing", "type": "User", "id": "u-carol", "name": "carol@contoso.com", "action": "create", "detail": "the account \"c-3\" is gone"},
    {"outcome": "unlinked", "type": "User", "anchor": "grace-7", "id": "u-grace", "name": "grace@contoso.com", "action": "adopt",
     "diffs": [{"attr": "phones", "old": null, "new": ["+1 555 0100"]}], "detail": "matched by userName"},
    {"outcome": "outOfScope", "type": "User", "anchor": "d-4", "id": "u-dave", "name": "dave@contoso.com", "action": "disable",
     "diffs": [{"attr": "disabled", "old": false, "new": true}]},
    {"outcome": "orphan", "type": "User", "anchor": "local-1", "name": "intern@contoso.com", "action": "report"},
    {"outcome": "conflict", "type": "User", "anchor": "x-9", "action": "none",
     "detail": "its userName matches u-alice, which is linked to the account \"a-1\""}
  ]}`
	reconcileNothing = `{"id": "` + reconcileID + `", "target": "hrapp", "dryRun": false, "actor": "admin: static token #1", "status": "done",
  "started": "2026-11-22T10:00:00Z", "finished": "2026-11-22T10:00:00.5Z", "durationSeconds": 0.5,
  "read": 3, "matched": 3, "expected": 3, "identities": 3, "changes": 0, "counts": {"ok": 3}}`
	reconcileFailed = `{"id": "` + reconcileID + `", "target": "hrapp", "dryRun": false, "actor": "admin: static token #1", "status": "failed",
  "error": "listing the users of hrapp: targets: transient error: dial tcp 127.0.0.1:3306: connect: connection refused",
  "started": "2026-11-22T10:00:00Z", "finished": "2026-11-22T10:00:01Z", "durationSeconds": 1,
  "read": 500, "matched": 500, "expected": 1500, "identities": 1497, "changes": 1, "counts": {"drift": 1, "ok": 499},
  "items": [{"outcome": "drift", "type": "User", "anchor": "a-1", "id": "u-alice", "name": "alice@contoso.com", "action": "update",
     "diffs": [{"attr": "title", "old": null, "new": "Clerk"}]}]}`
)

// fakeClock is a reconcileClock that starts at 10:00 and advances a second
// per wait.
func fakeClock() reconcileClock {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return reconcileClock{
		now:  func() time.Time { return now },
		wait: func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil },
	}
}

// TestReconcileCmd runs "scimgate reconcile" against a fake admin API and
// compares what it prints with testdata/admin/reconcile-*.golden.
func TestReconcileCmd(t *testing.T) {
	const base = "/admin/v1/targets/hrapp/reconciliations"
	run := func(read, matched int) string { return fmt.Sprintf(reconcileRun, read, matched) }
	for _, tc := range []struct {
		name   string
		args   []string
		calls  []adminCall
		code   int
		golden string
		stderr []string
	}{
		{name: "dry run with progress", args: []string{"hrapp", "--dry-run"},
			calls: []adminCall{
				{method: "POST", uri: base + "?dryRun=true", body: run(0, 0)},
				{method: "GET", uri: base + "/" + reconcileID, body: run(500, 499)},
				{method: "GET", uri: base + "/" + reconcileID, body: run(500, 499)},
				{method: "GET", uri: base + "/" + reconcileID, body: run(1500, 1497)},
				{method: "GET", uri: base + "/" + reconcileID, body: reconcileDone},
			}, golden: "reconcile-dry-run"},
		{name: "nothing to do", args: []string{"--interval", "5s", "hrapp"},
			calls:  []adminCall{{method: "POST", uri: base + "?dryRun=false", body: reconcileNothing}},
			golden: "reconcile-nothing"},
		{name: "as JSON, no progress", args: []string{"hrapp", "--json", "--dry-run"},
			calls: []adminCall{
				{method: "POST", uri: base + "?dryRun=true", body: run(0, 0)},
				{method: "GET", uri: base + "/" + reconcileID, body: reconcileNothing},
			}, golden: "reconcile-json"},
		{name: "a failed run prints its report and fails", args: []string{"hrapp"},
			calls:  []adminCall{{method: "POST", uri: base + "?dryRun=false", body: reconcileFailed}},
			golden: "reconcile-failed", code: 1,
			stderr: []string{"scimgate reconcile: the reconciliation failed: listing the users of hrapp: targets: transient error: dial tcp 127.0.0.1:3306: connect: connection refused\n"}},
		{name: "one already running", args: []string{"hrapp"},
			calls: []adminCall{{method: "POST", uri: base + "?dryRun=false", status: 409,
				body: `{"status": 409, "error": "engine: a reconciliation of the target is running: \"hrapp\" (x, started 2026-11-22T09:59:00Z)"}`}},
			code: 1, stderr: []string{`scimgate reconcile: engine: a reconciliation of the target is running: "hrapp" (x, started 2026-11-22T09:59:00Z) (HTTP 409)` + "\n"}},
		{name: "unknown target", args: []string{"nope"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/targets/nope/reconciliations?dryRun=false", status: 404,
				body: `{"status": 404, "error": "engine: unknown target: \"nope\""}`}},
			code: 1, stderr: []string{`scimgate reconcile: engine: unknown target: "nope" (HTTP 404)`}},
		{name: "help", args: []string{"-h"}, golden: "reconcile-usage"},
		{name: "no target", args: []string{"--dry-run"}, code: 2, stderr: []string{"scimgate reconcile: usage: reconcile TARGET (got 0 arguments)", "Usage: scimgate reconcile"}},
		{name: "two targets", args: []string{"a", "b"}, code: 2, stderr: []string{"reconcile TARGET (got 2 arguments)"}},
		{name: "bad interval", args: []string{"a", "--interval", "0s"}, code: 2, stderr: []string{"--interval must be positive"}},
		{name: "unknown flag", args: []string{"a", "--limit", "3"}, code: 2, stderr: []string{"flag provided but not defined: -limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAdmin(t, adminTestToken, tc.calls)
			t.Setenv("SCIMGATE_ADMIN_URL", srv.URL)
			t.Setenv("SCIMGATE_ADMIN_TOKEN", adminTestToken)
			var stdout, stderr bytes.Buffer
			code := reconcileCmd(t.Context(), tc.args, &stdout, &stderr, fakeClock())
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
			if tc.stderr == nil && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", stderr.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), adminTestToken) {
				t.Errorf("the output shows the admin token")
			}
			checkGolden(t, tc.golden, stdout.Bytes())
		})
	}
}

// TestReconcileProgressOnATerminal: on a terminal the progress is one line,
// rewritten with \r (padded over a longer one) whenever it changes, ended
// before the report.
func TestReconcileProgressOnATerminal(t *testing.T) {
	var b bytes.Buffer
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := &progress{w: &b, tty: true, target: "hrapp", start: start}
	for i, rep := range []adminReconciliation{
		{Read: 1000, Matched: 990, Expected: 3000},
		{Read: 1000, Matched: 990, Expected: 3000}, // stalled: the rate falls
		{Read: 3000, Matched: 2990, Expected: 3000},
	} {
		p.show(rep, start.Add(time.Duration(i+1)*time.Second))
	}
	p.end()
	lines := []string{
		"hrapp: 1,000 accounts read, 990 matched, 1,000/s, about 2s left",
		"hrapp: 1,000 accounts read, 990 matched, 500/s, about 4s left",
		"hrapp: 3,000 accounts read, 2,990 matched, 1,000/s",
	}
	want, prev := "", 0
	for _, l := range lines { // each padded over the one before
		want += "\r" + l + strings.Repeat(" ", max(0, prev-len(l)))
		prev = len(l)
	}
	want += "\n\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{{1, "identity", "1 identity"}, {0, "identity", "0 identities"}, {1500, "account", "1,500 accounts"}} {
		if got := count(tc.n, tc.noun); got != tc.want {
			t.Errorf("count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReconcileAgainstTheGateway runs scimgate reconcile against a real
// gateway whose memory target holds an account of nobody: the dry run
// lists it and changes nothing, the run deletes it (orphans: delete)
// through the outbox, and the next run has nothing to do.
func TestReconcileAgainstTheGateway(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "app.json")
	orphan := `{"seq": 1, "objects": [{"seq": 1, "kind": "User", "anchor": "user-1", "objectId": "",
		"attrs": {"userName": {"t": "string", "v": "\"intern@contoso.com\""}}}]}`
	if err := os.WriteFile(state, []byte(orphan), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", filepath.Join(dir, "data")
	cfg.Auth.Tokens = []config.Secret{"scim-s3cret-0123456789abcdef0123456789"}
	cfg.Admin.Tokens = []config.Secret{adminTestToken}
	targetsYAML := `
- name: app
  type: memory
  config: {file: ` + state + `}
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
    matching: [userName]
  orphans: delete
`
	if err := yaml.Unmarshal([]byte(targetsYAML), &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	g, err := gateway.New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	req, _ := http.NewRequest("POST", g.BaseURL()+"/Users", strings.NewReader(`{"userName": "alice@contoso.com"}`))
	req.Header.Set("Authorization", "Bearer scim-s3cret-0123456789abcdef0123456789")
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("creating alice: %v %v", resp, err)
	}
	resp.Body.Close()
	// Delivered when the state file holds her (the engine writes it).
	deadline := time.Now().Add(30 * time.Second)
	for b, _ := os.ReadFile(state); !strings.Contains(string(b), "alice@contoso.com"); b, _ = os.ReadFile(state) {
		if time.Now().After(deadline) {
			t.Fatalf("alice not delivered: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	reconcile := func(args ...string) (string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := reconcileCmd(t.Context(), append([]string{"app", "--url", base, "--token", adminTestToken, "--interval", "10ms"}, args...),
			&stdout, &stderr, realClock)
		if stderr.Len() > 0 {
			t.Errorf("stderr: %s", stderr.String())
		}
		return stdout.String(), code
	}
	out, code := reconcile("--dry-run")
	if code != 0 || !strings.Contains(out, "\nOrphans (no identity): 1\n") || !strings.Contains(out, "intern@contoso.com") ||
		!strings.HasSuffix(out, "\n1 change would be queued; nothing was changed (dry run)\n") {
		t.Errorf("dry run (exit %d):\n%s", code, out)
	}
	out, code = reconcile("--json")
	var rep adminReconciliation
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Changes != 1 || rep.Counts["orphan"] != 1 || rep.DryRun {
		t.Errorf("run (exit %d, %v):\n%s", code, err, out)
	}
	deadline = time.Now().Add(30 * time.Second)
	for b, _ := os.ReadFile(state); strings.Contains(string(b), "intern@contoso.com"); b, _ = os.ReadFile(state) {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan is not deleted: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, code = reconcile(); code != 0 || !strings.HasSuffix(out, "\nnothing to do\n") || strings.Contains(out, "Orphans") {
		t.Errorf("second run (exit %d):\n%s", code, out)
	}
}
