package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/smtptest"
)

// The users of the workflow tests: their dates are years ahead, so that
// their schedules stay upcoming whatever the day the tests run.
const (
	wfHire  = "2031-03-10T00:00:00Z"
	wfLeave = "2031-03-31T00:00:00Z"
	wfURN   = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	entURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// wfNow matches the times the gateway stamps (not the users' dates, in
// 2031), which the goldens show as YYYY-MM-DDThh:mm:ssZ (same width).
var wfNow = regexp.MustCompile(`\b20[0-2][0-9]-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// wfMessageID is the message id in an SMTP error: random, and named after
// the host.
var wfMessageID = regexp.MustCompile(`message ID: <[^>]*>`)

// workflowUsers creates, through SCIM, the manager boss, alice (hired on
// wfHire, managed by boss) and bob (leaving on wfLeave).
func workflowUsers(t *testing.T, base string) {
	t.Helper()
	post := func(u map[string]any) string {
		t.Helper()
		status, body, err := scimDo("POST", base+"/Users", u)
		var r struct{ ID string }
		if err != nil || status != 201 || json.Unmarshal(body, &r) != nil {
			t.Fatalf("creating %v: %d %v %s", u["userName"], status, err, body)
		}
		return r.ID
	}
	schemas := []any{"urn:ietf:params:scim:schemas:core:2.0:User", entURN, wfURN}
	boss := post(map[string]any{"userName": "boss@contoso.example", "displayName": "Dana Boss",
		"emails": []any{map[string]any{"value": "dana.boss@contoso.example", "primary": true}}})
	post(map[string]any{"schemas": schemas, "userName": "alice@contoso.example", "displayName": "Alice Adams",
		"emails": []any{map[string]any{"value": "alice@contoso.example", "primary": true}},
		entURN:   map[string]any{"department": "Sales", "manager": map[string]any{"value": boss}},
		wfURN:    map[string]any{"employeeHireDate": wfHire}})
	post(map[string]any{"schemas": schemas, "userName": "bob@contoso.example", "displayName": "Bob Brown",
		entURN: map[string]any{"manager": map[string]any{"value": boss}},
		wfURN:  map[string]any{"employeeLeaveDateTime": wfLeave}})
}

// TestWorkflowCLI runs "scimgate workflow" against a gateway process with
// examples/workflows.yaml and compares what each command prints with
// testdata/workflow/*.golden (go test -update rewrites them): list, show,
// disable and enable, test at a date with the rendered email, upcoming,
// a run on demand (its email fails: the SMTP server refuses it),
// its run and runs, retry, --json, and the errors.
func TestWorkflowCLI(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Config{})
	mail.RefuseNext(1, 550) // the on-demand run below fails
	p, dataDir := startWorkflowExample(t, mail)
	adminURL, tokenFile := strings.TrimSuffix(p.base, "/scim/v2"), filepath.Join(dataDir, "admin-token")
	workflowUsers(t, p.base)

	wf := func(t *testing.T, code int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		got := run(append([]string{"workflow", "--url", adminURL, "--token-file", tokenFile}, args...), &out, &errOut)
		if got != code {
			t.Fatalf("scimgate workflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out.String(), errOut.String())
		}
		return wfMessageID.ReplaceAllString(wfNow.ReplaceAllString(out.String(), "YYYY-MM-DDThh:mm:ssZ"), "message ID: <ID>"), errOut.String()
	}
	// until runs a command until its output contains want.
	until := func(t *testing.T, want string, args ...string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _ := wf(t, 0, args...)
			if strings.Contains(out, want) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("scimgate workflow %s never showed %q:\n%s", strings.Join(args, " "), want, out)
			}
		}
	}

	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"list", []string{"list"}},
		{"show", []string{"show", "last-day"}},
		{"disable", []string{"disable", "first-day"}},
		{"show-disabled", []string{"show", "first-day"}},
		{"enable", []string{"enable", "first-day"}},
		{"test-pre-hire", []string{"test", "pre-hire", "--user", "alice@contoso.example", "--at", "2031-03-03"}},
		{"test-too-late", []string{"test", "first-day", "--at", "2031-03-20", "--user", "alice@contoso.example"}},
		{"test-mover", []string{"test", "mover-sales", "--user", "alice@contoso.example"}},
		{"list-json", []string{"list", "--json"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, _ := wf(t, 0, tc.args...)
			checkGoldenIn(t, "workflow", tc.golden, []byte(out))
		})
	}

	// The planner schedules the users' dates.
	out := until(t, "post-offboarding", "upcoming", "--days", "3650")
	checkGoldenIn(t, "workflow", "upcoming", []byte(out))
	out, _ = wf(t, 0, "upcoming")
	checkGoldenIn(t, "workflow", "upcoming-none", []byte(out))

	out, _ = wf(t, 0, "run", "first-day", "alice@contoso.example")
	checkGoldenIn(t, "workflow", "run", []byte(out))
	out = until(t, "failed", "run-show", "1")
	checkGoldenIn(t, "workflow", "run-show", []byte(out))
	out, _ = wf(t, 0, "runs", "first-day", "--status", "failed")
	checkGoldenIn(t, "workflow", "runs", []byte(out))
	out, _ = wf(t, 0, "runs", "first-day", "--status", "done")
	checkGoldenIn(t, "workflow", "runs-none", []byte(out))
	out, _ = wf(t, 0, "retry", "1")
	checkGoldenIn(t, "workflow", "retry", []byte(out))

	for _, tc := range []struct {
		name   string
		code   int
		args   []string
		stderr string
	}{
		{"no such workflow", 1, []string{"show", "nosuch"}, `workflow: no such workflow: "nosuch" (HTTP 404)`},
		{"no such user", 1, []string{"run", "first-day", "nobody"}, `no user has the id or userName "nobody" (HTTP 404)`},
		{"no such run", 1, []string{"run-show", "99"}, "no workflow run 99 (HTTP 404)"},
		{"a bad date", 1, []string{"test", "pre-hire", "--user", "alice@contoso.example", "--at", "soon"}, `at: "soon": want a date`},
		{"test without user", 2, []string{"test", "pre-hire"}, "--user is required"},
		{"run without user", 2, []string{"run", "first-day"}, "run NAME USER..."},
		{"a flag of another command", 2, []string{"list", "--days", "3"}, "--days does not apply to list"},
		{"unknown command", 2, []string{"frobnicate"}, `unknown workflow command "frobnicate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr := wf(t, tc.code, tc.args...)
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.stderr)
			}
		})
	}
}

