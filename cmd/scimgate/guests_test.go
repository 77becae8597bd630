package main

import (
	"bytes"
	"strings"
	"testing"
)

const (
	guestCarol = `{"user": "2819c223-7f76-453a-919d-413861904646", "userName": "carol_fabrikam.com#EXT#@contoso.com",
  "displayName": "Carol (guest)", "status": "active", "rule": "rules[0].upnExternal", "expiry": "2026-12-31T00:00:00Z",
  "why": "expiry.lifetime", "next": {"kind": "notice", "at": "2026-12-17T00:00:00Z"}}`
	guestDave = `{"user": "5c1d0f5e-0000-4000-8000-000000000002", "userName": "dave@partner.example", "status": "blocked",
  "rule": "rules[1].homeDomains", "expiry": "2026-11-20T09:30:00Z", "why": "expiry.inactivity", "lastSignIn": "2026-08-22T09:30:00Z",
  "next": {"kind": "delete", "at": "2026-12-20T09:30:00Z"}, "attempts": 3,
  "lastError": "removing from Entra: Graph 503 ServiceUnavailable: the service is temporarily unavailable (request-id 4c7e…)"}`
	guestErin = `{"user": "e0000000-0000-4000-8000-000000000003", "userName": "erin@contoso.com", "displayName": "Erin Example",
  "status": "member", "extendedUntil": "2027-03-01T00:00:00Z"}`
	guestNoExpiry = `{"user": "f0000000-0000-4000-8000-000000000004", "userName": "frank@partner.example", "status": "active",
  "rule": "rules[1].homeDomains"}`
	guestsJSON = `{"guests": [` + guestCarol + `, ` + guestDave + `, ` + guestErin + `, ` + guestNoExpiry + `]}`
	// guestCarolExtended is carol after an extension.
	guestCarolExtended = `{"user": "2819c223-7f76-453a-919d-413861904646", "userName": "carol_fabrikam.com#EXT#@contoso.com",
  "displayName": "Carol (guest)", "status": "active", "rule": "rules[0].upnExternal", "expiry": "2027-03-31T00:00:00Z",
  "why": "extended", "extendedUntil": "2027-03-31T00:00:00Z", "next": {"kind": "notice", "at": "2027-03-17T00:00:00Z"}}`
)

