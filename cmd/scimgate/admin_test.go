package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The admin tokens of the tests; none may ever be printed.
const (
	adminTestToken = "adm-env-s3cret-0123456789abcdef0123456789"
	adminFlagToken = "adm-flag-s3cret-0123456789abcdef0123456789"
	adminFileToken = "adm-file-s3cret-0123456789abcdef0123456789"
)

// adminCall is one request the fake admin API expects, and its answer.
type adminCall struct {
	method, uri string // uri: the path and query exactly as sent
	reqBody     string // the request's body exactly as sent; "" none
	status      int    // 0 is 200
	body        string
	delay       time.Duration
}

// fakeAdmin is an admin API that expects exactly calls, in order, each with
// the bearer token and its body, and fails the test on any other request.
func fakeAdmin(t *testing.T, token string, calls []adminCall) *httptest.Server {
	t.Helper()
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("request %d %s %s: Authorization %q, want the bearer token %q", i, r.Method, r.URL.RequestURI(), got, token)
		}
		b, _ := io.ReadAll(r.Body)
		if i >= len(calls) {
			t.Errorf("unexpected request %d: %s %s %s", i, r.Method, r.URL.RequestURI(), b)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		c := calls[i]
		if r.Method != c.method || r.URL.RequestURI() != c.uri {
			t.Errorf("request %d: %s %s, want %s %s", i, r.Method, r.URL.RequestURI(), c.method, c.uri)
		}
		if string(b) != c.reqBody {
			t.Errorf("request %d %s %s: body %q, want %q", i, r.Method, r.URL.RequestURI(), b, c.reqBody)
		}
		time.Sleep(c.delay)
		if !strings.HasPrefix(c.body, "{") {
			w.Header().Set("Content-Type", "text/plain")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(max(c.status, http.StatusOK))
		io.WriteString(w, c.body)
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		if n < len(calls) {
			t.Errorf("%d requests made, want %d; the first missing: %s %s", n, len(calls), calls[n].method, calls[n].uri)
		}
	})
	return srv
}

const (
	adminTargetsJSON = `{"targets": [
  {"name": "crm", "type": "memory", "health": "up", "healthError": "", "preview": false, "pending": 12, "held": 0,
   "guardHolding": false, "deadLetters": 2, "oldestPending": "2026-11-22T10:00:00.5Z", "oldestPendingSeconds": 3.5},
  {"name": "ldap", "type": "ldap", "health": "down", "healthError": "dial tcp 127.0.0.1:389: connect: connection refused",
   "preview": false, "pending": 3, "held": 3, "guardHolding": true, "deadLetters": 0,
   "oldestPending": "2026-11-22T11:00:00+01:00", "oldestPendingSeconds": 60,
   "scheduled": 2, "nextScheduled": "2026-12-22T10:00:00Z", "downSince": "2026-11-22T10:05:00Z", "nextProbe": "2026-11-22T10:09:00Z"},
  {"name": "hr", "type": "sql", "health": "unknown", "healthError": "", "preview": true, "pending": 0, "held": 0,
   "guardHolding": false, "deadLetters": 0, "oldestPendingSeconds": 0}
]}`
	adminTargetJSON = `{"name": "crm", "type": "memory", "health": "down", "healthError": "the\nfile is gone", "preview": false,
  "pending": 0, "held": 0, "guardHolding": false, "deadLetters": 0, "oldestPendingSeconds": 0}`
	adminDead42 = `{"seq": 42, "target": "crm", "type": "User", "id": "2819c223-7f76-453a-919d-413861904646", "name": "alice@contoso.com", "op": "update",
  "attrs": ["title"], "attempts": 3, "created": "2026-11-22T09:58:01Z", "nextAt": "0001-01-01T00:00:00Z", "dead": true, "held": false,
  "lastError": "HTTP 500 from https://crm.example.com/api/users/u-17: internal server error while saving\nthe record"}`
	adminDead57 = `{"seq": 57, "target": "crm", "type": "Group", "id": "g-1", "name": "Sales", "op": "addMembers", "members": ["a", "b"],
  "attempts": 1, "lastError": "permanent: group not found", "created": "2026-11-22T10:01:02Z", "dead": true}`
	adminDeadJSON = `{"deadLetters": [` + adminDead42 + `, ` + adminDead57 + `]}`
	adminHeldJSON = `{"held": [
  {"seq": 70, "target": "ldap", "type": "User", "id": "u-1", "op": "delete", "attempts": 0, "created": "2026-11-22T10:10:00Z", "held": true},
  {"seq": 71, "target": "ldap", "type": "User", "id": "u-2", "name": "bob@contoso.com", "op": "disable", "attempts": 0, "created": "2026-11-22T10:10:01Z", "held": true}
]}`
	adminObjectJSON = `{"type": "User", "id": "2819c223-7f76-453a-919d-413861904646", "name": "alice@contoso.com", "exists": true, "targets": [
  {"target": "crm", "anchor": "u-17", "present": true, "inScope": true, "disabled": false, "deleted": false,
   "pending": [{"seq": 60, "target": "crm", "type": "User", "id": "2819c223-7f76-453a-919d-413861904646", "name": "alice@contoso.com", "op": "update",
     "attrs": ["title", "mail"], "attempts": 2, "lastError": "timeout: no answer from https://crm.example.com/api/users/u-17 within 30s (the crm API is overloaded)", "created": "2026-11-22T10:05:00Z",
     "nextAt": "2026-11-22T10:07:00Z", "dead": false, "held": false}],
   "deadLetters": [` + adminDead42 + `], "lastError": "timeout: no answer from https://crm.example.com/api/users/u-17 within 30s (the crm API is overloaded)"},
  {"target": "ldap", "anchor": "", "present": false, "inScope": false, "disabled": false, "deleted": false,
   "pending": [], "deadLetters": [], "lastError": ""},
  {"target": "hr", "anchor": "E-9", "present": false, "inScope": false, "disabled": true, "deleted": true,
   "pending": [{"seq": 61, "target": "hr", "type": "User", "id": "2819c223-7f76-453a-919d-413861904646", "op": "delete",
     "attempts": 0, "created": "2026-11-22T10:06:00Z", "nextAt": "2026-11-22T10:06:00Z", "dead": false, "held": true}],
   "deadLetters": [], "lastError": ""}
], "holds": [
  {"source": "guest", "action": "disable", "until": "released", "reason": "expired on 2026-11-20", "created": "2026-11-20T00:00:00Z"},
  {"source": "workflow", "target": "crm", "group": "7d2e0c4a-0000-4000-8000-000000000001", "action": "remove", "until": "scim", "reason": "workflow mover-sales", "created": "2026-11-21T09:00:00Z"}
]}`
	adminDeletedObjectJSON = `{"type": "Group", "id": "g-1", "exists": false, "targets": [
  {"target": "crm", "anchor": "", "present": false, "inScope": false, "disabled": false, "deleted": true,
   "pending": [], "deadLetters": [], "lastError": ""}]}`
	adminAudit1 = `{"entries": [
  {"seq": 981, "time": "2026-11-22T10:07:00Z", "actor": "engine", "action": "update", "type": "User", "id": "U1", "name": "alice@contoso.com",
   "target": "crm", "result": "dead", "detail": "HTTP 500 from https://crm.example.com/api/users/u-17: internal server error while saving the record"},
  {"seq": 980, "time": "2026-11-22T10:05:00Z", "actor": "scim: static token #1", "action": "update", "type": "User",
   "id": "U1", "name": "alice@contoso.com", "target": "", "result": "ok",
   "detail": "attributes: name.familyName, password, title, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
], "next": 980}`
	adminAudit2 = `{"entries": [
  {"seq": 12, "time": "2026-11-22T09:00:00Z", "actor": "admin: token #1", "action": "resync", "type": "User", "id": "U1",
   "name": "alice@contoso.com", "target": "crm", "result": "ok", "detail": "queued 1"},
  {"seq": 11, "time": "2026-11-22T08:00:00Z", "actor": "admin: token #1", "action": "resync", "target": "crm", "result": "ok",
   "detail": "12 objects"}
], "next": 0}`
)

