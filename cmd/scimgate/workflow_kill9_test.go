package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/hooktest"
)

// workflowKill9Config is a gateway with one on-demand workflow of three
// signed webhook tasks (%s: the receiver's URL, three times).
const workflowKill9Config = `workflows:
  - name: offboard-apps
    category: leaver
    trigger: {onDemand: true}
    tasks:
      - {task: webhook, url: "%[1]s/step1", secret_env: KILL9_HOOK_SECRET}
      - {task: webhook, url: "%[1]s/step2", secret_env: KILL9_HOOK_SECRET}
      - {task: webhook, url: "%[1]s/step3", secret_env: KILL9_HOOK_SECRET}
`

// TestWorkflowKill9 kills the gateway with SIGKILL while a workflow run is
// between its tasks (right after the first webhook reached its receiver),
// restarts it on the same data and checks that the run finishes once:
// the task in flight may run again (at least once), every later task runs
// exactly once, and no second run is created.
func TestWorkflowKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED (-short): kill -9 test starts gateway processes")
	}
	const secret = "kill9-hook-secret-0123456789"
	hook := hooktest.Start(t, secret, nil)
	dir := t.TempDir()
	ca := filepath.Join(dir, "hook-ca.pem")
	if err := os.WriteFile(ca, hook.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	t.Setenv("KILL9_HOOK_SECRET", secret)
	dataDir, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, workflowKill9Config, hook.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dataDir, "--config", cfgFile)
	code, body, err := scimDo("POST", p.base+"/Users", map[string]any{"schemas": []string{coreUser}, "userName": "kim@contoso.example"})
	if err != nil || code != 201 {
		t.Fatalf("create: %d %s %v", code, body, err)
	}
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := func(base, method, path string, in any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(in)
		req, err := http.NewRequest(method, strings.TrimSuffix(base, "/scim/v2")+"/admin/v1"+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
	// The planner sees the user before the run can name it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := admin(p.base, "POST", "/workflows/offboard-apps/run", map[string]any{"users": []string{"kim@contoso.example"}})
		if code/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run: %d %s", code, body)
		}
	}
	hook.Wait(t, 1)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p = startProc(t, dataDir, "--config", cfgFile)

	var runs []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body := admin(p.base, "GET", "/workflows/offboard-apps/runs", nil)
		if code != 200 {
			t.Fatalf("runs: %d %s", code, body)
		}
		var page struct {
			Runs []struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("runs: %s: %v", body, err)
		}
		runs = page.Runs
		if len(runs) == 1 && runs[0].Status == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish after the restart: %s", body)
		}
	}
	count := map[string]int{}
	for _, r := range hook.Requests() {
		if r.SignatureErr != nil {
			t.Errorf("%s: signature: %v", r.Path, r.SignatureErr)
		}
		count[r.Path]++
	}
	if count["/step1"] < 1 || count["/step2"] != 1 || count["/step3"] != 1 {
		t.Errorf("webhooks received %v; want step1 at least once, step2 and step3 exactly once", count)
	}
	t.Logf("webhooks received across the kill: %v", count)
}
