package reviewweb_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/reviewweb"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/server"
)

const adminToken = "admin-token-of-the-test"

// fixture is a review of the members of group "staff" by their managers,
// in progress, with its pages served: Mia manages Ada (whose displayName
// is hostile HTML) and Bob; Max manages Cy.
type fixture struct {
	t            *testing.T
	mu           sync.Mutex
	now          time.Time
	st           *sqlstore.SQL
	svc          *review.Service
	web          *reviewweb.Handler
	srv          *httptest.Server
	mia, max     string
	ada, bob, cy string
	instance     int64
	key          []byte
	dir          string // the store's directory
	adminChecks  int    // calls of Options.Admin
}

const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

func newFixture(t *testing.T, justify bool, edit ...func(*review.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), key: bytes.Repeat([]byte("k"), 32)}
	f.dir = t.TempDir()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(f.dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f.st = st
	api, err := server.New(server.Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()},
		BasePath: "/scim/v2", MaxBodyBytes: 1 << 20, MaxResults: 1000, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, body map[string]any) string {
		t.Helper()
		b, _ := json.Marshal(body)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/scim/v2"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/scim+json")
		api.ServeHTTP(rec, req)
		if rec.Code != 201 {
			t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out["id"].(string)
	}
	user := func(name, display, manager string) string {
		body := map[string]any{"userName": name, "displayName": display, "emails": []any{map[string]any{"value": name, "primary": true}}}
		if manager != "" {
			body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
		}
		return post("/Users", body)
	}
	f.mia = user("mia@contoso.example", "Mia", "")
	f.max = user("max@contoso.example", "Max", "")
	f.ada = user("ada@contoso.example", hostile, f.mia)
	f.bob = user("bob@contoso.example", "Bob", f.mia)
	f.cy = user("cy@contoso.example", "Cy", f.max)
	members := []any{}
	for _, id := range []string{f.ada, f.bob, f.cy} {
		members = append(members, map[string]any{"value": id})
	}
	post("/Groups", map[string]any{"displayName": "staff", "members": members})
	def := review.Config{Name: "staff-access", DescriptionForReviewers: "Who still needs staff access?",
		Resource: review.ResourceConfig{Group: "staff"}, Reviewers: review.ReviewersConfig{Type: review.ReviewersManager},
		Recurrence: review.RecurrenceConfig{DurationDays: 7, StartDate: f.now.Format(time.RFC3339)},
		Settings:   review.SettingsConfig{JustificationRequired: justify}}
	for _, e := range edit {
		e(&def)
	}
	if f.svc, err = review.New(review.Options{Store: st, Definitions: []review.Config{def}, Now: f.clock}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.RunDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("starting the review: %d, %v", n, err)
	}
	ins, err := f.svc.Instances(t.Context(), "")
	if err != nil || len(ins) != 1 {
		t.Fatalf("instances: %v, %v", ins, err)
	}
	f.instance = ins[0].ID
	f.srv = httptest.NewServer(nil)
	t.Cleanup(f.srv.Close)
	if f.web, err = reviewweb.New(reviewweb.Options{Reviews: f.svc, Store: st, Key: f.key, BaseURL: func() string { return f.srv.URL },
		Admin: func(_ *http.Request, tok string) (string, error) {
			f.mu.Lock()
			f.adminChecks++
			f.mu.Unlock()
			if subtle.ConstantTimeCompare([]byte(tok), []byte(adminToken)) != 1 {
				return "", errors.New("bad token")
			}
			return "static token #1", nil
		}}); err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = f.web
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// browser is an HTTP client with its cookies, that follows no redirect.
type browser struct {
	f *fixture
	c *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the status and the body.
func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.f.t.Context(), method, b.f.srv.URL+path, body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// signIn exchanges a link of reviewer and returns the page's CSRF token.
func (b *browser) signIn(reviewer string) string {
	b.f.t.Helper()
	link := b.f.web.Link(reviewer)
	u, _ := url.Parse(link)
	code, body := b.do("GET", u.RequestURI(), nil)
	if code != 200 || !strings.Contains(body, "Sign in and start reviewing") {
		b.f.t.Fatalf("GET link: %d %s", code, body)
	}
	if code, body := b.do("POST", "/reviews/signin", url.Values{"t": {u.Query().Get("t")}, "csrf": {formCSRF(b.f.t, body)}}); code != 303 {
		b.f.t.Fatalf("POST signin: %d %s", code, body)
	}
	return b.csrf()
}

// adminSignIn posts token on the sign-in page and returns the status.
func (b *browser) adminSignIn(token string) int {
	b.f.t.Helper()
	_, body := b.do("GET", "/reviews/", nil)
	code, _ := b.do("POST", "/reviews/admin/signin", url.Values{"token": {token}, "csrf": {formCSRF(b.f.t, body)}})
	return code
}

// formCSRF is the CSRF token of a page's forms.
func formCSRF(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token on the page: %s", body)
	}
	return m[1]
}

