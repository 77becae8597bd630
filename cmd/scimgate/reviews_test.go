package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
)

const (
	reviewInstanceRunning = `{"id": 3, "review": "crm-access", "occurrence": 2, "status": "InProgress", "stage": 2, "start": "2026-03-02T00:00:00Z",
  "end": "2026-03-09T00:00:00Z", "progress": {"total": 3, "approved": 1, "denied": 0, "dontKnow": 0, "notReviewed": 2}}`
	reviewInstanceDone = `{"id": 1, "review": "crm-access", "occurrence": 1, "status": "Completed", "stage": 1, "start": "2026-02-02T00:00:00Z",
  "end": "2026-02-05T12:00:00Z", "ended": "2026-02-05T12:00:00Z", "endedBy": "admin: static token #1",
  "applied": "2026-02-05T12:01:00Z", "appliedBy": "admin: static token #1",
  "progress": {"total": 2, "approved": 1, "denied": 1, "dontKnow": 0, "notReviewed": 0}}`
	reviewCRM = `{"name": "crm-access", "descriptionForAdmins": "Monthly check of the CRM accounts",
  "descriptionForReviewers": "Does this person still need the CRM?", "resource": {"target": "crm"},
  "reviewers": {"type": "manager"}, "fallbackReviewers": ["audit@contoso.example"],
  "recurrence": {"pattern": "monthly", "durationDays": 7, "startDate": "2026-02-02"},
  "settings": {"defaultDecision": "deny", "autoApply": true}, "nextStart": "2026-04-02T00:00:00Z",
  "instances": [` + reviewInstanceRunning + `, ` + reviewInstanceDone + `]}`
	reviewGuests = `{"name": "guests", "scope": "guestsOnly", "inactiveDays": 90, "resource": {"group": "Partners"},
  "reviewers": {"type": "named", "named": ["boss@contoso.example", "mia@contoso.example"]},
  "recurrence": {"durationDays": 14, "startDate": "2026-05-01"},
  "settings": {"justificationRequired": true, "deniedGuests": "blockThenDelete"}, "nextStart": "2026-05-01T00:00:00Z", "instances": []}`
	reviewInstanceDetail = `{"id": 3, "review": "crm-access", "occurrence": 2, "status": "InProgress", "start": "2026-03-02T00:00:00Z",
  "end": "2026-03-09T00:00:00Z", "progress": {"total": 3, "approved": 1, "denied": 0, "dontKnow": 0, "notReviewed": 2},
  "reviewers": [{"reviewer": "2819c223-7f76-453a-919d-413861904646", "name": "The Boss",
    "progress": {"total": 2, "approved": 1, "denied": 0, "dontKnow": 0, "notReviewed": 1}},
   {"reviewer": "audit@contoso.example", "name": "audit@contoso.example",
    "progress": {"total": 1, "approved": 0, "denied": 0, "dontKnow": 0, "notReviewed": 1}}]}`
	reviewItemAda = `{"review": "crm-access", "instance": 3, "start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z", "item": 1,
  "userId": "a0000000-0000-4000-8000-000000000001", "userName": "ada@contoso.example", "displayName": "Ada", "guest": false,
  "resourceType": "target", "resource": "crm", "recommendation": "Approve", "reason": "signed in within 30 days",
  "reviewers": ["2819c223-7f76-453a-919d-413861904646"], "decision": "Approve", "justification": "needs it for the Q2 pipeline",
  "reviewedBy": "2819c223-7f76-453a-919d-413861904646", "reviewedAt": "2026-03-03T10:00:00Z", "stage": 2,
  "stage1Decision": "Approve", "stage1Justification": "on the sales team", "stage1ReviewedBy": "c0000000-0000-4000-8000-000000000003",
  "stage1ReviewedAt": "2026-03-02T09:00:00Z"}`
	reviewItemBob = `{"review": "crm-access", "instance": 3, "start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z", "item": 2,
  "userId": "b0000000-0000-4000-8000-000000000002", "userName": "bob@contoso.example", "guest": false,
  "resourceType": "target", "resource": "crm", "lastSignIn": "2025-11-02T00:00:00Z", "recommendation": "Deny",
  "reason": "inactive: no sign-in for 120 days", "reviewers": ["audit@contoso.example"], "decision": "NotReviewed", "stage": 1}`
	reviewExportCSV = "review,instance,item,userName,decision\ncrm-access,3,1,ada@contoso.example,Approve\n"
)