// TestGuests runs "scimgate guests" commands against a fake admin API
// and compares what they print with testdata/guests/*.golden (go test
// -update rewrites those).
func TestGuests(t *testing.T) {
	const carolPath = "/admin/v1/guests/carol_fabrikam.com%23EXT%23@contoso.com"
	for _, tc := range []struct {
		name   string
		args   []string // after "guests"
		calls  []adminCall
		code   int
		golden string   // the file under testdata/guests/ holding stdout; "": empty
		stderr []string // what stderr contains; empty when nil
	}{
		{name: "list", calls: []adminCall{{method: "GET", uri: "/admin/v1/guests", body: guestsJSON}}, golden: "list"},
		{name: "list as JSON", args: []string{"--json"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/guests", body: guestsJSON}},
			golden: "list-json"},
		{name: "no guests", calls: []adminCall{{method: "GET", uri: "/admin/v1/guests", body: `{"guests": []}`}}, golden: "none"},
		{name: "show by userName", args: []string{"show", "carol_fabrikam.com#EXT#@contoso.com"},
			calls: []adminCall{{method: "GET", uri: carolPath, body: guestCarol}}, golden: "show"},
		{name: "show a blocked guest with an error", args: []string{"show", "dave@partner.example"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/guests/dave@partner.example", body: guestDave}}, golden: "show-error"},
		{name: "extend for 90 days", args: []string{"extend", "carol_fabrikam.com#EXT#@contoso.com", "--for", "90d"},
			calls: []adminCall{{method: "POST", uri: carolPath + "/extend", reqBody: `{"for":"90d"}`, body: guestCarolExtended}}, golden: "extend"},
		{name: "extend until a date, the flag first", args: []string{"--until", "2027-03-31", "extend", "carol_fabrikam.com#EXT#@contoso.com"},
			calls: []adminCall{{method: "POST", uri: carolPath + "/extend", reqBody: `{"until":"2027-03-31"}`, body: guestCarolExtended}}, golden: "extend"},
		{name: "extend as JSON", args: []string{"extend", "--json", "carol_fabrikam.com#EXT#@contoso.com", "--until", "2027-03-31"},
			calls:  []adminCall{{method: "POST", uri: carolPath + "/extend", reqBody: `{"until":"2027-03-31"}`, body: guestCarolExtended}},
			golden: "extend-json"},

		// The API's refusals, as it words them.
		{name: "no guests section", calls: []adminCall{{method: "GET", uri: "/admin/v1/guests", status: 404,
			body: `{"status": 404, "error": "no guest lifecycle is configured (the guests section of the configuration)"}`}},
			code: 1, stderr: []string{"scimgate guests: no guest lifecycle is configured (the guests section of the configuration) (HTTP 404)\n"}},
		{name: "not a guest", args: []string{"show", "alice@contoso.com"}, calls: []adminCall{{method: "GET", uri: "/admin/v1/guests/alice@contoso.com",
			status: 404, body: `{"status": 404, "error": "guest: the user is not a guest: no guest rule matches \"alice@contoso.com\""}`}},
			code: 1, stderr: []string{`scimgate guests: guest: the user is not a guest: no guest rule matches "alice@contoso.com" (HTTP 404)` + "\n"}},
		{name: "an extension in the past", args: []string{"extend", "dave@partner.example", "--until", "2020-01-01"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/guests/dave@partner.example/extend", reqBody: `{"until":"2020-01-01"}`, status: 400,
				body: `{"status": 400, "error": "guest: invalid extension: 2020-01-01T00:00:00Z is not in the future"}`}},
			code: 1, stderr: []string{"scimgate guests: guest: invalid extension: 2020-01-01T00:00:00Z is not in the future (HTTP 400)\n"}},
		{name: "a bad duration", args: []string{"extend", "dave@partner.example", "--for", "soon"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/guests/dave@partner.example/extend", reqBody: `{"for":"soon"}`, status: 400,
				body: `{"status": 400, "error": "for: \"soon\": want a number of days (90d), or a positive duration (36h) of at most 3660 days"}`}},
			code: 1, stderr: []string{`scimgate guests: for: "soon": want a number of days (90d)`}},

		// Bad command lines print the usage and call nothing.
		{name: "help", args: []string{"-h"}, golden: "usage"},
		{name: "help command", args: []string{"help"}, golden: "usage"},
		{name: "extend without a flag", args: []string{"extend", "carol"}, code: 2,
			stderr: []string{"scimgate guests: usage: extend USER --until DATE | --for DURATION: give one of --until and --for\n", "Usage: scimgate guests"}},
		{name: "extend with both flags", args: []string{"extend", "carol", "--until", "2027-01-01", "--for", "90d"}, code: 2,
			stderr: []string{"give one of --until and --for"}},
		{name: "extend without a user", args: []string{"extend", "--for", "90d"}, code: 2,
			stderr: []string{"scimgate guests: usage: extend USER --until DATE | --for DURATION (got 0 arguments)\n"}},
		{name: "show without a user", args: []string{"show"}, code: 2, stderr: []string{"usage: show USER (got 0 arguments)"}},
		{name: "an empty command", args: []string{"--json", ""}, code: 2, stderr: []string{"scimgate guests: usage: an empty command\n"}},
		{name: "until with show", args: []string{"show", "carol", "--until", "2027-01-01"}, code: 2, stderr: []string{"--until applies to extend only"}},
		{name: "for with the list", args: []string{"--for", "90d"}, code: 2, stderr: []string{"--for applies to extend only"}},
		{name: "unknown command", args: []string{"list"}, code: 2, stderr: []string{`scimgate guests: usage: unknown guests command "list"`}},
		{name: "unknown flag", args: []string{"--days", "3"}, code: 2, stderr: []string{"flag provided but not defined: -days"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAdmin(t, adminTestToken, tc.calls)
			t.Setenv("SCIMGATE_ADMIN_URL", srv.URL)
			t.Setenv("SCIMGATE_ADMIN_TOKEN", adminTestToken)
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"guests"}, tc.args...), &stdout, &stderr); code != tc.code {
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
			checkGoldenIn(t, "guests", tc.golden, stdout.Bytes())
		})
	}
}

// TestGuestsInUsage: "scimgate help" lists the guests command.
func TestGuestsInUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "\n  scimgate guests [COMMAND [ARGS]]") {
		t.Errorf("scimgate help: exit %d, the usage does not list guests:\n%s", code, out.String())
	}
}