// cookie returns the value of the browser's cookie name ("" if none).
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.f.srv.URL + "/reviews/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of the home page.
func (b *browser) csrf() string {
	b.f.t.Helper()
	code, body := b.do("GET", "/reviews/", nil)
	m := csrfRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		b.f.t.Fatalf("home: %d, no csrf token: %s", code, body)
	}
	return m[1]
}

// decisions returns the items' decisions, by user id.
func (f *fixture) decisions() map[string]string {
	f.t.Helper()
	items, err := f.svc.Items(context.Background(), f.instance)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.User] = it.Decision + "/" + it.ReviewedBy + "/" + it.Justification
	}
	return out
}

// index returns the item index of user.
func (f *fixture) index(user string) string {
	f.t.Helper()
	items, err := f.svc.Items(context.Background(), f.instance)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, it := range items {
		if it.User == user {
			return strconv.Itoa(it.Index)
		}
	}
	f.t.Fatalf("no item of %s", user)
	return ""
}

// TestSignInLinks: a link signs its reviewer in once, before its expiry;
// a forged, foreign, expired or used link, or a session token, is refused
// and signs nobody in.
func TestSignInLinks(t *testing.T) {
	tests := []struct {
		name  string
		token func(f *fixture) string
		want  string
		// shown: GET shows the sign-in button (only the POST spends and
		// checks a link's use)
		shown bool
	}{
		{"forged reviewer", func(f *fixture) string {
			tok := linkToken(f.web.Link(f.mia))
			p, sig, _ := strings.Cut(tok, ".")
			b, _ := base64.RawURLEncoding.DecodeString(p)
			b = bytes.Replace(b, []byte(f.mia), []byte(f.max), 1)
			return base64.RawURLEncoding.EncodeToString(b) + "." + sig
		}, "not valid", false},
		{"signed with another key", func(f *fixture) string {
			other, err := reviewweb.New(reviewweb.Options{Reviews: f.svc, Store: f.st, Key: bytes.Repeat([]byte("x"), 32),
				BaseURL: func() string { return "" }, Admin: func(*http.Request, string) (string, error) { return "", errors.New("no") }})
			if err != nil {
				t.Fatal(err)
			}
			return linkToken(other.Link(f.mia))
		}, "not valid", false},
		{"garbage", func(*fixture) string { return "abc.def" }, "not valid", false},
		{"empty", func(*fixture) string { return "" }, "not valid", false},
		{"expired", func(f *fixture) string {
			tok := linkToken(f.web.Link(f.mia))
			f.advance(reviewweb.DefaultLinkTTL)
			return tok
		}, "has expired", false},
		{"used", func(f *fixture) string {
			tok := linkToken(f.web.Link(f.mia))
			b := f.browser()
			_, page := b.do("GET", "/reviews/signin?t="+url.QueryEscape(tok), nil)
			if code, body := b.do("POST", "/reviews/signin", url.Values{"t": {tok}, "csrf": {formCSRF(t, page)}}); code != 303 {
				t.Fatalf("first use: %d %s", code, body)
			}
			return tok
		}, "used already", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, false)
			tok := tc.token(f)
			b := f.browser()
			code, body := b.do("GET", "/reviews/signin?t="+url.QueryEscape(tok), nil)
			if tc.shown {
				if code != 200 || !strings.Contains(body, "Sign in and start reviewing") {
					t.Errorf("GET: %d, want the sign-in button: %s", code, body)
				}
			} else if code != 401 || !strings.Contains(body, tc.want) {
				t.Errorf("GET: %d, want 401 saying %q: %s", code, tc.want, body)
			}
			code, body = b.do("POST", "/reviews/signin", url.Values{"t": {tok}, "csrf": {formCSRF(t, body)}})
			if code != 401 || !strings.Contains(body, tc.want) {
				t.Errorf("POST: %d, want 401 saying %q: %s", code, tc.want, body)
			}
			if _, body := b.do("GET", "/reviews/", nil); !strings.Contains(body, "Admin token") || strings.Contains(body, "Bob") {
				t.Errorf("signed in after a refused link: %s", body)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		f := newFixture(t, false)
		b := f.browser()
		b.signIn(f.mia)
		for range reviewweb.DefaultSessionTTL/(20*time.Minute) - 1 { // in use all along: no idle timeout
			f.advance(20 * time.Minute)
			if _, body := b.do("GET", "/reviews/", nil); !strings.Contains(body, "Bob") {
				t.Fatalf("the session ended while in use at %s: %s", f.clock(), body)
			}
		}
		f.advance(20*time.Minute - time.Second)
		if _, body := b.do("GET", "/reviews/", nil); !strings.Contains(body, "Bob") || !strings.Contains(body, "Signed in as <strong>Mia</strong>") {
			t.Errorf("reviewer page: %s", body)
		}
		f.advance(time.Second) // the session expires
		if _, body := b.do("GET", "/reviews/", nil); strings.Contains(body, "Bob") {
			t.Errorf("an expired session still shows the items: %s", body)
		}
	})
}

