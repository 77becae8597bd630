package reviewweb_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/reviewweb"
	"github.com/scimgate/scimgate/internal/store"
)

// TestLoginCSRF: a sign-in form posted without its token, with a wrong
// one, with another browser's or after its cookie expired is refused
// with 403 and spends nothing: the link signs in afterwards, the admin
// token is not even checked.
func TestLoginCSRF(t *testing.T) {
	tests := []struct {
		name string
		// csrf returns the token to post from b, whose sign-in page
		// showed token.
		csrf func(f *fixture, b *browser, token string) string
	}{
		{"none", func(*fixture, *browser, string) string { return "" }},
		{"wrong", func(_ *fixture, _ *browser, token string) string { return token + "x" }},
		{"another browser's", func(f *fixture, _ *browser, _ string) string {
			_, body := f.browser().do("GET", "/reviews/", nil)
			return formCSRF(f.t, body)
		}},
		{"cookie expired", func(f *fixture, _ *browser, token string) string {
			f.advance(time.Hour)
			return token
		}},
		{"no cookie", func(_ *fixture, b *browser, token string) string {
			u, _ := url.Parse(b.f.srv.URL + "/reviews/")
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "scimgate_review_signin", Value: "", Path: "/reviews/", MaxAge: -1}})
			return token
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/link", func(t *testing.T) {
			f := newFixture(t, false)
			tok := linkToken(f.web.Link(f.mia))
			b := f.browser()
			_, page := b.do("GET", "/reviews/signin?t="+url.QueryEscape(tok), nil)
			code, body := b.do("POST", "/reviews/signin", url.Values{"t": {tok}, "csrf": {tc.csrf(f, b, formCSRF(t, page))}})
			if code != 403 || !strings.Contains(body, "sign-in form was refused") || !strings.Contains(body, "Sign in and start reviewing") {
				t.Errorf("POST: %d, want 403 with the sign-in button again: %s", code, body)
			}
			if _, home := b.do("GET", "/reviews/", nil); strings.Contains(home, "Bob") {
				t.Errorf("signed in by a refused form: %s", home)
			}
			// The link is still usable, from the refused page's form.
			if code, again := b.do("POST", "/reviews/signin", url.Values{"t": {tok}, "csrf": {formCSRF(t, body)}}); code != 303 {
				t.Fatalf("the link after a refused form: %d %s", code, again)
			}
			if _, home := b.do("GET", "/reviews/", nil); !strings.Contains(home, "Bob") {
				t.Errorf("not signed in with the link: %s", home)
			}
		})
		t.Run(tc.name+"/admin", func(t *testing.T) {
			f := newFixture(t, false)
			b := f.browser()
			_, page := b.do("GET", "/reviews/", nil)
			code, body := b.do("POST", "/reviews/admin/signin", url.Values{"token": {adminToken}, "csrf": {tc.csrf(f, b, formCSRF(t, page))}})
			if code != 403 || !strings.Contains(body, "sign-in form was refused") || !strings.Contains(body, "Admin token") {
				t.Errorf("POST: %d, want 403 with the form again: %s", code, body)
			}
			f.mu.Lock()
			checks := f.adminChecks
			f.mu.Unlock()
			if checks != 0 {
				t.Errorf("the admin token was checked %d time(s) for a refused form", checks)
			}
			if code, _ := b.do("GET", "/reviews/admin/review/staff-access", nil); code != 401 {
				t.Errorf("admin page after a refused form: %d, want 401", code)
			}
		})
	}
}

