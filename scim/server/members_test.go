package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/scim"
)

// countingStore is a real store that counts what the SCIM layer reads and
// writes through it: member rows read (Store.Members and Tx.Members) and
// the Data and index entries of resources written (Tx.Create and
// Tx.Update).
type countingStore struct {
	store.Store
	mu           sync.Mutex
	memberReads  int // Members calls
	memberRows   int // rows they returned
	indexWritten int // index entries of Create and Update
	dataWritten  int // bytes of Data of Create and Update
}

func (c *countingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.memberReads, c.memberRows, c.indexWritten, c.dataWritten = 0, 0, 0, 0
}

func (c *countingStore) read(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.memberReads++
	c.memberRows += n
}

func (c *countingStore) wrote(r *store.Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.indexWritten += len(r.Index)
	c.dataWritten += len(r.Data)
}

func (c *countingStore) Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error) {
	ms, err := c.Store.Members(ctx, typ, id, after, limit)
	c.read(len(ms))
	return ms, err
}

func (c *countingStore) Write(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	return c.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return fn(ctx, countingTx{Tx: tx, c: c})
	})
}

type countingTx struct {
	store.Tx
	c *countingStore
}

func (t countingTx) Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error) {
	ms, err := t.Tx.Members(ctx, typ, id, after, limit)
	t.c.read(len(ms))
	return ms, err
}

func (t countingTx) Create(ctx context.Context, r *store.Resource) error {
	t.c.wrote(r)
	return t.Tx.Create(ctx, r)
}

func (t countingTx) Update(ctx context.Context, r *store.Resource) error {
	t.c.wrote(r)
	return t.Tx.Update(ctx, r)
}