// linkToken is the token of a link.
func linkToken(link string) string {
	u, _ := url.Parse(link)
	return u.Query().Get("t")
}

// TestCSRF: a form without the session's CSRF token, or with another
// session's, is refused and changes nothing.
func TestCSRF(t *testing.T) {
	f := newFixture(t, false)
	mia := f.browser()
	token := mia.signIn(f.mia)
	other := f.browser().signIn(f.mia)
	before := f.decisions()
	for name, csrf := range map[string]string{"none": "", "another session's": other, "mangled": token + "x"} {
		t.Run(name, func(t *testing.T) {
			code, body := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {strconv.FormatInt(f.instance, 10)},
				"one": {f.index(f.bob) + ":Approve"}})
			if code != 403 || !strings.Contains(body, "nothing was changed") {
				t.Errorf("%d, want 403: %s", code, body)
			}
			if got := f.decisions(); !maps.Equal(got, before) {
				t.Errorf("decisions changed: %v, were %v", got, before)
			}
		})
	}
	// The same form with the token is recorded.
	code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {token}, "instance": {strconv.FormatInt(f.instance, 10)},
		"one": {f.index(f.bob) + ":Approve"}, "j" + f.index(f.bob): {"works here"}})
	if got := f.decisions()[f.bob]; code != 303 || got != "Approve/"+f.mia+"/works here" {
		t.Errorf("with the token: %d, %s", code, got)
	}
}

// TestOtherReviewersItems: a reviewer sees only their own items and
// cannot decide another's; nothing changes.
func TestOtherReviewersItems(t *testing.T) {
	f := newFixture(t, false)
	max := f.browser()
	csrf := max.signIn(f.max)
	_, body := max.do("GET", "/reviews/", nil)
	if !strings.Contains(body, "cy@contoso.example") || strings.Contains(body, "bob@contoso.example") || strings.Contains(body, "ada@contoso.example") {
		t.Errorf("Max's page shows other items or not his: %s", body)
	}
	before := f.decisions()
	for name, form := range map[string]url.Values{
		"one":  {"one": {f.index(f.bob) + ":Deny"}},
		"bulk": {"item": {f.index(f.cy), f.index(f.ada)}, "decision": {"Deny"}, "action": {"bulk"}},
	} {
		t.Run(name, func(t *testing.T) {
			form.Set("csrf", csrf)
			form.Set("instance", strconv.FormatInt(f.instance, 10))
			code, body := max.do("POST", "/reviews/decide", form)
			if code != 403 || !strings.Contains(body, "not yours to review") {
				t.Errorf("%d, want 403: %s", code, body)
			}
			if got := f.decisions(); !maps.Equal(got, before) {
				t.Errorf("decisions changed: %v, were %v", got, before)
			}
		})
	}
	// A reviewer's session is no admin's.
	if code, _ := max.do("GET", "/reviews/admin/review/staff-access", nil); code != 403 {
		t.Errorf("admin page for a reviewer: %d, want 403", code)
	}
}