// TestWorkflowUsageListsEveryCommand: "scimgate workflow -h" names every
// command.
func TestWorkflowUsageListsEveryCommand(t *testing.T) {
	for name := range workflowCommands {
		if !strings.Contains(workflowUsage, "\n  "+name+" ") {
			t.Errorf("the workflow usage does not list %q", name)
		}
	}
	if !strings.Contains(usage, "scimgate workflow COMMAND") {
		t.Error("the scimgate usage does not list workflow")
	}
}

// readmeWorkflow matches the README's workflow commands.
var readmeWorkflow = regexp.MustCompile(`(?m)^\./bin/scimgate workflow (.*)$`)

// TestREADMEWorkflowExample runs the commands of the README's workflow
// section against a gateway with examples/workflows.yaml and the users it
// describes: each must print the output the README shows under it.
func TestREADMEWorkflowExample(t *testing.T) {
	langs, bodies := codeBlocks(readmeSection(t, "Lifecycle workflows: `scimgate workflow`"))
	var cmds, wants []string
	for i := 0; i+1 < len(bodies); i++ {
		if m := readmeWorkflow.FindStringSubmatch(bodies[i]); langs[i] == "sh" && m != nil && langs[i+1] == "" {
			cmds, wants = append(cmds, m[1]), append(wants, bodies[i+1])
		}
	}
	if len(cmds) < 2 {
		t.Fatalf("the workflow section should show workflow test and upcoming with their output; found %q", cmds)
	}
	p, dataDir := startWorkflowExample(t, smtptest.Start(t, smtptest.Config{}))
	workflowUsers(t, p.base)
	adminURL, tokenFile := strings.TrimSuffix(p.base, "/scim/v2"), filepath.Join(dataDir, "admin-token")
	for i, c := range cmds {
		var got string
		// The planner schedules the users shortly after they are created.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var out, errOut bytes.Buffer
			if code := run(append(append([]string{"workflow"}, strings.Fields(c)...), "--url", adminURL, "--token-file", tokenFile), &out, &errOut); code != 0 {
				t.Fatalf("scimgate workflow %s: exit %d: %s", c, code, errOut.String())
			}
			if got = out.String(); got == wants[i] || time.Now().After(deadline) {
				break
			}
		}
		if got != wants[i] {
			t.Errorf("scimgate workflow %s printed\n%s\nthe README shows\n%s", c, got, wants[i])
		}
	}
}

// startWorkflowExample starts a gateway process with examples/workflows.yaml,
// its SMTP server replaced by mail, and returns it with its data directory.
func startWorkflowExample(t *testing.T, mail *smtptest.Server) (*gatewayProc, string) {
	t.Helper()
	t.Setenv("ENTRA_CLIENT_SECRET", "never-used-the-tests-call-no-entra-0123456789")
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "workflows.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const exampleSMTP = "host: smtp.contoso.example\n    port: 587\n    tls: starttls\n"
	if !bytes.Contains(example, []byte(exampleSMTP)) {
		t.Fatal("examples/workflows.yaml: its smtp settings are not where the test looks")
	}
	cfgFile := filepath.Join(t.TempDir(), "workflows.yaml")
	local := fmt.Sprintf("host: %s\n    port: %d\n    tls: none\n", mail.Host, mail.Port)
	if err := os.WriteFile(cfgFile, bytes.Replace(example, []byte(exampleSMTP), []byte(local), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	return startProc(t, dataDir, "--config", cfgFile), dataDir
}