// TestAdmin runs "scimgate admin" commands against a fake admin API and
// compares what they print with testdata/admin/*.golden (go test -update
// rewrites those).
func TestAdmin(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminFileToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more

	const (
		tgt = "/admin/v1/targets"
		usr = "/admin/v1/Users/2819c223-7f76-453a-919d-413861904646"
	)
	for _, tc := range []struct {
		name  string
		args  []string // after "admin"; {url} is the fake API's base URL
		token string   // the bearer token the API expects; adminTestToken when ""
		calls []adminCall
		code  int
		// golden is the file under testdata/admin/ holding stdout, or ""
		// for an empty stdout.
		golden string
		stderr []string // what stderr contains; empty when nil
		noEnv  bool     // $SCIMGATE_ADMIN_URL and $SCIMGATE_ADMIN_TOKEN unset
	}{
		{name: "targets", args: []string{"targets"},
			calls: []adminCall{{method: "GET", uri: tgt, body: adminTargetsJSON}}, golden: "targets"},
		{name: "targets as JSON, a flag before the command", args: []string{"--json", "targets"},
			calls: []adminCall{{method: "GET", uri: tgt, body: adminTargetsJSON}}, golden: "targets-json"},
		{name: "one target", args: []string{"target", "crm"},
			calls: []adminCall{{method: "GET", uri: tgt + "/crm", body: adminTargetJSON}}, golden: "target"},
		{name: "url and token from flags", args: []string{"target", "--url", "{url}/", "--token", adminFlagToken, "crm"},
			token: adminFlagToken, noEnv: true,
			calls: []adminCall{{method: "GET", uri: tgt + "/crm", body: adminTargetJSON}}, golden: "target"},
		{name: "url with /admin/v1 and token from a file", args: []string{"target", "crm", "--url", "{url}/admin/v1", "--token-file", tokenFile},
			token: adminFileToken, calls: []adminCall{{method: "GET", uri: tgt + "/crm", body: adminTargetJSON}}, golden: "target"},
		{name: "unknown target is a 404 and the name is escaped", args: []string{"target", "no such/one"},
			calls: []adminCall{{method: "GET", uri: tgt + "/no%20such%2Fone", status: 404, body: `{"status": 404, "error": "unknown target \"no such/one\""}`}},
			code:  1, stderr: []string{`scimgate admin: unknown target "no such/one" (HTTP 404)` + "\n"}},
		{name: "dead letters", args: []string{"deadletters", "crm", "--limit", "2"},
			calls:  []adminCall{{method: "GET", uri: tgt + "/crm/deadletters?limit=2", body: adminDeadJSON}},
			golden: "deadletters"},
		{name: "no dead letters", args: []string{"deadletters", "crm"},
			calls: []adminCall{{method: "GET", uri: tgt + "/crm/deadletters", body: `{"deadLetters": []}`}}, golden: "deadletters-none"},
		{name: "dead letters limit out of range", args: []string{"deadletters", "crm", "--limit", "5000"},
			calls: []adminCall{{method: "GET", uri: tgt + "/crm/deadletters?limit=5000", status: 400, body: `{"status": 400, "error": "limit: must be between 1 and 1000"}`}},
			code:  1, stderr: []string{"scimgate admin: limit: must be between 1 and 1000 (HTTP 400)"}},
		{name: "retry dead letters", args: []string{"retry", "crm", "42", "57"},
			calls: []adminCall{
				{method: "POST", uri: tgt + "/crm/deadletters/42/retry", body: `{"retried": 1}`},
				{method: "POST", uri: tgt + "/crm/deadletters/57/retry", body: `{"retried": 1}`},
			}, golden: "retry"},
		{name: "retry stops at the first error", args: []string{"retry", "crm", "42", "99", "57"},
			calls: []adminCall{
				{method: "POST", uri: tgt + "/crm/deadletters/42/retry", body: `{"retried": 1}`},
				{method: "POST", uri: tgt + "/crm/deadletters/99/retry", status: 404, body: `{"status": 404, "error": "no dead letter 99 in crm"}`},
			}, code: 1, golden: "retry-partial", stderr: []string{"scimgate admin: dead letter 99: no dead letter 99 in crm (HTTP 404)\n"}},
		{name: "retry all, one failing again", args: []string{"retry", "--all", "crm"},
			calls: []adminCall{
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: adminDeadJSON},
				{method: "POST", uri: tgt + "/crm/deadletters/42/retry", body: `{"retried": 1}`},
				{method: "POST", uri: tgt + "/crm/deadletters/57/retry", body: `{"retried": 1}`},
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: `{"deadLetters": [` + adminDead57 + `]}`},
			}, golden: "retry-all"},
		{name: "retry all with none", args: []string{"retry", "crm", "--all"},
			calls:  []adminCall{{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: `{"deadLetters": []}`}},
			golden: "deadletters-none"},
		{name: "discard a dead letter", args: []string{"discard", "crm", "42"},
			calls: []adminCall{{method: "DELETE", uri: tgt + "/crm/deadletters/42", body: `{"discarded": 1}`}}, golden: "discard"},
		{name: "discard all", args: []string{"discard", "crm", "--all"},
			calls: []adminCall{
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: adminDeadJSON},
				{method: "DELETE", uri: tgt + "/crm/deadletters/42", body: `{"discarded": 1}`},
				{method: "DELETE", uri: tgt + "/crm/deadletters/57", body: `{"discarded": 1}`},
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: `{"deadLetters": []}`},
			}, golden: "discard-all"},
		{name: "discard all as JSON prints every response", args: []string{"discard", "crm", "--all", "--json"},
			calls: []adminCall{
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: `{"deadLetters": [` + adminDead57 + `]}`},
				{method: "DELETE", uri: tgt + "/crm/deadletters/57", body: `{"discarded": 1}`},
				{method: "GET", uri: tgt + "/crm/deadletters?limit=1000", body: `{"deadLetters": []}`},
			}, golden: "discard-all-json"},
		{name: "held", args: []string{"held", "ldap", "--limit", "10"},
			calls: []adminCall{{method: "GET", uri: tgt + "/ldap/held?limit=10", body: adminHeldJSON}}, golden: "held"},
		{name: "nothing held", args: []string{"held", "ldap"},
			calls: []adminCall{{method: "GET", uri: tgt + "/ldap/held", body: `{"held": []}`}}, golden: "held-none"},
		{name: "release", args: []string{"release", "ldap"},
			calls: []adminCall{{method: "POST", uri: tgt + "/ldap/guard/release", body: `{"released": 3}`}}, golden: "release"},
		{name: "release with nothing held is a conflict", args: []string{"release", "ldap"},
			calls: []adminCall{{method: "POST", uri: tgt + "/ldap/guard/release", status: 409, body: `{"status": 409, "error": "nothing is held for ldap"}`}},
			code:  1, stderr: []string{"scimgate admin: nothing is held for ldap (HTTP 409)\n"}},
		{name: "discard held", args: []string{"discard-held", "ldap"},
			calls: []adminCall{{method: "POST", uri: tgt + "/ldap/guard/discard", body: `{"discarded": 1}`}}, golden: "discard-held"},
		{name: "object", args: []string{"object", "user", "2819c223-7f76-453a-919d-413861904646"},
			calls: []adminCall{{method: "GET", uri: usr, body: adminObjectJSON}}, golden: "object"},
		{name: "object by userName", args: []string{"object", "user", "alice@contoso.com"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/Users/alice@contoso.com", body: adminObjectJSON}}, golden: "object"},
		{name: "unknown userName", args: []string{"object", "user", "nobody@contoso.com"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/Users/nobody@contoso.com", status: 404,
				body: `{"status": 404, "error": "no User has the id or userName \"nobody@contoso.com\" (neither in the store nor in any target)"}`}},
			code: 1, stderr: []string{`scimgate admin: no User has the id or userName "nobody@contoso.com" (neither in the store nor in any target) (HTTP 404)` + "\n"}},
		{name: "release holds of a source", args: []string{"release-holds", "alice@contoso.com", "workflow"},
			calls:  []adminCall{{method: "DELETE", uri: "/admin/v1/Users/alice@contoso.com/holds?source=workflow", body: `{"released": 2}`}},
			golden: "release-holds"},
		{name: "release holds without a user", args: []string{"release-holds"}, code: 2,
			stderr: []string{"scimgate admin: usage: release-holds USER [SOURCE] (got 0 arguments)\n"}},
		{name: "resync by displayName", args: []string{"resync", "group", "Sales"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/Groups/Sales/resync", body: `{"queued": 2}`}}, golden: "resync-group-name"},
		{name: "audit by userName", args: []string{"audit", "--id", "alice@contoso.com"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/audit?id=alice%40contoso.com", body: adminAudit1}}, golden: "audit"},
		{name: "deleted group", args: []string{"object", "Group", "g-1"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/Groups/g-1", body: adminDeletedObjectJSON}}, golden: "object-deleted"},
		{name: "resync a target", args: []string{"resync", "crm"},
			calls: []adminCall{{method: "POST", uri: tgt + "/crm/resync", body: `{"queued": 120}`}}, golden: "resync-target"},
		{name: "resync a user everywhere", args: []string{"resync", "user", "2819c223-7f76-453a-919d-413861904646"},
			calls: []adminCall{{method: "POST", uri: usr + "/resync", body: `{"queued": 3}`}}, golden: "resync-user"},
		{name: "resync a group in one target", args: []string{"resync", "group", "g 1", "--target", "crm"},
			calls: []adminCall{{method: "POST", uri: "/admin/v1/Groups/g%201/resync?target=crm", body: `{"queued": 1}`}}, golden: "resync-group"},
		{name: "audit page", args: []string{"audit", "--id", "U1", "--limit", "2"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/audit?id=U1&limit=2", body: adminAudit1}}, golden: "audit"},
		{name: "audit every page", args: []string{"audit", "--id", "U1", "--target", "crm", "--limit", "2", "--all"},
			calls: []adminCall{
				{method: "GET", uri: "/admin/v1/audit?id=U1&limit=2&target=crm", body: adminAudit1},
				{method: "GET", uri: "/admin/v1/audit?before=980&id=U1&limit=2&target=crm", body: adminAudit2},
			}, golden: "audit-all"},
		{name: "audit every page as JSON", args: []string{"audit", "--all", "--json"},
			calls: []adminCall{
				{method: "GET", uri: "/admin/v1/audit", body: adminAudit1},
				{method: "GET", uri: "/admin/v1/audit?before=980", body: adminAudit2},
			}, golden: "audit-all-json"},
		{name: "audit pages that do not advance", args: []string{"audit", "--all"},
			calls: []adminCall{
				{method: "GET", uri: "/admin/v1/audit", body: adminAudit1},
				{method: "GET", uri: "/admin/v1/audit?before=980", body: adminAudit1},
			}, code: 1, stderr: []string{"scimgate admin: the audit log's next page (before=980) does not follow the previous one (before=980)\n"}},
		{name: "empty audit log", args: []string{"audit"},
			calls: []adminCall{{method: "GET", uri: "/admin/v1/audit", body: `{"entries": [], "next": 0}`}}, golden: "audit-none"},

		// Refused tokens name where the token came from, never the token.
		{name: "401 with the token from the environment", args: []string{"targets"},
			calls: []adminCall{{method: "GET", uri: tgt, status: 401, body: `{"status": 401, "error": "invalid admin token"}`}},
			code:  1, stderr: []string{"scimgate admin: the gateway refused the admin token from $SCIMGATE_ADMIN_TOKEN: invalid admin token (HTTP 401)\n"}},
		{name: "401 with the token from a flag", args: []string{"targets", "--token", adminFlagToken}, token: adminFlagToken,
			calls: []adminCall{{method: "GET", uri: tgt, status: 401, body: `{"status": 401, "error": "invalid admin token"}`}},
			code:  1, stderr: []string{"refused the admin token from --token: invalid admin token (HTTP 401)"}},
		{name: "401 with the token from a file", args: []string{"targets", "--token-file", tokenFile}, token: adminFileToken,
			calls: []adminCall{{method: "GET", uri: tgt, status: 401, body: `{"status": 401, "error": "invalid admin token"}`}},
			code:  1, stderr: []string{"refused the admin token from --token-file " + tokenFile + ": invalid admin token (HTTP 401)"}},
		{name: "connection refused names the URL", args: []string{"targets", "--url", deadURL},
			code: 1, stderr: []string{"scimgate admin: cannot reach the admin API at " + deadURL + "/admin/v1/targets: ", "connection refused", "--url"}},
		{name: "timeout", args: []string{"targets", "--timeout", "50ms"},
			calls: []adminCall{{method: "GET", uri: tgt, body: adminTargetsJSON, delay: 300 * time.Millisecond}},
			code:  1, stderr: []string{"scimgate admin: no answer from {url}/admin/v1/targets within 50ms (--timeout)\n"}},
		{name: "not an admin API", args: []string{"targets"},
			calls: []adminCall{{method: "GET", uri: tgt, status: 404, body: "404 page not found\n"}},
			code:  1, stderr: []string{`scimgate admin: GET {url}/admin/v1/targets: unexpected answer "404 page not found" (HTTP 404)`}},
		{name: "not JSON", args: []string{"targets"},
			calls: []adminCall{{method: "GET", uri: tgt, body: "<html>"}},
			code:  1, stderr: []string{`GET {url}/admin/v1/targets: the answer is not the expected JSON`}},

		// Bad command lines print the usage and call nothing.
		{name: "no command", code: 2, stderr: []string{"Usage: scimgate admin COMMAND"}},
		{name: "help", args: []string{"-h"}, golden: "usage"},
		{name: "help of a command", args: []string{"retry", "-h"}, golden: "usage"},
		{name: "flags only", args: []string{"--json"}, code: 2, stderr: []string{"scimgate admin: usage: no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`scimgate admin: usage: unknown admin command "frobnicate"`, "Usage: scimgate admin"}},
		{name: "missing target", args: []string{"deadletters"}, code: 2, stderr: []string{"scimgate admin: usage: deadletters TARGET [--limit N] (got 0 arguments)\n", "Usage: scimgate admin"}},
		{name: "extra argument", args: []string{"targets", "crm"}, code: 2, stderr: []string{"usage: targets (got 1 argument)"}},
		{name: "retry without seq", args: []string{"retry", "crm"}, code: 2, stderr: []string{"retry TARGET SEQ...|--all: give dead letter SEQ numbers or --all, not both"}},
		{name: "discard without target", args: []string{"discard"}, code: 2, stderr: []string{"usage: discard TARGET SEQ...|--all (got no argument)"}},
		{name: "object without id", args: []string{"object", "user"}, code: 2, stderr: []string{"usage: object (user|group) ID (got 1 argument)"}},
		{name: "retry with seq and all", args: []string{"retry", "crm", "1", "--all"}, code: 2, stderr: []string{"retry TARGET SEQ...|--all: give dead letter SEQ numbers or --all, not both"}},
		{name: "discard with a bad seq", args: []string{"discard", "crm", "1", "x"}, code: 2, stderr: []string{`SEQ "x" is not a dead letter number`}},
		{name: "flag of another command", args: []string{"release", "ldap", "--limit", "3"}, code: 2, stderr: []string{"--limit does not apply to release"}},
		{name: "unknown flag", args: []string{"targets", "--bogus"}, code: 2, stderr: []string{"scimgate admin: usage: flag provided but not defined: -bogus"}},
		{name: "object of an unknown type", args: []string{"object", "machine", "m-1"}, code: 2, stderr: []string{`"machine" is not user or group`}},
		{name: "resync with three arguments", args: []string{"resync", "user", "a", "b"}, code: 2, stderr: []string{"resync TARGET, or resync (user|group) ID [--target T] (got 3 arguments)"}},
		{name: "resync of a target with --target", args: []string{"resync", "crm", "--target", "ldap"}, code: 2, stderr: []string{"resync TARGET takes no --target"}},
		{name: "token and token file", args: []string{"targets", "--token", "x", "--token-file", tokenFile}, code: 2, stderr: []string{"give --token or --token-file, not both"}},
		{name: "no token", args: []string{"targets"}, noEnv: true, code: 1, stderr: []string{"no admin token: set --token, $SCIMGATE_ADMIN_TOKEN or --token-file"}},
		{name: "empty token file", args: []string{"targets", "--token-file", emptyFile}, code: 1, stderr: []string{"the admin token file " + emptyFile + " is empty"}},
		{name: "missing token file", args: []string{"targets", "--token-file", emptyFile + ".none"}, code: 1, stderr: []string{"reading the admin token: open " + emptyFile + ".none"}},
		{name: "bad url", args: []string{"targets", "--url", "ftp://gateway"}, code: 2, stderr: []string{`--url "ftp://gateway" is not an http(s) base URL`}},
		{name: "bad timeout", args: []string{"targets", "--timeout", "0s"}, code: 2, stderr: []string{"--timeout must be positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				token = adminTestToken
			}
			srv := fakeAdmin(t, token, tc.calls)
			t.Setenv("SCIMGATE_ADMIN_URL", srv.URL)
			t.Setenv("SCIMGATE_ADMIN_TOKEN", adminTestToken)
			if tc.noEnv {
				t.Setenv("SCIMGATE_ADMIN_URL", "")
				t.Setenv("SCIMGATE_ADMIN_TOKEN", "")
			}
			args := []string{"admin"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "{url}", srv.URL))
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			for _, want := range tc.stderr {
				if want = strings.ReplaceAll(want, "{url}", srv.URL); !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
			if tc.stderr == nil && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", stderr.String())
			}
			for _, secret := range []string{adminTestToken, adminFlagToken, adminFileToken} {
				if strings.Contains(stdout.String()+stderr.String(), secret) {
					t.Errorf("the output shows the admin token %q:\n%s%s", secret, stdout.String(), stderr.String())
				}
			}
			checkGolden(t, tc.golden, stdout.Bytes())
		})
	}
}

// checkGolden compares out with testdata/admin/name.golden, or checks out
// is empty when name is "".
func checkGolden(t *testing.T, name string, out []byte) {
	t.Helper()
	checkGoldenIn(t, "admin", name, out)
}

// checkGoldenIn is checkGolden for testdata/dir/name.golden.
func checkGoldenIn(t *testing.T, dir, name string, out []byte) {
	t.Helper()
	if name == "" {
		if len(out) > 0 {
			t.Errorf("unexpected stdout:\n%s", out)
		}
		return
	}
	golden := filepath.Join("testdata", dir, name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("stdout differs from %s (check, then go test -update rewrites it):\n got:\n%s\nwant:\n%s", golden, out, want)
	}
}

// TestAdminUsageListsEveryCommand: "scimgate admin -h" and the usage of
// scimgate name every admin command.
func TestAdminUsageListsEveryCommand(t *testing.T) {
	for name := range adminCommands {
		if !strings.Contains(adminUsage, "\n  "+name+" ") {
			t.Errorf("the admin usage does not list %q", name)
		}
	}
	if !strings.Contains(usage, "scimgate admin COMMAND") {
		t.Errorf("the scimgate usage does not list admin")
	}
}

// TestAdminFmtTime: times show in UTC to the second; none shows "-".
func TestAdminFmtTime(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"UTC", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"},
		{"fraction dropped", "2026-11-22T10:00:00.999Z", "2026-11-22T10:00:00Z"},
		{"offset converted", "2026-11-22T11:00:00+01:00", "2026-11-22T10:00:00Z"},
		{"zero time", "0001-01-01T00:00:00Z", "-"},
		{"absent", "", "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in *time.Time
			if tc.in != "" {
				v, err := time.Parse(time.RFC3339, tc.in)
				if err != nil {
					t.Fatal(err)
				}
				in = &v
			}
			if got := fmtTimeOpt(in); got != tc.want {
				t.Errorf("fmtTimeOpt(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// adminE2EConfig is the gateway of TestAdminEndToEnd: one memory target
// whose unique userName is the user's title (two users with one title
// conflict: a dead letter), and a deletion guard that holds more than two
// deletes an hour.
const adminE2EConfig = `targets:
  - name: crm
    type: memory
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: title}
    lifecycle:
      deleteGracePeriod: 0s
      deletionGuard: {threshold: 2, window: 1h}
`

// TestAdminEndToEnd drives a real gateway process with "scimgate admin":
// a dead letter is listed, retried, discarded; the object is fixed in SCIM
// and re-synced; deletes held by the guard are listed and released; the
// audit log shows it all; bad tokens, unknown targets and conflicts are
// refused with the API's errors. The JSON of every call decodes into the
// CLI's types with no unknown field.
func TestAdminEndToEnd(t *testing.T) {
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // the gateway generates its admin token
	}
	dir := t.TempDir()
	dataDir, cfgFile := filepath.Join(dir, "data"), filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(adminE2EConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dataDir, "--config", cfgFile)
	adminURL := strings.TrimSuffix(p.base, "/scim/v2")
	tokenFile := filepath.Join(dataDir, "admin-token")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("the generated admin token: %v", err)
	}

	// admin runs "scimgate admin ARGS" against the gateway with the
	// generated token (or auth, when given) and checks its exit code.
	admin := func(t *testing.T, code int, auth []string, args ...string) (stdout, stderr string) {
		t.Helper()
		if auth == nil {
			auth = []string{"--token-file", tokenFile}
		}
		var out, errOut bytes.Buffer
		got := run(append(append([]string{"admin", "--url", adminURL}, auth...), args...), &out, &errOut)
		if got != code {
			t.Fatalf("scimgate admin %s: exit %d, want %d\\nstdout:\\n%s\\nstderr:\\n%s", strings.Join(args, " "), got, code, out.String(), errOut.String())
		}
		if s := out.String() + errOut.String(); strings.Contains(s, strings.TrimSpace(string(token))) {
			t.Fatalf("scimgate admin %s shows the admin token", strings.Join(args, " "))
		}
		return out.String(), errOut.String()
	}
	// adminJSON runs "scimgate admin --json ARGS" and decodes the answer
	// strictly into out.
	adminJSON := func(t *testing.T, out any, args ...string) {
		t.Helper()
		stdout, _ := admin(t, 0, nil, append([]string{"--json"}, args...)...)
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(out); err != nil {
			t.Fatalf("scimgate admin --json %s: %v\\n%s", strings.Join(args, " "), err, stdout)
		}
	}
	// waitTarget polls the target crm until ok holds.
	waitTarget := func(t *testing.T, what string, ok func(adminTarget) bool) adminTarget {
		t.Helper()
		var tg adminTarget
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			adminJSON(t, &tg, "target", "crm")
			if ok(tg) {
				return tg
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: target %+v", what, tg)
			}
		}
	}
	create := func(t *testing.T, userName, title string) string {
		t.Helper()
		status, body, err := scimDo("POST", p.base+"/Users", map[string]any{"userName": userName, "title": title})
		var u struct{ ID string }
		if err != nil || status != http.StatusCreated || json.Unmarshal(body, &u) != nil {
			t.Fatalf("creating %s: %d %v %s", userName, status, err, body)
		}
		return u.ID
	}

	alice := create(t, "alice@example.com", "clerk")
	// Pending is 0 before alice is even planned: wait for her anchor.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var o adminObject
		adminJSON(t, &o, "object", "user", alice)
		if len(o.Targets) == 1 && o.Targets[0].Anchor != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice not delivered: %+v", o)
		}
	}
	tg := waitTarget(t, "alice delivered", func(tg adminTarget) bool { return tg.Pending == 0 })
	if tg.Name != "crm" || tg.Type != "memory" || tg.Health == "down" || tg.DeadLetters != 0 {
		t.Fatalf("target before the conflict: %+v", tg)
	}
	bob := create(t, "bob@example.com", "clerk")
	waitTarget(t, "bob's create dead", func(tg adminTarget) bool { return tg.DeadLetters == 1 && tg.Pending == 0 })

	out, _ := admin(t, 0, nil, "targets")
	if !regexp.MustCompile(`(?m)^crm +memory +(up|unknown) +0 +0 +1 +- +0 +no$`).MatchString(out) {
		t.Errorf("targets:\n%s", out)
	}
	var dead struct{ DeadLetters []adminOperation }
	adminJSON(t, &dead, "deadletters", "crm")
	if len(dead.DeadLetters) != 1 || dead.DeadLetters[0].ID != bob || dead.DeadLetters[0].Op != "create" || !dead.DeadLetters[0].Dead {
		t.Fatalf("dead letters (bob %s): %+v", bob, dead)
	}
	seq := fmt.Sprint(dead.DeadLetters[0].Seq)
	out, _ = admin(t, 0, nil, "deadletters", "crm")
	if !regexp.MustCompile(`(?m)^` + seq + ` +User +bob@example\.com +` + bob + ` +create +1 +\S+Z\n  error: targets: conflict`).MatchString(out) {
		t.Errorf("deadletters:\n%s", out)
	}
	out, _ = admin(t, 0, nil, "object", "user", "BOB@example.com") // by userName
	if !strings.HasPrefix(out, "User bob@example.com, id "+bob+" (in the SCIM store)\n") ||
		!regexp.MustCompile(`(?m)^crm +- +(yes|no) +yes +no +0 +1$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^crm +`+seq+` +create +dead .*\n  error: targets: conflict`).MatchString(out) {
		t.Errorf("object bob:\n%s", out)
	}
	var obj adminObject
	adminJSON(t, &obj, "object", "user", alice)
	if !obj.Exists || len(obj.Targets) != 1 || !obj.Targets[0].Present || obj.Targets[0].Anchor == "" {
		t.Errorf("object alice: %+v", obj)
	}

	// Retried (planned again: a new operation), the create conflicts again.
	if out, _ = admin(t, 0, nil, "retry", "crm", seq); out != "crm: dead letter "+seq+" queued again\n" {
		t.Errorf("retry:\n%s", out)
	}
	waitTarget(t, "bob's retried create dead again", func(tg adminTarget) bool { return tg.DeadLetters == 1 && tg.Pending == 0 })
	adminJSON(t, &dead, "deadletters", "crm")
	if len(dead.DeadLetters) != 1 || dead.DeadLetters[0].ID != bob || fmt.Sprint(dead.DeadLetters[0].Seq) == seq {
		t.Fatalf("dead letters after the retry (bob %s, was %s): %+v", bob, seq, dead)
	}
	again := fmt.Sprint(dead.DeadLetters[0].Seq)
	if out, _ = admin(t, 0, nil, "discard", "crm", "--all"); out != "crm: dead letter "+again+" discarded\n" {
		t.Errorf("discard --all:\n%s", out)
	}
	if out, _ = admin(t, 0, nil, "deadletters", "crm"); out != "crm: no dead letters\n" {
		t.Errorf("deadletters after the discard:\n%s", out)
	}
	_, errOut := admin(t, 1, nil, "retry", "crm", seq)
	if !strings.Contains(errOut, "(HTTP 404)") {
		t.Errorf("retry of a discarded dead letter: %s", errOut)
	}

	// Fixed in SCIM and re-synced, bob reaches the target.
	if status, body, err := scimDo("PATCH", p.base+"/Users/"+bob, patch("Replace", "title", "manager")); err != nil || status != http.StatusOK {
		t.Fatalf("patching bob: %d %v %s", status, err, body)
	}
	if out, _ = admin(t, 0, nil, "resync", "user", bob, "--target", "crm"); !strings.HasPrefix(out, "User "+bob+": re-sync queued in crm (") {
		t.Errorf("resync user:\n%s", out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		adminJSON(t, &obj, "object", "user", bob)
		if len(obj.Targets) == 1 && obj.Targets[0].Present {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob not in the target after the re-sync: %+v", obj)
		}
	}
	if out, _ = admin(t, 0, nil, "resync", "crm"); !regexp.MustCompile(`^crm: re-sync queued for \d+ objects?\n$`).MatchString(out) {
		t.Errorf("resync crm:\n%s", out)
	}
	waitTarget(t, "the re-sync delivered", func(tg adminTarget) bool { return tg.Pending == 0 })

	// More than two deletes: the guard holds them until released.
	if _, errOut = admin(t, 1, nil, "release", "crm"); !strings.Contains(errOut, "(HTTP 409)") {
		t.Errorf("release with nothing held: %s", errOut)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, create(t, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("title %d", i)))
	}
	waitTarget(t, "three users delivered", func(tg adminTarget) bool { return tg.Pending == 0 })
	for _, id := range ids {
		if status, body, err := scimDo("DELETE", p.base+"/Users/"+id, nil); err != nil || status != http.StatusNoContent {
			t.Fatalf("deleting %s: %d %v %s", id, status, err, body)
		}
	}
	tg = waitTarget(t, "the deletes held", func(tg adminTarget) bool { return tg.GuardHolding && tg.Held > 0 && tg.Pending == tg.Held })
	out, _ = admin(t, 0, nil, "held", "crm")
	if got := strings.Count(out, " delete "); got != tg.Held || !strings.Contains(out, "scimgate admin release crm") {
		t.Errorf("held (%d):\n%s", tg.Held, out)
	}
	if out, _ = admin(t, 0, nil, "targets"); !strings.Contains(out, "crm: the deletion guard is holding") {
		t.Errorf("targets while holding:\n%s", out)
	}
	if out, _ = admin(t, 0, nil, "release", "crm"); out != fmt.Sprintf("crm: released %s for delivery\n", plural(tg.Held, "held operation")) {
		t.Errorf("release:\n%s", out)
	}
	waitTarget(t, "the deletes delivered", func(tg adminTarget) bool { return tg.Pending == 0 && tg.Held == 0 })

	// The audit log has it all, newest first, page by page.
	out, _ = admin(t, 0, nil, "audit", "--id", "bob@example.com")
	if byID, _ := admin(t, 0, nil, "audit", "--id", bob); byID != out {
		t.Errorf("audit --id by userName:\n%s\nby id:\n%s", out, byID)
	}
	bobCell := `User +bob@example\.com +` + bob
	for _, want := range []string{
		`(?m)^\S+Z +admin: \S.* +resync +` + bobCell + ` +crm +ok$`,
		`(?m)^\S+Z +engine +create +` + bobCell + ` +crm +ok$`,
		`(?m)^\S+Z +admin: \S.* +discard dead letter +` + bobCell + ` +crm +ok\n  detail: operation ` + again + ` \(create\)$`,
		`(?m)^\S+Z +admin: \S.* +retry dead letter +` + bobCell + ` +crm +ok$`,
		`(?m)^\S+Z +engine +create +` + bobCell + ` +crm +dead\n  detail: targets: conflict`,
		`(?m)^\S+Z +scim: \S.* +update +` + bobCell + ` +- +ok\n  detail: attributes: title$`,
		`(?m)^\S+Z +scim: \S.* +create +` + bobCell + ` +- +ok\n  detail: attributes: title, userName$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("audit --id bob does not match %s:\n%s", want, out)
		}
	}
	// plan --explain reads the same data directory while the gateway runs.
	var planOut, planErr bytes.Buffer
	if code := run([]string{"plan", "--config", cfgFile, "--data-dir", dataDir, "--explain", "BOB@example.com"}, &planOut, &planErr); code != 0 ||
		!strings.HasPrefix(planOut.String(), "User bob@example.com, id "+bob+" (in the SCIM store)\n") ||
		!strings.Contains(planOut.String(), "crm (memory): in scope\n  scope (* decided):\n  *  all: true\n") ||
		!strings.Contains(planOut.String(), "    userName = \"manager\" (source title)\n  state: anchor ") {
		t.Errorf("plan --explain bob: exit %d\n%s%s", code, planOut.String(), planErr.String())
	}
	planOut.Reset()
	if code := run([]string{"plan", "--config", cfgFile, "--data-dir", dataDir, "--explain", "nobody@example.com"}, &planOut, &planErr); code != 1 ||
		!strings.Contains(planErr.String(), `no user or group has the id, userName or displayName "nobody@example.com"`) {
		t.Errorf("plan --explain nobody: exit %d\n%s%s", code, planOut.String(), planErr.String())
	}

	var page adminAuditPage
	adminJSON(t, &page, "audit", "--limit", "1")
	all, _ := admin(t, 0, nil, "audit", "--limit", "2", "--all")
	one, _ := admin(t, 0, nil, "audit", "--limit", "1000")
	if page.Next == 0 || len(page.Entries) != 1 || all != one {
		t.Errorf("audit pages: first %+v\n--limit 2 --all:\n%s\n--limit 1000:\n%s", page, all, one)
	}

	// Refusals.
	if _, errOut = admin(t, 1, nil, "target", "nope"); !strings.Contains(errOut, "(HTTP 404)") || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown target: %s", errOut)
	}
	for _, tc := range []struct{ name, token, from string }{
		{"wrong admin token", "not-the-admin-token", "--token"},
		{"the SCIM token", "kill9-token-0123456789abcdef0123456789", "--token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut := admin(t, 1, []string{"--token", tc.token}, "targets")
			if !strings.Contains(errOut, "refused the admin token from "+tc.from) || !strings.Contains(errOut, "(HTTP 401)") || strings.Contains(errOut, tc.token) {
				t.Errorf("stderr: %s", errOut)
			}
		})
	}
}