// TestEscaping: a hostile displayName is shown as text on the reviewer's
// and the admin's pages.
func TestEscaping(t *testing.T) {
	f := newFixture(t, false)
	mia := f.browser()
	mia.signIn(f.mia)
	admin := f.browser()
	if code := admin.adminSignIn(adminToken); code != 303 {
		t.Fatalf("admin sign-in: %d", code)
	}
	for name, b := range map[string]*browser{"reviewer": mia, "admin": admin} {
		path := "/reviews/"
		if name == "admin" {
			path = "/reviews/admin/review/staff-access"
		}
		_, body := b.do("GET", path, nil)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s page: the displayName is not escaped: %s", name, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s page: the escaped displayName is missing: %s", name, body)
		}
	}
}

// TestDecisions: one by one, in bulk, accepting the recommendations;
// a missing justification or selection is shown and changes nothing.
func TestDecisions(t *testing.T) {
	f := newFixture(t, true)
	mia := f.browser()
	csrf := mia.signIn(f.mia)
	inst := strconv.FormatInt(f.instance, 10)
	before := f.decisions()
	for name, form := range map[string]url.Values{
		"one without justification":  {"one": {f.index(f.bob) + ":Approve"}},
		"bulk without justification": {"item": {f.index(f.bob), f.index(f.ada)}, "decision": {"Deny"}, "action": {"bulk"}},
		"bulk without items":         {"decision": {"Deny"}, "justification": {"left"}, "action": {"bulk"}},
		"bulk without decision":      {"item": {f.index(f.bob)}, "justification": {"left"}, "action": {"bulk"}},
		"not a decision":             {"one": {f.index(f.bob) + ":Maybe"}, "j" + f.index(f.bob): {"hmm"}},
		"no such item":               {"one": {"99:Approve"}, "j99": {"hmm"}},
	} {
		t.Run(name, func(t *testing.T) {
			form.Set("csrf", csrf)
			form.Set("instance", inst)
			code, body := mia.do("POST", "/reviews/decide", form)
			if code < 400 || !strings.Contains(body, `role="alert"`) || !strings.Contains(strings.ToLower(body), "nothing was changed") {
				t.Errorf("%d, want an error on the page: %s", code, body)
			}
			if got := f.decisions(); !maps.Equal(got, before) {
				t.Errorf("decisions changed: %v, were %v", got, before)
			}
		})
	}
	code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst},
		"item": {f.index(f.bob), f.index(f.ada)}, "decision": {"Deny"}, "justification": {"left the team"}, "action": {"bulk"}})
	if code != 303 {
		t.Fatalf("bulk: %d", code)
	}
	want := map[string]string{f.ada: "Deny/" + f.mia + "/left the team", f.bob: "Deny/" + f.mia + "/left the team", f.cy: "NotReviewed//"}
	if got := f.decisions(); !maps.Equal(got, want) {
		t.Errorf("after the bulk denial: %v, want %v", got, want)
	}
	_, body := mia.do("GET", "/reviews/?saved=2", nil)
	if !strings.Contains(body, "Recorded 2 decision(s).") || !strings.Contains(body, "Decided (2)") || strings.Contains(body, "Pending (") {
		t.Errorf("page after the decisions: %s", body)
	}
	// Undo one, then accept the recommendations: Bob's is approve (no
	// sign-in information).
	if code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "one": {f.index(f.bob) + ":NotReviewed"}}); code != 303 {
		t.Fatalf("undo: %d", code)
	}
	if code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "action": {"accept"}}); code != 303 {
		t.Fatalf("accept: %d", code)
	}
	if got := f.decisions()[f.bob]; !strings.HasPrefix(got, "Approve/"+f.mia+"/accepted the recommendation") {
		t.Errorf("Bob after accepting the recommendations: %s", got)
	}
	// After the end the decisions are final and no longer listed.
	if err := f.svc.Stop(t.Context(), f.instance); err != nil {
		t.Fatal(err)
	}
	code, body = mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "one": {f.index(f.ada) + ":Approve"}, "j" + f.index(f.ada): {"x"}})
	if code != 409 || !strings.Contains(body, "has ended") {
		t.Errorf("deciding after the end: %d %s", code, body)
	}
}