// TestReviews runs "scimgate reviews" commands against a fake admin API
// and compares what they print with testdata/reviews/*.golden (go test
// -update rewrites those).
func TestReviews(t *testing.T) {
	out := filepath.Join(t.TempDir(), "export.csv")
	defFile := filepath.Join(t.TempDir(), "guests.yaml")
	if err := os.WriteFile(defFile, []byte(`name: guests
scope: guestsOnly
inactiveDays: 90
resource: {group: Partners}
reviewers: {type: named, named: [boss@contoso.example, mia@contoso.example]}
recurrence: {durationDays: 14, startDate: "2026-05-01"}
settings: {justificationRequired: true, deniedGuests: blockThenDelete}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badFile, []byte("name: x\ncolour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defJSON, err := json.Marshal(review.Config{Name: "guests", Scope: "guestsOnly", InactiveDays: 90,
		Resource:   review.ResourceConfig{Group: "Partners"},
		Reviewers:  review.ReviewersConfig{Type: "named", Named: []string{"boss@contoso.example", "mia@contoso.example"}},
		Recurrence: review.RecurrenceConfig{DurationDays: 14, StartDate: "2026-05-01"},
		Settings:   review.SettingsConfig{JustificationRequired: true, DeniedGuests: "blockThenDelete"}})
	if err != nil {
		t.Fatal(err)
	}
	guestsAPI := strings.Replace(reviewGuests, `"name": "guests",`, `"name": "guests", "definedIn": "api",`, 1)
	for _, tc := range []struct {
		name   string
		args   []string // after "reviews"
		calls  []adminCall
		code   int
		golden string   // the file under testdata/reviews/ holding stdout; "": empty
		stderr []string // what stderr contains; empty when nil
		file   string   // what out holds after
	}{
		{name: "list", args: []string{"list"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews",
			body: `{"reviews": [` + reviewCRM + `, ` + reviewGuests + `]}`}}, golden: "list"},
		{name: "list as JSON", args: []string{"list", "--json"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews",
			body: `{"reviews": [` + reviewGuests + `]}`}}, golden: "list-json"},
		{name: "no reviews", args: []string{"list"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews", body: `{"reviews": []}`}},
			golden: "none"},
		{name: "show", args: []string{"show", "crm-access"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews/crm-access", body: reviewCRM}},
			golden: "show"},
		{name: "show before its start", args: []string{"show", "guests"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews/guests",
			body: reviewGuests}}, golden: "show-none"},
		{name: "instances", args: []string{"instances", "crm-access"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews/crm-access/instances",
			body: `{"instances": [` + reviewInstanceRunning + `, ` + reviewInstanceDone + `]}`}}, golden: "instances"},
		{name: "instance", args: []string{"instance", "3"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3",
			body: reviewInstanceDetail}}, golden: "instance"},
		{name: "items", args: []string{"items", "3"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3/items",
			body: `{"items": [` + reviewItemAda + `, ` + reviewItemBob + `]}`}}, golden: "items"},
		{name: "items filtered", args: []string{"items", "3", "--reviewer", "audit@contoso.example", "--decision", "NotReviewed"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3/items?decision=NotReviewed&reviewer=audit%40contoso.example",
				body: `{"items": [` + reviewItemBob + `]}`}}, golden: "items-filtered"},
		{name: "no items", args: []string{"items", "3", "--decision", "Deny"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3/items?decision=Deny", body: `{"items": []}`}}, golden: "no-items"},
		{name: "reassign", args: []string{"reassign", "3/2", "mia@contoso.example"}, calls: []adminCall{{method: "POST",
			uri: "/admin/v1/review-instances/3/items/2/reassign", reqBody: `{"reviewer":"mia@contoso.example"}`,
			body: strings.Replace(reviewItemBob, `["audit@contoso.example"]`, `["c0000000-0000-4000-8000-000000000003"]`, 1)}}, golden: "reassign"},
		{name: "stop", args: []string{"stop", "3"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/3/stop",
			body: strings.Replace(strings.Replace(reviewInstanceDetail, `"InProgress"`, `"Completed", "ended": "2026-03-04T08:00:00Z", "endedBy": "admin: static token #1"`, 1),
				`"end": "2026-03-09T00:00:00Z"`, `"end": "2026-03-04T08:00:00Z"`, 1)}}, golden: "stop"},
		{name: "create", args: []string{"create", defFile}, calls: []adminCall{{method: "POST", uri: "/admin/v1/reviews",
			reqBody: string(defJSON), body: guestsAPI}}, golden: "create"},
		{name: "update", args: []string{"update", "guests", defFile}, calls: []adminCall{{method: "PUT", uri: "/admin/v1/reviews/guests",
			reqBody: string(defJSON), body: guestsAPI}}, golden: "update"},
		{name: "create an unknown field", args: []string{"create", badFile}, code: 1,
			stderr: []string{"field colour not found"}},
		{name: "revoke sessions", args: []string{"revoke-sessions", "mia@contoso.example"}, calls: []adminCall{{method: "POST",
			uri: "/admin/v1/review-sessions/revoke", reqBody: `{"reviewer":"mia@contoso.example"}`,
			body: `{"reviewer": "c0000000-0000-4000-8000-000000000003", "revoked": 2}`}}, golden: "revoke-sessions"},
		{name: "remind", args: []string{"remind", "3"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/3/remind",
			body: `{"sent": 2, "errors": "oli: reviewer oli has no email address: permanent failure"}`}}, golden: "remind"},
		{name: "apply", args: []string{"apply", "1"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/1/apply",
			body: `{"applied": 2, "instance": ` + reviewInstanceDone + `}`}}, golden: "apply"},
		{name: "export to stdout", args: []string{"export", "3"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3/export?format=csv",
			body: reviewExportCSV}}, golden: "export"},
		{name: "export as JSON to a file", args: []string{"export", "3", "--format", "json", "-o", out}, calls: []adminCall{{method: "GET",
			uri: "/admin/v1/review-instances/3/export?format=json", body: `[` + reviewItemAda + `]`}}, golden: "export-file", file: `[` + reviewItemAda + `]`},

		{name: "decide", args: []string{"decide", "3", "--items", "1,2", "--decision", "deny", "--justification", "left the company"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/3/decisions",
				reqBody: `{"decision":"deny","items":[1,2],"justification":"left the company"}`,
				body:    `{"items": [` + reviewDenied(reviewItemAda) + `, ` + reviewDenied(reviewItemBob) + `]}`}}, golden: "decide"},
		{name: "revert", args: []string{"revert", "3", "2"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/3/items/2/revert",
			body: strings.Replace(reviewDenied(reviewItemBob), `"decision": "Deny"`, `"decision": "Deny", "applyResult": "Reverted",
  "applyDetail": "reverted by admin: static token #1: 1 review hold(s) released: the access is provisioned again", "appliedAt": "2026-03-10T09:00:00Z"`, 1)}},
			golden: "revert"},
		{name: "delete", args: []string{"delete", "guests"}, calls: []adminCall{{method: "DELETE", uri: "/admin/v1/reviews/guests",
			body: `{"deleted": "guests"}`}}, golden: "delete"},
		{name: "delete a configured review", args: []string{"delete", "crm-access"}, calls: []adminCall{{method: "DELETE", uri: "/admin/v1/reviews/crm-access",
			status: 409, body: `{"status": 409, "error": "review: defined in the configuration: \"crm-access\"; remove it from the configuration file instead"}`}},
			code: 1, stderr: []string{`scimgate reviews: review: defined in the configuration: "crm-access"; remove it from the configuration file instead (HTTP 409)`}},
		{name: "decide after apply", args: []string{"decide", "1", "--items", "2", "--decision", "approve"}, calls: []adminCall{{method: "POST",
			uri: "/admin/v1/review-instances/1/decisions", reqBody: `{"decision":"approve","items":[2]}`, status: 409,
			body: `{"status": 409, "error": "review: the results are applied: instance 1 of crm-access: its results were applied on 2026-02-05T12:01:00Z (by admin: static token #1); its decisions are final"}`}},
			code: 1, stderr: []string{"its decisions are final (HTTP 409)"}},

		// The API's refusals, as it words them.
		{name: "no reviews section", args: []string{"list"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/reviews", status: 404,
			body: `{"status": 404, "error": "no access reviews are configured (the reviews section; see package review)"}`}},
			code: 1, stderr: []string{"scimgate reviews: no access reviews are configured (the reviews section; see package review) (HTTP 404)\n"}},
		{name: "apply in progress", args: []string{"apply", "3"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/3/apply", status: 409,
			body: `{"status": 409, "error": "review: the instance has not ended: instance 3 of crm-access ends on 2026-03-09T00:00:00Z"}`}},
			code: 1, stderr: []string{"scimgate reviews: review: the instance has not ended: instance 3 of crm-access ends on 2026-03-09T00:00:00Z (HTTP 409)\n"}},
		{name: "export refused", args: []string{"export", "9", "-o", out + ".none"}, calls: []adminCall{{method: "GET",
			uri: "/admin/v1/review-instances/9/export?format=csv", status: 404, body: `{"status": 404, "error": "review: not found: instance 9"}`}},
			code: 1, stderr: []string{"scimgate reviews: review: not found: instance 9 (HTTP 404)\n"}},

		// Bad command lines print the usage and call nothing.
		{name: "help", args: []string{"-h"}, golden: "usage"},
		{name: "help command", args: []string{"help"}, golden: "usage"},
		{name: "no command", code: 2, stderr: []string{"Usage: scimgate reviews COMMAND"}},
		{name: "unknown command", args: []string{"purge"}, code: 2, stderr: []string{`scimgate reviews: usage: unknown reviews command "purge"`}},
		{name: "decide without items", args: []string{"decide", "3", "--decision", "deny"}, code: 2, stderr: []string{"usage: decide needs --items"}},
		{name: "decide bad items", args: []string{"decide", "3", "--items", "1,x", "--decision", "deny"}, code: 2,
			stderr: []string{`usage: --items "1,x": want item numbers separated by commas (1,2)`}},
		{name: "items with decide's flag", args: []string{"items", "3", "--items", "1"}, code: 2, stderr: []string{"-items does not apply to items"}},
		{name: "revert a bad index", args: []string{"revert", "3", "x"}, code: 2, stderr: []string{`usage: INDEX "x": want an item number`}},
		{name: "revert without an index", args: []string{"revert", "3"}, code: 2, stderr: []string{"usage: revert ID INDEX (got 1 argument)"}},
		{name: "show without a name", args: []string{"show"}, code: 2, stderr: []string{"usage: show NAME (got 0 arguments)"}},
		{name: "a bad instance ID", args: []string{"instance", "x"}, code: 2, stderr: []string{`usage: "x" is not an instance ID (a positive integer)`}},
		{name: "a bad item", args: []string{"reassign", "3", "mia"}, code: 2, stderr: []string{`usage: ITEM "3": want INSTANCE/INDEX, as items shows it (3/2)`}},
		{name: "reassign without a reviewer", args: []string{"reassign", "3/2"}, code: 2, stderr: []string{"usage: reassign ITEM REVIEWER (got 1 argument)"}},
		{name: "reviewer with instance", args: []string{"instance", "3", "--reviewer", "x"}, code: 2, stderr: []string{"-reviewer does not apply to instance"}},
		{name: "format with items", args: []string{"items", "3", "--format", "json"}, code: 2, stderr: []string{"-format does not apply to items"}},
		{name: "a bad format", args: []string{"export", "3", "--format", "xml"}, code: 2, stderr: []string{`usage: --format "xml": want csv or json`}},
		{name: "json with export", args: []string{"export", "3", "--json"}, code: 2, stderr: []string{"--json does not apply to export"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAdmin(t, adminTestToken, tc.calls)
			t.Setenv("SCIMGATE_ADMIN_URL", srv.URL)
			t.Setenv("SCIMGATE_ADMIN_TOKEN", adminTestToken)
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"reviews"}, tc.args...), &stdout, &stderr); code != tc.code {
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
			// The golden of export-file names a temporary file.
			checkGoldenIn(t, "reviews", tc.golden, []byte(strings.ReplaceAll(stdout.String(), out, "FILE")))
			if tc.file != "" {
				if b, err := os.ReadFile(out); err != nil || string(b) != tc.file {
					t.Errorf("%s: %q, %v; want %q", out, b, err, tc.file)
				}
			}
		})
	}
	if _, err := os.Stat(out + ".none"); !os.IsNotExist(err) {
		t.Errorf("a refused export wrote its file: %v", err)
	}
}

// reviewDenied is an item of the fake API denied by an administrator.
func reviewDenied(item string) string {
	for _, d := range []string{`"decision": "Approve", "justification": "needs it for the Q2 pipeline"`, `"decision": "NotReviewed"`} {
		item = strings.Replace(item, d, `"decision": "Deny", "justification": "left the company"`, 1)
	}
	item = strings.Replace(item, `"reviewedBy": "2819c223-7f76-453a-919d-413861904646", "reviewedAt": "2026-03-03T10:00:00Z"`, `"reviewedBy": "admin: static token #1", "reviewedAt": "2026-03-04T10:00:00Z"`, 1)
	if !strings.Contains(item, `"reviewedBy"`) {
		item = strings.TrimSuffix(item, "}") + `, "reviewedBy": "admin: static token #1", "reviewedAt": "2026-03-04T10:00:00Z"}`
	}
	return item
}

// TestReviewsInUsage: "scimgate help" lists the reviews command.
func TestReviewsInUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "\n  scimgate reviews COMMAND [ARGS]") {
		t.Errorf("scimgate help: exit %d, the usage does not list reviews:\n%s", code, out.String())
	}
}

// reviewsE2EConfig is the gateway of TestReviewsEndToEnd: a memory
// target crm with every user and group; %s is its reviews section (none
// at first). The notices go to an SMTP server that
// is not there: they fail and are retried, which changes nothing here.
const reviewsE2EConfig = `notifications:
  smtp: {host: 127.0.0.1, port: 25, tls: none, from: scimgate@contoso.example}
targets:
  - name: crm
    type: memory
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
    groups:
      scope: {all: true}
      mapping:
        - {target: name, source: displayName}
%s`

// reviewsE2EReviews: a one-off review of the members of the group Sales
// by the auditor (an email address, no user), from 2026-12-01 for 730
// days (in progress until 2028-11-30), and a quarterly one from 2030.
const reviewsE2EReviews = `reviews:
  - name: sales-members
    descriptionForAdmins: Who still belongs in Sales?
    resource: {group: Sales}
    reviewers: {type: named, named: [audit@contoso.example]}
    recurrence: {durationDays: 730, startDate: "2026-12-01"}
    settings: {defaultDecision: recommendation}
  - name: sales-quarterly
    resource: {group: Sales}
    reviewers: {type: named, named: [audit@contoso.example]}
    recurrence: {pattern: quarterly, durationDays: 14, startDate: "2030-01-01"}
`

// TestReviewsEndToEnd drives a real gateway process: users and the group
// Sales created through SCIM, then the gateway restarted with a reviews
// section; the review's instance starts with one item per member;
// "scimgate reviews reassign" gives one to another reviewer, and "list",
// "instance" and "items" show it (testdata/reviews/e2e-*.golden: the
// dates are fixed, so the outputs do not depend on the day the test runs
// until the instance ends on 2028-11-30; the README shows them); "items
// --json" decodes into the CLI's type and "export" gives the CSV.
func TestReviewsEndToEnd(t *testing.T) {
	if time.Now().After(time.Date(2028, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Skip("SKIPPED: the review of this test ends on 2028-11-30; move its fixed dates (reviewsE2EReviews) and the goldens")
	}
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	dataDir, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, reviewsE2EConfig, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dataDir, "--config", cfgFile)
	var members []any
	for _, u := range []struct{ userName, name string }{
		{"ada@contoso.example", "Ada Lovelace"}, {"bob@contoso.example", "Bob Builder"}, {"carol@contoso.example", "Carol Danvers"},
	} {
		status, b, err := scimDo("POST", p.base+"/Users", map[string]any{"userName": u.userName, "displayName": u.name})
		if err != nil || status != http.StatusCreated {
			t.Fatalf("creating %s: %d %v %s", u.userName, status, err, b)
		}
		var created struct{ ID string }
		if err := json.Unmarshal(b, &created); err != nil {
			t.Fatal(err)
		}
		members = append(members, map[string]any{"value": created.ID})
	}
	if status, b, err := scimDo("POST", p.base+"/Groups", map[string]any{"displayName": "Sales", "members": members}); err != nil || status != http.StatusCreated {
		t.Fatalf("creating Sales: %d %v %s", status, err, b)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done

	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, reviewsE2EConfig, reviewsE2EReviews), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startProc(t, dataDir, "--config", cfgFile)
	adminURL, tokenFile := strings.TrimSuffix(p.base, "/scim/v2"), filepath.Join(dataDir, "admin-token")
	reviews := func(t *testing.T, code int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := run(append([]string{"reviews", "--url", adminURL, "--token-file", tokenFile}, args...), &out, &errOut); got != code {
			t.Fatalf("scimgate reviews %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out.String(), errOut.String())
		}
		return out.String()
	}
	// The service starts the instance as the gateway starts, shortly.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(reviews(t, 0, "instances", "sales-members"), "InProgress"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no instance of sales-members after 30s:\n%s", reviews(t, 0, "instances", "sales-members"))
		}
	}
	reviews(t, 0, "reassign", "1/3", "mia@contoso.example")
	checkGoldenIn(t, "reviews", "e2e-list", []byte(reviews(t, 0, "list")))
	checkGoldenIn(t, "reviews", "e2e-instance", []byte(reviews(t, 0, "instance", "1")))
	checkGoldenIn(t, "reviews", "e2e-items", []byte(reviews(t, 0, "items", "1", "--reviewer", "audit@contoso.example")))

	var items struct {
		Items []review.Row `json:"items"`
	}
	dec := json.NewDecoder(strings.NewReader(reviews(t, 0, "items", "1", "--json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&items); err != nil || len(items.Items) != 3 {
		t.Fatalf("items --json: %v, %v", items, err)
	}
	csvOut := reviews(t, 0, "export", "1")
	if !strings.HasPrefix(csvOut, "review,instance,start,end,item,userId,userName,") || strings.Count(csvOut, "\n") != 4 ||
		!strings.Contains(csvOut, "sales-members,1,2026-12-01T00:00:00Z,2028-11-30T00:00:00Z,3,") {
		t.Errorf("export:\n%s", csvOut)
	}
	if out := reviews(t, 1, "apply", "1"); out != "" {
		t.Errorf("apply of an instance in progress printed %q", out)
	}
}

// TestREADMEReviewsWalkthrough runs the README's access review
// walk-through against a real gateway process started as it says
// (examples/reviews.yaml), with its users, and compares each command's
// output with the README's; the times of the run (any but a midnight)
// are compared as times.
func TestREADMEReviewsWalkthrough(t *testing.T) {
	if time.Now().After(time.Date(2028, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Skip("SKIPPED: the README's review (examples/review-crm.yaml) ends on 2028-11-30; move its start date and the README's outputs")
	}
	langs, bodies := codeBlocks(readmeSection(t, "Access reviews: `scimgate reviews`"))
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, dataDir, "--config", filepath.Join("..", "..", "examples", "reviews.yaml"))
	users := 0
	for _, b := range bodies {
		for _, m := range readmeGuestUser.FindAllStringSubmatch(b, -1) {
			if status, body, err := scimDo("POST", p.base+"/Users", json.RawMessage(m[1])); err != nil || status != 201 {
				t.Fatalf("creating %s: %d %v %s", m[1], status, err, body)
			}
			users++
		}
	}
	if users != 3 {
		t.Fatalf("the walk-through creates %d users, want 3", users)
	}
	adminURL := strings.TrimSuffix(p.base, "/scim/v2")
	// The review's snapshot takes the users provisioned to crm: as a
	// reader of the README would, wait for the users' accounts there.
	for _, u := range []string{"ada@contoso.example", "bob@contoso.example", "kai_partner.example#EXT#@contoso.example"} {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var out, errOut bytes.Buffer
			code := run([]string{"admin", "object", "user", u, "--url", adminURL, "--token-file", filepath.Join(dataDir, "admin-token")}, &out, &errOut)
			if code == 0 && regexp.MustCompile(`(?m)^crm +\S+ +yes `).MatchString(out.String()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has no crm account after 30s: %s%s", u, out.String(), errOut.String())
			}
		}
	}
	ran := 0
	for i, b := range bodies {
		line := strings.TrimSpace(b)
		if langs[i] != "sh" || !strings.HasPrefix(line, "./bin/scimgate ") || strings.Contains(line, "\n") {
			continue
		}
		args := shellFields(t, strings.TrimPrefix(line, "./bin/scimgate "))
		for k, a := range args {
			switch {
			case strings.HasPrefix(a, "examples/"):
				args[k] = filepath.Join("..", "..", a)
			case a == "./data-reviews/admin-token":
				args[k] = filepath.Join(dataDir, "admin-token")
			}
		}
		args = append(args, "--url", adminURL)
		want, check := "", i+1 < len(bodies) && langs[i+1] == ""
		if check {
			want = runTimes.ReplaceAllString(bodies[i+1], "<time>")
		}
		var got string
		// The service starts the instance shortly after the review is
		// created.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("%s: exit %d: %s", line, code, errOut.String())
			}
			got = runTimes.ReplaceAllString(out.String(), "<time>")
			if !check || got == want || args[1] != "list" || time.Now().After(deadline) {
				break
			}
		}
		if check && got != want {
			t.Errorf("%s printed\n%s\nthe README shows\n%s", line, got, want)
		}
		ran++
	}
	if ran < 8 {
		t.Errorf("the walk-through runs %d scimgate commands, want 8", ran)
	}
}

// runTimes are the times of a run in outputs: any but a midnight.
var runTimes = regexp.MustCompile(`\d{4}-\d\d-\d\dT(?:0[1-9]|1\d|2[0-3]|00:(?:0[1-9]|[1-5]\d)|00:00:(?:0[1-9]|[1-5]\d))[\d:]*Z`)

// shellFields splits a command line as the shell does for the README's
// commands: at spaces, with double-quoted words.
func shellFields(t *testing.T, line string) []string {
	t.Helper()
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if rest, ok := strings.CutPrefix(line, `"`); ok {
			word, after, found := strings.Cut(rest, `"`)
			if !found {
				t.Fatalf("unterminated quote in %q", line)
			}
			out, line = append(out, word), after
			continue
		}
		word, after, _ := strings.Cut(line, " ")
		out, line = append(out, word), after
	}
	return out
}
