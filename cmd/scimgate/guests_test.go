package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/gateway"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
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

// guestsE2EConfig is the gateway of TestGuestsEndToEnd: no target; guests
// are B2B users (#EXT#) and users of other domains than contoso.example;
// their access expires at their accessExpiresAt, with notices 14 and 3
// days before (never sent: the dates are years ahead).
const guestsE2EConfig = `scim:
  custom_extensions:
    - urn: urn:ietf:params:scim:schemas:extension:Guests:2.0:User
      resource: User
      attributes:
        - {name: accessExpiresAt, type: dateTime}
notifications:
  smtp: {host: 127.0.0.1, port: 25, tls: none, from: scimgate@contoso.example}
guests:
  rules:
    - upnExternal: true
    - homeDomains: [contoso.example]
  expiry:
    attribute: urn:ietf:params:scim:schemas:extension:Guests:2.0:User:accessExpiresAt
  notices: [336h, 72h]
`

// TestGuestsEndToEnd drives a real gateway process with a guests section:
// users created through SCIM are tracked (the members are not);
// "scimgate guests" lists them, "guests extend" moves an expiry, "guests
// show --json" decodes strictly into the CLI's type, a member is refused;
// "scimgate plan --days" reads the same data directory and shows the
// upcoming steps (testdata/guests/e2e-*.golden; the dates are in 2031 and
// 2032, so the outputs do not depend on the day the test runs).
func TestGuestsEndToEnd(t *testing.T) {
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	dataDir, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(guestsE2EConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dataDir, "--config", cfgFile)
	adminURL, tokenFile := strings.TrimSuffix(p.base, "/scim/v2"), filepath.Join(dataDir, "admin-token")
	const urn = "urn:ietf:params:scim:schemas:extension:Guests:2.0:User"
	for _, u := range []struct{ userName, expires string }{
		{"boss@contoso.example", ""},
		{"carol_fabrikam.example#EXT#@contoso.example", "2031-01-20T00:00:00Z"},
		{"dave@partner.example", "2031-06-01T00:00:00Z"},
		{"erin@partner.example", ""},
	} {
		body := map[string]any{"userName": u.userName}
		if u.expires != "" {
			body["schemas"] = []any{"urn:ietf:params:scim:schemas:core:2.0:User", urn}
			body[urn] = map[string]any{"accessExpiresAt": u.expires}
		}
		if status, b, err := scimDo("POST", p.base+"/Users", body); err != nil || status != http.StatusCreated {
			t.Fatalf("creating %s: %d %v %s", u.userName, status, err, b)
		}
	}
	guests := func(t *testing.T, code int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := run(append([]string{"guests", "--url", adminURL, "--token-file", tokenFile}, args...), &out, &errOut); got != code {
			t.Fatalf("scimgate guests %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	// The planner tells the lifecycle of the new users shortly after.
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out, _ = guests(t, 0); strings.Count(out, "\n") == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scimgate guests never listed the 3 guests:\n%s", out)
		}
	}
	checkGoldenIn(t, "guests", "e2e-list", []byte(out))

	out, _ = guests(t, 0, "extend", "dave@partner.example", "--until", "2032-01-01")
	if !strings.HasPrefix(out, "dave@partner.example: access extended until 2032-01-01T00:00:00Z\n") ||
		!regexp.MustCompile(`(?m)^dave@partner\.example +active +rules\[1\]\.homeDomains +2032-01-01T00:00:00Z +extended +notice at 2031-12-18T00:00:00Z$`).MatchString(out) {
		t.Errorf("extend:\n%s", out)
	}
	out, _ = guests(t, 0, "show", "erin@partner.example", "--json")
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var erin gateway.AdminGuest
	if err := dec.Decode(&erin); err != nil || erin.UserName != "erin@partner.example" || erin.Status != "active" || erin.Rule != "rules[1].homeDomains" ||
		erin.Expiry != nil || erin.Next != nil || erin.User == "" {
		t.Errorf("show erin --json: %v %+v\n%s", err, erin, out)
	}
	if _, errOut := guests(t, 1, "show", "boss@contoso.example"); errOut != "scimgate guests: guest: the user is not a guest: no guest rule matches \"boss@contoso.example\" (HTTP 404)\n" {
		t.Errorf("show a member: %s", errOut)
	}

	// plan reads the data directory while the gateway runs.
	var planOut, planErr bytes.Buffer
	if code := run([]string{"plan", "--config", cfgFile, "--data-dir", dataDir, "--days", "3660"}, &planOut, &planErr); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, planErr.String())
	}
	checkGoldenIn(t, "guests", "e2e-plan", planOut.Bytes())
	planOut.Reset()
	if code := run([]string{"plan", "--config", cfgFile, "--data-dir", dataDir}, &planOut, &planErr); code != 0 ||
		!strings.HasSuffix(planOut.String(), "\nGuest lifecycle: no step due in the next 30 days\n") {
		t.Errorf("plan (30 days): exit %d\n%s%s", code, planOut.String(), planErr.String())
	}
}