// TestAdmin: the admin token signs an admin in (a wrong one does not);
// the review's page shows the progress per reviewer, stops the instance,
// applies it and exports its results.
func TestAdmin(t *testing.T) {
	f := newFixture(t, false)
	admin := f.browser()
	if code := admin.adminSignIn(adminToken + "x"); code != 401 {
		t.Errorf("wrong admin token: %d, want 401", code)
	}
	if code, _ := admin.do("GET", "/reviews/admin/review/staff-access", nil); code != 401 {
		t.Errorf("admin page without a session: %d, want 401", code)
	}
	if code := admin.adminSignIn(adminToken); code != 303 {
		t.Fatalf("admin sign-in: %d", code)
	}
	_, home := admin.do("GET", "/reviews/", nil)
	if !strings.Contains(home, `href="/reviews/admin/review/staff-access"`) {
		t.Errorf("admin home: %s", home)
	}
	csrf := csrfRE.FindStringSubmatch(home)[1]
	_, page := admin.do("GET", "/reviews/admin/review/staff-access", nil)
	for _, want := range []string{"<strong>3</strong> items: 0 approved, 0 denied, 0 don't know, 3 not reviewed",
		`<td>Mia <span class="muted">(` + f.mia + `)</span></td><td>2</td>`, `<td>Max <span class="muted">(` + f.max + `)</span></td><td>1</td>`, "Stop now", "export/csv"} {
		if !strings.Contains(page, want) {
			t.Errorf("admin page lacks %q: %s", want, page)
		}
	}
	if !strings.Contains(page, "Send reminders now") {
		t.Errorf("admin page lacks the reminders' button: %s", page)
	}
	remind := "/reviews/admin/instances/" + strconv.FormatInt(f.instance, 10) + "/remind"
	if code, _ := admin.do("POST", remind, url.Values{}); code != 403 {
		t.Errorf("remind without csrf: %d, want 403", code)
	}
	// This gateway has no notifications section: the page says so.
	if code, body := admin.do("POST", remind, url.Values{"csrf": {csrf}}); code != 409 || !strings.Contains(body, "no reminder could be sent") {
		t.Errorf("remind without a sender: %d %s", code, body)
	}
	stop := "/reviews/admin/instances/" + strconv.FormatInt(f.instance, 10) + "/stop"
	if code, _ := admin.do("POST", stop, url.Values{}); code != 403 {
		t.Errorf("stop without csrf: %d, want 403", code)
	}
	if in, _ := f.svc.Instance(t.Context(), f.instance); in.Status != store.ReviewInProgress {
		t.Fatalf("stopped without csrf: %s", in.Status)
	}
	if code, _ := admin.do("POST", stop, url.Values{"csrf": {csrf}}); code != 303 {
		t.Fatalf("stop: %d", code)
	}
	if in, _ := f.svc.Instance(t.Context(), f.instance); in.Status != store.ReviewCompleted || in.EndedBy != "admin: static token #1" {
		t.Errorf("after stop: %s by %s", in.Status, in.EndedBy)
	}
	code, csv := admin.do("GET", "/reviews/admin/instances/"+strconv.FormatInt(f.instance, 10)+"/export/csv", nil)
	if code != 200 || !strings.HasPrefix(csv, "review,instance,") || strings.Count(csv, "\n") != 4 {
		t.Errorf("export: %d %s", code, csv)
	}
}

// TestReassign: a reviewer gives checked items to another reviewer, who
// then sees them; an unknown reviewer is shown and changes nothing.
func TestReassign(t *testing.T) {
	f := newFixture(t, false)
	mia := f.browser()
	csrf := mia.signIn(f.mia)
	inst := strconv.FormatInt(f.instance, 10)
	code, body := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "item": {f.index(f.bob)},
		"to": {"nobody-<b>"}, "action": {"reassign"}})
	if code != 400 || !strings.Contains(body, "No user nor email address is &#34;nobody-&lt;b&gt;&#34;") {
		t.Errorf("an unknown reviewer: %d %s", code, body)
	}
	if code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "item": {f.index(f.bob)},
		"to": {"max@contoso.example"}, "action": {"reassign"}}); code != 303 {
		t.Fatalf("reassign: %d", code)
	}
	if _, body := mia.do("GET", "/reviews/?reassigned=1", nil); !strings.Contains(body, "Reassigned 1 item(s).") || strings.Contains(body, "bob@contoso.example") {
		t.Errorf("Mia's page after reassigning Bob: %s", body)
	}
	max := f.browser()
	max.signIn(f.max)
	if _, body := max.do("GET", "/reviews/", nil); !strings.Contains(body, "bob@contoso.example") {
		t.Errorf("Max's page lacks Bob's item: %s", body)
	}
}