// TestSessionStore: the store keeps the session id's SHA-256, never the
// id; the cookie is HttpOnly, SameSite=Lax, for /reviews/.
func TestSessionStore(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	b.signIn(f.mia)
	id := b.cookie("scimgate_review")
	if len(id) < 40 {
		t.Fatalf("session id %q: want 32 random bytes", id)
	}
	sum := sha256.Sum256([]byte(id))
	rs, err := f.st.ReviewSession(t.Context(), hex.EncodeToString(sum[:]))
	if err != nil || rs.Reviewer != f.mia || !rs.Created.Equal(f.clock()) || !rs.Expires.Equal(f.clock().Add(reviewweb.DefaultSessionTTL)) {
		t.Errorf("stored session: %+v, %v", rs, err)
	}
	if _, err := f.st.ReviewSession(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the id itself finds a session: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(f.dir, "db*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(id)) {
			t.Errorf("the session id is in %s in clear", filepath.Base(name))
		}
	}
	if len(files) == 0 {
		t.Errorf("no database file in %s", f.dir)
	}
	// The cookie's attributes, as set.
	tok := linkToken(f.web.Link(f.mia))
	_, page := b.do("GET", "/reviews/signin?t="+url.QueryEscape(tok), nil)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/reviews/signin",
		strings.NewReader(url.Values{"t": {tok}, "csrf": {formCSRF(t, page)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set []string
	for _, c := range resp.Cookies() {
		set = append(set, c.Name+":"+strconv.FormatBool(c.HttpOnly)+":"+strconv.Itoa(int(c.SameSite))+":"+c.Path+":"+strconv.Itoa(c.MaxAge))
	}
	want := []string{"scimgate_review:true:" + strconv.Itoa(int(http.SameSiteLaxMode)) + ":/reviews/:28800",
		"scimgate_review_signin:true:" + strconv.Itoa(int(http.SameSiteStrictMode)) + ":/reviews/:-1"}
	if resp.StatusCode != 303 || !slices.Equal(set, want) {
		t.Errorf("sign-in: %d, cookies %q, want %q", resp.StatusCode, set, want)
	}
}

// TestSignOut: signing out revokes the session: its cookie, kept,
// opens nothing and posts nothing afterwards.
func TestSignOut(t *testing.T) {
	f := newFixture(t, false)
	mia := f.browser()
	csrf := mia.signIn(f.mia)
	id := mia.cookie("scimgate_review")
	if code, _ := mia.do("POST", "/reviews/signout", url.Values{}); code != 403 {
		t.Errorf("sign-out without csrf: %d, want 403", code)
	}
	if code, body := mia.do("POST", "/reviews/signout", url.Values{"csrf": {csrf}}); code != 200 || !strings.Contains(body, "You are signed out.") {
		t.Fatalf("sign-out: %d %s", code, body)
	}
	// A browser that kept the cookie (a copy stolen before).
	old := f.browser()
	u, _ := url.Parse(f.srv.URL + "/reviews/")
	old.c.Jar.SetCookies(u, []*http.Cookie{{Name: "scimgate_review", Value: id, Path: "/reviews/"}})
	if _, body := old.do("GET", "/reviews/", nil); strings.Contains(body, "Bob") || !strings.Contains(body, "Admin token") {
		t.Errorf("the signed-out cookie shows the reviewer page: %s", body)
	}
	before := f.decisions()
	if code, _ := old.do("POST", "/reviews/decide", url.Values{"csrf": {csrf}, "instance": {strconv.FormatInt(f.instance, 10)},
		"one": {f.index(f.bob) + ":Approve"}, "j" + f.index(f.bob): {"x"}}); code != 401 {
		t.Errorf("deciding with the signed-out cookie: %d, want 401", code)
	}
	if got := f.decisions(); got[f.bob] != before[f.bob] {
		t.Errorf("decided with the signed-out cookie: %s", got[f.bob])
	}
}

// TestIdleTimeout: a session without a request for IdleTimeout ends; one
// in use does not (until SessionTTL, see TestSignInLinks).
func TestIdleTimeout(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	b.signIn(f.mia)
	for range 3 {
		f.advance(reviewweb.DefaultIdleTimeout - time.Second)
		if _, body := b.do("GET", "/reviews/", nil); !strings.Contains(body, "Bob") {
			t.Fatalf("the session ended before its idle timeout: %s", body)
		}
	}
	f.advance(reviewweb.DefaultIdleTimeout)
	if _, body := b.do("GET", "/reviews/", nil); strings.Contains(body, "Bob") {
		t.Errorf("the session outlived its idle timeout: %s", body)
	}
}

// TestSignInAgain: signing in starts a new session id, and the one the
// browser had (a reviewer's, or one planted by an attacker) opens
// nothing afterwards.
func TestSignInAgain(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	u, _ := url.Parse(f.srv.URL + "/reviews/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "scimgate_review", Value: "planted-by-an-attacker", Path: "/reviews/"}})
	b.signIn(f.mia)
	first := b.cookie("scimgate_review")
	if first == "planted-by-an-attacker" {
		t.Fatal("the planted session id was kept")
	}
	b.signIn(f.mia)
	second := b.cookie("scimgate_review")
	if second == first {
		t.Fatal("signing in again kept the session id")
	}
	for name, id := range map[string]string{"planted": "planted-by-an-attacker", "first": first} {
		old := f.browser()
		old.c.Jar.SetCookies(u, []*http.Cookie{{Name: "scimgate_review", Value: id, Path: "/reviews/"}})
		if _, body := old.do("GET", "/reviews/", nil); strings.Contains(body, "Bob") {
			t.Errorf("the %s session id opens the reviewer page", name)
		}
	}
	if _, body := b.do("GET", "/reviews/", nil); !strings.Contains(body, "Bob") {
		t.Errorf("the new session does not open the reviewer page: %s", body)
	}
}

// TestRevokeSessions: an administrator revokes every session of a
// reviewer, audited; another reviewer's and the admin's stay.
func TestRevokeSessions(t *testing.T) {
	f := newFixture(t, false)
	phone, laptop, max, admin := f.browser(), f.browser(), f.browser(), f.browser()
	phone.signIn(f.mia)
	laptop.signIn(f.mia)
	max.signIn(f.max)
	if code := admin.adminSignIn(adminToken); code != 303 {
		t.Fatalf("admin sign-in: %d", code)
	}
	ctx := store.WithActor(t.Context(), "admin: static token #1")
	if _, err := f.web.RevokeSessions(ctx, " "); err == nil {
		t.Error("no reviewer: accepted")
	}
	n, err := f.web.RevokeSessions(ctx, f.mia)
	if err != nil || n != 2 {
		t.Fatalf("RevokeSessions = %d, %v; want 2", n, err)
	}
	for name, b := range map[string]*browser{"phone": phone, "laptop": laptop} {
		if _, body := b.do("GET", "/reviews/", nil); strings.Contains(body, "Bob") {
			t.Errorf("Mia's %s is still signed in", name)
		}
	}
	if _, body := max.do("GET", "/reviews/", nil); !strings.Contains(body, "cy@contoso.example") {
		t.Errorf("Max was signed out: %s", body)
	}
	if code, _ := admin.do("GET", "/reviews/admin/review/staff-access", nil); code != 200 {
		t.Errorf("the admin was signed out: %d", code)
	}
	es, err := f.st.Audit(t.Context(), store.AuditQuery{Limit: 5})
	if err != nil || !slices.ContainsFunc(es, func(e store.AuditEntry) bool {
		return e.Action == "review sessions revoke" && e.Actor == "admin: static token #1" && e.ID == f.mia &&
			strings.HasPrefix(e.Detail, "2 session(s)")
	}) {
		t.Errorf("no audit entry of the revocation: %v %+v", err, es)
	}
	// Mia signs in again with a new link.
	phone.signIn(f.mia)
	if n, err := f.web.RevokeSessions(ctx, f.mia); err != nil || n != 1 {
		t.Errorf("RevokeSessions again = %d, %v; want 1", n, err)
	}
}