// groupsEnv is a SCIM server over a real SQLite store (counted), with its
// log in a buffer.
type groupsEnv struct {
	t   *testing.T
	st  *countingStore
	srv *Server
	log *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newGroupsEnv(t *testing.T) *groupsEnv {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &groupsEnv{t: t, st: &countingStore{Store: st}, log: &syncBuffer{}}
	e.srv, err = New(Options{Store: e.st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		MaxBodyBytes: 4 << 20, MaxResults: 1000, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20,
		Logger: slog.New(slog.NewTextHandler(e.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type answer struct {
	code int
	etag string
	body map[string]any
	raw  string
}

func (e *groupsEnv) do(method, path, body string) answer {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
	a := answer{code: rec.Code, etag: rec.Header().Get("ETag"), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &a.body)
	return a
}

func (e *groupsEnv) must(want int, method, path, body string) answer {
	e.t.Helper()
	a := e.do(method, path, body)
	if a.code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, a.code, a.raw, want)
	}
	return a
}

func (e *groupsEnv) user(name string) string {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/Users", `{"userName":"`+name+`"}`).body["id"].(string)
}

func (e *groupsEnv) group(name string, members ...string) string {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/Groups", `{"displayName":"`+name+`","members":`+memberList(members...)+`}`).body["id"].(string)
}

// members returns the member ids of group id as stored (rows).
func (e *groupsEnv) members(id string) []string {
	e.t.Helper()
	ids, err := scim.GroupMembers(e.t.Context(), e.st.Store, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func memberList(ids ...string) string {
	els := make([]string, len(ids))
	for i, id := range ids {
		els[i] = `{"value":"` + id + `"}`
	}
	return "[" + strings.Join(els, ",") + "]"
}

// patchOps is the PatchOp request body of ops (JSON objects).
func patchOps(ops ...string) string {
	return `{"schemas":["` + scim.URNPatchOp + `"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestGroupPatchMembers: the PATCH shapes Entra and Okta send change the
// member rows directly, without reading the group's members; other ops on
// members take the generic path and are still right; ops apply in order;
// adding a member already there and removing a non-member change nothing
// (not even the version).
func TestGroupPatchMembers(t *testing.T) {
	e := newGroupsEnv(t)
	u1, u2, u3 := e.user("u1"), e.user("u2"), e.user("u3")
	sub := e.group("sub")
	for _, tc := range []struct {
		name    string
		initial []string
		ops     func(g string) []string
		want    []string // members after, in order
		// fast: the PATCH reads no member rows (else it takes the
		// generic path, which reads them all).
		fast bool
		// same: nothing changes, the version neither.
		same        bool
		displayName string // want, when not ""
	}{
		{"Entra add", []string{u1}, func(string) []string {
			return []string{`{"op":"Add","path":"members","value":` + memberList(u2, u3) + `}`}
		}, []string{u1, u2, u3}, true, false, ""},
		{"add a group", nil, func(string) []string {
			return []string{`{"op":"add","path":"members","value":` + memberList(sub) + `}`}
		}, []string{sub}, true, false, ""},
		{"add without path, with displayName", []string{u1}, func(string) []string {
			return []string{`{"op":"add","value":{"members":` + memberList(u2) + `,"displayName":"renamed"}}`}
		}, []string{u1, u2}, true, false, "renamed"},
		{"Entra remove with value", []string{u1, u2, u3}, func(string) []string {
			return []string{`{"op":"Remove","path":"members","value":` + memberList(u2) + `}`}
		}, []string{u1, u3}, true, false, ""},
		{"remove by filter", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"remove","path":"members[value eq \"` + u1 + `\"]"}`}
		}, []string{u2}, true, false, ""},
		{"add an existing member", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"Add","path":"members","value":[{"value":"` + u1 + `","display":"other"}]}`}
		}, []string{u1, u2}, true, true, ""},
		{"remove a non-member", []string{u1}, func(string) []string {
			return []string{`{"op":"Remove","path":"members","value":` + memberList(u3) + `}`,
				`{"op":"remove","path":"members[value eq \"` + u2 + `\"]"}`}
		}, []string{u1}, true, true, ""},
		{"add then remove in one request", []string{u1}, func(string) []string {
			return []string{`{"op":"add","path":"members","value":` + memberList(u2) + `}`,
				`{"op":"remove","path":"members","value":` + memberList(u2, u1) + `}`,
				`{"op":"add","path":"members","value":` + memberList(u3) + `}`}
		}, []string{u3}, true, false, ""},
		{"rename only", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"Replace","path":"displayName","value":"new name"}`}
		}, []string{u1, u2}, true, false, "new name"},
		{"replace members (generic path)", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"replace","path":"members","value":` + memberList(u3, u1) + `}`}
		}, []string{u1, u3}, false, false, ""},
		{"remove every member (generic path)", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"remove","path":"members"}`}
		}, nil, false, false, ""},
		{"remove by another filter (generic path)", []string{u1, sub}, func(string) []string {
			return []string{`{"op":"remove","path":"members[type eq \"Group\"]"}`}
		}, []string{u1}, false, false, ""},
		{"filter literal in upper case (generic path)", []string{u1, u2}, func(string) []string {
			return []string{`{"op":"remove","path":"members[value eq \"` + strings.ToUpper(u2) + `\"]"}`}
		}, []string{u1}, false, false, ""},
		{"generic path keeps request order", []string{u1}, func(string) []string {
			return []string{`{"op":"add","path":"members","value":` + memberList(u2) + `}`,
				`{"op":"replace","path":"members","value":` + memberList(u3) + `}`,
				`{"op":"add","path":"members","value":` + memberList(u1) + `}`}
		}, []string{u1, u3}, false, false, ""}, // a kept member keeps its place
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.group("g "+tc.name, tc.initial...)
			before := e.must(http.StatusOK, "GET", "/Groups/"+g+"?excludedAttributes=members", "")
			e.st.reset()
			a := e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(tc.ops(g)...))
			if reads := e.st.memberReads; tc.fast != (reads == 0) {
				t.Errorf("the PATCH read the members %d times; want it to read them: %v", reads, !tc.fast)
			}
			if got := e.members(g); !slices.Equal(got, tc.want) {
				t.Errorf("members %v, want %v", got, tc.want)
			}
			if (a.etag == before.etag) != tc.same {
				t.Errorf("ETag %s before, %s after; want the same: %v", before.etag, a.etag, tc.same)
			}
			after := e.must(http.StatusOK, "GET", "/Groups/"+g, "")
			if after.etag != a.etag {
				t.Errorf("PATCH answered ETag %s, GET %s", a.etag, after.etag)
			}
			if tc.displayName != "" && after.body["displayName"] != tc.displayName {
				t.Errorf("displayName %v, want %q", after.body["displayName"], tc.displayName)
			}
			var got []string
			members, _ := after.body["members"].([]any)
			for _, m := range members {
				el := m.(map[string]any)
				got = append(got, el["value"].(string))
				typ, ref := "User", "/Users/"
				if el["value"] == sub {
					typ, ref = "Group", "/Groups/"
				}
				if el["type"] != typ || !strings.HasSuffix(fmt.Sprint(el["$ref"]), ref+el["value"].(string)) {
					t.Errorf("member %v: want type %s and $ref set by the server", el, typ)
				}
				if el["display"] != nil {
					t.Errorf("member %v: adding an existing member changed it", el)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("GET members %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGroupPatchErrors: a PATCH that fails changes nothing, whatever
// path its member ops took, and errors name the op.
func TestGroupPatchErrors(t *testing.T) {
	e := newGroupsEnv(t)
	u1, u2 := e.user("u1"), e.user("u2")
	for _, tc := range []struct {
		name   string
		ops    func(g string) []string
		detail string
	}{
		{"self", func(g string) []string {
			return []string{`{"op":"add","path":"members","value":` + memberList(u2) + `}`,
				`{"op":"add","path":"members","value":` + memberList(g) + `}`}
		}, "a group cannot be a member of itself"},
		{"no value", func(string) []string {
			return []string{`{"op":"add","path":"members","value":[{"display":"x"}]}`}
		}, `an element has no \"value\"`},
		{"bad element", func(string) []string {
			return []string{`{"op":"remove","path":"members","value":` + memberList(u1) + `}`,
				`{"op":"add","path":"members","value":[{"value":5}]}`}
		}, "Operations[1]: "},
		{"bad displayName after a member op", func(string) []string {
			return []string{`{"op":"remove","path":"members","value":` + memberList(u1) + `}`,
				`{"op":"replace","path":"displayName","value":7}`}
		}, "Operations[1]: "},
		{"readOnly", func(string) []string {
			return []string{`{"op":"remove","path":"members","value":` + memberList(u1) + `}`,
				`{"op":"replace","path":"id","value":"x"}`}
		}, "Operations[1]: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.group("g "+tc.name, u1)
			before := e.must(http.StatusOK, "GET", "/Groups/"+g, "")
			a := e.must(http.StatusBadRequest, "PATCH", "/Groups/"+g, patchOps(tc.ops(g)...))
			if !strings.Contains(a.raw, tc.detail) {
				t.Errorf("error %s, want it to say %q", a.raw, tc.detail)
			}
			after := e.must(http.StatusOK, "GET", "/Groups/"+g, "")
			if after.raw != before.raw {
				t.Errorf("a failed PATCH changed the group:\n%s\n%s", before.raw, after.raw)
			}
		})
	}
}

// TestGroupUnknownMembers: a PATCH add skips ids that name no User or
// Group, applies the rest, answers as usual, and logs and audits the
// skipped ids (Entra sends the same membership changes every cycle until
// they succeed: one stale id must not block the others); POST and PUT,
// full representations, refuse them.
func TestGroupUnknownMembers(t *testing.T) {
	e := newGroupsEnv(t)
	u1, u2 := e.user("u1"), e.user("u2")
	g := e.group("g", u1)
	stale := "0b0e1c5e-0000-4000-8000-00000000dead"

	e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(
		`{"op":"Add","path":"members","value":`+memberList(stale, u2)+`}`))
	if got := e.members(g); !slices.Equal(got, []string{u1, u2}) {
		t.Errorf("members %v, want %v (the known id added)", got, []string{u1, u2})
	}
	log := e.log.String()
	if strings.Count(log, "level=WARN") != 1 || !strings.Contains(log, "group="+g) || !strings.Contains(log, stale) || strings.Contains(log, u2) {
		t.Errorf("want one warning naming the group and the skipped id only, log:\n%s", log)
	}
	entries, err := e.st.Audit(t.Context(), store.AuditQuery{ID: g, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, a := range entries {
		details = append(details, a.Result+": "+a.Detail)
	}
	if !slices.Contains(details, "failed: members not added, no User or Group has the id (1): "+stale) ||
		!slices.Contains(details, "ok: members added (1): "+u2) {
		t.Errorf("audit of the group: %q", details)
	}

	// Only unknown ids, through the generic path too: nothing changes.
	before := e.must(http.StatusOK, "GET", "/Groups/"+g, "")
	e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(`{"op":"add","path":"members","value":`+memberList(stale)+`}`))
	e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(`{"op":"replace","path":"members","value":`+memberList(u1, u2, stale)+`}`))
	if after := e.must(http.StatusOK, "GET", "/Groups/"+g, ""); after.raw != before.raw {
		t.Errorf("PATCHes of unknown ids changed the group:\n%s\n%s", before.raw, after.raw)
	}

	// Many: the log line is capped.
	var many []string
	for i := range 50 {
		many = append(many, fmt.Sprintf("missing-%02d", i))
	}
	e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(`{"op":"add","path":"members","value":`+memberList(many...)+`}`))
	if log := e.log.String(); !strings.Contains(log, "missing-19 and 30 more") || strings.Contains(log, "missing-20") {
		t.Errorf("the warning should name 20 ids and count the rest:\n%s", log)
	}

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/Groups", `{"displayName":"h","members":` + memberList(u1, stale) + `}`},
		{"PUT", "/Groups/" + g, `{"displayName":"g","members":` + memberList(u1, stale) + `}`},
	} {
		a := e.must(http.StatusBadRequest, tc.method, tc.path, tc.body)
		if a.body["scimType"] != "invalidValue" || !strings.Contains(a.raw, stale) {
			t.Errorf("%s %s: %s, want invalidValue naming %s", tc.method, tc.path, a.raw, stale)
		}
	}
	if got := e.members(g); !slices.Equal(got, []string{u1, u2}) {
		t.Errorf("members after the refused PUT %v, want %v", got, []string{u1, u2})
	}
}

