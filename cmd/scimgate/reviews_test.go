package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	reviewInstanceRunning = `{"id": 3, "review": "crm-access", "occurrence": 2, "status": "InProgress", "start": "2026-03-02T00:00:00Z",
  "end": "2026-03-09T00:00:00Z", "progress": {"total": 3, "approved": 1, "denied": 0, "dontKnow": 0, "notReviewed": 2}}`
	reviewInstanceDone = `{"id": 1, "review": "crm-access", "occurrence": 1, "status": "Completed", "start": "2026-02-02T00:00:00Z",
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
  "reviewedBy": "2819c223-7f76-453a-919d-413861904646", "reviewedAt": "2026-03-03T10:00:00Z"}`
	reviewItemBob = `{"review": "crm-access", "instance": 3, "start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z", "item": 2,
  "userId": "b0000000-0000-4000-8000-000000000002", "userName": "bob@contoso.example", "guest": false,
  "resourceType": "target", "resource": "crm", "lastSignIn": "2025-11-02T00:00:00Z", "recommendation": "Deny",
  "reason": "inactive: no sign-in for 120 days", "reviewers": ["audit@contoso.example"], "decision": "NotReviewed"}`
	reviewExportCSV = "review,instance,item,userName,decision\ncrm-access,3,1,ada@contoso.example,Approve\n"
)

// TestReviews runs "scimgate reviews" commands against a fake admin API
// and compares what they print with testdata/reviews/*.golden (go test
// -update rewrites those).
func TestReviews(t *testing.T) {
	out := filepath.Join(t.TempDir(), "export.csv")
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
		{name: "apply", args: []string{"apply", "1"}, calls: []adminCall{{method: "POST", uri: "/admin/v1/review-instances/1/apply",
			body: `{"applied": 2, "instance": ` + reviewInstanceDone + `}`}}, golden: "apply"},
		{name: "export to stdout", args: []string{"export", "3"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/review-instances/3/export?format=csv",
			body: reviewExportCSV}}, golden: "export"},
		{name: "export as JSON to a file", args: []string{"export", "3", "--format", "json", "-o", out}, calls: []adminCall{{method: "GET",
			uri: "/admin/v1/review-instances/3/export?format=json", body: `[` + reviewItemAda + `]`}}, golden: "export-file", file: `[` + reviewItemAda + `]`},

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
		{name: "unknown command", args: []string{"create"}, code: 2, stderr: []string{`scimgate reviews: usage: unknown reviews command "create"`}},
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

// TestReviewsInUsage: "scimgate help" lists the reviews command.
func TestReviewsInUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "\n  scimgate reviews COMMAND [ARGS]") {
		t.Errorf("scimgate help: exit %d, the usage does not list reviews:\n%s", code, out.String())
	}
}