// TestPlanDays: plan --days is the guest lifecycle's horizon: refused out
// of range, with --explain, and without a guests section.
func TestPlanDays(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("targets: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dataDir, config.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"negative", []string{"--days", "-1"}, "scimgate: usage: --days must be from 0 to 3660, got -1\n"},
		{"too many", []string{"--days", "3661"}, "scimgate: usage: --days must be from 0 to 3660, got 3661\n"},
		{"with explain", []string{"--days", "3", "--explain", "alice"}, "scimgate: usage: --days does not apply to --explain\n"},
		{"without guests", []string{"--days", "3"}, "scimgate: usage: --days: the configuration has no guests section (--days is the guest lifecycle's horizon)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"plan", "--config", cfgFile, "--data-dir", dataDir}, tc.args...), &out, &errOut); code != 2 ||
				!strings.HasPrefix(errOut.String(), tc.stderr) || out.Len() > 0 {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
		})
	}
}

// readmeGuests matches the README's guests and plan commands.
var readmeGuests = regexp.MustCompile(`(?m)^\./bin/scimgate (guests.*|plan .*)$`)

// readmeGuestUser matches the users the README's guest walk-through
// creates.
var readmeGuestUser = regexp.MustCompile(`(?m)^user '(.*)'$`)

// TestREADMEGuestsExample runs the commands of the README's guest
// lifecycle section against a gateway with examples/guests.yaml and the
// users the section describes: each must print the output the README
// shows under it.
func TestREADMEGuestsExample(t *testing.T) {
	langs, bodies := codeBlocks(readmeSection(t, "Guest lifecycle: `scimgate guests`"))
	var cmds, wants []string
	for i := 0; i+1 < len(bodies); i++ {
		if m := readmeGuests.FindStringSubmatch(bodies[i]); langs[i] == "sh" && m != nil && langs[i+1] == "" {
			cmds, wants = append(cmds, m[1]), append(wants, bodies[i+1])
		}
	}
	if len(cmds) < 2 {
		t.Fatalf("the guests section should show scimgate guests and plan with their output; found %q", cmds)
	}
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, dataDir, "--config", filepath.Join("..", "..", "examples", "guests.yaml"))
	// The README's users, as its walk-through creates them.
	var users int
	for _, b := range bodies {
		for _, m := range readmeGuestUser.FindAllStringSubmatch(b, -1) {
			status, body, err := scimDo("POST", p.base+"/Users", json.RawMessage(m[1]))
			if err != nil || status != 201 {
				t.Fatalf("creating %s: %d %v %s", m[1], status, err, body)
			}
			users++
		}
	}
	if users != 4 {
		t.Fatalf("the walk-through creates %d users, want 4", users)
	}
	adminURL, tokenFile := strings.TrimSuffix(p.base, "/scim/v2"), filepath.Join(dataDir, "admin-token")
	for i, c := range cmds {
		args := strings.Fields(c)
		if args[0] == "guests" {
			args = append(args, "--url", adminURL, "--token-file", tokenFile)
		} else { // plan: from the repository's root, on the default data directory
			for k, a := range args {
				args[k] = strings.Replace(a, "examples/", filepath.Join("..", "..", "examples")+"/", 1)
			}
			args = append(args, "--data-dir", dataDir)
		}
		var got string
		// The planner tells the lifecycle of the users shortly after they
		// are created.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("scimgate %s: exit %d: %s", c, code, errOut.String())
			}
			if got = out.String(); got == wants[i] || time.Now().After(deadline) {
				break
			}
		}
		if got != wants[i] {
			t.Errorf("scimgate %s printed\n%s\nthe README shows\n%s", c, got, wants[i])
		}
	}
}