// TestGroupWrites: POST stores the members as rows, not in the group's
// Data, with server-set types and exact duplicates dropped; PUT changes
// only the rows that differ (the journal records the delta).
func TestGroupWrites(t *testing.T) {
	e := newGroupsEnv(t)
	ctx := t.Context()
	u1, u2, u3 := e.user("u1"), e.user("u2"), e.user("u3")
	a := e.must(http.StatusCreated, "POST", "/Groups", `{"displayName":"g","members":[{"value":"`+u1+`"},
		{"value":"`+u2+`","type":"Group"},{"value":"`+u1+`","type":"User"},{"value":"`+u1+`"}]}`)
	g := a.body["id"].(string)
	if ms, _ := a.body["members"].([]any); len(ms) != 2 {
		t.Errorf("POST answered members %v, want 2", a.body["members"])
	}
	sr, err := e.st.Get(ctx, "Group", g)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sr.Data), "members") {
		t.Errorf("the group's Data holds its members: %s", sr.Data)
	}
	rows, err := e.st.Members(ctx, "Group", g, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"type":"User","value":"` + u1 + `"}`, `{"type":"User","value":"` + u2 + `"}`}
	var got []string
	for _, m := range rows {
		got = append(got, string(m.Data))
	}
	if !slices.Equal(got, want) {
		t.Errorf("member rows %q, want %q", got, want)
	}
	elemOf := map[string]int{}
	for _, m := range rows {
		elemOf[m.Value] = m.Elem
	}

	last, err := e.st.Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusOK, "PUT", "/Groups/"+g, `{"displayName":"g","members":`+memberList(u3, u1)+`}`)
	changes, err := e.st.Changes(ctx, last[len(last)-1].Seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	var added, removed []string
	for _, ch := range changes {
		added, removed = append(added, ch.Added...), append(removed, ch.Removed...)
	}
	if !slices.Equal(added, []string{u3}) || !slices.Equal(removed, []string{u2}) {
		t.Errorf("PUT journalled added %v removed %v, want [%s] [%s]", added, removed, u3, u2)
	}
	rows, err = e.st.Members(ctx, "Group", g, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Value != u1 || rows[0].Elem != elemOf[u1] || rows[1].Value != u3 {
		t.Errorf("after PUT: rows %+v; want %s kept as it was, then %s", rows, u1, u3)
	}
	// A PUT without members empties the group.
	e.must(http.StatusOK, "PUT", "/Groups/"+g, `{"displayName":"g"}`)
	if got := e.members(g); len(got) != 0 {
		t.Errorf("after PUT without members: %v", got)
	}
}

// TestGroupReads: GET renders members from the rows; excludedAttributes
// or attributes without members read no member row, in GET and in lists;
// a PATCH answers 204 without reading them, and 200 with them only when
// asked.
func TestGroupReads(t *testing.T) {
	e := newGroupsEnv(t)
	u1, u2 := e.user("u1"), e.user("u2")
	g := e.group("Sales", u1, u2)
	filter := "?filter=" + strings.ReplaceAll(`displayName eq "Sales"`, " ", "%20")
	for _, tc := range []struct {
		name, method, path, body string
		reads                    int // Members calls
		members                  int // members in the answer
	}{
		{"get", "GET", "/Groups/" + g, "", 1, 2},
		{"get excluding members", "GET", "/Groups/" + g + "?excludedAttributes=members", "", 0, 0},
		{"get displayName only", "GET", "/Groups/" + g + "?attributes=displayName", "", 0, 0},
		{"get member values", "GET", "/Groups/" + g + "?attributes=members.value", "", 1, 2},
		{"list", "GET", "/Groups" + filter, "", 1, 2},
		{"list excluding members (Entra)", "GET", "/Groups" + filter + "&excludedAttributes=members", "", 0, 0},
		{"search excluding members", "POST", "/Groups/.search", `{"excludedAttributes":["members"]}`, 0, 0},
		{"patch (204)", "PATCH", "/Groups/" + g, patchOps(`{"op":"add","path":"members","value":` + memberList(u1) + `}`), 0, 0},
		{"patch asking for displayName", "PATCH", "/Groups/" + g + "?attributes=displayName",
			patchOps(`{"op":"replace","path":"displayName","value":"Sales"}`), 0, 0},
		{"patch asking for members", "PATCH", "/Groups/" + g + "?attributes=members",
			patchOps(`{"op":"remove","path":"members","value":` + memberList("nobody") + `}`), 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.st.reset()
			a := e.do(tc.method, tc.path, tc.body)
			if a.code >= 300 {
				t.Fatalf("%d %s", a.code, a.raw)
			}
			if e.st.memberReads != tc.reads {
				t.Errorf("read the members %d times, want %d", e.st.memberReads, tc.reads)
			}
			res := a.body
			if list, ok := a.body["Resources"].([]any); ok {
				if len(list) != 1 {
					t.Fatalf("list: %s", a.raw)
				}
				res = list[0].(map[string]any)
			}
			ms, present := res["members"].([]any)
			if len(ms) != tc.members || (tc.members == 0 && present) {
				t.Errorf("members in the answer: %v, want %d", res["members"], tc.members)
			}
		})
	}
}

// TestUserGroups: a user's read-only groups attribute comes from the
// member index (never from reading a group's members), in GET and in
// lists; deleting a user or a group removes it from the groups that list
// it.
func TestUserGroups(t *testing.T) {
	e := newGroupsEnv(t)
	u1, u2, u3 := e.user("u1"), e.user("u2"), e.user("u3")
	sales := e.group("Sales", u1, u2)
	staff := e.group("Staff", u1, sales)

	groupsOf := func(res map[string]any) []string {
		var out []string
		gs, _ := res["groups"].([]any)
		for _, g := range gs {
			el := g.(map[string]any)
			out = append(out, fmt.Sprint(el["value"], " ", el["display"], " ", el["type"]))
			if !strings.HasSuffix(fmt.Sprint(el["$ref"]), "/Groups/"+el["value"].(string)) {
				t.Errorf("group %v: $ref", el)
			}
		}
		return out
	}
	e.st.reset()
	one := e.must(http.StatusOK, "GET", "/Users/"+u1, "")
	if got, want := groupsOf(one.body), []string{sales + " Sales direct", staff + " Staff direct"}; !slices.Equal(got, want) {
		t.Errorf("groups of u1: %q, want %q", got, want)
	}
	list := e.must(http.StatusOK, "GET", "/Users?count=100", "")
	byUser := map[string][]string{}
	for _, r := range list.body["Resources"].([]any) {
		res := r.(map[string]any)
		byUser[res["id"].(string)] = groupsOf(res)
	}
	if !slices.Equal(byUser[u2], []string{sales + " Sales direct"}) || len(byUser[u3]) != 0 || len(byUser[u1]) != 2 {
		t.Errorf("groups in the list: %q", byUser)
	}
	if e.st.memberReads != 0 {
		t.Errorf("reading users read group members %d times", e.st.memberReads)
	}
	if a := e.must(http.StatusOK, "GET", "/Users/"+u1+"?excludedAttributes=groups", ""); a.body["groups"] != nil {
		t.Errorf("excludedAttributes=groups: %s", a.raw)
	}

	before := e.must(http.StatusOK, "GET", "/Groups/"+sales+"?excludedAttributes=members", "")
	e.must(http.StatusNoContent, "DELETE", "/Users/"+u1, "")
	if got := e.members(sales); !slices.Equal(got, []string{u2}) {
		t.Errorf("Sales after u1's delete: %v", got)
	}
	if got := e.members(staff); !slices.Equal(got, []string{sales}) {
		t.Errorf("Staff after u1's delete: %v", got)
	}
	if after := e.must(http.StatusOK, "GET", "/Groups/"+sales+"?excludedAttributes=members", ""); after.etag == before.etag {
		t.Errorf("the group's version did not change when its member was deleted")
	}
	e.must(http.StatusNoContent, "DELETE", "/Groups/"+sales, "")
	if got := e.members(staff); len(got) != 0 {
		t.Errorf("Staff after Sales' delete: %v", got)
	}
	if a := e.must(http.StatusOK, "GET", "/Users/"+u2, ""); a.body["groups"] != nil {
		t.Errorf("u2 after its group's delete: %s", a.raw)
	}
}

// TestLargeGroupSingleRemove: removing one member of a 20,000-member group
// in Entra's shape touches O(1) rows: it reads no member rows and writes
// no resource (before member rows, the group's Data was rewritten with its
// 19,999 other members and 39,998 index entries). The members are stored
// directly (the remove does not look them up).
func TestLargeGroupSingleRemove(t *testing.T) {
	const size = 20000
	e := newGroupsEnv(t)
	ctx := t.Context()
	g := e.group("All staff")
	elems := make([]any, size)
	for i := range elems {
		elems[i] = map[string]any{"value": uuid.NewString(), "type": "User"}
	}
	rows, err := scim.GroupType().EncodeMembers(elems)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.AddMembers(ctx, "Group", g, rows)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.st.reset()
	gone := rows[size/2].Value
	e.must(http.StatusNoContent, "PATCH", "/Groups/"+g, patchOps(`{"op":"Remove","path":"members","value":[{"value":"`+gone+`"}]}`))
	if e.st.memberRows > 0 || e.st.indexWritten > 0 || e.st.dataWritten > 0 {
		t.Errorf("one remove read %d member rows and wrote %d index entries and %d bytes of Data; want none",
			e.st.memberRows, e.st.indexWritten, e.st.dataWritten)
	}
	if ms := e.members(g); len(ms) != size-1 || slices.Contains(ms, gone) {
		t.Errorf("after the remove: %d members, %s among them: %v", len(ms), gone, slices.Contains(ms, gone))
	}
	// The member's index rows went with it.
	f, err := scim.GroupType().ParseFilter(`members.value eq "` + gone + `"`)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := e.st.Find(ctx, "Group", f.Cond()); err != nil || len(ids) != 0 {
		t.Errorf("the removed member still matches a filter: %v, %v", ids, err)
	}
}