// TestSecondStage: in a review's second stage its reviewer (Max, who
// reviewed Cy in the first) sees each item's first decision, who made
// it and why, beside it, and decides it; the first stage's reviewer
// (Mia) no longer sees the item that moved, cannot decide it, nor change
// the one she decided that stayed (shown as final); the admin page shows
// the stage.
func TestSecondStage(t *testing.T) {
	f := newFixture(t, false, func(c *review.Config) {
		c.SecondStage = &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"max@contoso.example"}},
			DurationDays: 3}
	})
	inst := strconv.FormatInt(f.instance, 10)
	mia := f.browser()
	csrf := mia.signIn(f.mia)
	_, body := mia.do("GET", "/reviews/", nil)
	if !strings.Contains(body, "Stage 1 of 2: decide by <strong>2026-03-09 09:00 UTC</strong>") {
		t.Errorf("Mia's page in the first stage: %s", body)
	}
	if code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "one": {f.index(f.ada) + ":Approve"},
		"j" + f.index(f.ada): {"<b>runs</b> payroll"}}); code != 303 {
		t.Fatalf("Mia approves Ada: %d", code)
	}
	if code, _ := mia.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "one": {f.index(f.bob) + ":Deny"},
		"j" + f.index(f.bob): {"left"}}); code != 303 {
		t.Fatalf("Mia denies Bob: %d", code)
	}
	// The first stage ends: Ada (approved) and Cy (left) move to Max.
	f.advance(7 * 24 * time.Hour)
	if _, err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	max := f.browser()
	max.signIn(f.max)
	mia = f.browser() // a new session: the first expired
	csrf = mia.signIn(f.mia)
	_, body = max.do("GET", "/reviews/", nil)
	for _, want := range []string{
		"Stage 2 of 2: decide by <strong>2026-03-12 09:00 UTC</strong>",
		"Pending (2)",
		`<dt>First stage</dt><dd class="stage1">Approved by Mia on 2026-03-02 09:00 UTC: &lt;b&gt;runs&lt;/b&gt; payroll</dd>`,
		`<dt>First stage</dt><dd class="stage1">Not reviewed</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("Max's page lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "bob@contoso.example") {
		t.Errorf("Max's page shows Bob, decided in the first stage: %s", body)
	}
	_, body = mia.do("GET", "/reviews/", nil)
	if strings.Contains(body, "ada@contoso.example") || !strings.Contains(body, "Final: stage 1 has ended") ||
		strings.Contains(body, `value="`+f.index(f.bob)+`:NotReviewed"`) {
		t.Errorf("Mia's page in the second stage: %s", body)
	}
	before := f.decisions()
	for name, form := range map[string]url.Values{
		"the moved item":         {"one": {f.index(f.ada) + ":Deny"}, "j" + f.index(f.ada): {"no"}},
		"the item that stayed":   {"one": {f.index(f.bob) + ":NotReviewed"}},
		"in bulk":                {"item": {f.index(f.ada), f.index(f.cy)}, "decision": {"Deny"}, "action": {"bulk"}},
		"reassign the moved one": {"item": {f.index(f.ada)}, "to": {"mia@contoso.example"}, "action": {"reassign"}},
	} {
		t.Run(name, func(t *testing.T) {
			form.Set("csrf", csrf)
			form.Set("instance", inst)
			code, body := mia.do("POST", "/reviews/decide", form)
			if code != 403 || !strings.Contains(body, "not yours to review") {
				t.Errorf("%d, want 403: %s", code, body)
			}
			if got := f.decisions(); !maps.Equal(got, before) {
				t.Errorf("decisions changed: %v, were %v", got, before)
			}
		})
	}
	csrf = max.csrf()
	if code, _ := max.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {inst}, "one": {f.index(f.ada) + ":Approve"},
		"j" + f.index(f.ada): {"confirmed"}}); code != 303 {
		t.Fatalf("Max approves Ada: %d", code)
	}
	if got := f.decisions()[f.ada]; got != "Approve/"+f.max+"/confirmed" {
		t.Errorf("Ada after Max's decision: %s", got)
	}
	admin := f.browser()
	if code := admin.adminSignIn(adminToken); code != 303 {
		t.Fatalf("admin sign-in: %d", code)
	}
	_, body = admin.do("GET", "/reviews/admin/review/staff-access", nil)
	if !strings.Contains(body, "InProgress, stage 2 of 2") || !strings.Contains(body, "this stage ends 2026-03-12 09:00 UTC") ||
		!strings.Contains(body, "<td>2 (first: Approved by Mia)</td>") {
		t.Errorf("admin page: %s", body)
	}
}
